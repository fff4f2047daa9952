package vision

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"sync"

	"github.com/everify/everify/internal/biometric"
)

// FaceMesh indices of the points this package names. "Right" and "left"
// are the person's.
const (
	MeshRightEyeOuter = 33
	MeshRightEyeInner = 133
	MeshLeftEyeOuter  = 263
	MeshLeftEyeInner  = 362
	MeshNoseTip       = 1
	MeshMouthRight    = 61  // outer mouth corner
	MeshMouthLeft     = 291 // outer mouth corner
	MeshUpperLipInner = 13
	MeshLowerLipInner = 14
	MeshMouthRightIn  = 78 // inner mouth corner
	MeshMouthLeftIn   = 308
	MeshForehead      = 10
	MeshChin          = 152
	MeshRightCheek    = 234 // face outline at the right ear
	MeshLeftCheek     = 454
	meshPoints        = 468
)

// Eye rings (upper lid then lower lid, corner to corner) of the mesh, used
// for the eye centres without iris refinement.
var (
	meshRightEyeRing = []int{33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7}
	meshLeftEyeRing  = []int{263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249}
)

// ErrNoFace is returned by a Landmarker when the landmark model does not
// see a face in the detected region (a false detection).
var ErrNoFace = errors.New("vision: the landmark model found no face in the detected region")

// LandmarkerOptions configures NewLandmarker. The zero value is the default
// configuration.
type LandmarkerOptions struct {
	// Iris refines the eye centres with the iris model (one more model run
	// per face, on both eyes at once).
	Iris bool
	// MinScore is the lowest mesh face-presence score accepted (default
	// 0.5); below it Landmarks returns ErrNoFace.
	MinScore float64
	// Refine always runs the mesh a second time on the region the first
	// mesh spans (which steadies the landmarks when the detector's box was
	// off); without it that is done only for faces the mesh doubted.
	Refine bool
}

// MeshLandmarker fits MediaPipe's 468-point FaceMesh (and optionally its
// iris model) to detected faces. It implements Landmarker and is safe for
// concurrent use.
type MeshLandmarker struct {
	mesh  Model
	iris  Model // nil without Iris
	opts  LandmarkerOptions
	size  int // mesh input side (192)
	isize int // iris input side (64)
	bufs  sync.Pool
}

var _ Landmarker = (*MeshLandmarker)(nil)

// NewLandmarker loads "facemesh" (and "iris" when opts.Iris) from rt.
func NewLandmarker(rt Runtime, opts LandmarkerOptions) (*MeshLandmarker, error) {
	if opts.MinScore <= 0 {
		opts.MinScore = 0.5
	}
	m, err := rt.Load("facemesh")
	if err != nil {
		return nil, err
	}
	size, err := squareInput(m)
	if err != nil {
		return nil, err
	}
	l := &MeshLandmarker{mesh: m, opts: opts, size: size}
	if opts.Iris {
		if l.iris, err = rt.Load("iris"); err != nil {
			return nil, err
		}
		if l.isize, err = squareInput(l.iris); err != nil {
			return nil, err
		}
	}
	l.bufs.New = func() any { b := make([]float32, 3*size*size); return &b }
	return l, nil
}

// meshROIScale is the side of the square mesh crop relative to the face
// box (MediaPipe's face-landmark ROI uses 1.5).
const meshROIScale = 1.5

// meshMaxTilt (radians) is how far the fitted mesh's eye line may be
// turned from the crop's before the mesh is fitted again on a level crop.
const meshMaxTilt = 15 * math.Pi / 180

// meshMaxRefits bounds the extra mesh runs of one face.
const meshMaxRefits = 3

// angleDiff returns a - b wrapped to (-π, π].
func angleDiff(a, b float64) float64 {
	d := math.Mod(a-b, 2*math.Pi)
	if d > math.Pi {
		d -= 2 * math.Pi
	} else if d <= -math.Pi {
		d += 2 * math.Pi
	}
	return d
}

// meshRetryScale is the ROI scale of the second look at a face the mesh
// model doubted.
const meshRetryScale = 2.0

