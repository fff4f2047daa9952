package vision

import "math"

// Gray is a single-channel float image, row-major: values are luma 0-255
// (ITU-R BT.601 weights).
type Gray struct {
	Pix  []float32
	W, H int
}

// GrayPatch samples src through m (output coordinates to source, as in
// Warp) into a w x h luma image.
func GrayPatch(src *RGB, m Affine, w, h int) Gray {
	buf := make([]float32, 3*w*h)
	Warp(src, m, w, h, NormRaw, buf)
	g := Gray{Pix: make([]float32, w*h), W: w, H: h}
	for i := range g.Pix {
		g.Pix[i] = 0.299*buf[3*i] + 0.587*buf[3*i+1] + 0.114*buf[3*i+2]
	}
	return g
}

// LumaStats summarises the brightness of a luma image.
type LumaStats struct {
	Mean float64 // mean luma, 0-255
	Std  float64 // standard deviation (contrast), 0-255
	// Dark and Bright are the fractions of pixels at or below 16 and at or
	// above 239: crushed shadows and blown highlights.
	Dark, Bright float64
}

// Stats returns g's luma statistics.
func (g Gray) Stats() LumaStats {
	if len(g.Pix) == 0 {
		return LumaStats{}
	}
	var sum, sq float64
	var dark, bright int
	for _, v := range g.Pix {
		f := float64(v)
		sum += f
		sq += f * f
		if v <= 16 {
			dark++
		} else if v >= 239 {
			bright++
		}
	}
	n := float64(len(g.Pix))
	mean := sum / n
	return LumaStats{
		Mean:   mean,
		Std:    math.Sqrt(math.Max(sq/n-mean*mean, 0)),
		Dark:   float64(dark) / n,
		Bright: float64(bright) / n,
	}
}

// LaplacianVariance is the variance of the 4-neighbour Laplacian over the
// interior of g: a standard focus measure that is high for sharp, detailed
// images and low for blurred ones. It depends on the sampling scale, so
// compare values only between patches of the same size.
func (g Gray) LaplacianVariance() float64 {
	w, h := g.W, g.H
	if w < 3 || h < 3 {
		return 0
	}
	var sum, sq float64
	for y := 1; y < h-1; y++ {
		row := g.Pix[y*w : (y+1)*w]
		up := g.Pix[(y-1)*w : y*w]
		down := g.Pix[(y+1)*w : (y+2)*w]
		for x := 1; x < w-1; x++ {
			l := float64(up[x] + down[x] + row[x-1] + row[x+1] - 4*row[x])
			sum += l
			sq += l * l
		}
	}
	n := float64((w - 2) * (h - 2))
	mean := sum / n
	return math.Max(sq/n-mean*mean, 0)
}
