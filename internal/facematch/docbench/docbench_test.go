package docbench

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"testing"
)

// testFace is a synthetic 250x250 "photo": a bright disc on a dark
// background.
func testFace() *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, 250, 250))
	for y := 0; y < 250; y++ {
		for x := 0; x < 250; x++ {
			c := color.RGBA{20, 30, 40, 255}
			if math.Hypot(float64(x)-125, float64(y)-125) < 50 {
				c = color.RGBA{230, 180, 150, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

func TestRenderIsDeterministic(t *testing.T) {
	t.Parallel()
	face := testFace()
	a, pa, err := Render(face, 7)
	if err != nil {
		t.Fatal(err)
	}
	b, pb, err := Render(face, 7)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) || pa != pb {
		t.Error("the same seed gave different documents")
	}
	c, _, err := Render(face, 8)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, c) {
		t.Error("different seeds gave the same document")
	}
}

func TestRenderProducesAScannedCard(t *testing.T) {
	t.Parallel()
	data, p, err := Render(testFace(), 3)
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != cardW+2*scanMargin || b.Dy() != cardH+2*scanMargin {
		t.Errorf("scan is %v, want %dx%d", b, cardW+2*scanMargin, cardH+2*scanMargin)
	}
	if p.PortraitH < MinPortrait || p.PortraitH > MaxPortrait || p.JPEGQuality < 30 || p.JPEGQuality > 60 {
		t.Errorf("parameters out of range: %+v", p)
	}
	// The portrait is printed on the left of the card: rendering another
	// face with the same seed changes (strongly) only pixels there.
	inverted := testFace()
	for i := range inverted.Pix {
		if i%4 != 3 {
			inverted.Pix[i] = 255 - inverted.Pix[i]
		}
	}
	other, _, err := Render(inverted, 3)
	if err != nil {
		t.Fatal(err)
	}
	img2, err := jpeg.Decode(bytes.NewReader(other))
	if err != nil {
		t.Fatal(err)
	}
	var left, right int
	for y := 0; y < img.Bounds().Dy(); y++ {
		for x := 0; x < img.Bounds().Dx(); x++ {
			r1, g1, b1, _ := img.At(x, y).RGBA()
			r2, g2, b2, _ := img2.At(x, y).RGBA()
			d := math.Abs(float64(r1>>8)-float64(r2>>8)) + math.Abs(float64(g1>>8)-float64(g2>>8)) + math.Abs(float64(b1>>8)-float64(b2>>8))
			if d < 150 {
				continue
			}
			if x < 300 {
				left++
			} else {
				right++
			}
		}
	}
	// A portrait of at least 100x75 px; the faded ghost changes less.
	if left < 5000 || right > left/10 {
		t.Errorf("pixels changed by the face: %d left of x=300, %d right of it", left, right)
	}
}

func TestDrawCoversTheRanges(t *testing.T) {
	t.Parallel()
	var ghost, halftone, grey int
	for s := uint64(0); s < 200; s++ {
		p := Draw(s)
		if p.Ghost {
			ghost++
		}
		if p.Halftone {
			halftone++
		}
		if p.Grey {
			grey++
		}
		if p.Blur < 0.5 || p.Blur > 1.5 || p.Tilt <= 0 || p.Tilt > 0.03 {
			t.Fatalf("seed %d: %+v", s, p)
		}
	}
	if ghost < 60 || halftone < 60 || grey < 30 || grey > 90 {
		t.Errorf("over 200 seeds: %d ghosts, %d halftones, %d greyscale", ghost, halftone, grey)
	}
}
