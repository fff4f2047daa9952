package facematch

import (
	"math"

	"github.com/everify/everify/internal/vision"
)

// descreenSigma is the Gaussian blur (pixels) that removes the halftone
// dots of a printed portrait scanned at about the resolution of its
// screen, while keeping the face's features.
const descreenSigma = 1.2

// descreen returns a copy of img blurred with a separable Gaussian of the
// given sigma: the usual "descreen" step of scanning printed matter.
func descreen(img *vision.RGB, sigma float64) *vision.RGB {
	rad := int(math.Ceil(2.5 * sigma))
	k := make([]int32, 2*rad+1)
	var sum int32
	for i := range k {
		d := float64(i - rad)
		k[i] = int32(math.Round(1024 * math.Exp(-d*d/(2*sigma*sigma))))
		sum += k[i]
	}
	w, h := img.W, img.H
	tmp := make([]int32, 3*w*h)
	for y := 0; y < h; y++ {
		row := img.Pix[3*w*y : 3*w*(y+1)]
		for x := 0; x < w; x++ {
			var r, g, b int32
			for i, kv := range k {
				xx := min(max(x+i-rad, 0), w-1)
				r += kv * int32(row[3*xx])
				g += kv * int32(row[3*xx+1])
				b += kv * int32(row[3*xx+2])
			}
			o := 3 * (w*y + x)
			tmp[o], tmp[o+1], tmp[o+2] = r/sum, g/sum, b/sum
		}
	}
	out := vision.NewRGB(w, h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var r, g, b int32
			for i, kv := range k {
				o := 3 * (w*min(max(y+i-rad, 0), h-1) + x)
				r += kv * tmp[o]
				g += kv * tmp[o+1]
				b += kv * tmp[o+2]
			}
			o := 3 * (w*y + x)
			out.Pix[o], out.Pix[o+1], out.Pix[o+2] = uint8(r/sum), uint8(g/sum), uint8(b/sum)
		}
	}
	return out
}
