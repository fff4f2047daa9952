package vision

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/everify/everify/internal/biometric"
)

// randomRGBA returns a w x h image of random opaque pixels.
func randomRGBA(w, h int, seed uint64) *image.RGBA {
	r := rand.New(rand.NewPCG(seed, 1))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.IntN(256))
		if i%4 == 3 {
			img.Pix[i] = 255
		}
	}
	return img
}

func TestToRGBMatchesAt(t *testing.T) {
	t.Parallel()
	src := randomRGBA(37, 23, 1)
	ycc := image.NewYCbCr(image.Rect(0, 0, 37, 23), image.YCbCrSubsampleRatio420)
	for y := 0; y < 23; y++ {
		for x := 0; x < 37; x++ {
			c := src.RGBAAt(x, y)
			yy, cb, cr := color.RGBToYCbCr(c.R, c.G, c.B)
			ycc.Y[ycc.YOffset(x, y)] = yy
			ycc.Cb[ycc.COffset(x, y)] = cb
			ycc.Cr[ycc.COffset(x, y)] = cr
		}
	}
	gray := image.NewGray(image.Rect(0, 0, 37, 23))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i * 7)
	}
	nrgba := image.NewNRGBA(image.Rect(0, 0, 37, 23))
	copy(nrgba.Pix, src.Pix)
	for i := 3; i < len(nrgba.Pix); i += 4 {
		nrgba.Pix[i] = uint8(i)
	}
	// A sub-image with a non-zero origin and a type without a fast path.
	sub := src.SubImage(image.Rect(5, 4, 30, 20))
	paletted := image.NewPaletted(image.Rect(0, 0, 9, 9), color.Palette{color.Black, color.RGBA{200, 10, 30, 255}})
	for i := range paletted.Pix {
		paletted.Pix[i] = uint8(i % 2)
	}
	for name, img := range map[string]image.Image{"rgba": src, "ycbcr": ycc, "gray": gray, "nrgba": nrgba, "sub": sub, "paletted": paletted} {
		got := ToRGB(img)
		b := img.Bounds()
		if got.W != b.Dx() || got.H != b.Dy() {
			t.Fatalf("%s: size %dx%d, want %dx%d", name, got.W, got.H, b.Dx(), b.Dy())
		}
		for y := 0; y < got.H; y++ {
			for x := 0; x < got.W; x++ {
				r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
				want := color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), 255}
				if c := got.At(x, y).(color.RGBA); c != want {
					t.Fatalf("%s: pixel (%d,%d) = %v, want %v", name, x, y, c, want)
				}
			}
		}
	}
	if r := ToRGB(src); ToRGB(r) != r {
		t.Error("ToRGB(*RGB) made a copy")
	}
}

