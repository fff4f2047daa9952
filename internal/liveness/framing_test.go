package liveness

import (
	"bytes"
	"context"
	"fmt"
	"image/jpeg"
	"math"
	"os"
	"sync"
	"testing"

	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/evaldata"
	"github.com/everify/everify/internal/imagein"
	"github.com/everify/everify/internal/vision"
	"github.com/everify/everify/internal/vision/visiontest"
)

// The capture SDK's preview geometry: a 3:4 stage showing the frame's
// centre, with the oval at (150, 185) and radii (100, 135) of its 300x400
// units (web/sdk/everify-capture.js, ovalInFrame).
func sdkOval(w, h int) biometric.Oval {
	vis := float64(w)
	if float64(w)/float64(h) > 0.75 {
		vis = float64(h) * 0.75
	}
	k := vis / 300
	return biometric.Oval{CX: float64(w) / 2, CY: float64(h)/2 - 15*k, RX: 100 * k, RY: 135 * k}
}

// view samples the region of src centred at (cx, cy), sw source pixels
// wide, into a w x h image (sh follows the output's aspect); outside src
// is black.
func view(src *vision.RGB, cx, cy, sw float64, w, h int) *vision.RGB {
	sh := sw * float64(h) / float64(w)
	return vision.WarpRGB(src, vision.CropTransform(biometric.Point{X: cx, Y: cy}, sw, sh, 0, w, h), w, h)
}

// preview is what the SDK sends of a frame: the centre of the frame
// cropped to 3:4 portrait and scaled to 240x320.
func preview(src *vision.RGB) *vision.RGB {
	sw := math.Min(float64(src.W), float64(src.H)*0.75)
	return view(src, float64(src.W)/2, float64(src.H)/2, sw, 240, 320)
}

// mapPixels returns a copy of img with f applied to every channel value.
func mapPixels(img *vision.RGB, f func(v float64) float64) *vision.RGB {
	out := vision.NewRGB(img.W, img.H)
	for i, v := range img.Pix {
		out.Pix[i] = uint8(math.Max(0, math.Min(255, math.Round(f(float64(v))))))
	}
	return out
}

// sideBySide puts a and b (the same size) next to each other.
func sideBySide(a, b *vision.RGB) *vision.RGB {
	out := vision.NewRGB(a.W+b.W, a.H)
	for y := range a.H {
		copy(out.Pix[3*y*out.W:], a.Pix[3*y*a.W:3*(y+1)*a.W])
		copy(out.Pix[3*(y*out.W+a.W):], b.Pix[3*y*b.W:3*(y+1)*b.W])
	}
	return out
}

