package liveness

import (
	"errors"
	"math"

	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/vision"
)

// rigidMesh lists FaceMesh points on parts of the face that expressions
// barely move: forehead, nose bridge and tip, eye corners, temples and
// upper cheeks (no lips, jaw, eyelids or brows).
var rigidMesh = []int{
	10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 2, 98, 327, // midline, nose
	33, 133, 263, 362, // eye corners
	127, 356, 234, 454, // temples, face outline at the ears
	50, 280, 117, 346, // cheeks
}

// errDegenerateFit is returned when points do not determine a transform.
var errDegenerateFit = errors.New("liveness: degenerate point configuration")

// homography is a 3x3 projective transform of the plane.
type homography [3][3]float64

func (h homography) apply(p biometric.Point) biometric.Point {
	w := h[2][0]*p.X + h[2][1]*p.Y + h[2][2]
	return biometric.Point{
		X: (h[0][0]*p.X + h[0][1]*p.Y + h[0][2]) / w,
		Y: (h[1][0]*p.X + h[1][1]*p.Y + h[1][2]) / w,
	}
}

// normaliser is Hartley's conditioning: a similarity that moves the
// points' centroid to the origin and their mean distance from it to √2.
func normaliser(pts []biometric.Point) homography {
	var cx, cy float64
	for _, p := range pts {
		cx += p.X
		cy += p.Y
	}
	n := float64(len(pts))
	cx, cy = cx/n, cy/n
	var d float64
	for _, p := range pts {
		d += math.Hypot(p.X-cx, p.Y-cy)
	}
	s := math.Sqrt2 / math.Max(d/n, 1e-12)
	return homography{{s, 0, -s * cx}, {0, s, -s * cy}, {0, 0, 1}}
}

// fitHomography returns the homography that maps src onto dst in the
// least-squares algebraic sense (the normalised direct linear transform:
// the right singular vector of the smallest singular value of the
// conditioned 2N x 9 system). It needs at least four points.
func fitHomography(src, dst []biometric.Point) (homography, error) {
	if len(src) != len(dst) || len(src) < 4 {
		return homography{}, errDegenerateFit
	}
	ns, nd := normaliser(src), normaliser(dst)
	var ata [9][9]float64
	for i := range src {
		a, b := ns.apply(src[i]), nd.apply(dst[i])
		rows := [2][9]float64{
			{-a.X, -a.Y, -1, 0, 0, 0, b.X * a.X, b.X * a.Y, b.X},
			{0, 0, 0, -a.X, -a.Y, -1, b.Y * a.X, b.Y * a.Y, b.Y},
		}
		for _, r := range rows {
			for j := range 9 {
				for k := j; k < 9; k++ {
					ata[j][k] += r[j] * r[k]
				}
			}
		}
	}
	for j := range 9 {
		for k := range j {
			ata[j][k] = ata[k][j]
		}
	}
	vals, vecs := symmetricEigen(ata)
	best := 0
	for i := range vals {
		if vals[i] < vals[best] {
			best = i
		}
	}
	var hn homography
	for i := range 9 {
		hn[i/3][i%3] = vecs[i][best]
	}
	// Undo the conditioning: H = nd⁻¹ · Hn · ns.
	ndInv, ok := invert3x3(nd)
	if !ok {
		return homography{}, errDegenerateFit
	}
	h := homography(mul3x3(ndInv, mul3x3(hn, ns)))
	if math.Abs(h[2][2]) < 1e-12 {
		return homography{}, errDegenerateFit
	}
	for i := range 3 {
		for j := range 3 {
			h[i][j] /= h[2][2]
		}
	}
	return h, nil
}

// fitSimilarity returns the least-squares similarity (rotation, uniform
// scale, translation) mapping src onto dst (vision.EstimateSimilarity), as
// a homography.
func fitSimilarity(src, dst []biometric.Point) (homography, error) {
	t, err := vision.EstimateSimilarity(src, dst)
	if err != nil {
		return homography{}, errDegenerateFit
	}
	return homography{{t.A, t.B, t.C}, {t.D, t.E, t.F}, {0, 0, 1}}, nil
}

// rmsError is the root-mean-square distance between h(src) and dst.
func rmsError(h homography, src, dst []biometric.Point) float64 {
	var s float64
	for i := range src {
		p := h.apply(src[i])
		s += (p.X-dst[i].X)*(p.X-dst[i].X) + (p.Y-dst[i].Y)*(p.Y-dst[i].Y)
	}
	return math.Sqrt(s / float64(len(src)))
}

