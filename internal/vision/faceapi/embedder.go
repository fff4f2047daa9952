package faceapi

import (
	"context"
	"fmt"
	"image"
	"math"
	"sync"

	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/vision"
)

// Alignment says how the Embedder cuts the 150x150 chip out of the image.
type Alignment int

// The alignments. The dlib ones rotate and scale the face upright onto a
// template, the others crop an axis-aligned square. On LFW (View 2, with
// the Landmarker's and the Embedder's default mirror averaging) AlignDlib68
// scored 99.17% accuracy and AlignDlib5 98.70%; AlignBox loses 6 points.
const (
	// AlignDlib68 (the default) fits dlib's mean face to 33 of the 68
	// landmarks (eyes, nose, upper mouth), as get_face_chip_details does
	// for a 68-point shape.
	AlignDlib68 Alignment = iota
	// AlignDlib5 fits dlib's 5-point template (eye corners and the base of
	// the nose) to the matching 68-point landmarks: the chip geometry the
	// descriptor was trained with, dlib's 5-point predictor aside.
	AlignDlib5
	// AlignNamed fits the five named landmarks (eye centres, nose tip,
	// mouth corners) to their places on dlib's mean face; it needs no 68
	// points, so it works after any detector.
	AlignNamed
	// AlignFaceAPI is face-api's own crop (FaceLandmarks.align with
	// useDlibAlignment): an upright square around the eye and mouth
	// centres, its side the eye-to-mouth distance / 0.45.
	AlignFaceAPI
	// AlignBox is the detection box alone, squared about its centre.
	AlignBox
)

// String names the alignment.
func (a Alignment) String() string {
	switch a {
	case AlignDlib5:
		return "dlib-5"
	case AlignDlib68:
		return "dlib-68"
	case AlignNamed:
		return "named-5"
	case AlignFaceAPI:
		return "face-api"
	case AlignBox:
		return "box"
	}
	return fmt.Sprintf("Alignment(%d)", int(a))
}

// EmbedderOptions configures NewEmbedder. The zero value is the default:
// AlignDlib68, padding 0.25, the mirror chip averaged in.
type EmbedderOptions struct {
	Alignment Alignment
	// Padding is the margin dlib adds around its template, as a fraction
	// of the template's size on every side (default 0.25, what the
	// network was trained with). Used by the dlib and named alignments.
	Padding float64
	// By default the descriptors of the chip and of its mirror image are
	// summed (one network run on a batch of two), which raises LFW TAR at
	// FAR 1e-4 by about 4 points. NoFlip uses the chip alone.
	NoFlip bool
}

// Embedder computes dlib's 128-d face descriptor with face-api's port of
// the network. It implements vision.Embedder and is safe for concurrent
// use.
type Embedder struct {
	model vision.Model
	opts  EmbedderOptions
	bufs  sync.Pool // *[]float32 input buffers, room for two chips
}

var _ vision.Embedder = (*Embedder)(nil)

// NewEmbedder loads the recognition model from rt.
func NewEmbedder(rt vision.Runtime, opts EmbedderOptions) (*Embedder, error) {
	m, err := load(rt, EmbedderModel, chipSize, "descriptor")
	if err != nil {
		return nil, err
	}
	if opts.Padding <= 0 {
		opts.Padding = 0.25
	}
	e := &Embedder{model: m, opts: opts}
	e.bufs.New = func() any { b := make([]float32, 2*3*chipSize*chipSize); return &b }
	return e, nil
}

// Name is the embedding model's name.
func (e *Embedder) Name() string { return EmbedderModel }

// Dim is the embedding length, 128.
func (e *Embedder) Dim() int { return descriptorDim }

