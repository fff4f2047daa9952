// Package docbench renders synthetic identity-document images from face
// photos, for measuring selfie-versus-document matching without real
// documents: the face becomes a small printed portrait on a card with a
// procedural guilloche background and text-like lines, and the card goes
// through a simulated print-and-scan (slight perspective, blur, halftone
// screen, sensor noise, colour cast or greyscale, low-quality JPEG).
//
// Rendering is deterministic: the same photo and seed give the same bytes.
// The images are meant for temporary directories or memory only; they show
// real people and are never committed.
package docbench

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
)

// Card geometry in pixels (an ID-1 card, 85.6 x 54 mm, at about 225 dpi).
const (
	cardW = 760
	cardH = 480
	// The scan adds a margin of scanner bed around the card.
	scanMargin = 30
)

// Portrait sizes: the printed portrait's height is drawn between these.
const (
	MinPortrait = 100
	MaxPortrait = 160
)

// Params are the random choices behind one document; Render draws them
// from its seed. They are exported so that reports can describe them.
type Params struct {
	PortraitH   int     // printed portrait height in card pixels
	Ghost       bool    // a second, faded "ghost" portrait
	Tilt        float64 // perspective: corner displacement, fraction of the card size
	Blur        float64 // Gaussian sigma of the print-and-scan blur, pixels
	Halftone    bool    // a printer's halftone screen
	Noise       float64 // sensor noise sigma, 0-255 levels
	Grey        bool    // a greyscale scan (else a colour cast)
	Cast        [3]float64
	JPEGQuality int
}

// Draw picks the parameters for seed.
func Draw(seed uint64) Params {
	r := rand.New(rand.NewPCG(seed, 0x5eed_d0c))
	p := Params{
		PortraitH:   MinPortrait + r.IntN(MaxPortrait-MinPortrait+1),
		Ghost:       r.Float64() < 0.5,
		Tilt:        0.005 + 0.025*r.Float64(),
		Blur:        0.5 + 1.0*r.Float64(),
		Halftone:    r.Float64() < 0.5,
		Noise:       3 + 7*r.Float64(),
		Grey:        r.Float64() < 0.3,
		JPEGQuality: 30 + r.IntN(31),
	}
	for c := range p.Cast {
		p.Cast[c] = 0.85 + 0.3*r.Float64()
	}
	return p
}

// portraitCrop is the region of a 250x250 LFW (deep-funneled) image used
// as the portrait, about the head and shoulders at an ID photo's 3:4.
var portraitCrop = image.Rect(65, 45, 185, 205)

// Render returns the JPEG of a scanned card whose portrait is face (an LFW
// photo, or any image whose centre shows a face filling about half of it),
// with parameters drawn from seed.
func Render(face image.Image, seed uint64) ([]byte, Params, error) {
	p := Draw(seed)
	data, err := RenderWith(face, seed, p)
	return data, p, err
}

// RenderWith is Render with the parameters given; seed still draws the
// card's layout, patterns and noise.
func RenderWith(face image.Image, seed uint64, p Params) ([]byte, error) {
	r := rand.New(rand.NewPCG(seed, 0xca4d))
	card := newCanvas(cardW, cardH)
	drawBackground(card, r)
	crop := cropFor(face.Bounds())
	pw := p.PortraitH * crop.Dx() / crop.Dy()
	// Portrait on the left, as on most ID-1 cards.
	px0, py0 := 40+r.IntN(20), (cardH-p.PortraitH)/2+r.IntN(40)-20
	drawPortrait(card, face, crop, image.Rect(px0, py0, px0+pw, py0+p.PortraitH), 1)
	if p.Ghost {
		gh := p.PortraitH * 2 / 5
		gw := gh * crop.Dx() / crop.Dy()
		gx, gy := cardW-60-gw, cardH-70-gh
		drawPortrait(card, face, crop, image.Rect(gx, gy, gx+gw, gy+gh), 0.35)
	}
	drawText(card, r, px0+pw+40)

	scan := perspectiveScan(card, p.Tilt, r)
	if p.Halftone {
		halftone(scan)
	}
	scan = gaussianBlur(scan, p.Blur)
	colourAndNoise(scan, p, r)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, scan.toRGBA(), &jpeg.Options{Quality: p.JPEGQuality}); err != nil {
		return nil, fmt.Errorf("docbench: encoding: %w", err)
	}
	return buf.Bytes(), nil
}

// cropFor scales portraitCrop to an image of bounds b (LFW images are
// 250x250).
func cropFor(b image.Rectangle) image.Rectangle {
	sx, sy := float64(b.Dx())/250, float64(b.Dy())/250
	return image.Rect(
		b.Min.X+int(float64(portraitCrop.Min.X)*sx), b.Min.Y+int(float64(portraitCrop.Min.Y)*sy),
		b.Min.X+int(float64(portraitCrop.Max.X)*sx), b.Min.Y+int(float64(portraitCrop.Max.Y)*sy))
}