// Landmarks fits the mesh to f (from a Detector, or a face that already has
// a mesh) and returns f with Mesh, Keypoints (the 468 mesh points in 2-D),
// Landmarks, Pose and a Box fitted to the mesh. It returns ErrNoFace when
// the mesh model does not see a face there.
func (l *MeshLandmarker) Landmarks(ctx context.Context, img image.Image, f Face) (Face, error) {
	rgb := ToRGB(img)
	centre, side, angle := roiFromFace(f)
	mesh, score, err := l.fit(ctx, rgb, centre, side, angle)
	if err != nil {
		return f, err
	}
	if score < l.opts.MinScore {
		// A second look with more context: the face-presence score drops
		// on some genuine faces when the crop is tight (pale, overprinted
		// document portraits score 0.005 at 1.5x and 0.99 at 2x).
		m2, s2, err := l.fit(ctx, rgb, centre, side*meshRetryScale/meshROIScale, angle)
		if err != nil {
			return f, err
		}
		if s2 > score {
			mesh, score = m2, s2
		}
	}
	// Fit again on the region the mesh itself spans when the mesh was
	// unsure or found the face turned in the crop (the detector's eye
	// keypoints are rough on faces lying on their side); repeat while the
	// crop keeps turning.
	refits := 0
	for refits < meshMaxRefits {
		c2, s2, a2 := roiFromMesh(mesh)
		tilt := math.Abs(angleDiff(a2, angle))
		if !(tilt > meshMaxTilt || (refits == 0 && (l.opts.Refine || score < l.opts.MinScore))) {
			break
		}
		m2, sc2, err := l.fit(ctx, rgb, c2, s2, a2)
		if err != nil {
			return f, err
		}
		refits++
		if sc2 < score && tilt <= meshMaxTilt {
			break
		}
		mesh, score, angle = m2, sc2, a2
	}
	if score < l.opts.MinScore {
		return f, ErrNoFace
	}
	f.Mesh = mesh
	f.Keypoints = make([]biometric.Point, len(mesh))
	for i, p := range mesh {
		f.Keypoints[i] = biometric.Point{X: p[0], Y: p[1]}
	}
	f.Landmarks = MeshLandmarks(mesh)
	if l.iris != nil {
		re, le, err := l.irisCentres(ctx, rgb, mesh)
		if err != nil {
			return f, err
		}
		f.Landmarks.RightEye, f.Landmarks.LeftEye = re, le
	}
	f.Pose = MeshPose(mesh)
	f.Box = meshBox(mesh)
	return f, nil
}

// roiFromFace returns the mesh crop for a face: centred on the box, its
// side meshROIScale times the box's longer side, turned to level the eyes.
func roiFromFace(f Face) (centre biometric.Point, side, angle float64) {
	r := RectOf(f.Box)
	if len(f.Mesh) == meshPoints {
		return roiFromMesh(f.Mesh)
	}
	re, le := f.Landmarks.RightEye, f.Landmarks.LeftEye
	return r.Centre(), meshROIScale * math.Max(f.Box.Width, f.Box.Height), math.Atan2(le.Y-re.Y, le.X-re.X)
}

// roiFromMesh returns the mesh crop that a fitted mesh implies: centred on
// the mesh's 2-D bounding box, turned to level the eye corners, its side
// meshROIScale times the longer side of the mesh's extent in that turned
// frame.
func roiFromMesh(mesh [][3]float64) (centre biometric.Point, side, angle float64) {
	re, le := mesh[MeshRightEyeOuter], mesh[MeshLeftEyeOuter]
	angle = math.Atan2(le[1]-re[1], le[0]-re[0])
	s, c := math.Sincos(-angle)
	minX, minY, maxX, maxY := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, p := range mesh {
		x, y := c*p[0]-s*p[1], s*p[0]+c*p[1]
		minX, maxX = math.Min(minX, x), math.Max(maxX, x)
		minY, maxY = math.Min(minY, y), math.Max(maxY, y)
	}
	cx, cy := (minX+maxX)/2, (minY+maxY)/2
	s, c = math.Sincos(angle)
	centre = biometric.Point{X: c*cx - s*cy, Y: s*cx + c*cy}
	return centre, meshROIScale * math.Max(maxX-minX, maxY-minY), angle
}

// fit runs the mesh model on one crop and returns the mesh in image
// coordinates (z scaled like x and y) and the face-presence score.
func (l *MeshLandmarker) fit(ctx context.Context, rgb *RGB, centre biometric.Point, side, angle float64) ([][3]float64, float64, error) {
	if !(side > 0) {
		return nil, 0, fmt.Errorf("vision: face region has no size")
	}
	crop := CropTransform(centre, side, side, angle, l.size, l.size)
	bp := l.bufs.Get().(*[]float32)
	defer l.bufs.Put(bp)
	Warp(rgb, crop, l.size, l.size, NormUnit, *bp)
	outs, err := l.mesh.Run(ctx, Tensor{Shape: []int64{1, int64(l.size), int64(l.size), 3}, Data: *bp})
	if err != nil {
		return nil, 0, fmt.Errorf("vision: face mesh: %w", err)
	}
	var raw []float32
	score := -1.0
	for _, o := range outs {
		switch len(o.Data) {
		case 3 * meshPoints:
			raw = o.Data
		case 1:
			score = float64(o.Data[0])
		}
	}
	if raw == nil || score < 0 {
		return nil, 0, fmt.Errorf("vision: model %q: unexpected outputs", l.mesh.Name())
	}
	scale := crop.Scale()
	mesh := make([][3]float64, meshPoints)
	for i := range mesh {
		p := crop.Apply(biometric.Point{X: float64(raw[3*i]), Y: float64(raw[3*i+1])})
		mesh[i] = [3]float64{p.X, p.Y, float64(raw[3*i+2]) * scale}
	}
	return mesh, score, nil
}