func TestHalf(t *testing.T) {
	t.Parallel()
	m := NewRGB(3, 3)
	for i := range m.Pix {
		m.Pix[i] = uint8(10 * (i / 3)) // pixel k has value 10k in every channel
	}
	h := m.Half()
	if h.W != 2 || h.H != 2 {
		t.Fatalf("size %dx%d, want 2x2", h.W, h.H)
	}
	// Pixels 0,1,3,4 → mean 20; pixel 2 with itself and 5 → 35;
	// 6,7 with themselves → 65; 8 alone → 80.
	want := []uint8{20, 35, 65, 80}
	for i, w := range want {
		if got := h.Pix[3*i]; got != w {
			t.Errorf("pixel %d = %d, want %d", i, got, w)
		}
	}
	if m.Half() != h {
		t.Error("Half is not cached")
	}
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestAffineAlgebra(t *testing.T) {
	t.Parallel()
	m := Rotate(0.3).Then(ScaleXY(2, 3)).Then(Translate(5, -7))
	inv, ok := m.Invert()
	if !ok {
		t.Fatal("not invertible")
	}
	p := biometric.Point{X: 3.5, Y: -1.25}
	q := m.Apply(p)
	// Rotate, then scale, then translate, by hand.
	s, c := math.Sincos(0.3)
	want := biometric.Point{X: 2*(c*p.X-s*p.Y) + 5, Y: 3*(s*p.X+c*p.Y) - 7}
	if !near(q.X, want.X, 1e-12) || !near(q.Y, want.Y, 1e-12) {
		t.Errorf("Apply = %v, want %v", q, want)
	}
	if back := inv.Apply(q); !near(back.X, p.X, 1e-12) || !near(back.Y, p.Y, 1e-12) {
		t.Errorf("Invert∘Apply = %v, want %v", back, p)
	}
	if _, ok := (Affine{A: 1, B: 2, D: 2, E: 4}).Invert(); ok {
		t.Error("singular transform inverted")
	}
	if !near(m.Scale(), math.Sqrt(6), 1e-12) {
		t.Errorf("Scale = %v, want √6", m.Scale())
	}
}

func TestEstimateSimilarity(t *testing.T) {
	t.Parallel()
	truth := Rotate(-0.4).Then(ScaleXY(1.7, 1.7)).Then(Translate(12, 30))
	src := []biometric.Point{{X: 38, Y: 51}, {X: 73, Y: 51}, {X: 56, Y: 71}, {X: 41, Y: 92}, {X: 70, Y: 92}}
	dst := make([]biometric.Point, len(src))
	for i, p := range src {
		dst[i] = truth.Apply(p)
	}
	got, err := EstimateSimilarity(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range [][2]float64{{got.A, truth.A}, {got.B, truth.B}, {got.C, truth.C}, {got.D, truth.D}, {got.E, truth.E}, {got.F, truth.F}} {
		if !near(f[0], f[1], 1e-9) {
			t.Fatalf("exact fit: got %+v, want %+v", got, truth)
		}
	}
	// With noise the fit must beat the true transform's residual only
	// slightly and stay close to it.
	r := rand.New(rand.NewPCG(7, 7))
	for i := range dst {
		dst[i].X += r.NormFloat64()
		dst[i].Y += r.NormFloat64()
	}
	got, err = EstimateSimilarity(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	resid := func(m Affine) (s float64) {
		for i, p := range src {
			q := m.Apply(p)
			s += (q.X-dst[i].X)*(q.X-dst[i].X) + (q.Y-dst[i].Y)*(q.Y-dst[i].Y)
		}
		return s
	}
	if resid(got) > resid(truth) {
		t.Errorf("least-squares residual %v exceeds the true transform's %v", resid(got), resid(truth))
	}
	if !near(got.Scale(), 1.7, 0.1) {
		t.Errorf("noisy scale = %v, want ≈1.7", got.Scale())
	}
	if _, err := EstimateSimilarity(src[:1], dst[:1]); err == nil {
		t.Error("one point pair accepted")
	}
	same := []biometric.Point{{X: 1, Y: 1}, {X: 1, Y: 1}}
	if _, err := EstimateSimilarity(same, same); err == nil {
		t.Error("coincident points accepted")
	}
}

func TestEstimateAffine(t *testing.T) {
	t.Parallel()
	truth := Affine{A: 1.2, B: 0.3, C: -4, D: -0.2, E: 0.9, F: 11}
	src := []biometric.Point{{X: 0, Y: 0}, {X: 10, Y: 0}, {X: 0, Y: 10}, {X: 7, Y: 9}}
	dst := make([]biometric.Point, len(src))
	for i, p := range src {
		dst[i] = truth.Apply(p)
	}
	got, err := EstimateAffine(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range [][2]float64{{got.A, truth.A}, {got.B, truth.B}, {got.C, truth.C}, {got.D, truth.D}, {got.E, truth.E}, {got.F, truth.F}} {
		if !near(f[0], f[1], 1e-9) {
			t.Fatalf("got %+v, want %+v", got, truth)
		}
	}
	line := []biometric.Point{{X: 0, Y: 0}, {X: 1, Y: 1}, {X: 2, Y: 2}}
	if _, err := EstimateAffine(line, line); err == nil {
		t.Error("collinear points accepted")
	}
}

func TestWarpIdentityAndOutside(t *testing.T) {
	t.Parallel()
	img := ToRGB(randomRGBA(16, 12, 3))
	buf := make([]float32, 3*16*12)
	Warp(img, Identity, 16, 12, NormRaw, buf)
	for i, v := range buf {
		if v != float32(img.Pix[i]) {
			t.Fatalf("identity warp: value %d = %v, want %d", i, v, img.Pix[i])
		}
	}
	// Shift by 4 pixels to the right: the first four output columns lie
	// outside the source and are black, here -1 after NormSigned.
	Warp(img, Translate(-4, 0), 16, 12, NormSigned, buf)
	for y := 0; y < 12; y++ {
		for x := 0; x < 16; x++ {
			for c := 0; c < 3; c++ {
				got := buf[3*(16*y+x)+c]
				want := float32(-1)
				if x >= 4 {
					want = float32(img.Pix[3*(16*y+x-4)+c])/127.5 - 1
				}
				if math.Abs(float64(got-want)) > 1e-5 {
					t.Fatalf("shifted (%d,%d,%d) = %v, want %v", x, y, c, got, want)
				}
			}
		}
	}
}

func TestWarpBGRAndMidpoint(t *testing.T) {
	t.Parallel()
	img := NewRGB(2, 1)
	copy(img.Pix, []uint8{0, 100, 200, 100, 200, 0})
	// A 1-pixel output whose centre maps to the midpoint between the two
	// source pixel centres (x = 1.0) averages them.
	buf := make([]float32, 3)
	Warp(img, ScaleXY(2, 1), 1, 1, Norm{Scale: [3]float32{1, 1, 1}, BGR: true}, buf)
	want := []float32{100, 150, 50} // B, G, R of the mean (50, 150, 100)
	for i := range want {
		if math.Abs(float64(buf[i]-want[i])) > 1e-4 {
			t.Fatalf("got %v, want %v", buf, want)
		}
	}
}

func TestWarpRotatedCrop(t *testing.T) {
	t.Parallel()
	img := ToRGB(randomRGBA(9, 5, 4))
	// A crop box turned 90° clockwise over the whole image: the crop's x
	// axis runs down the source and its y axis leftwards, so output (x, y)
	// shows source (W-1-y, x).
	m := CropTransform(biometric.Point{X: 4.5, Y: 2.5}, 5, 9, math.Pi/2, 5, 9)
	out := WarpRGB(img, m, 5, 9)
	for y := 0; y < 9; y++ {
		for x := 0; x < 5; x++ {
			if got, want := out.At(x, y), img.At(8-y, x); got != want {
				t.Fatalf("rotated (%d,%d) = %v, want %v", x, y, got, want)
			}
		}
	}
}

func TestWarpDownscaleAntialias(t *testing.T) {
	t.Parallel()
	// A one-pixel checkerboard shrunk 8 times must come out as flat grey,
	// not as an aliased pattern.
	img := NewRGB(256, 256)
	for y := 0; y < 256; y++ {
		for x := 0; x < 256; x++ {
			if (x+y)%2 == 0 {
				img.Set(x, y, color.White)
			}
		}
	}
	out := WarpRGB(img, ScaleXY(8, 8), 32, 32)
	for i, v := range out.Pix {
		if v < 120 || v > 135 {
			t.Fatalf("value %d = %d, want ≈128", i, v)
		}
	}
}

func TestLetterbox(t *testing.T) {
	t.Parallel()
	m := Letterbox(400, 200, 100)
	// The input's top-left corner lies 100 px above the image (margin),
	// its centre on the image's centre, and 100 input px span 400 image px.
	if p := m.Apply(biometric.Point{}); !near(p.X, 0, 1e-12) || !near(p.Y, -100, 1e-12) {
		t.Errorf("corner → %v, want (0,-100)", p)
	}
	if p := m.Apply(biometric.Point{X: 50, Y: 50}); !near(p.X, 200, 1e-12) || !near(p.Y, 100, 1e-12) {
		t.Errorf("centre → %v, want (200,100)", p)
	}
}

func TestGrayStatsAndSharpness(t *testing.T) {
	t.Parallel()
	flat := NewRGB(32, 32)
	for i := range flat.Pix {
		flat.Pix[i] = 128
	}
	g := GrayPatch(flat, Identity, 32, 32)
	st := g.Stats()
	if !near(st.Mean, 128, 1e-3) || st.Std > 1e-3 || st.Dark != 0 || st.Bright != 0 {
		t.Errorf("flat stats = %+v", st)
	}
	if v := g.LaplacianVariance(); v > 1e-6 {
		t.Errorf("flat Laplacian variance = %v, want 0", v)
	}
	sharp := ToRGB(randomRGBA(64, 64, 5))
	gs := GrayPatch(sharp, Identity, 64, 64)
	// The same content blurred (down- then up-sampled) is less sharp.
	blurred := GrayPatch(WarpRGB(sharp, ScaleXY(4, 4), 16, 16), ScaleXY(0.25, 0.25), 64, 64)
	if s, b := gs.LaplacianVariance(), blurred.LaplacianVariance(); !(s > 10*b) {
		t.Errorf("sharp variance %v not well above blurred %v", s, b)
	}
	half := NewRGB(10, 10)
	for i := 150; i < 300; i++ {
		half.Pix[i] = 255
	}
	if st := GrayPatch(half, Identity, 10, 10).Stats(); !near(st.Dark, 0.5, 1e-9) || !near(st.Bright, 0.5, 1e-9) {
		t.Errorf("half black/half white: dark %v bright %v, want 0.5 each", st.Dark, st.Bright)
	}
}

func TestSuppressNonMax(t *testing.T) {
	t.Parallel()
	cands := []Candidate{
		{Rect: Rect{0, 0, 10, 10}, Score: 0.6, Points: []biometric.Point{{X: 2, Y: 2}}},
		{Rect: Rect{1, 1, 11, 11}, Score: 0.9, Points: []biometric.Point{{X: 4, Y: 4}}},
		{Rect: Rect{50, 50, 60, 60}, Score: 0.7, Points: []biometric.Point{{X: 55, Y: 55}}},
		{Rect: Rect{52, 50, 62, 60}, Score: 0.3, Points: []biometric.Point{{X: 57, Y: 55}}},
	}
	got := SuppressNonMax(cands, 0.5, false, 0)
	if len(got) != 2 || got[0].Score != 0.9 || got[1].Score != 0.7 || got[0].Rect != cands[1].Rect {
		t.Fatalf("standard NMS = %+v", got)
	}
	w := SuppressNonMax(cands, 0.5, true, 0)
	// The first group blends boxes 0 and 1 with weights 0.6 and 0.9.
	wantX0 := (0.6*0 + 0.9*1) / 1.5
	wantP := (0.6*2 + 0.9*4) / 1.5
	if len(w) != 2 || !near(w[0].Rect.X0, wantX0, 1e-12) || !near(w[0].Points[0].X, wantP, 1e-12) || w[0].Score != 0.9 {
		t.Fatalf("weighted NMS = %+v", w)
	}
	if one := SuppressNonMax(cands, 0.5, false, 1); len(one) != 1 {
		t.Errorf("max 1 gave %d", len(one))
	}
	if r := (Rect{0, 0, 2, 2}).IoU(Rect{1, 0, 3, 2}); !near(r, 1.0/3, 1e-12) {
		t.Errorf("IoU = %v, want 1/3", r)
	}
}

func BenchmarkWarp256(b *testing.B) {
	img := ToRGB(randomRGBA(640, 480, 9))
	m := Letterbox(640, 480, 256)
	buf := make([]float32, 3*256*256)
	for b.Loop() {
		Warp(img, m, 256, 256, NormSigned, buf)
	}
}

func TestBlazeAnchors(t *testing.T) {
	t.Parallel()
	a := blazeAnchors(256)
	if len(a) != 896 {
		t.Fatalf("%d anchors, want 896", len(a))
	}
	// The 16x16 grid (stride 16, two anchors per cell) comes first, then
	// the 8x8 grid (stride 32, six per cell).
	want := map[int][2]float64{0: {8, 8}, 1: {8, 8}, 2: {24, 8}, 511: {248, 248}, 512: {16, 16}, 517: {16, 16}, 518: {48, 16}, 895: {240, 240}}
	for i, w := range want {
		if a[i] != w {
			t.Errorf("anchor %d = %v, want %v", i, a[i], w)
		}
	}
	// The front model's 128x128 input has the same grids at half the
	// strides.
	a = blazeAnchors(128)
	if len(a) != 896 || a[0] != [2]float64{4, 4} || a[511] != [2]float64{124, 124} || a[512] != [2]float64{8, 8} {
		t.Errorf("128x128 anchors: %d, %v %v %v", len(a), a[0], a[511], a[512])
	}
}

func TestTilePlan(t *testing.T) {
	t.Parallel()
	d := &BlazeFaceDetector{opts: DetectorOptions{MinFaceSize: 40}.withDefaults(), size: 256}
	if v := (&BlazeFaceDetector{opts: DetectorOptions{}.withDefaults(), size: 256}).plan(1400, 1000, 0); len(v) != 1 {
		t.Fatalf("without MinFaceSize: %d views, want 1", len(v))
	}
	views := d.plan(1400, 1000, 0)
	if len(views) < 2 {
		t.Fatalf("%d views, want the whole image and tiles", len(views))
	}
	// Every point of the image lies in a tile of the finest level, and
	// every face of up to tileOverlap of a tile fits wholly inside one.
	tile := float64(d.size) * d.opts.MinFaceSize / minModelFace
	face := tileOverlap * tile
	for y := 0.0; y+face <= 1000; y += 37 {
		for x := 0.0; x+face <= 1400; x += 41 {
			ok := false
			for _, v := range views[1:] {
				r := mapRect(Rect{0, 0, 256, 256}, v.toImage)
				if math.Abs(r.X1-r.X0-tile) < 1e-6 && r.X0 <= x && r.Y0 <= y && x+face <= r.X1 && y+face <= r.Y1 {
					ok = true
					break
				}
			}
			if !ok {
				t.Fatalf("no finest tile holds a %.0f px face at (%.0f, %.0f)", face, x, y)
			}
		}
	}
	// A quarter turn swaps the frame: the whole-image view still covers the
	// whole image.
	r := mapRect(Rect{0, 0, 256, 256}, d.plan(1400, 1000, 1)[0].toImage)
	if r.X0 > 0 || r.Y0 > 0 || r.X1 < 1400 || r.Y1 < 1000 {
		t.Errorf("turned whole view covers %+v", r)
	}
}

func TestSuppressContained(t *testing.T) {
	t.Parallel()
	got := suppressContained([]Candidate{
		{Rect: Rect{0, 0, 100, 100}, Score: 0.9},
		{Rect: Rect{20, 20, 40, 40}, Score: 0.8},   // an eye inside the face
		{Rect: Rect{90, 90, 150, 150}, Score: 0.7}, // overlaps a corner only
	})
	if len(got) != 2 || got[1].Score != 0.7 {
		t.Errorf("got %+v", got)
	}
}

// syntheticMesh returns a 468-point mesh with every point at the origin
// except those set.
func syntheticMesh(set map[int][3]float64) [][3]float64 {
	m := make([][3]float64, 468)
	for i, p := range set {
		m[i] = p
	}
	return m
}

func TestEyeAspectRatioAndMouth(t *testing.T) {
	t.Parallel()
	// Right eye 30 wide with lids 9 and 6 apart: (9+6)/(2*30) = 0.25.
	// Left eye 30 wide and shut: 0.
	m := syntheticMesh(map[int][3]float64{
		33: {0, 0, 0}, 133: {30, 0, 0}, 160: {10, -4, 0}, 144: {10, 5, 0}, 158: {20, -3, 0}, 153: {20, 3, 0},
		263: {100, 0, 0}, 362: {70, 0, 0}, 387: {90, 0, 0}, 373: {90, 0, 0}, 385: {80, 0, 0}, 380: {80, 0, 0},
		78: {30, 50, 0}, 308: {70, 50, 0}, 13: {50, 45, 0}, 14: {50, 57, 0},
	})
	r, l := EyeAspectRatio(m)
	if !near(r, 0.25, 1e-12) || l != 0 {
		t.Errorf("EAR = %v, %v; want 0.25, 0", r, l)
	}
	if got := MouthOpening(m); !near(got, 12.0/40, 1e-12) {
		t.Errorf("mouth opening = %v, want 0.3", got)
	}
	if r, l := EyeAspectRatio(m[:10]); r != 0 || l != 0 {
		t.Error("short mesh accepted")
	}
}

func TestMeshPoseSynthetic(t *testing.T) {
	t.Parallel()
	// A flat face facing the camera, then turned: yaw about the vertical
	// axis, roll in the image plane.
	flat := map[int][3]float64{}
	for _, p := range poseAcross {
		flat[p[0]] = [3]float64{-40, float64(p[0] % 50), 0}
		flat[p[1]] = [3]float64{40, float64(p[0] % 50), 0}
	}
	for _, p := range poseDown {
		flat[p[0]] = [3]float64{0, -60, 0}
		flat[p[1]] = [3]float64{0, 60, 0}
	}
	turn := func(yaw, roll float64) [][3]float64 {
		sy, cy := math.Sincos(yaw * math.Pi / 180)
		sr, cr := math.Sincos(roll * math.Pi / 180)
		m := syntheticMesh(nil)
		for i, p := range flat {
			// Yaw: x towards +z (the person's left side recedes).
			x, y, z := cy*p[0]-sy*p[2], p[1], sy*p[0]+cy*p[2]
			// Roll: clockwise in the image.
			m[i] = [3]float64{cr*x - sr*y, sr*x + cr*y, z}
		}
		return m
	}
	for _, c := range []struct{ yaw, roll float64 }{{0, 0}, {30, 0}, {-25, 0}, {0, 15}, {20, -10}} {
		p := MeshPose(turn(c.yaw, c.roll))
		if !near(p.Yaw, c.yaw, 1e-9) || !near(p.Roll, c.roll, 1e-9) || !near(p.Pitch, 0, 1e-9) {
			t.Errorf("yaw %v roll %v: got %+v", c.yaw, c.roll, p)
		}
	}
}

func TestFaceQualitySynthetic(t *testing.T) {
	t.Parallel()
	img := ToRGB(randomRGBA(400, 400, 11))
	face := Face{Box: biometric.Box{X: 100, Y: 100, Width: 200, Height: 200},
		Landmarks: biometric.Landmarks{RightEye: biometric.Point{X: 150, Y: 170}, LeftEye: biometric.Point{X: 250, Y: 170}}}
	sharp := FaceQuality(img, face)
	blurred := FaceQuality(WarpRGB(WarpRGB(img, ScaleXY(8, 8), 50, 50), ScaleXY(0.125, 0.125), 400, 400), face)
	if !(sharp.Sharpness > 90 && blurred.Sharpness < sharp.Sharpness/2 && blurred.Score < sharp.Score) {
		t.Errorf("sharp %+v, blurred %+v", sharp, blurred)
	}
	dark := NewRGB(400, 400)
	for i := range dark.Pix {
		dark.Pix[i] = img.Pix[i] / 10
	}
	if q := FaceQuality(dark, face); !(q.Brightness < 10 && q.Score < sharp.Score/2) {
		t.Errorf("dark face: %+v", q)
	}
	small := face
	small.Box.Width, small.Box.Height = 30, 30
	if q := FaceQuality(img, small); q.FaceSize != 30 || q.Score != 0 {
		t.Errorf("30 px face: %+v", q)
	}
	turned := face
	turned.Pose.Yaw = 60
	if q := FaceQuality(img, turned); q.Score != 0 {
		t.Errorf("profile face: %+v", q)
	}
}

func TestImageTensor(t *testing.T) {
	t.Parallel()
	img := NewRGB(2, 1)
	copy(img.Pix, []uint8{0, 0, 0, 255, 255, 255})
	// Stretched to 4x2: the outer columns replicate the edge pixels, the
	// inner ones blend them 3:1.
	tn := ImageTensor(img, 4, 2, NormUnit)
	if len(tn.Shape) != 4 || tn.Shape[0] != 1 || tn.Shape[1] != 2 || tn.Shape[2] != 4 || tn.Shape[3] != 3 {
		t.Fatalf("shape %v", tn.Shape)
	}
	want := []float32{0, 0.25, 0.75, 1}
	for y := 0; y < 2; y++ {
		for x, w := range want {
			if got := tn.Data[3*(4*y+x)]; math.Abs(float64(got-w)) > 1e-6 {
				t.Errorf("(%d,%d) = %v, want %v", x, y, got, w)
			}
		}
	}
}
