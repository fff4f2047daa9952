package faceapi

import (
	"math"
	"testing"

	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/vision"
)

// TestChipTransformGeometry places dlib's 5-point template in an image
// with a known scale, rotation and offset and checks the chip geometry
// dlib's extract_image_chip would use: the chip's centre (75, 75 in dlib's
// pixel-index coordinates) lands where the fitted similarity puts it, the
// chip is turned by the rotation, and the first and last pixel centres span
// size*scale-1 image pixels.
func TestChipTransformGeometry(t *testing.T) {
	const (
		size    = 150
		padding = 0.25
		scale   = 1.7
		angle   = 12 * math.Pi / 180
	)
	offset := biometric.Point{X: 40.25, Y: 63.5}
	// sim maps dlib chip coordinates to dlib image coordinates.
	sim := vision.ScaleXY(scale, scale).Then(vision.Rotate(angle)).Then(vision.Translate(offset.X, offset.Y))
	var pts []biometric.Point
	for _, tp := range dlib5Template {
		chip := biometric.Point{X: (padding + tp.X) / (2*padding + 1) * size, Y: (padding + tp.Y) / (2*padding + 1) * size}
		q := sim.Apply(chip)
		pts = append(pts, biometric.Point{X: q.X + 0.5, Y: q.Y + 0.5}) // to vision's convention
	}
	m, err := chipTransform(dlib5Template[:], pts, size, padding)
	if err != nil {
		t.Fatal(err)
	}
	// The chip centre in vision coordinates is (75, 75); dlib's centre of
	// the rectangle is sim(75, 75) in its coordinates.
	want := sim.Apply(biometric.Point{X: 75, Y: 75})
	got := m.Apply(biometric.Point{X: 75, Y: 75})
	if math.Hypot(got.X-want.X-0.5, got.Y-want.Y-0.5) > 1e-9 {
		t.Errorf("chip centre maps to %+v, want %+v (+0.5)", got, want)
	}
	if a := math.Atan2(m.D, m.A); math.Abs(a-angle) > 1e-12 {
		t.Errorf("angle %g, want %g", a, angle)
	}
	first := m.Apply(biometric.Point{X: 0.5, Y: 75})
	last := m.Apply(biometric.Point{X: size - 0.5, Y: 75})
	if span := math.Hypot(last.X-first.X, last.Y-first.Y); math.Abs(span-(size*scale-1)) > 1e-9 {
		t.Errorf("first to last pixel centre spans %g image pixels, want %g", span, size*scale-1)
	}
}

func TestChipTransformDegenerate(t *testing.T) {
	same := make([]biometric.Point, 5)
	if _, err := chipTransform(dlib5Template[:], same, chipSize, 0.25); err == nil {
		t.Error("chipTransform accepted five identical points")
	}
}

func TestTemplates(t *testing.T) {
	if len(dlib68Points) != 33 {
		t.Errorf("%d points for the 68-point alignment, want 33", len(dlib68Points))
	}
	// The named template must have the person's left eye and mouth corner
	// on the image right, like the Landmarks it is matched with.
	n := namedTemplate
	if !(n[0].X > n[1].X && n[3].X > n[4].X && n[0].Y < n[2].Y && n[2].Y < n[3].Y) {
		t.Errorf("named template %v is not a face (left eye, right eye, nose, left and right mouth corner)", n)
	}
	// dlib's 5-point template and the 68-point indices chosen for it agree
	// about which side is which.
	for i, k := range dlib5Points {
		if got, want := meanFace(k).X > 0.5, dlib5Template[i].X > 0.5; got != want && k != noseBase {
			t.Errorf("dlib 5-point %d ↔ 68-point %d lie on different sides", i, k)
		}
	}
}
