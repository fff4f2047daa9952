package vision

import (
	"math"
)

// Norm says how 8-bit channel values become model input values: channel c
// of a pixel with value p (0-255) becomes p*Scale[c] + Offset[c]. Channels
// are written in RGB order, or BGR when BGR is set.
type Norm struct {
	Scale  [3]float32
	Offset [3]float32
	BGR    bool
}

// Common normalisations.
var (
	// NormUnit maps 0-255 to [0, 1].
	NormUnit = Norm{Scale: [3]float32{1.0 / 255, 1.0 / 255, 1.0 / 255}}
	// NormSigned maps 0-255 to [-1, 1].
	NormSigned = Norm{Scale: [3]float32{1.0 / 127.5, 1.0 / 127.5, 1.0 / 127.5}, Offset: [3]float32{-1, -1, -1}}
	// NormRaw keeps 0-255.
	NormRaw = Norm{Scale: [3]float32{1, 1, 1}}
	// NormRawBGR keeps 0-255 in BGR order.
	NormRawBGR = Norm{Scale: [3]float32{1, 1, 1}, BGR: true}
)

// NormMeanStd returns the normalisation (p - mean[c]) / std[c].
func NormMeanStd(mean, std [3]float32) Norm {
	var n Norm
	for c := 0; c < 3; c++ {
		n.Scale[c] = 1 / std[c]
		n.Offset[c] = -mean[c] / std[c]
	}
	return n
}

// NewImageTensor returns a zeroed NHWC tensor of shape [1, h, w, 3].
func NewImageTensor(w, h int) Tensor {
	return Tensor{Shape: []int64{1, int64(h), int64(w), 3}, Data: make([]float32, 3*w*h)}
}

// Warp fills dst, a w x h x 3 (HWC) float32 buffer, by sampling src through
// m, which maps output coordinates to source coordinates (see
// CropTransform). Samples are bilinear; points outside the source image are
// black (before normalisation). When m shrinks the source by more than two,
// Warp samples a half-resolution level of src instead, so that large images
// do not alias. dst must hold at least 3*w*h values.
func Warp(src *RGB, m Affine, w, h int, norm Norm, dst []float32) {
	dst = dst[:3*w*h]
	img := src
	// Choose the pyramid level: each level halves the image, so a source
	// that m shrinks by s is sampled at level floor(log2(s)), leaving a
	// shrink below 2 for the bilinear step.
	if s := m.Scale(); s >= 2 {
		k := int(math.Floor(math.Log2(s)))
		f := 1.0
		for ; k > 0 && img.W > 1 && img.H > 1; k-- {
			img = img.Half()
			f *= 2
		}
		m = m.Then(ScaleXY(1/f, 1/f))
	}
	fill := norm.Offset // black, per output channel
	r, g, b := 0, 1, 2
	if norm.BGR {
		r, b = 2, 0
	}
	sc := norm.Scale
	of := norm.Offset
	if norm.BGR {
		sc[0], sc[2] = sc[2], sc[0]
		of[0], of[2] = of[2], of[0]
	}
	W, H := img.W, img.H
	fw, fh := float64(W), float64(H)
	pix := img.Pix
	stride := 3 * W
	for y := 0; y < h; y++ {
		// Source position of the output pixel centre (0.5, y+0.5), moved
		// to the pixel-index frame (centres at integers).
		cy := float64(y) + 0.5
		sx := m.A*0.5 + m.B*cy + m.C - 0.5
		sy := m.D*0.5 + m.E*cy + m.F - 0.5
		out := dst[3*w*y : 3*w*(y+1)]
		for x := 0; x < w; x, sx, sy = x+1, sx+m.A, sy+m.D {
			var u, v float64
			var i, dx, dy int
			if sx >= 0 && sy >= 0 && sx < fw-1 && sy < fh-1 {
				// Inside: all four neighbours exist.
				u, v = sx, sy
				dx, dy = 3, stride
			} else {
				if sx < -0.5 || sy < -0.5 || sx > fw-0.5 || sy > fh-0.5 {
					o := out[3*x : 3*x+3]
					o[0], o[1], o[2] = fill[0], fill[1], fill[2]
					continue
				}
				// Within half a pixel of the border: replicate the edge.
				u = math.Min(math.Max(sx, 0), fw-1)
				v = math.Min(math.Max(sy, 0), fh-1)
				dx, dy = 3, stride
				if int(u)+1 >= W {
					dx = 0
				}
				if int(v)+1 >= H {
					dy = 0
				}
			}
			x0, y0 := int(u), int(v)
			fx, fy := float32(u-float64(x0)), float32(v-float64(y0))
			i = y0*stride + 3*x0
			w00 := (1 - fx) * (1 - fy)
			w01 := fx * (1 - fy)
			w10 := (1 - fx) * fy
			w11 := fx * fy
			p00, p01, p10, p11 := pix[i:i+3:i+3], pix[i+dx:i+dx+3:i+dx+3], pix[i+dy:i+dy+3:i+dy+3], pix[i+dy+dx:i+dy+dx+3:i+dy+dx+3]
			vr := w00*float32(p00[0]) + w01*float32(p01[0]) + w10*float32(p10[0]) + w11*float32(p11[0])
			vg := w00*float32(p00[1]) + w01*float32(p01[1]) + w10*float32(p10[1]) + w11*float32(p11[1])
			vb := w00*float32(p00[2]) + w01*float32(p01[2]) + w10*float32(p10[2]) + w11*float32(p11[2])
			o := out[3*x : 3*x+3 : 3*x+3]
			o[r] = vr*sc[0] + of[0]
			o[g] = vg*sc[1] + of[1]
			o[b] = vb*sc[2] + of[2]
		}
	}
}

// WarpTensor is Warp into a new [1, h, w, 3] tensor.
func WarpTensor(src *RGB, m Affine, w, h int, norm Norm) Tensor {
	t := NewImageTensor(w, h)
	Warp(src, m, w, h, norm, t.Data)
	return t
}

// ImageTensor resizes the whole of img to w x h (stretching it) into a new
// [1, h, w, 3] tensor.
func ImageTensor(img *RGB, w, h int, norm Norm) Tensor {
	return WarpTensor(img, ScaleXY(float64(img.W)/float64(w), float64(img.H)/float64(h)), w, h, norm)
}

// Letterbox returns the transform from a side x side model input to img
// that fits the whole image into the input, centred and keeping its aspect
// ratio; the uncovered margins sample outside the image (black).
func Letterbox(imgW, imgH, side int) Affine {
	s := math.Max(float64(imgW), float64(imgH)) / float64(side)
	ox := (float64(imgW) - s*float64(side)) / 2
	oy := (float64(imgH) - s*float64(side)) / 2
	return Affine{A: s, C: ox, E: s, F: oy}
}

// WarpRGB is Warp into a new w x h RGB image (no normalisation); it is
// meant for crops that are inspected or written out, not for model inputs.
func WarpRGB(src *RGB, m Affine, w, h int) *RGB {
	buf := make([]float32, 3*w*h)
	Warp(src, m, w, h, NormRaw, buf)
	dst := NewRGB(w, h)
	for i, v := range buf {
		dst.Pix[i] = uint8(math.Min(math.Max(float64(v)+0.5, 0), 255))
	}
	return dst
}