// Embed returns the L2-normalised descriptor of face f of img. The dlib
// alignments need f's 68 Keypoints (from Landmarker); without them Embed
// falls back to AlignNamed, which needs f's five Landmarks. AlignBox uses
// only f.Box.
func (e *Embedder) Embed(ctx context.Context, img image.Image, f vision.Face) ([]float32, error) {
	toImage, err := e.ChipTransform(f)
	if err != nil {
		return nil, err
	}
	rgb := vision.ToRGB(img)
	bp := e.bufs.Get().(*[]float32)
	defer e.bufs.Put(bp)
	const per = 3 * chipSize * chipSize
	n := 1
	vision.Warp(rgb, toImage, chipSize, chipSize, vision.NormRaw, (*bp)[:per])
	if !e.opts.NoFlip {
		n = 2
		mirror := vision.Translate(-chipSize, 0).Then(vision.ScaleXY(-1, 1)).Then(toImage)
		vision.Warp(rgb, mirror, chipSize, chipSize, vision.NormRaw, (*bp)[per:2*per])
	}
	outs, err := e.model.Run(ctx, vision.Tensor{Shape: []int64{int64(n), chipSize, chipSize, 3}, Data: (*bp)[:n*per]})
	if err != nil {
		return nil, fmt.Errorf("faceapi: face descriptor: %w", err)
	}
	d := outs[0].Data
	if len(d) != n*descriptorDim {
		return nil, fmt.Errorf("faceapi: model %q: %d descriptor values, want %d", EmbedderModel, len(d), n*descriptorDim)
	}
	out := make([]float32, descriptorDim)
	for k := range n {
		for i := range out {
			out[i] += d[k*descriptorDim+i]
		}
	}
	if !vision.Normalize(out) {
		return nil, fmt.Errorf("faceapi: face descriptor has no direction")
	}
	return out, nil
}

// ChipTransform returns the transform from the 150x150 chip's pixels to
// the image pixels it is sampled from, for face f with e's alignment.
func (e *Embedder) ChipTransform(f vision.Face) (vision.Affine, error) {
	align := e.opts.Alignment
	has68 := len(f.Keypoints) == numPoints
	if !has68 && (align == AlignDlib5 || align == AlignDlib68 || align == AlignFaceAPI) {
		align = AlignNamed
	}
	switch align {
	case AlignDlib5:
		return chipTransform(dlib5Template[:], pick(f.Keypoints, dlib5Points[:]), chipSize, e.opts.Padding)
	case AlignDlib68:
		return chipTransform(dlib68Template, pick(f.Keypoints, dlib68Points), chipSize, e.opts.Padding)
	case AlignNamed:
		l := f.Landmarks
		if l == (biometric.Landmarks{}) {
			return vision.Affine{}, fmt.Errorf("faceapi: face has no landmarks to align on; run a Landmarker first")
		}
		pts := []biometric.Point{l.LeftEye, l.RightEye, l.Nose, l.MouthLeft, l.MouthRight}
		return chipTransform(namedTemplate[:], pts, chipSize, e.opts.Padding)
	case AlignFaceAPI:
		return faceAPICrop(f.Keypoints), nil
	case AlignBox:
		if f.Box.Width <= 0 || f.Box.Height <= 0 {
			return vision.Affine{}, fmt.Errorf("faceapi: face box %+v is empty", f.Box)
		}
		side := math.Max(f.Box.Width, f.Box.Height)
		c := biometric.Point{X: f.Box.X + f.Box.Width/2, Y: f.Box.Y + f.Box.Height/2}
		return vision.CropTransform(c, side, side, 0, chipSize, chipSize), nil
	}
	return vision.Affine{}, fmt.Errorf("faceapi: unknown alignment %v", e.opts.Alignment)
}

// faceAPICrop is face-api's alignDlib box: the reference point is the
// centroid of the eye centres and the mouth centre, the side the mean
// eye-to-mouth distance / 0.45, the reference point at 0.5 across and 0.43
// down.
func faceAPICrop(pts []biometric.Point) vision.Affine {
	le := mean(pts[leftEyeFirst : leftEyeFirst+6])
	re := mean(pts[rightEyeFirst : rightEyeFirst+6])
	mc := mean(pts[mouthRight:numPoints])
	dist := (math.Hypot(mc.X-le.X, mc.Y-le.Y) + math.Hypot(mc.X-re.X, mc.Y-re.Y)) / 2
	side := math.Floor(dist / 0.45)
	ref := mean([]biometric.Point{le, re, mc})
	x0, y0 := math.Floor(ref.X-0.5*side), math.Floor(ref.Y-0.43*side)
	return vision.ScaleXY(side/chipSize, side/chipSize).Then(vision.Translate(x0, y0))
}

func pick(pts []biometric.Point, idx []int) []biometric.Point {
	out := make([]biometric.Point, len(idx))
	for i, k := range idx {
		out[i] = pts[k]
	}
	return out
}