// canvas is a float RGB image, values 0-255.
type canvas struct {
	w, h int
	pix  []float64 // 3 per pixel
}

func newCanvas(w, h int) *canvas { return &canvas{w: w, h: h, pix: make([]float64, 3*w*h)} }

func (c *canvas) at(x, y int) []float64 { i := 3 * (y*c.w + x); return c.pix[i : i+3] }

// sample returns the bilinear sample at continuous (x, y) (pixel centres
// at +0.5), or ok false outside the canvas.
func (c *canvas) sample(x, y float64) (v [3]float64, ok bool) {
	x, y = x-0.5, y-0.5
	if x < 0 || y < 0 || x > float64(c.w-1) || y > float64(c.h-1) {
		return v, false
	}
	x0, y0 := int(x), int(y)
	x1, y1 := min(x0+1, c.w-1), min(y0+1, c.h-1)
	fx, fy := x-float64(x0), y-float64(y0)
	a, b, d, e := c.at(x0, y0), c.at(x1, y0), c.at(x0, y1), c.at(x1, y1)
	for k := 0; k < 3; k++ {
		v[k] = (1-fy)*((1-fx)*a[k]+fx*b[k]) + fy*((1-fx)*d[k]+fx*e[k])
	}
	return v, true
}

func (c *canvas) toRGBA() *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, c.w, c.h))
	for i := 0; i < c.w*c.h; i++ {
		for k := 0; k < 3; k++ {
			img.Pix[4*i+k] = uint8(math.Max(0, math.Min(255, math.Round(c.pix[3*i+k]))))
		}
		img.Pix[4*i+3] = 255
	}
	return img
}

// drawBackground paints the card's tint and a guilloche: families of
// interleaved sine curves and a rosette (an epitrochoid drawn with a thin
// line), in two light inks.
func drawBackground(c *canvas, r *rand.Rand) {
	base := [3]float64{225 + 20*r.Float64(), 225 + 20*r.Float64(), 215 + 25*r.Float64()}
	inks := [2][3]float64{
		{150 + 60*r.Float64(), 160 + 50*r.Float64(), 170 + 60*r.Float64()},
		{170 + 60*r.Float64(), 140 + 50*r.Float64(), 150 + 60*r.Float64()},
	}
	for y := 0; y < c.h; y++ {
		for x := 0; x < c.w; x++ {
			copy(c.at(x, y), base[:])
		}
	}
	// Wave bands: curves y = y0 + A sin(2π x / λ + φ), one every few
	// pixels, two crossing families.
	for fam := 0; fam < 2; fam++ {
		amp := 8 + 12*r.Float64()
		lambda := 60 + 80*r.Float64()
		phaseStep := 0.15 + 0.2*r.Float64()
		spacing := 5 + r.IntN(4)
		ink := inks[fam]
		for k, y0 := 0, -20; y0 < c.h+20; k, y0 = k+1, y0+spacing {
			phase := float64(k) * phaseStep
			if fam == 1 {
				phase = -phase
			}
			for xs := 0.0; xs < float64(c.w); xs += 0.5 {
				y := float64(y0) + amp*math.Sin(2*math.Pi*xs/lambda+phase)
				stamp(c, xs, y, ink, 0.45)
			}
		}
	}
	// Rosette: an epitrochoid centred on the right half.
	cx, cy := float64(c.w)*(0.6+0.2*r.Float64()), float64(c.h)*(0.35+0.3*r.Float64())
	R, q, d := 70+40*r.Float64(), float64(7+r.IntN(6)), 20+20*r.Float64()
	rr := R / q
	for t := 0.0; t < 2*math.Pi*q; t += 0.002 {
		x := cx + (R+rr)*math.Cos(t) - d*math.Cos((R+rr)/rr*t)
		y := cy + (R+rr)*math.Sin(t) - d*math.Sin((R+rr)/rr*t)
		stamp(c, x, y, inks[0], 0.6)
	}
}

// stamp blends ink into the pixel at (x, y) with the given opacity.
func stamp(c *canvas, x, y float64, ink [3]float64, alpha float64) {
	xi, yi := int(x), int(y)
	if xi < 0 || yi < 0 || xi >= c.w || yi >= c.h {
		return
	}
	p := c.at(xi, yi)
	for k := 0; k < 3; k++ {
		p[k] += alpha * (ink[k] - p[k])
	}
}