// liveFrame is a frame of the portrait selfie clip, decoded.
func liveFrame(t *testing.T) *vision.RGB {
	t.Helper()
	frames := liveClip(t, "blink-selfie-portrait.mp4", 400, 600)
	if len(frames) == 0 {
		t.Fatal("no frame between 400 and 600 ms")
	}
	img, err := imagein.Decode(frames[0].Image, imagein.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return vision.ToRGB(img.RGBA)
}

var testFraming struct {
	once sync.Once
	c    *FramingChecker
	err  error
}

// framingChecker returns the standard checker over the installed models.
func framingChecker(t testing.TB) *FramingChecker {
	t.Helper()
	rt := visiontest.Runtime(t, FramingDetector, "facemesh")
	testFraming.once.Do(func() { testFraming.c, testFraming.err = NewFramingChecker(rt) })
	if testFraming.err != nil {
		t.Fatal(testFraming.err)
	}
	return testFraming.c
}

// check runs the checker on img with the SDK's oval, for a capture
// recorded at twice the preview's size.
func check(t *testing.T, c *FramingChecker, img *vision.RGB) Framing {
	t.Helper()
	o := sdkOval(img.W, img.H)
	f, err := c.Check(context.Background(), biometric.FramingRequest{Image: img, Oval: &o, Scale: 2})
	if err != nil {
		t.Fatal(err)
	}
	if f.Instructions == "" {
		t.Errorf("verdict %q has no instructions", f.Verdict)
	}
	if (f.Face != nil) != (f.Verdict != FramingNoFace) || (f.Face != nil) != (f.Quality != nil) {
		t.Errorf("verdict %q with face %v and quality %v", f.Verdict, f.Face != nil, f.Quality != nil)
	}
	return f
}

// TestFramingOnRealFrames turns a real selfie frame into the situations
// the pre-check must tell apart: each is a picture a camera could give.
func TestFramingOnRealFrames(t *testing.T) {
	c := framingChecker(t)
	src := liveFrame(t)
	good := preview(src)
	base := check(t, c, good)
	if base.Verdict != FramingOK || base.Faces != 1 {
		t.Fatalf("the framed selfie: verdict %q, %d faces (want ok, 1)", base.Verdict, base.Faces)
	}
	b := base.Face.Box
	fx, fy := b.X+b.Width/2, b.Y+b.Height/2                              // the face centre in the preview
	k := math.Min(float64(src.W), float64(src.H)*0.75) / float64(good.W) // source pixels per preview pixel
	sx, sy := float64(src.W)/2+(fx-float64(good.W)/2)*k, float64(src.H)/2+(fy-float64(good.H)/2)*k
	sw := float64(good.W) * k

	cases := []struct {
		name string
		img  *vision.RGB
		want []string // the acceptable verdicts
	}{
		// The camera sees a wider scene: the face shrinks to a third.
		{"far away", view(src, sx, sy, 3*sw, 240, 320), []string{FramingTooFar}},
		// The face fills the picture.
		{"too close", view(src, sx, sy, sw/2, 240, 320), []string{FramingTooClose}},
		// The face sits in the left part of the picture.
		{"off to one side", view(src, sx+0.3*sw, sy, sw, 240, 320), []string{FramingOffCentre}},
		{"too low", view(src, sx, sy-0.3*sw, sw, 240, 320), []string{FramingOffCentre}},
		{"dark room", mapPixels(good, func(v float64) float64 { return 0.14 * v }), []string{FramingTooDark}},
		{"washed out", mapPixels(good, func(v float64) float64 { return 150 + v }), []string{FramingTooBright}},
		{"out of focus", boxBlur(good, 4), []string{FramingBlurred}},
		{"two people", sideBySide(view(src, sx, sy, sw, 240, 320), view(src, sx, sy, sw, 240, 320)), []string{FramingSeveralFaces}},
		{"grey wall", mapPixels(good, func(float64) float64 { return 128 }), []string{FramingNoFace}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := check(t, c, tc.img)
			for _, w := range tc.want {
				if got.Verdict == w {
					return
				}
			}
			detail := ""
			if got.Face != nil {
				detail = describeFace(got, sdkOval(tc.img.W, tc.img.H))
			}
			t.Errorf("verdict %q (%s), want one of %v", got.Verdict, detail, tc.want)
		})
	}
}

func describeFace(f Framing, o biometric.Oval) string {
	b := f.Face.Box
	return fmtFace(b.Width/(2*o.RX), b.Height/(2*o.RY), (b.X+b.Width/2-o.CX)/o.RX, (b.Y+b.Height/2-o.CY)/o.RY, f.Quality)
}

