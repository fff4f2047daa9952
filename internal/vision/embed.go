package vision

import (
	"context"
	"fmt"
	"image"
	"math"
	"sort"
	"strings"

	"github.com/everify/everify/internal/biometric"
)

// arcFaceTemplate is the reference position of the five landmarks (right
// eye, left eye, nose tip, right and left mouth corner; the person's sides)
// in the 112x112 face crops that ArcFace-family models are trained on
// (InsightFace's alignment).
var arcFaceTemplate = [5]biometric.Point{
	{X: 38.2946, Y: 51.6963}, {X: 73.5318, Y: 51.5014}, {X: 56.0252, Y: 71.7366},
	{X: 41.5493, Y: 92.3655}, {X: 70.7299, Y: 92.2041},
}

// CropSpec says how a model wants its face crop: the model input side, the
// alignment and the pixel normalisation.
type CropSpec struct {
	Size int // input side in pixels
	// Zoom scales the ArcFace reference landmarks about the crop centre:
	// 1 gives the tight ArcFace crop, smaller values show more of the head
	// around the face.
	Zoom float64
	// ShiftY moves the reference landmarks down by this fraction of the
	// crop side (positive: more forehead, less chin).
	ShiftY float64
	Norm   Norm
}

// Template returns the reference positions of the five landmarks in the
// crop.
func (c CropSpec) Template() [5]biometric.Point {
	var t [5]biometric.Point
	s := float64(c.Size) / 112
	for i, p := range arcFaceTemplate {
		t[i] = biometric.Point{
			X: (56 + (p.X-56)*c.Zoom) * s,
			Y: (56+(p.Y-56)*c.Zoom)*s + c.ShiftY*float64(c.Size),
		}
	}
	return t
}

// AlignTransform returns the transform from crop pixels to image pixels
// that puts the face's five landmarks where the template wants them (a
// least-squares similarity transform).
func (c CropSpec) AlignTransform(lm biometric.Landmarks) (Affine, error) {
	src := []biometric.Point{lm.RightEye, lm.LeftEye, lm.Nose, lm.MouthRight, lm.MouthLeft}
	t := c.Template()
	toImage, err := EstimateSimilarity(t[:], src)
	if err != nil {
		return Affine{}, fmt.Errorf("vision: aligning face: %w", err)
	}
	return toImage, nil
}

// Crop returns the aligned, normalised [1, Size, Size, 3] input for the face
// with landmarks lm.
func (c CropSpec) Crop(img *RGB, lm biometric.Landmarks) (Tensor, error) {
	m, err := c.AlignTransform(lm)
	if err != nil {
		return Tensor{}, err
	}
	return WarpTensor(img, m, c.Size, c.Size, c.Norm), nil
}

// EmbedderSpec describes one embedding model of the installed set.
type EmbedderSpec struct {
	Name string // model name in the installed set
	Crop CropSpec
	Dim  int // embedding length; the model output of this length is used
}

// Embedders lists the embedding models everify ships, with the crop each
// one expects. Alignment, crop size and channel order were chosen by
// measurement on fold 1 of lfw-dev, within what each model's origin makes
// plausible (TestLFWEmbedders with -lfw.pairs=0 measures all five folds):
//
//   - faceres, faceres-deep (HSE FaceRes: one MobileNet graph, 224x224,
//     with two sets of weights trained on VGGFace2): a loose crop (Zoom 0.7: the ArcFace landmarks pulled
//     towards the centre, showing the whole head), BGR 0-255. BGR gave
//     98.0% on fold 1 against 96.5% for RGB; [-1, 1] and [0, 1] inputs
//     fail (57-60%). The 1024-value global pooling output is the
//     descriptor.
//   - mobilefacenet (MobileFaceNet, 112x112): the ArcFace crop, RGB 0-1 as
//     Human feeds it. No input scaling, channel order or crop tried made it
//     a useful matcher (63-70% on fold 1): its embeddings barely differ
//     between people, so much that fusing it with faceres changes none of
//     faceres's results.
//   - mobileface (MobileFace, 112x112): the ArcFace crop, RGB 0-255 (the
//     graph normalises internally; BGR was worse, 90% against 95%).
var Embedders = []EmbedderSpec{
	{Name: "faceres", Dim: 1024, Crop: CropSpec{Size: 224, Zoom: 0.7, Norm: NormRawBGR}},
	{Name: "faceres-deep", Dim: 1024, Crop: CropSpec{Size: 224, Zoom: 0.7, Norm: NormRawBGR}},
	{Name: "mobilefacenet", Dim: 192, Crop: CropSpec{Size: 112, Zoom: 1, Norm: NormUnit}},
	{Name: "mobileface", Dim: 256, Crop: CropSpec{Size: 112, Zoom: 1, Norm: NormRaw}},
}

// LookupEmbedder returns the spec of the named embedding model.
func LookupEmbedder(name string) (EmbedderSpec, bool) {
	for _, s := range Embedders {
		if s.Name == name {
			return s, true
		}
	}
	return EmbedderSpec{}, false
}

