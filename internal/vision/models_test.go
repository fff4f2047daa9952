package vision_test

import (
	"context"
	"image"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/evaldata"
	"github.com/everify/everify/internal/imagein"
	"github.com/everify/everify/internal/vision"
	"github.com/everify/everify/internal/vision/visiontest"
)

// The models every test here needs.
var allModels = []string{"blazeface-back", "blazeface-front", "facemesh", "iris", "faceres", "faceres-deep", "mobilefacenet", "mobileface", "antispoof", "liveness"}

// decodeFile reads an image of the evaluation data through imagein (format
// sniffing, EXIF orientation), as the service does.
func decodeFile(tb testing.TB, path string) *vision.RGB {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	img, err := imagein.Decode(data, imagein.Limits{MaxBytes: 64 << 20})
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return vision.ToRGB(img.RGBA)
}

// evalImage loads rel from the evaluation data.
func evalImage(tb testing.TB, rel string) *vision.RGB {
	tb.Helper()
	return decodeFile(tb, evaldata.Require(tb, rel))
}

// lfwSample returns every step-th image file of lfw-dev, in name order.
func lfwSample(tb testing.TB, step int) []string {
	tb.Helper()
	root := evaldata.Require(tb, "lfw-dev/images")
	all, err := filepath.Glob(filepath.Join(root, "*", "*.jpg"))
	if err != nil || len(all) == 0 {
		tb.Fatalf("no LFW images under %s: %v", root, err)
	}
	sort.Strings(all)
	var out []string
	for i := 0; i < len(all); i += step {
		out = append(out, all[i])
	}
	return out
}