// drawPortrait prints face's crop region into dst of the card (bilinear,
// area-averaged when shrinking), blended with the given opacity.
func drawPortrait(c *canvas, face image.Image, crop, dst image.Rectangle, opacity float64) {
	src := canvasOf(face, crop)
	scale := float64(crop.Dx()) / float64(dst.Dx())
	if scale > 1.5 {
		src = gaussianBlur(src, 0.5*scale)
	}
	for y := dst.Min.Y; y < dst.Max.Y; y++ {
		for x := dst.Min.X; x < dst.Max.X; x++ {
			if x < 0 || y < 0 || x >= c.w || y >= c.h {
				continue
			}
			v, ok := src.sample((float64(x-dst.Min.X)+0.5)*scale, (float64(y-dst.Min.Y)+0.5)*float64(crop.Dy())/float64(dst.Dy()))
			if !ok {
				continue
			}
			p := c.at(x, y)
			for k := 0; k < 3; k++ {
				p[k] += opacity * (v[k] - p[k])
			}
		}
	}
}

// canvasOf copies region r of img.
func canvasOf(img image.Image, r image.Rectangle) *canvas {
	c := newCanvas(r.Dx(), r.Dy())
	for y := 0; y < r.Dy(); y++ {
		for x := 0; x < r.Dx(); x++ {
			cr, cg, cb, _ := img.At(r.Min.X+x, r.Min.Y+y).RGBA()
			p := c.at(x, y)
			p[0], p[1], p[2] = float64(cr>>8), float64(cg>>8), float64(cb>>8)
		}
	}
	return c
}

// drawText draws text-like lines right of x0 (field labels and values as
// bars of random lengths) and two machine-readable-zone lines of
// character-sized blocks along the bottom.
func drawText(c *canvas, r *rand.Rand, x0 int) {
	dark := [3]float64{40 + 30*r.Float64(), 40 + 30*r.Float64(), 50 + 40*r.Float64()}
	y := 50 + r.IntN(20)
	for y < c.h-130 {
		// A small label, then a value line below it.
		bar(c, x0, y, x0+40+r.IntN(80), y+6, dark, 0.5)
		x := x0
		for x < c.w-40 {
			wd := 10 + r.IntN(50)
			if x+wd > c.w-40 {
				break
			}
			bar(c, x, y+12, x+wd, y+24, dark, 0.9)
			x += wd + 8 + r.IntN(6)
			if r.Float64() < 0.2 {
				break
			}
		}
		y += 44 + r.IntN(12)
	}
	for line := 0; line < 2; line++ {
		yy := c.h - 80 + 30*line
		for x := 40; x+12 < c.w-30; x += 18 {
			if r.Float64() < 0.85 {
				bar(c, x+2, yy, x+13, yy+18, dark, 0.9)
			}
		}
	}
}

func bar(c *canvas, x0, y0, x1, y1 int, ink [3]float64, alpha float64) {
	for y := max(y0, 0); y < min(y1, c.h); y++ {
		for x := max(x0, 0); x < min(x1, c.w); x++ {
			stamp(c, float64(x), float64(y), ink, alpha)
		}
	}
}

// perspectiveScan places the card on a scanner bed with each corner moved
// by up to tilt times the card's size, by a projective warp.
func perspectiveScan(card *canvas, tilt float64, r *rand.Rand) *canvas {
	w, h := card.w+2*scanMargin, card.h+2*scanMargin
	out := newCanvas(w, h)
	bed := 200 + 40*r.Float64()
	for i := range out.pix {
		out.pix[i] = bed
	}
	jit := func(n int) float64 { return (2*r.Float64() - 1) * tilt * float64(n) }
	m := float64(scanMargin)
	dst := [4][2]float64{
		{m + jit(card.w), m + jit(card.h)},
		{m + float64(card.w) + jit(card.w), m + jit(card.h)},
		{m + float64(card.w) + jit(card.w), m + float64(card.h) + jit(card.h)},
		{m + jit(card.w), m + float64(card.h) + jit(card.h)},
	}
	src := [4][2]float64{{0, 0}, {float64(card.w), 0}, {float64(card.w), float64(card.h)}, {0, float64(card.h)}}
	hm := homography(dst, src) // output pixel -> card pixel
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			u, v := applyH(hm, float64(x)+0.5, float64(y)+0.5)
			if s, ok := card.sample(u, v); ok {
				copy(out.at(x, y), s[:])
			}
		}
	}
	return out
}

