package vision

import (
	"errors"
	"math"

	"github.com/everify/everify/internal/biometric"
)

// Coordinates: every position in this package is continuous, in pixels,
// with pixel (i, j) covering [i, i+1) x [j, j+1), so its centre is at
// (i+0.5, j+0.5). Model outputs, boxes and landmarks all use this
// convention.

// Affine is a 2-D affine transform mapping (x, y) to
// (A*x + B*y + C, D*x + E*y + F).
type Affine struct {
	A, B, C float64
	D, E, F float64
}

// Identity is the identity transform.
var Identity = Affine{A: 1, E: 1}

// Apply maps p through m.
func (m Affine) Apply(p biometric.Point) biometric.Point {
	return biometric.Point{X: m.A*p.X + m.B*p.Y + m.C, Y: m.D*p.X + m.E*p.Y + m.F}
}

// Then returns the transform that applies m first and then n.
func (m Affine) Then(n Affine) Affine {
	return Affine{
		A: n.A*m.A + n.B*m.D, B: n.A*m.B + n.B*m.E, C: n.A*m.C + n.B*m.F + n.C,
		D: n.D*m.A + n.E*m.D, E: n.D*m.B + n.E*m.E, F: n.D*m.C + n.E*m.F + n.F,
	}
}

// Det is the determinant of the linear part.
func (m Affine) Det() float64 { return m.A*m.E - m.B*m.D }

// Invert returns the inverse transform; ok is false when m is singular.
func (m Affine) Invert() (inv Affine, ok bool) {
	det := m.Det()
	if det == 0 || math.IsNaN(det) || math.IsInf(det, 0) {
		return Affine{}, false
	}
	a, b, d, e := m.E/det, -m.B/det, -m.D/det, m.A/det
	return Affine{A: a, B: b, C: -(a*m.C + b*m.F), D: d, E: e, F: -(d*m.C + e*m.F)}, true
}

// Scale is the geometric mean of the transform's two scale factors
// (sqrt(|det|)): how many units of the output one input unit spans.
func (m Affine) Scale() float64 { return math.Sqrt(math.Abs(m.Det())) }

// Translate returns the translation by (dx, dy).
func Translate(dx, dy float64) Affine { return Affine{A: 1, C: dx, E: 1, F: dy} }

// ScaleXY returns the scaling by (sx, sy) about the origin.
func ScaleXY(sx, sy float64) Affine { return Affine{A: sx, E: sy} }

// Rotate returns the rotation by angle radians about the origin; positive
// angles turn clockwise in image coordinates (y points down).
func Rotate(angle float64) Affine {
	s, c := math.Sincos(angle)
	return Affine{A: c, B: -s, D: s, E: c}
}

// CropTransform returns the transform from the pixels of a w x h output
// image to the source region described by centre, side lengths (sw, sh,
// source pixels) and rotation angle (radians, clockwise in the source): the
// output's centre maps to centre, its x axis runs along the rotated box's
// width. Sampling the source through it (see Warp) crops and resizes a
// possibly rotated box.
func CropTransform(centre biometric.Point, sw, sh, angle float64, w, h int) Affine {
	return Translate(-float64(w)/2, -float64(h)/2).
		Then(ScaleXY(sw/float64(w), sh/float64(h))).
		Then(Rotate(angle)).
		Then(Translate(centre.X, centre.Y))
}

// errDegenerate is returned when point pairs do not determine a transform.
var errDegenerate = errors.New("vision: point pairs are degenerate")