// MeshLandmarks derives the five named landmarks from a 468-point mesh: the
// eye centres are the means of the eyelid rings, the nose is the nose tip
// and the mouth points are the outer mouth corners.
func MeshLandmarks(mesh [][3]float64) biometric.Landmarks {
	pt := func(i int) biometric.Point { return biometric.Point{X: mesh[i][0], Y: mesh[i][1]} }
	return biometric.Landmarks{
		LeftEye:    ringCentre(mesh, meshLeftEyeRing),
		RightEye:   ringCentre(mesh, meshRightEyeRing),
		Nose:       pt(MeshNoseTip),
		MouthLeft:  pt(MeshMouthLeft),
		MouthRight: pt(MeshMouthRight),
	}
}

func ringCentre(mesh [][3]float64, ring []int) biometric.Point {
	var x, y float64
	for _, i := range ring {
		x += mesh[i][0]
		y += mesh[i][1]
	}
	n := float64(len(ring))
	return biometric.Point{X: x / n, Y: y / n}
}

// meshBox is the bounding box of the mesh's 2-D points.
func meshBox(mesh [][3]float64) biometric.Box {
	r := Rect{X0: math.Inf(1), Y0: math.Inf(1), X1: math.Inf(-1), Y1: math.Inf(-1)}
	for _, p := range mesh {
		r.X0, r.Y0 = math.Min(r.X0, p[0]), math.Min(r.Y0, p[1])
		r.X1, r.Y1 = math.Max(r.X1, p[0]), math.Max(r.Y1, p[1])
	}
	return r.Box()
}

// irisEyeScale is the side of the iris crop relative to the distance
// between the eye's corners.
const irisEyeScale = 2.3

// irisContour is the number of eye-contour points the iris model returns
// before its five iris points (the first of which is the iris centre).
const irisContour = 71

// irisCentres runs the iris model on both eyes (one batch of two) and
// returns the iris centres of the right and left eye. The model expects a
// left eye; the right eye's crop is mirrored and its result mirrored back.
func (l *MeshLandmarker) irisCentres(ctx context.Context, rgb *RGB, mesh [][3]float64) (right, left biometric.Point, err error) {
	n := l.isize
	buf := make([]float32, 2*3*n*n)
	var crops [2]Affine
	for e, corners := range [2][2]int{{MeshRightEyeOuter, MeshRightEyeInner}, {MeshLeftEyeInner, MeshLeftEyeOuter}} {
		a, b := mesh[corners[0]], mesh[corners[1]]
		// Corners are ordered image-left to image-right for an upright
		// face, so the angle is the eye line's roll.
		angle := math.Atan2(b[1]-a[1], b[0]-a[0])
		side := irisEyeScale * math.Hypot(b[0]-a[0], b[1]-a[1])
		centre := biometric.Point{X: (a[0] + b[0]) / 2, Y: (a[1] + b[1]) / 2}
		crop := CropTransform(centre, side, side, angle, n, n)
		if e == 0 {
			// Mirror: output x ↦ n - x before the crop transform.
			crop = Affine{A: -1, C: float64(n), E: 1}.Then(crop)
		}
		crops[e] = crop
		Warp(rgb, crop, n, n, NormUnit, buf[e*3*n*n:])
	}
	outs, err := l.iris.Run(ctx, Tensor{Shape: []int64{2, int64(n), int64(n), 3}, Data: buf})
	if err != nil {
		return right, left, fmt.Errorf("vision: iris: %w", err)
	}
	if len(outs) != 1 || len(outs[0].Data) != 2*3*(irisContour+5) {
		return right, left, fmt.Errorf("vision: model %q: unexpected outputs", l.iris.Name())
	}
	per := 3 * (irisContour + 5)
	var c [2]biometric.Point
	for e := 0; e < 2; e++ {
		d := outs[0].Data[e*per+3*irisContour:]
		c[e] = crops[e].Apply(biometric.Point{X: float64(d[0]), Y: float64(d[1])})
	}
	return c[0], c[1], nil
}