func newPipeline(tb testing.TB, opts vision.PipelineOptions) *vision.Pipeline {
	tb.Helper()
	p, err := vision.NewPipeline(visiontest.Runtime(tb, allModels...), opts)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func centre(b biometric.Box) biometric.Point { return vision.RectOf(b).Centre() }

func dist(a, b biometric.Point) float64 { return math.Hypot(a.X-b.X, a.Y-b.Y) }

func TestDetectLFWOneCentralFace(t *testing.T) {
	t.Parallel()
	for _, model := range []string{"blazeface-back", "blazeface-front"} {
		t.Run(model, func(t *testing.T) {
			t.Parallel()
			testLFWCentralFace(t, model)
		})
	}
}

func testLFWCentralFace(t *testing.T, model string) {
	p := newPipeline(t, vision.PipelineOptions{Detector: vision.DetectorOptions{Model: model}})
	ctx := context.Background()
	files := lfwSample(t, 100)
	for _, f := range files {
		img := decodeFile(t, f)
		faces, err := p.Analyze(ctx, img)
		if err != nil {
			t.Fatal(err)
		}
		if len(faces) == 0 {
			t.Errorf("%s: no face", filepath.Base(f))
			continue
		}
		// LFW crops are centred on one face, about 100 px tall; other
		// people may show around it.
		mid := biometric.Point{X: 125, Y: 125}
		i := 0
		for j := range faces {
			if dist(centre(faces[j].Box), mid) < dist(centre(faces[i].Box), mid) {
				i = j
			}
		}
		g := faces[i]
		if d := dist(centre(g.Box), mid); d > 35 {
			t.Errorf("%s: no face within 35 px of the image centre; nearest at %.0f px", filepath.Base(f), d)
		}
		if s := math.Min(g.Box.Width, g.Box.Height); s < 70 || s > 170 {
			t.Errorf("%s: face size %.0f px", filepath.Base(f), s)
		}
		lm := g.Landmarks
		// Upright faces: the right eye is on the image's left, eyes above
		// the nose, the nose above the mouth.
		if !(lm.RightEye.X < lm.LeftEye.X && lm.MouthRight.X < lm.MouthLeft.X &&
			math.Max(lm.RightEye.Y, lm.LeftEye.Y) < lm.Nose.Y && lm.Nose.Y < math.Min(lm.MouthRight.Y, lm.MouthLeft.Y)) {
			t.Errorf("%s: implausible landmarks %+v", filepath.Base(f), lm)
		}
		if len(g.Mesh) != 468 || len(g.Keypoints) != 468 {
			t.Errorf("%s: mesh of %d points", filepath.Base(f), len(g.Mesh))
		}
	}
	t.Logf("%d LFW images", len(files))
}

func TestDetectMultipleFaces(t *testing.T) {
	t.Parallel()
	p := newPipeline(t, vision.PipelineOptions{})
	ctx := context.Background()
	couple, err := p.Analyze(ctx, evalImage(t, "deepface-unit/couple.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	if len(couple) != 2 {
		t.Errorf("couple.jpg: %d faces, want 2", len(couple))
	}
	// selfie-many-people.jpg shows seven people: four whole faces, three
	// cut by the frame or half hidden.
	crowd, err := p.Analyze(ctx, evalImage(t, "deepface-unit/selfie-many-people.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(crowd); n < 4 || n > 7 {
		t.Errorf("selfie-many-people.jpg: %d faces, want 4-7", n)
	}
	for i, f := range crowd {
		for j := i + 1; j < len(crowd); j++ {
			if vision.RectOf(f.Box).IoU(vision.RectOf(crowd[j].Box)) > 0.3 {
				t.Errorf("faces %d and %d overlap: duplicate detection", i, j)
			}
		}
	}
}

func TestDetectNothing(t *testing.T) {
	t.Parallel()
	p := newPipeline(t, vision.PipelineOptions{Detector: vision.DetectorOptions{MinFaceSize: 40, TryRotations: true}})
	ctx := context.Background()
	grey := vision.NewRGB(640, 480)
	for i := range grey.Pix {
		grey.Pix[i] = 128
	}
	noise := vision.NewRGB(640, 480)
	var x uint32 = 1
	for i := range noise.Pix {
		x = x*1664525 + 1013904223
		noise.Pix[i] = uint8(x >> 24)
	}
	for name, img := range map[string]image.Image{"grey": grey, "noise": noise, "empty": vision.NewRGB(0, 0)} {
		faces, err := p.Analyze(ctx, img)
		if err != nil {
			t.Fatal(err)
		}
		if len(faces) != 0 {
			t.Errorf("%s image: %d faces", name, len(faces))
		}
	}
}

// idDocs lists the PassportEye specimens by whether they show a portrait
// (checked by eye). The others are backs of ID cards, except
// 27_pass-gbr.jpg, whose portrait is pixelated and belongs to neither list.
var (
	idDocsWithPortrait = []string{
		"0_pass-lva.jpg", "100_id-rou.jpg", "100_pass-bdr.jpg", "100_pass-chn.jpg", "100_pass-cze.jpg", "100_pass-cze2.jpg",
		"100_pass-fin.png", "100_pass-hrv.jpg", "100_pass-isl.png", "100_pass-ltu.jpg", "100_pass-lux.jpg", "100_pass-polx.jpg",
		"100_pass-uto.jpg", "100_pass2-uto.jpg", "100_visa-polx.jpg", "100_visa-usa.jpg", "24_pass-egy.jpg", "25_pass-uto.jpg",
		"33_id-usa.jpg", "43_pass-fra.jpg", "43_pass-twn.jpg", "62_pass-aus.png", "62_pass-pol.png", "79_pass-can.jpg",
		"79_pass-hun.png", "98_pass-nld.jpg",
	}
	idDocsBacks = []string{"0_id-esp.png", "100_id-che.jpg", "100_id-mac.jpg", "100_id-si.jpg", "100_id-usa.jpg", "53_id-d.jpg", "77_card-cmw.png"}
)

func TestDetectIDDocuments(t *testing.T) {
	t.Parallel()
	dir := evaldata.Require(t, "id-docs/passporteye/passporteye/mrz/testdata")
	tests := evaldata.Require(t, "id-docs/passporteye/tests/data")
	ctx := context.Background()
	for _, mode := range []struct {
		name string
		opts vision.DetectorOptions
	}{{"whole", vision.DetectorOptions{}}, {"tiled", vision.DetectorOptions{MinFaceSize: 40}}} {
		p := newPipeline(t, vision.PipelineOptions{Detector: mode.opts})
		found, extra := 0, 0
		portraits := []string{}
		for _, f := range idDocsWithPortrait {
			portraits = append(portraits, filepath.Join(dir, f))
		}
		for _, f := range []string{"passport-td2.jpg", "passport-td2.png", "passport-td3.jpg", "passport-td3.png"} {
			portraits = append(portraits, filepath.Join(tests, f))
		}
		for _, f := range portraits {
			faces, err := p.Analyze(ctx, decodeFile(t, f))
			if err != nil {
				t.Fatal(err)
			}
			if len(faces) > 0 {
				found++
				extra += len(faces) - 1
			} else {
				t.Logf("%s: no portrait found in %s", mode.name, filepath.Base(f))
			}
		}
		backs := 0
		for _, f := range idDocsBacks {
			faces, err := p.Analyze(ctx, decodeFile(t, filepath.Join(dir, f)))
			if err != nil {
				t.Fatal(err)
			}
			backs += len(faces)
		}
		t.Logf("%s: portrait found on %d of %d documents (%d further detections: ghost images or false); %d faces on %d card backs",
			mode.name, found, len(portraits), extra, backs, len(idDocsBacks))
		if found < len(portraits)-1 {
			t.Errorf("%s: portrait found on only %d of %d documents", mode.name, found, len(portraits))
		}
		if backs > 1 {
			t.Errorf("%s: %d faces on card backs that have none", mode.name, backs)
		}
	}
}

func TestDetectSmallFaceTiled(t *testing.T) {
	t.Parallel()
	src := evalImage(t, "lfw-dev/images/Zico/Zico_0001.jpg")
	doc := evalImage(t, "id-docs/passporteye/passporteye/mrz/testdata/100_pass-bdr.jpg")
	ctx := context.Background()
	whole := newPipeline(t, vision.PipelineOptions{})
	tiled := newPipeline(t, vision.PipelineOptions{Detector: vision.DetectorOptions{MinFaceSize: 30}})
	// The LFW face (about 100 px of 250) shrunk to 30-55 px and printed on
	// a 1874x1326 passport scan, on the text beside the portrait.
	for _, s := range []float64{0.3, 0.4, 0.55} {
		img := vision.WarpRGB(doc, vision.Identity, doc.W, doc.H)
		small := vision.WarpRGB(src, vision.ScaleXY(1/s, 1/s), int(250*s), int(250*s))
		for r := 0; r < small.H; r++ {
			copy(img.Pix[3*((700+r)*img.W+1000):], small.Pix[3*r*small.W:3*(r+1)*small.W])
		}
		want := biometric.Point{X: 1000 + 125*s, Y: 700 + 125*s}
		near := func(faces []vision.FaceAnalysis) *vision.FaceAnalysis {
			for i, f := range faces {
				if dist(centre(f.Box), want) < 100*s/2 {
					return &faces[i]
				}
			}
			return nil
		}
		w, err := whole.Analyze(ctx, img)
		if err != nil {
			t.Fatal(err)
		}
		f, err := tiled.Analyze(ctx, img)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%.0f px face on a document: found on the whole image %v, with tiles %v", 100*s, near(w) != nil, near(f) != nil)
		g := near(f)
		if g == nil {
			t.Errorf("%.0f px face at %v not found with tiles", 100*s, want)
			continue
		}
		if sz := math.Min(g.Box.Width, g.Box.Height); sz < 70*s || sz > 140*s {
			t.Errorf("%.0f px face measured %.0f px", 100*s, sz)
		}
	}
}

// turn returns img turned by k quarter turns clockwise, pixel for pixel.
func turn(img *vision.RGB, k int) *vision.RGB {
	w, h := img.W, img.H
	if k%2 == 1 {
		w, h = h, w
	}
	// The output pixel centre c maps to the source by turning back.
	m := vision.Translate(-float64(w)/2, -float64(h)/2).
		Then(vision.Rotate(-float64(k) * math.Pi / 2)).
		Then(vision.Translate(float64(img.W)/2, float64(img.H)/2))
	return vision.WarpRGB(img, m, w, h)
}

func TestDetectRotations(t *testing.T) {
	t.Parallel()
	src := evalImage(t, "lfw-dev/images/Abel_Pacheco/Abel_Pacheco_0001.jpg")
	ctx := context.Background()
	p := newPipeline(t, vision.PipelineOptions{Detector: vision.DetectorOptions{TryRotations: true}})
	up, err := p.Analyze(ctx, src)
	if err != nil || len(up) == 0 {
		t.Fatalf("upright: %d faces, %v", len(up), err)
	}
	upright := up[vision.Largest(up)]
	for k := 1; k < 4; k++ {
		img := turn(src, k)
		faces, err := p.Analyze(ctx, img)
		if err != nil {
			t.Fatal(err)
		}
		if len(faces) == 0 {
			t.Errorf("turned %d°: no face", 90*k)
			continue
		}
		f := faces[vision.Largest(faces)]
		// Where the upright face's centre lands after the turn.
		c := centre(upright.Box)
		want := c
		switch k {
		case 1:
			want = biometric.Point{X: float64(src.H) - c.Y, Y: c.X}
		case 2:
			want = biometric.Point{X: float64(src.W) - c.X, Y: float64(src.H) - c.Y}
		case 3:
			want = biometric.Point{X: c.Y, Y: float64(src.W) - c.X}
		}
		if d := dist(centre(f.Box), want); d > 15 {
			t.Errorf("turned %d°: face centre %v, want %v", 90*k, centre(f.Box), want)
		}
		// The face is turned with the image: roll follows.
		roll := math.Mod(f.Pose.Roll-upright.Pose.Roll-float64(90*k)+540, 360) - 180
		if math.Abs(roll) > 8 {
			t.Errorf("turned %d°: roll %.1f°, upright %.1f°", 90*k, f.Pose.Roll, upright.Pose.Roll)
		}
	}
}

// mirror returns img flipped left to right.
func mirror(img *vision.RGB) *vision.RGB {
	return vision.WarpRGB(img, vision.Affine{A: -1, C: float64(img.W), E: 1}, img.W, img.H)
}

func TestLandmarksPoseMirrorAndRoll(t *testing.T) {
	t.Parallel()
	p := newPipeline(t, vision.PipelineOptions{})
	ctx := context.Background()
	// In Abel_Pacheco_0001 the man looks towards his right (the image's
	// left), by eye about 20°: negative yaw.
	src := evalImage(t, "lfw-dev/images/Abel_Pacheco/Abel_Pacheco_0001.jpg")
	one := func(img *vision.RGB) vision.FaceAnalysis {
		faces, err := p.Analyze(ctx, img)
		if err != nil || len(faces) == 0 {
			t.Fatalf("%d faces, %v", len(faces), err)
		}
		return faces[vision.Largest(faces)]
	}
	a := one(src)
	if a.Pose.Yaw > -8 || a.Pose.Yaw < -40 {
		t.Errorf("yaw %.1f°, want about -20°", a.Pose.Yaw)
	}
	// Mirrored, yaw and roll change sign and the eyes swap sides.
	b := one(mirror(src))
	if math.Abs(a.Pose.Yaw+b.Pose.Yaw) > 5 || math.Abs(a.Pose.Roll+b.Pose.Roll) > 3 || math.Abs(a.Pose.Pitch-b.Pose.Pitch) > 5 {
		t.Errorf("pose %+v, mirrored %+v", a.Pose, b.Pose)
	}
	if d := dist(a.Landmarks.RightEye, biometric.Point{X: 250 - b.Landmarks.LeftEye.X, Y: b.Landmarks.LeftEye.Y}); d > 4 {
		t.Errorf("right eye %v and mirrored left eye %v are %.1f px apart", a.Landmarks.RightEye, b.Landmarks.LeftEye, d)
	}
	// Turned 25° clockwise about the face, roll grows by 25°.
	c := centre(a.Box)
	rot := vision.Translate(-c.X, -c.Y).Then(vision.Rotate(-25 * math.Pi / 180)).Then(vision.Translate(c.X, c.Y))
	r := one(vision.WarpRGB(src, rot, src.W, src.H))
	if d := r.Pose.Roll - a.Pose.Roll; math.Abs(d-25) > 4 {
		t.Errorf("roll %.1f° after a 25° turn, %.1f° before", r.Pose.Roll, a.Pose.Roll)
	}
	if math.Abs(r.Pose.Yaw-a.Pose.Yaw) > 6 {
		t.Errorf("yaw %.1f° after an in-plane turn, %.1f° before", r.Pose.Yaw, a.Pose.Yaw)
	}
	// Open eyes and a closed mouth.
	re, le := vision.EyeAspectRatio(a.Mesh)
	if re < 0.15 || le < 0.15 || re > 0.5 || le > 0.5 {
		t.Errorf("eye aspect ratios %.2f, %.2f for open eyes", re, le)
	}
	if m := vision.MouthOpening(a.Mesh); m > 0.2 {
		t.Errorf("mouth opening %.2f for a closed mouth", m)
	}
}

func TestIrisEyeCentres(t *testing.T) {
	t.Parallel()
	rt := visiontest.Runtime(t, allModels...)
	d, err := vision.NewDetector(rt, vision.DetectorOptions{})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := vision.NewLandmarker(rt, vision.LandmarkerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	iris, err := vision.NewLandmarker(rt, vision.LandmarkerOptions{Iris: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, f := range lfwSample(t, 400) {
		img := decodeFile(t, f)
		faces, err := d.Detect(ctx, img)
		if err != nil || len(faces) == 0 {
			t.Fatalf("%s: %d faces, %v", f, len(faces), err)
		}
		a, err := plain.Landmarks(ctx, img, faces[0])
		if err != nil {
			t.Fatal(err)
		}
		b, err := iris.Landmarks(ctx, img, faces[0])
		if err != nil {
			t.Fatal(err)
		}
		// The iris centre lies inside the eye: near the eyelid ring's
		// centre, within a quarter of the eye's width.
		rw := dist(pt(a.Mesh[vision.MeshRightEyeOuter]), pt(a.Mesh[vision.MeshRightEyeInner]))
		lw := dist(pt(a.Mesh[vision.MeshLeftEyeOuter]), pt(a.Mesh[vision.MeshLeftEyeInner]))
		if d := dist(a.Landmarks.RightEye, b.Landmarks.RightEye); d > rw/4 {
			t.Errorf("%s: right iris %.1f px from the eye centre (eye %.0f px wide)", filepath.Base(f), d, rw)
		}
		if d := dist(a.Landmarks.LeftEye, b.Landmarks.LeftEye); d > lw/4 {
			t.Errorf("%s: left iris %.1f px from the eye centre (eye %.0f px wide)", filepath.Base(f), d, lw)
		}
	}
}

func pt(p [3]float64) biometric.Point { return biometric.Point{X: p[0], Y: p[1]} }

func TestQualityOnRealFace(t *testing.T) {
	t.Parallel()
	p := newPipeline(t, vision.PipelineOptions{})
	ctx := context.Background()
	src := evalImage(t, "deepface-unit/img1.jpg")
	analyse := func(img *vision.RGB) biometric.Quality {
		faces, err := p.Analyze(ctx, img)
		if err != nil || len(faces) == 0 {
			t.Fatalf("%d faces, %v", len(faces), err)
		}
		return faces[vision.Largest(faces)].Quality
	}
	full := analyse(src)
	if full.Score < 80 || full.FaceSize < 300 {
		t.Errorf("high-resolution portrait: %+v", full)
	}
	// Shrunk 16 times and blown up again: the same face, blurred.
	blurred := vision.WarpRGB(vision.WarpRGB(src, vision.ScaleXY(16, 16), src.W/16, src.H/16), vision.ScaleXY(1.0/16, 1.0/16), src.W, src.H)
	bq := analyse(blurred)
	if !(bq.Sharpness < full.Sharpness-30 && bq.Score < full.Score) {
		t.Errorf("blurred %+v, original %+v", bq, full)
	}
	// Shrunk 10 times: a small face.
	small := vision.WarpRGB(src, vision.ScaleXY(10, 10), src.W/10, src.H/10)
	sq := analyse(small)
	if !(sq.FaceSize < full.FaceSize/8 && sq.Score < full.Score) {
		t.Errorf("small %+v, original %+v", sq, full)
	}
}

func TestEmbeddersOnLFWPairs(t *testing.T) {
	t.Parallel()
	rt := visiontest.Runtime(t, allModels...)
	p := newPipeline(t, vision.PipelineOptions{})
	ctx := context.Background()
	embed := func(e vision.Embedder, rel string) []float32 {
		img := evalImage(t, "lfw-dev/images/"+rel)
		faces, err := p.Analyze(ctx, img)
		if err != nil || len(faces) == 0 {
			t.Fatalf("%s: %d faces, %v", rel, len(faces), err)
		}
		v, err := e.Embed(ctx, img, faces[vision.Largest(faces)].Face)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	var all []vision.Embedder
	for _, spec := range vision.Embedders {
		e, err := vision.NewEmbedder(rt, spec)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, e)
		v := embed(e, "Zico/Zico_0001.jpg")
		if len(v) != e.Dim() {
			t.Errorf("%s: %d values, want %d", e.Name(), len(v), e.Dim())
		}
		var n float64
		for _, x := range v {
			n += float64(x) * float64(x)
		}
		if math.Abs(n-1) > 1e-5 {
			t.Errorf("%s: squared norm %v, want 1", e.Name(), n)
		}
		if again := embed(e, "Zico/Zico_0001.jpg"); vision.Cosine(v, again) < 0.99999 {
			t.Errorf("%s: not deterministic", e.Name())
		}
	}
	// The fused embedding's cosine is the mean of its parts'.
	fused, err := vision.NewFusedEmbedder(all[0], all[3])
	if err != nil {
		t.Fatal(err)
	}
	if fused.Name() != "faceres+mobileface" || fused.Dim() != 1024+256 {
		t.Errorf("fused: %s, %d", fused.Name(), fused.Dim())
	}
	a, b := "Zico/Zico_0001.jpg", "Zico/Zico_0002.jpg"
	want := (vision.Cosine(embed(all[0], a), embed(all[0], b)) + vision.Cosine(embed(all[3], a), embed(all[3], b))) / 2
	if got := vision.Cosine(embed(fused, a), embed(fused, b)); math.Abs(got-want) > 1e-5 {
		t.Errorf("fused cosine %v, want the mean %v", got, want)
	}
}

func TestAttackScorers(t *testing.T) {
	t.Parallel()
	rt := visiontest.Runtime(t, allModels...)
	p := newPipeline(t, vision.PipelineOptions{})
	ctx := context.Background()
	img := evalImage(t, "nuaa-train/live/0001/0001_00_00_01_0.jpg")
	faces, err := p.Analyze(ctx, img)
	if err != nil || len(faces) == 0 {
		t.Fatalf("%d faces, %v", len(faces), err)
	}
	f := faces[vision.Largest(faces)].Face
	for _, spec := range vision.AttackModels {
		s, err := vision.NewAttackScorer(rt, spec)
		if err != nil {
			t.Fatal(err)
		}
		a, err := s.Score(ctx, img, f)
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.Score(ctx, img, f)
		if err != nil {
			t.Fatal(err)
		}
		if a < 0 || a > 1 || a != b {
			t.Errorf("%s: scores %v, %v; want one probability", s.Name(), a, b)
		}
	}
}