// symmetricEigen diagonalises the symmetric matrix a with cyclic Jacobi
// rotations; vecs[:, i] is the unit eigenvector of vals[i].
func symmetricEigen(a [9][9]float64) (vals [9]float64, vecs [9][9]float64) {
	const n = 9
	for i := range n {
		vecs[i][i] = 1
	}
	for sweep := 0; sweep < 60; sweep++ {
		var off float64
		for p := range n {
			for q := p + 1; q < n; q++ {
				off += a[p][q] * a[p][q]
			}
		}
		if off < 1e-30 {
			break
		}
		for p := range n {
			for q := p + 1; q < n; q++ {
				if math.Abs(a[p][q]) < 1e-300 {
					continue
				}
				theta := (a[q][q] - a[p][p]) / (2 * a[p][q])
				t := math.Copysign(1, theta) / (math.Abs(theta) + math.Sqrt(theta*theta+1))
				c := 1 / math.Sqrt(t*t+1)
				s := t * c
				for k := range n {
					akp, akq := a[k][p], a[k][q]
					a[k][p], a[k][q] = c*akp-s*akq, s*akp+c*akq
				}
				for k := range n {
					apk, aqk := a[p][k], a[q][k]
					a[p][k], a[q][k] = c*apk-s*aqk, s*apk+c*aqk
				}
				for k := range n {
					vkp, vkq := vecs[k][p], vecs[k][q]
					vecs[k][p], vecs[k][q] = c*vkp-s*vkq, s*vkp+c*vkq
				}
			}
		}
	}
	for i := range n {
		vals[i] = a[i][i]
	}
	return vals, vecs
}

// planarStats summarises how well a plane explains the face's motion.
type planarStats struct {
	// Noise is the landmark jitter: the median homography residual
	// between consecutive frames, in inter-ocular distances.
	Noise float64
	// Pairs is the number of frame pairs whose motion departs from a
	// similarity by enough to tell a plane from a head.
	Pairs int
	// Excess is the median, over those pairs, of the homography residual
	// in excess of the jitter, relative to the similarity residual: near 0
	// when a plane (a photo, a screen) explains the motion, about 0.4-0.9
	// for a real head.
	Excess float64
	// MaxMotion is the largest similarity residual seen, in inter-ocular
	// distances.
	MaxMotion float64
}

// planarPairGap is the most frames apart two frames of a compared pair
// may be: motion is compared over at most about 4 s.
const planarMaxSpanMS = 4000

// planarity compares the rigid mesh points of pairs of tracked frames.
// For each pair it fits a similarity and a homography mapping the first
// frame's points onto the second's; a flat photo or screen moved in front
// of the camera is a plane, whose image moves by a homography up to
// landmark jitter, while a turning head shows parallax that no homography
// explains. Only pairs whose motion departs from a similarity by at least
// minMotion (in inter-ocular distances) and three times the jitter are
// informative. At most maxFrames frames, evenly spread, are compared.
func planarity(obs []frameObs, minMotion float64, maxFrames int) planarStats {
	type frame struct {
		t   int64
		pts []biometric.Point
		iod float64
	}
	var fs []frame
	for _, o := range obs {
		if o.Face == nil || len(o.Face.Mesh) == 0 {
			continue
		}
		pts := make([]biometric.Point, len(rigidMesh))
		for i, k := range rigidMesh {
			pts[i] = biometric.Point{X: o.Face.Mesh[k][0], Y: o.Face.Mesh[k][1]}
		}
		lm := o.Face.Landmarks
		fs = append(fs, frame{o.AtMS, pts, math.Hypot(lm.LeftEye.X-lm.RightEye.X, lm.LeftEye.Y-lm.RightEye.Y)})
	}
	var st planarStats
	if len(fs) < 3 {
		return st
	}
	residuals := func(a, b frame) (sim, hom float64, ok bool) {
		iod := (a.iod + b.iod) / 2
		s, err := fitSimilarity(a.pts, b.pts)
		if err != nil || iod <= 0 {
			return 0, 0, false
		}
		sim = rmsError(s, a.pts, b.pts) / iod
		h, err := fitHomography(a.pts, b.pts)
		if err != nil {
			return sim, sim, true
		}
		// A similarity is a homography: the algebraic fit can only be
		// worse where it is numerically poor, so keep the better one.
		return sim, math.Min(sim, rmsError(h, a.pts, b.pts)/iod), true
	}
	var jitter []float64
	for i := 1; i < len(fs); i++ {
		if _, h, ok := residuals(fs[i-1], fs[i]); ok {
			jitter = append(jitter, h)
		}
	}
	st.Noise = quantile(jitter, 0.5)
	step := max(1, (len(fs)+maxFrames-1)/maxFrames)
	var excess []float64
	for i := 0; i < len(fs); i += step {
		for j := i + step; j < len(fs); j += step {
			if fs[j].t-fs[i].t > planarMaxSpanMS {
				break
			}
			sim, hom, ok := residuals(fs[i], fs[j])
			if !ok {
				continue
			}
			st.MaxMotion = math.Max(st.MaxMotion, sim)
			if sim < minMotion || sim < 3*st.Noise {
				continue
			}
			excess = append(excess, math.Sqrt(math.Max(hom*hom-st.Noise*st.Noise, 0))/sim)
		}
	}
	st.Pairs = len(excess)
	st.Excess = quantile(excess, 0.5)
	return st
}
