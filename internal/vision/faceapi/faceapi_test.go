package faceapi

import (
	"context"
	"encoding/csv"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/evaldata"
	"github.com/everify/everify/internal/imagein"
	"github.com/everify/everify/internal/vision"
	"github.com/everify/everify/internal/vision/faceapi/lfw"
	"github.com/everify/everify/internal/vision/visiontest"
)

type pipeline struct {
	det *Detector
	lm  *Landmarker
	emb *Embedder
}

func newPipeline(t *testing.T) pipeline {
	t.Helper()
	rt := visiontest.Runtime(t, DetectorModel, LandmarkerModel, EmbedderModel)
	det, err := NewDetector(rt, DetectorOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lm, err := NewLandmarker(rt, LandmarkerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	emb, err := NewEmbedder(rt, EmbedderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pipeline{det, lm, emb}
}

// lfwSample returns the first n images used by LFW's pairs.
func lfwSample(t *testing.T, n int) (dir string, names []string) {
	t.Helper()
	root := evaldata.Require(t, "lfw-dev")
	return filepath.Join(root, "images"), lfw.Images(readPairs(t, filepath.Join(root, "pairs.txt")))[:n]
}

// TestDetectorFindsLFWFaces runs the whole chain on the first 40 LFW
// images: (almost) every one must give a face that covers the image centre
// with a plausible size. On LFW the detector misses about 0.5% of the faces
// (see DetectorOptions.Zooms).
func TestDetectorFindsLFWFaces(t *testing.T) {
	p := newPipeline(t)
	dir, names := lfwSample(t, 40)
	found := 0
	for _, name := range names {
		img, err := decodeFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		f, err := mainFace(context.Background(), p.det, p.lm, img)
		if err != nil {
			t.Logf("%s: %v", name, err)
			continue
		}
		found++
		// LFW crops are 250x250 with the labelled face in the middle.
		b := vision.RectOf(f.Box)
		if !(b.X0 < 125 && 125 < b.X1 && b.Y0 < 125 && 125 < b.Y1) || f.Box.Width < 50 || f.Box.Width > 200 {
			t.Errorf("%s: face %+v does not cover the image centre with a plausible size", name, f.Box)
		}
		if f.Score <= 0.5 || f.Score > 1 {
			t.Errorf("%s: score %g", name, f.Score)
		}
	}
	if found < 38 {
		t.Errorf("faces found in %d of %d LFW images, want at least 38", found, len(names))
	}
}

func TestDetectorNoFaceInBlankImages(t *testing.T) {
	p := newPipeline(t)
	for _, c := range []color.RGBA{{0, 0, 0, 255}, {128, 128, 128, 255}, {250, 250, 250, 255}} {
		img := image.NewRGBA(image.Rect(0, 0, 640, 480))
		for i := 0; i < len(img.Pix); i += 4 {
			img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
		}
		faces, err := p.det.Detect(context.Background(), img)
		if err != nil {
			t.Fatal(err)
		}
		if len(faces) != 0 {
			t.Errorf("blank %v image: found %d faces: %+v", c, len(faces), faces)
		}
	}
	faces, err := p.det.Detect(context.Background(), image.NewRGBA(image.Rectangle{}))
	if err != nil || len(faces) != 0 {
		t.Errorf("empty image: %v, %v", faces, err)
	}
}

func TestDetectorFindsEveryFaceOfAGroup(t *testing.T) {
	p := newPipeline(t)
	img := decodeEval(t, "deepface-unit/couple.jpg")
	faces, err := p.det.Detect(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	if len(faces) < 2 {
		t.Fatalf("found %d faces in a photo of a couple: %+v", len(faces), faces)
	}
	for i := 1; i < len(faces); i++ {
		if faces[i].Score > faces[i-1].Score {
			t.Errorf("faces not ordered by score: %g before %g", faces[i-1].Score, faces[i].Score)
		}
		for j := 0; j < i; j++ {
			if iou := vision.RectOf(faces[i].Box).IoU(vision.RectOf(faces[j].Box)); iou > 0.5 {
				t.Errorf("faces %d and %d overlap by IoU %.2f after suppression", j, i, iou)
			}
		}
	}
}

func TestLandmarksGeometry(t *testing.T) {
	p := newPipeline(t)
	dir, names := lfwSample(t, 10)
	for _, name := range names {
		img, err := decodeFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		f, err := mainFace(context.Background(), p.det, p.lm, img)
		if err != nil {
			t.Logf("%s: %v", name, err) // TestDetectorFindsLFWFaces counts these
			continue
		}
		l := f.Landmarks
		eyes := (l.LeftEye.Y + l.RightEye.Y) / 2
		mouth := (l.MouthLeft.Y + l.MouthRight.Y) / 2
		iod := math.Hypot(l.LeftEye.X-l.RightEye.X, l.LeftEye.Y-l.RightEye.Y)
		switch {
		case len(f.Keypoints) != 68:
			t.Errorf("%s: %d keypoints", name, len(f.Keypoints))
		case !(eyes < l.Nose.Y && l.Nose.Y < mouth):
			t.Errorf("%s: eyes (y %.0f), nose (%.0f), mouth (%.0f) not top to bottom", name, eyes, l.Nose.Y, mouth)
		case l.LeftEye.X <= l.RightEye.X || l.MouthLeft.X <= l.MouthRight.X:
			t.Errorf("%s: the person's left eye and mouth corner must be on the image's right: %+v", name, l)
		case iod < 0.25*f.Box.Width || iod > 0.7*f.Box.Width:
			t.Errorf("%s: eye distance %.0f for a %.0f px face box", name, iod, f.Box.Width)
		}
		grown := vision.Rect{X0: f.Box.X - 0.2*f.Box.Width, Y0: f.Box.Y - 0.2*f.Box.Height, X1: f.Box.X + 1.2*f.Box.Width, Y1: f.Box.Y + 1.2*f.Box.Height}
		for i, q := range f.Keypoints {
			if q.X < grown.X0 || q.X > grown.X1 || q.Y < grown.Y0 || q.Y > grown.Y1 {
				t.Errorf("%s: point %d %+v far outside the face box %+v", name, i, q, f.Box)
			}
		}
	}
}

// TestLandmarksFollowTheImage mirrors and rotates a face: the landmarks
// must move with it, and the pose's roll and yaw must change accordingly.
func TestLandmarksFollowTheImage(t *testing.T) {
	p := newPipeline(t)
	img, err := decodeFile(filepath.Join(evaldata.Require(t, "lfw-dev/images"), "Abel_Pacheco/Abel_Pacheco_0004.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f, err := mainFace(ctx, p.det, p.lm, img)
	if err != nil {
		t.Fatal(err)
	}
	w := float64(img.W)

	mirror := vision.Translate(-w, 0).Then(vision.ScaleXY(-1, 1))
	fm, err := mainFace(ctx, p.det, p.lm, vision.WarpRGB(img, mirror, img.W, img.H))
	if err != nil {
		t.Fatal(err)
	}
	flip := func(q biometric.Point) biometric.Point { return biometric.Point{X: w - q.X, Y: q.Y} }
	// The net is not mirror-symmetric (see LandmarkerOptions) and
	// the detector's box moves a little too: allow 12% of the eye distance.
	l := f.Landmarks
	tol := 0.12 * math.Hypot(l.LeftEye.X-l.RightEye.X, l.LeftEye.Y-l.RightEye.Y)
	near(t, "mirrored left eye", fm.Landmarks.LeftEye, flip(l.RightEye), tol)
	near(t, "mirrored right eye", fm.Landmarks.RightEye, flip(l.LeftEye), tol)
	near(t, "mirrored nose", fm.Landmarks.Nose, flip(l.Nose), tol)
	if math.Abs(fm.Pose.Roll+f.Pose.Roll) > 2 || math.Abs(fm.Pose.Yaw+f.Pose.Yaw) > 5 {
		t.Errorf("pose %+v, mirrored %+v: roll and yaw should change sign", f.Pose, fm.Pose)
	}

	// Turn the image 20 degrees clockwise about the face centre. The
	// output-to-source transform is the inverse rotation.
	const turn = 20.0
	c := vision.RectOf(f.Box).Centre()
	rot := vision.Translate(-c.X, -c.Y).Then(vision.Rotate(-turn * math.Pi / 180)).Then(vision.Translate(c.X, c.Y))
	fr, err := mainFace(ctx, p.det, p.lm, vision.WarpRGB(img, rot, img.W, img.H))
	if err != nil {
		t.Fatal(err)
	}
	if got := fr.Pose.Roll - f.Pose.Roll; math.Abs(got-turn) > 3 {
		t.Errorf("roll changed by %.1f degrees for a %.0f degree turn (pose %+v → %+v)", got, turn, f.Pose, fr.Pose)
	}
	inv, _ := rot.Invert()
	near(t, "rotated nose", fr.Landmarks.Nose, inv.Apply(l.Nose), tol)
}

func near(t *testing.T, what string, got, want biometric.Point, tol float64) {
	t.Helper()
	if d := math.Hypot(got.X-want.X, got.Y-want.Y); d > tol {
		t.Errorf("%s at %+v, want %+v (off by %.1f px)", what, got, want, d)
	}
}

// TestEmbedderSeparatesPeople uses deepface's labelled photo pairs:
// genuine pairs must be more similar than impostor pairs on average and
// rank above them (ROC AUC).
func TestEmbedderSeparatesPeople(t *testing.T) {
	p := newPipeline(t)
	dir := evaldata.Require(t, "deepface-unit")
	f, err := os.Open(filepath.Join(dir, "master.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cache := map[string][]float32{}
	embed := func(name string) []float32 {
		if v, ok := cache[name]; ok {
			return v
		}
		img := decodeEval(t, filepath.Join("deepface-unit", name))
		faces, err := p.det.Detect(ctx, img)
		if err != nil {
			t.Fatal(err)
		}
		if len(faces) == 0 {
			t.Errorf("%s: no face found", name)
			cache[name] = nil
			return nil
		}
		face, err := p.lm.Landmarks(ctx, img, largest(faces))
		if err != nil {
			t.Fatal(err)
		}
		v, err := p.emb.Embed(ctx, img, face)
		if err != nil {
			t.Fatal(err)
		}
		if len(v) != p.emb.Dim() || math.Abs(float64(vision.Cosine(v, v))-1) > 1e-5 {
			t.Fatalf("%s: embedding of length %d and norm² %g", name, len(v), vision.Cosine(v, v))
		}
		cache[name] = v
		return v
	}
	var gen, imp []float64
	for _, r := range rows[1:] {
		a, b := embed(r[0]), embed(r[1])
		if a == nil || b == nil {
			continue
		}
		s := vision.Cosine(a, b)
		if r[2] == "Yes" {
			gen = append(gen, s)
		} else {
			imp = append(imp, s)
		}
	}
	mg, mi := meanOf(gen), meanOf(imp)
	auc := rocAUC(gen, imp)
	t.Logf("%d genuine pairs: mean cosine %.3f; %d impostor pairs: %.3f; ROC AUC %.3f", len(gen), mg, len(imp), mi, auc)
	if mg <= mi {
		t.Errorf("genuine pairs are not closer than impostors on average (%.3f vs %.3f)", mg, mi)
	}
	if auc < 0.9 {
		t.Errorf("ROC AUC %.3f below 0.9", auc)
	}
}

func largest(faces []vision.Face) vision.Face {
	return slices.MaxFunc(faces, func(a, b vision.Face) int {
		return cmpF(a.Box.Width*a.Box.Height, b.Box.Width*b.Box.Height)
	})
}

func cmpF(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func meanOf(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// rocAUC is the probability that a random genuine score beats a random
// impostor score (ties count half).
func rocAUC(gen, imp []float64) float64 {
	var wins float64
	for _, g := range gen {
		for _, i := range imp {
			switch {
			case g > i:
				wins++
			case g == i:
				wins += 0.5
			}
		}
	}
	return wins / float64(len(gen)*len(imp))
}

// decodeEval decodes an evaluation image with the service's decoder
// (EXIF orientation applied).
func decodeEval(t *testing.T, rel string) *vision.RGB {
	t.Helper()
	data, err := os.ReadFile(evaldata.Require(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	img, err := imagein.Decode(data, imagein.Limits{MaxBytes: 64 << 20, MaxPixels: 64 << 20})
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return vision.ToRGB(img.RGBA)
}
