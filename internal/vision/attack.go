package vision

import (
	"context"
	"fmt"
	"image"
)

// AttackSpec describes one presentation-attack model of the installed set.
type AttackSpec struct {
	Name string
	Crop CropSpec
	// LiveIndex is the output value that is the bona fide probability.
	LiveIndex int
	// Outputs is the length of the model's output.
	Outputs int
	// Inverted is set when the output is the probability of an attack
	// rather than of a live face.
	Inverted bool
}

// AttackModels lists the presentation-attack models everify ships. Both
// take the face crop Human feeds them (about 1.4 times the detector box:
// Zoom 0.9) in RGB 0-1, and their outputs are read as Human documents them:
//
//   - antispoof: 128x128; one sigmoid output, 1 = real.
//   - liveness: 32x32; a two-way softmax, index 0 = live.
//
// Neither is a reliable detector on its own. On every sixth image of the
// NUAA photograph-imposter training split (291 live webcam captures, 292
// printed-photo attacks of the same nine people) liveness gave a mean of
// 0.85 to live faces and 0.71 to prints (EER 0.33), while antispoof scored
// the prints higher than the live faces (0.82 against 0.64; EER 0.83 in the
// documented direction). Use them as weak signals beside others.
var AttackModels = []AttackSpec{
	{Name: "antispoof", Crop: CropSpec{Size: 128, Zoom: 0.9, Norm: NormUnit}, Outputs: 1},
	{Name: "liveness", Crop: CropSpec{Size: 32, Zoom: 0.9, Norm: NormUnit}, Outputs: 2},
}

// LookupAttack returns the spec of the named presentation-attack model.
func LookupAttack(name string) (AttackSpec, bool) {
	for _, s := range AttackModels {
		if s.Name == name {
			return s, true
		}
	}
	return AttackSpec{}, false
}

// ModelAttackScorer scores presentation attacks with one model. It
// implements AttackScorer and is safe for concurrent use.
type ModelAttackScorer struct {
	spec  AttackSpec
	model Model
}

var _ AttackScorer = (*ModelAttackScorer)(nil)

// NewAttackScorer loads the model spec.Name from rt.
func NewAttackScorer(rt Runtime, spec AttackSpec) (*ModelAttackScorer, error) {
	m, err := loadCropModel(rt, spec.Name, spec.Crop)
	if err != nil {
		return nil, err
	}
	return &ModelAttackScorer{spec: spec, model: m}, nil
}

// Name is the model's name.
func (s *ModelAttackScorer) Name() string { return s.spec.Name }

// Score returns the probability, 0-1, that face f in img is bona fide.
func (s *ModelAttackScorer) Score(ctx context.Context, img image.Image, f Face) (float64, error) {
	in, err := s.spec.Crop.Crop(ToRGB(img), f.Landmarks)
	if err != nil {
		return 0, err
	}
	outs, err := s.model.Run(ctx, in)
	if err != nil {
		return 0, fmt.Errorf("vision: %s: %w", s.spec.Name, err)
	}
	if len(outs) != 1 || len(outs[0].Data) != s.spec.Outputs {
		return 0, fmt.Errorf("vision: model %q: unexpected outputs", s.spec.Name)
	}
	p := float64(outs[0].Data[s.spec.LiveIndex])
	if s.spec.Inverted {
		p = 1 - p
	}
	return clamp01(p), nil
}