// EstimateSimilarity returns the similarity transform (rotation, uniform
// scale, translation; no reflection) that maps src onto dst with the least
// sum of squared distances (the closed-form solution of Umeyama, 1991, in
// two dimensions). It needs at least two distinct source points.
func EstimateSimilarity(src, dst []biometric.Point) (Affine, error) {
	n := len(src)
	if n != len(dst) || n < 2 {
		return Affine{}, errDegenerate
	}
	var sx, sy, dx, dy float64
	for i := range src {
		sx += src[i].X
		sy += src[i].Y
		dx += dst[i].X
		dy += dst[i].Y
	}
	fn := float64(n)
	sx, sy, dx, dy = sx/fn, sy/fn, dx/fn, dy/fn
	// With centred points p (source) and q (destination), the optimal
	// s*cos(θ) = Σ(p·q)/Σ|p|² and s*sin(θ) = Σ(p×q)/Σ|p|².
	var dot, cross, norm float64
	for i := range src {
		px, py := src[i].X-sx, src[i].Y-sy
		qx, qy := dst[i].X-dx, dst[i].Y-dy
		dot += px*qx + py*qy
		cross += px*qy - py*qx
		norm += px*px + py*py
	}
	if norm < 1e-12 {
		return Affine{}, errDegenerate
	}
	a, b := dot/norm, cross/norm
	return Affine{
		A: a, B: -b, C: dx - (a*sx - b*sy),
		D: b, E: a, F: dy - (b*sx + a*sy),
	}, nil
}

// EstimateAffine returns the affine transform that maps src onto dst with
// the least sum of squared distances. It needs at least three source points
// that are not collinear.
func EstimateAffine(src, dst []biometric.Point) (Affine, error) {
	n := len(src)
	if n != len(dst) || n < 3 {
		return Affine{}, errDegenerate
	}
	// Normal equations: M [a b c]ᵀ = [Σx·u, Σy·u, Σu] with M the 3x3
	// moment matrix of (x, y, 1); the same M serves the second row.
	var m [3][3]float64
	var ru, rv [3]float64
	for i := range src {
		v := [3]float64{src[i].X, src[i].Y, 1}
		for r := 0; r < 3; r++ {
			for c := 0; c < 3; c++ {
				m[r][c] += v[r] * v[c]
			}
			ru[r] += v[r] * dst[i].X
			rv[r] += v[r] * dst[i].Y
		}
	}
	inv, ok := invert3(m)
	if !ok {
		return Affine{}, errDegenerate
	}
	var p, q [3]float64
	for r := 0; r < 3; r++ {
		for c := 0; c < 3; c++ {
			p[r] += inv[r][c] * ru[c]
			q[r] += inv[r][c] * rv[c]
		}
	}
	return Affine{A: p[0], B: p[1], C: p[2], D: q[0], E: q[1], F: q[2]}, nil
}

// invert3 inverts a 3x3 matrix by its adjugate; ok is false when it is
// (numerically) singular.
func invert3(m [3][3]float64) (inv [3][3]float64, ok bool) {
	c00 := m[1][1]*m[2][2] - m[1][2]*m[2][1]
	c01 := m[1][2]*m[2][0] - m[1][0]*m[2][2]
	c02 := m[1][0]*m[2][1] - m[1][1]*m[2][0]
	det := m[0][0]*c00 + m[0][1]*c01 + m[0][2]*c02
	scale := math.Abs(m[0][0]) + math.Abs(m[1][1]) + math.Abs(m[2][2])
	if scale == 0 || math.Abs(det) <= 1e-12*scale*scale*scale {
		return inv, false
	}
	inv[0][0] = c00 / det
	inv[1][0] = c01 / det
	inv[2][0] = c02 / det
	inv[0][1] = (m[0][2]*m[2][1] - m[0][1]*m[2][2]) / det
	inv[1][1] = (m[0][0]*m[2][2] - m[0][2]*m[2][0]) / det
	inv[2][1] = (m[0][1]*m[2][0] - m[0][0]*m[2][1]) / det
	inv[0][2] = (m[0][1]*m[1][2] - m[0][2]*m[1][1]) / det
	inv[1][2] = (m[0][2]*m[1][0] - m[0][0]*m[1][2]) / det
	inv[2][2] = (m[0][0]*m[1][1] - m[0][1]*m[1][0]) / det
	return inv, true
}