// EmbedderNames lists the names of Embedders.
func EmbedderNames() []string {
	out := make([]string, len(Embedders))
	for i, s := range Embedders {
		out[i] = s.Name
	}
	sort.Strings(out)
	return out
}

// ModelEmbedder computes identity embeddings with one model. It implements
// Embedder and is safe for concurrent use.
type ModelEmbedder struct {
	spec  EmbedderSpec
	model Model
}

var _ Embedder = (*ModelEmbedder)(nil)

// NewEmbedder loads the embedding model spec.Name from rt.
func NewEmbedder(rt Runtime, spec EmbedderSpec) (*ModelEmbedder, error) {
	m, err := loadCropModel(rt, spec.Name, spec.Crop)
	if err != nil {
		return nil, err
	}
	return &ModelEmbedder{spec: spec, model: m}, nil
}

// loadCropModel loads the model name, which takes the face crops that crop
// cuts, and checks that its input is crop.Size square.
func loadCropModel(rt Runtime, name string, crop CropSpec) (Model, error) {
	m, err := rt.Load(name)
	if err != nil {
		return nil, err
	}
	size, err := squareInput(m)
	if err != nil {
		return nil, err
	}
	if size != crop.Size {
		return nil, fmt.Errorf("vision: model %q takes %dx%d inputs, its spec says %d", name, size, size, crop.Size)
	}
	return m, nil
}

// Name is the model's name.
func (e *ModelEmbedder) Name() string { return e.spec.Name }

// Dim is the embedding length.
func (e *ModelEmbedder) Dim() int { return e.spec.Dim }

// Spec is the embedder's model description.
func (e *ModelEmbedder) Spec() EmbedderSpec { return e.spec }

// Embed aligns f by its five landmarks, runs the model and returns the
// L2-normalised embedding.
func (e *ModelEmbedder) Embed(ctx context.Context, img image.Image, f Face) ([]float32, error) {
	in, err := e.spec.Crop.Crop(ToRGB(img), f.Landmarks)
	if err != nil {
		return nil, err
	}
	outs, err := e.model.Run(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("vision: embedding with %s: %w", e.spec.Name, err)
	}
	for _, o := range outs {
		if len(o.Data) == e.spec.Dim {
			v := append([]float32(nil), o.Data...)
			if !Normalize(v) {
				return nil, fmt.Errorf("vision: embedding with %s: the model returned a zero or non-finite vector", e.spec.Name)
			}
			return v, nil
		}
	}
	return nil, fmt.Errorf("vision: model %q has no output of length %d", e.spec.Name, e.spec.Dim)
}

// Normalize scales v to unit L2 norm in place. It reports false, leaving v
// unchanged, when the norm is zero or not finite.
func Normalize(v []float32) bool {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	n := math.Sqrt(s)
	if n == 0 || math.IsNaN(n) || math.IsInf(n, 0) {
		return false
	}
	inv := float32(1 / n)
	for i := range v {
		v[i] *= inv
	}
	return true
}

// Cosine returns the cosine similarity of a and b (their dot product when
// both are L2-normalised). It returns 0 when the lengths differ.
func Cosine(a, b []float32) float64 {
	if len(a) != len(b) {
		return 0
	}
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return dot / math.Sqrt(na*nb)
}

// FusedEmbedder combines several embedders into one: its embedding is the
// concatenation of theirs, each scaled by the square root of its weight
// (weights summing to 1). The cosine similarity of two fused embeddings is
// then the weighted mean of the parts' cosine similarities (score-level
// fusion) while remaining one unit vector. It implements Embedder.
type FusedEmbedder struct {
	name    string
	parts   []Embedder
	weights []float64
	dim     int
}

var _ Embedder = (*FusedEmbedder)(nil)

// NewFusedEmbedder fuses parts with equal weights. Its name joins theirs
// with "+".
func NewFusedEmbedder(parts ...Embedder) (*FusedEmbedder, error) {
	if len(parts) < 2 {
		return nil, fmt.Errorf("vision: fusing needs at least two embedders, have %d", len(parts))
	}
	f := &FusedEmbedder{parts: parts}
	names := make([]string, len(parts))
	for i, p := range parts {
		names[i] = p.Name()
		f.dim += p.Dim()
		f.weights = append(f.weights, 1/float64(len(parts)))
	}
	f.name = strings.Join(names, "+")
	return f, nil
}

// Name is the parts' names joined with "+".
func (f *FusedEmbedder) Name() string { return f.name }

// Dim is the sum of the parts' lengths.
func (f *FusedEmbedder) Dim() int { return f.dim }

// Embed runs every part and concatenates their weighted embeddings.
func (f *FusedEmbedder) Embed(ctx context.Context, img image.Image, face Face) ([]float32, error) {
	rgb := ToRGB(img)
	out := make([]float32, 0, f.dim)
	for i, p := range f.parts {
		v, err := p.Embed(ctx, rgb, face)
		if err != nil {
			return nil, err
		}
		w := float32(math.Sqrt(f.weights[i]))
		for _, x := range v {
			out = append(out, w*x)
		}
	}
	return out, nil
}
