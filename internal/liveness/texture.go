package liveness

import (
	"math"

	"github.com/everify/everify/internal/vision"
)

// textureName is the texture model's name among the passive scores.
const textureName = "texture"

// The texture signal: printed photos and screens change a face's fine
// texture (halftone and moiré patterns, blur, flattened colour). Its
// features are the 59-bin uniform local-binary-pattern histogram of a
// 64x64 grey crop of the face box and four chroma statistics of the
// central face (mean and spread of Cb and Cr); a logistic regression maps
// them to the probability of a bona fide face.

const (
	texturePatch  = 64 // side of the grey crop the LBP histogram is taken on
	chromaPatch   = 32 // side of the colour crop
	textureBins   = 59 // uniform 8-neighbour patterns, plus one bin for all others
	textureLength = textureBins + 4
)

// uniformLBP maps each 8-bit local binary pattern to its histogram bin:
// the 58 patterns with at most two 0/1 transitions around the circle get
// their own bin, all others share bin 58.
var uniformLBP = func() [256]uint8 {
	var m [256]uint8
	next := uint8(0)
	for v := range 256 {
		transitions := 0
		for b := range 8 {
			if (v>>b)&1 != (v>>((b+1)%8))&1 {
				transitions++
			}
		}
		if transitions <= 2 {
			m[v] = next
			next++
		} else {
			m[v] = textureBins - 1
		}
	}
	return m
}()

// textureFeatures computes the texture features of face f in img.
func textureFeatures(img *vision.RGB, f vision.Face) []float64 {
	side := math.Max(f.Box.Width, f.Box.Height)
	centre := vision.RectOf(f.Box).Centre()
	g := vision.GrayPatch(img, vision.CropTransform(centre, side, side, 0, texturePatch, texturePatch), texturePatch, texturePatch)
	x := make([]float64, textureLength)
	dx := [8]int{-1, 0, 1, 1, 1, 0, -1, -1}
	dy := [8]int{-1, -1, -1, 0, 1, 1, 1, 0}
	const n = (texturePatch - 2) * (texturePatch - 2)
	for y := 1; y < texturePatch-1; y++ {
		for xx := 1; xx < texturePatch-1; xx++ {
			c := g.Pix[y*texturePatch+xx]
			code := 0
			for b := range 8 {
				if g.Pix[(y+dy[b])*texturePatch+xx+dx[b]] >= c {
					code |= 1 << b
				}
			}
			x[uniformLBP[code]] += 1.0 / n
		}
	}
	buf := make([]float32, 3*chromaPatch*chromaPatch)
	vision.Warp(img, vision.CropTransform(centre, 0.6*side, 0.6*side, 0, chromaPatch, chromaPatch), chromaPatch, chromaPatch, vision.NormRaw, buf)
	var cb, cr, cb2, cr2 float64
	for i := range chromaPatch * chromaPatch {
		r, gr, b := float64(buf[3*i]), float64(buf[3*i+1]), float64(buf[3*i+2])
		u := -0.169*r - 0.331*gr + 0.5*b
		v := 0.5*r - 0.419*gr - 0.081*b
		cb, cr, cb2, cr2 = cb+u, cr+v, cb2+u*u, cr2+v*v
	}
	const m = chromaPatch * chromaPatch
	cb, cr = cb/m, cr/m
	// Scaled to the order of one, like the histogram bins.
	x[textureBins], x[textureBins+1] = cb/50, cr/50
	x[textureBins+2], x[textureBins+3] = math.Sqrt(math.Max(cb2/m-cb*cb, 0))/30, math.Sqrt(math.Max(cr2/m-cr*cr, 0))/30
	return x
}

// textureModel is a logistic regression over textureFeatures.
type textureModel struct {
	W [textureLength]float64
	B float64
}

// score returns the probability that features x are of a bona fide face.
func (m textureModel) score(x []float64) float64 {
	z := m.B
	for i, v := range x {
		z += m.W[i] * v
	}
	return 1 / (1 + math.Exp(-z))
}

// fitTexture fits the logistic regression by full-batch gradient descent
// (deterministic: the same samples give the same model) with a small L2
// penalty.
func fitTexture(xs [][]float64, live []bool) textureModel {
	const (
		steps = 3000
		rate  = 5.0
		l2    = 1e-4
	)
	var m textureModel
	for range steps {
		var gw [textureLength]float64
		var gb float64
		for i, x := range xs {
			d := m.score(x)
			if live[i] {
				d--
			}
			for j, v := range x {
				gw[j] += d * v
			}
			gb += d
		}
		n := float64(len(xs))
		for j := range gw {
			m.W[j] -= rate * (gw[j]/n + l2*m.W[j])
		}
		m.B -= rate * gb / n
	}
	return m
}