// TestFramingStillPhoto: a portrait photo from the evaluation data, as a
// 480x640 camera picture, has one face the pre-check places (ok, or a
// positional instruction); a blank frame has none.
func TestFramingStillPhoto(t *testing.T) {
	c := framingChecker(t)
	data, err := os.ReadFile(evaldata.Require(t, "pad-samples/head_640x480/image_F1.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := imagein.Decode(data, imagein.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	rgb := vision.ToRGB(img.RGBA) // 480x640
	got := check(t, c, view(rgb, float64(rgb.W)/2, float64(rgb.H)/2, float64(rgb.W), rgb.W/2, rgb.H/2))
	t.Logf("the photo: %s, %s", got.Verdict, describeFace(got, sdkOval(rgb.W/2, rgb.H/2)))
	switch got.Verdict {
	case FramingOK, FramingOffCentre, FramingTooFar, FramingTooClose:
	default:
		t.Errorf("the photo: verdict %q, want ok or a positional instruction", got.Verdict)
	}
	if got.Faces != 1 || got.Face == nil {
		t.Errorf("the photo: %d faces, face %v", got.Faces, got.Face)
	}
	if blank := check(t, c, vision.NewRGB(320, 240)); blank.Verdict != FramingNoFace || blank.Faces != 0 {
		t.Errorf("a black frame: verdict %q, %d faces", blank.Verdict, blank.Faces)
	}
}

func fmtFace(wf, hf, dx, dy float64, q *biometric.Quality) string {
	return fmt.Sprintf("width %.2f and height %.2f of the oval, offset %.2f,%.2f radii, brightness %.0f, sharpness %.0f, %.0f px",
		wf, hf, dx, dy, q.Brightness, q.Sharpness, q.FaceSize)
}

// TestFramingBonaFideClips: people filmed by a camera that frames them
// (the bona fide dev clips, each frame scaled to a 320-pixel preview as
// the SDK sends it) pass the pre-check on nearly every frame.
func TestFramingBonaFideClips(t *testing.T) {
	c := framingChecker(t)
	for _, name := range []string{"blink-selfie-portrait.mp4", "WDA_KatieHill_000.mp4", "liveportrait-d0.mp4", "liveportrait-d6.mp4"} {
		t.Run(name, func(t *testing.T) {
			frames := liveClip(t, name, 0, 0)
			counts, n := map[string]int{}, 0
			for i := 0; i < len(frames); i += 5 {
				img, err := imagein.Decode(frames[i].Image, imagein.Limits{})
				if err != nil {
					t.Fatal(err)
				}
				src := vision.ToRGB(img.RGBA)
				w, h := 320, src.H*320/src.W
				if src.H > src.W {
					w, h = src.W*320/src.H, 320
				}
				counts[check(t, c, view(src, float64(src.W)/2, float64(src.H)/2, float64(src.W), w, h)).Verdict]++
				n++
			}
			if ok := float64(counts[FramingOK]) / float64(n); ok < 0.9 {
				t.Errorf("%.0f%% of %d frames framed ok, want at least 90%%: %v", 100*ok, n, counts)
			}
		})
	}
}

// BenchmarkFramingCheck measures one pre-check as the server runs it:
// decoding a 240x320 JPEG preview of a selfie and checking its framing.
func BenchmarkFramingCheck(b *testing.B) {
	frames := liveClip(b, "blink-selfie-portrait.mp4", 400, 600)
	if len(frames) == 0 {
		b.Fatal("no frame")
	}
	img, err := imagein.Decode(frames[0].Image, imagein.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, preview(vision.ToRGB(img.RGBA)), &jpeg.Options{Quality: 80}); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	c := framingChecker(b)
	o := sdkOval(240, 320)
	ctx := context.Background()
	run := func() {
		p, err := imagein.Decode(data, imagein.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		f, err := c.Check(ctx, biometric.FramingRequest{Image: p.RGBA, Oval: &o, Scale: 2})
		if err != nil || f.Verdict != FramingOK {
			b.Fatalf("verdict %q, %v", f.Verdict, err)
		}
	}
	run() // load the models
	cpu0, n := cpuSeconds(b), 0
	for b.Loop() {
		run()
		n++
	}
	b.ReportMetric((cpuSeconds(b)-cpu0)/float64(n)*1000, "cpu-ms/op")
	b.ReportMetric(float64(len(data)), "jpeg-bytes")
}
