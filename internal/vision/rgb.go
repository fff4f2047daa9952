package vision

import (
	"image"
	"image/color"
	"sync"
)

// RGB is an 8-bit RGB image, three interleaved bytes per pixel, with its
// origin at (0, 0). The pipeline converts every input image to an RGB once
// and samples model inputs from it; RGB implements image.Image, so it can be
// passed wherever an image.Image is expected and is then used without a
// second conversion.
//
// An RGB is safe for concurrent use once built: the only mutable state is
// the cache of half-resolution levels used for down-sampling.
type RGB struct {
	Pix  []uint8 // row-major, 3*W bytes per row
	W, H int

	mu   sync.Mutex
	half *RGB // cached half-resolution level, built on first use
}

// NewRGB returns a blank (black) RGB of the given size.
func NewRGB(w, h int) *RGB {
	return &RGB{Pix: make([]uint8, 3*w*h), W: w, H: h}
}

// ToRGB converts img to an RGB. Coordinates are shifted so that
// img.Bounds().Min becomes (0, 0). If img already is an *RGB it is returned
// as is. The common decoder outputs (*image.YCbCr, *image.RGBA,
// *image.NRGBA, *image.Gray) are converted without per-pixel interface
// calls; transparent pixels are composited over black.
func ToRGB(img image.Image) *RGB {
	if r, ok := img.(*RGB); ok {
		return r
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	dst := NewRGB(w, h)
	switch src := img.(type) {
	case *image.YCbCr:
		for y := 0; y < h; y++ {
			row := dst.Pix[3*w*y:]
			yi := src.YOffset(b.Min.X, b.Min.Y+y)
			for x := 0; x < w; x++ {
				ci := src.COffset(b.Min.X+x, b.Min.Y+y)
				r, g, bl := color.YCbCrToRGB(src.Y[yi+x], src.Cb[ci], src.Cr[ci])
				row[3*x], row[3*x+1], row[3*x+2] = r, g, bl
			}
		}
	case *image.RGBA:
		for y := 0; y < h; y++ {
			s := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):]
			d := dst.Pix[3*w*y:]
			for x := 0; x < w; x++ {
				d[3*x], d[3*x+1], d[3*x+2] = s[4*x], s[4*x+1], s[4*x+2]
			}
		}
	case *image.NRGBA:
		for y := 0; y < h; y++ {
			s := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):]
			d := dst.Pix[3*w*y:]
			for x := 0; x < w; x++ {
				// Premultiply as color.NRGBA.RGBA does, in 16 bits.
				a := uint32(s[4*x+3]) * 0x101
				d[3*x] = uint8(uint32(s[4*x]) * 0x101 * a / 0xffff >> 8)
				d[3*x+1] = uint8(uint32(s[4*x+1]) * 0x101 * a / 0xffff >> 8)
				d[3*x+2] = uint8(uint32(s[4*x+2]) * 0x101 * a / 0xffff >> 8)
			}
		}
	case *image.Gray:
		for y := 0; y < h; y++ {
			s := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):]
			d := dst.Pix[3*w*y:]
			for x := 0; x < w; x++ {
				d[3*x], d[3*x+1], d[3*x+2] = s[x], s[x], s[x]
			}
		}
	default:
		for y := 0; y < h; y++ {
			d := dst.Pix[3*w*y:]
			for x := 0; x < w; x++ {
				r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
				d[3*x], d[3*x+1], d[3*x+2] = uint8(r>>8), uint8(g>>8), uint8(bl>>8)
			}
		}
	}
	return dst
}

// ColorModel implements image.Image.
func (m *RGB) ColorModel() color.Model { return color.RGBAModel }

// Bounds implements image.Image.
func (m *RGB) Bounds() image.Rectangle { return image.Rect(0, 0, m.W, m.H) }

// At implements image.Image.
func (m *RGB) At(x, y int) color.Color {
	if x < 0 || y < 0 || x >= m.W || y >= m.H {
		return color.RGBA{}
	}
	i := 3 * (y*m.W + x)
	return color.RGBA{m.Pix[i], m.Pix[i+1], m.Pix[i+2], 255}
}

// Set writes the pixel at (x, y); points outside the image are ignored.
func (m *RGB) Set(x, y int, c color.Color) {
	if x < 0 || y < 0 || x >= m.W || y >= m.H {
		return
	}
	r, g, b, _ := c.RGBA()
	i := 3 * (y*m.W + x)
	m.Pix[i], m.Pix[i+1], m.Pix[i+2] = uint8(r>>8), uint8(g>>8), uint8(b>>8)
}

// Half returns the image at half resolution (each output pixel the mean of
// a 2x2 block; an odd last row or column is averaged with itself). The
// result is computed once and cached.
func (m *RGB) Half() *RGB {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.half != nil {
		return m.half
	}
	w, h := (m.W+1)/2, (m.H+1)/2
	dst := NewRGB(w, h)
	for y := 0; y < h; y++ {
		r0 := m.Pix[3*m.W*(2*y):]
		r1 := r0
		if 2*y+1 < m.H {
			r1 = m.Pix[3*m.W*(2*y+1):]
		}
		d := dst.Pix[3*w*y:]
		for x := 0; x < w; x++ {
			i0 := 6 * x
			i1 := i0 + 3
			if 2*x+1 >= m.W {
				i1 = i0
			}
			for c := 0; c < 3; c++ {
				s := uint32(r0[i0+c]) + uint32(r0[i1+c]) + uint32(r1[i0+c]) + uint32(r1[i1+c])
				d[3*x+c] = uint8((s + 2) / 4)
			}
		}
	}
	m.half = dst
	return dst
}