// homography returns the 3x3 projective map (h33 = 1) taking the four
// points from onto to, by solving the 8x8 linear system.
func homography(from, to [4][2]float64) [9]float64 {
	var a [8][9]float64
	for i := 0; i < 4; i++ {
		x, y, u, v := from[i][0], from[i][1], to[i][0], to[i][1]
		a[2*i] = [9]float64{x, y, 1, 0, 0, 0, -u * x, -u * y, u}
		a[2*i+1] = [9]float64{0, 0, 0, x, y, 1, -v * x, -v * y, v}
	}
	// Gaussian elimination with partial pivoting.
	for col := 0; col < 8; col++ {
		p := col
		for r := col + 1; r < 8; r++ {
			if math.Abs(a[r][col]) > math.Abs(a[p][col]) {
				p = r
			}
		}
		a[col], a[p] = a[p], a[col]
		for r := 0; r < 8; r++ {
			if r == col || a[col][col] == 0 {
				continue
			}
			f := a[r][col] / a[col][col]
			for k := col; k < 9; k++ {
				a[r][k] -= f * a[col][k]
			}
		}
	}
	var h [9]float64
	for i := 0; i < 8; i++ {
		h[i] = a[i][8] / a[i][i]
	}
	h[8] = 1
	return h
}

func applyH(h [9]float64, x, y float64) (float64, float64) {
	w := h[6]*x + h[7]*y + h[8]
	return (h[0]*x + h[1]*y + h[2]) / w, (h[3]*x + h[4]*y + h[5]) / w
}

// halftoneCell is the period of the halftone screen in pixels: 2 px at the
// card's 225 dpi is a 112 lines-per-inch screen, coarse for security
// printing (150-200 lpi) but visible in the scan.
const halftoneCell = 2.0

// halftone re-prints every channel as dots on a 45° screen: a pixel is
// inked where the channel's darkness exceeds the screen's threshold at
// that point, as an offset printer's amplitude-modulated screen does.
func halftone(c *canvas) {
	s, co := math.Sincos(math.Pi / 4)
	for y := 0; y < c.h; y++ {
		for x := 0; x < c.w; x++ {
			u := (float64(x)*co + float64(y)*s) / halftoneCell
			v := (-float64(x)*s + float64(y)*co) / halftoneCell
			// Threshold in 0-1: low at the cell centre, where dots grow.
			th := 0.5 + 0.25*(math.Cos(2*math.Pi*u)+math.Cos(2*math.Pi*v))
			p := c.at(x, y)
			for k := 0; k < 3; k++ {
				dark := 1 - p[k]/255
				// Soft edge: half a level of blur around the threshold.
				ink := math.Max(0, math.Min(1, (dark-(1-th))*4+0.5))
				p[k] = 255 * (1 - ink)
			}
		}
	}
}

// gaussianBlur returns c blurred with a separable Gaussian of sigma pixels.
func gaussianBlur(c *canvas, sigma float64) *canvas {
	if sigma <= 0.05 {
		return c
	}
	rad := int(math.Ceil(3 * sigma))
	k := make([]float64, 2*rad+1)
	var sum float64
	for i := range k {
		d := float64(i - rad)
		k[i] = math.Exp(-d * d / (2 * sigma * sigma))
		sum += k[i]
	}
	for i := range k {
		k[i] /= sum
	}
	tmp, out := newCanvas(c.w, c.h), newCanvas(c.w, c.h)
	for y := 0; y < c.h; y++ {
		for x := 0; x < c.w; x++ {
			var acc [3]float64
			for i, kv := range k {
				xx := min(max(x+i-rad, 0), c.w-1)
				p := c.at(xx, y)
				acc[0] += kv * p[0]
				acc[1] += kv * p[1]
				acc[2] += kv * p[2]
			}
			copy(tmp.at(x, y), acc[:])
		}
	}
	for y := 0; y < c.h; y++ {
		for x := 0; x < c.w; x++ {
			var acc [3]float64
			for i, kv := range k {
				yy := min(max(y+i-rad, 0), c.h-1)
				p := tmp.at(x, yy)
				acc[0] += kv * p[0]
				acc[1] += kv * p[1]
				acc[2] += kv * p[2]
			}
			copy(out.at(x, y), acc[:])
		}
	}
	return out
}

// colourAndNoise applies the colour cast (or greyscale) and the sensor
// noise.
func colourAndNoise(c *canvas, p Params, r *rand.Rand) {
	for i := 0; i < c.w*c.h; i++ {
		px := c.pix[3*i : 3*i+3]
		if p.Grey {
			g := 0.299*px[0] + 0.587*px[1] + 0.114*px[2]
			px[0], px[1], px[2] = g, g, g
		} else {
			for k := 0; k < 3; k++ {
				px[k] *= p.Cast[k]
			}
		}
		n := r.NormFloat64() * p.Noise
		for k := 0; k < 3; k++ {
			// Mostly luminance noise, some chroma.
			px[k] += n + 0.3*p.Noise*r.NormFloat64()
		}
	}
}
