// Package facematch decides whether two images show the same person: it
// finds the face in each image (documents included: small portraits, scans
// on their side), aligns and embeds it with one or more recognition
// models, fuses the models' similarities and maps the result to a
// calibrated 0-100 match score whose thresholds state false match rates
// (see Calibration and docs/FACEMATCH.md).
package facematch

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"image"
	"math"
	"strings"
	"sync"

	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/vision"
	"github.com/everify/everify/internal/vision/faceapi"
)

// Side names the two images of a match. Errors about an image carry its
// side in biometric.Error.Field; the API replaces it with the request
// field that held the image.
type Side string

// The sides.
const (
	Source Side = "source"
	Target Side = "target"
)

// The calibrations shipped with everify, fitted on lfw-dev by `everify
// eval faces --fit-calibration` (see docs/FACEMATCH.md). Each is a model
// profile: which recognition models run, and how their similarity maps to
// the score.
var (
	//go:embed calibration_fast.json
	fastCalibration []byte
	//go:embed calibration_accurate.json
	accurateCalibration []byte
)

// Profiles names the shipped calibrations: "accurate" (the default: the
// recognition net on the face and its mirror image, averaged) and "fast"
// (once per face: about 20% less CPU per match, and 3-4 points less TAR
// at the default threshold; see docs/FACEMATCH.md).
var Profiles = []string{"accurate", "fast"}

// DefaultProfile is the profile of the zero Options.
const DefaultProfile = "accurate"

// ProfileCalibration returns the shipped calibration of a profile.
func ProfileCalibration(profile string) (*Calibration, error) {
	switch profile {
	case "fast":
		return ParseCalibration(fastCalibration)
	case "accurate":
		return ParseCalibration(accurateCalibration)
	}
	return nil, fmt.Errorf("facematch: unknown profile %q (want %s)", profile, strings.Join(Profiles, " or "))
}

// DefaultCalibration returns the calibration of DefaultProfile.
func DefaultCalibration() (*Calibration, error) {
	return ProfileCalibration(DefaultProfile)
}

// Options configures New. The zero value is the production configuration.
type Options struct {
	// Calibration chooses the models and maps similarities to scores;
	// DefaultCalibration() if nil.
	Calibration *Calibration
	// MinFaceSize is the smallest face, in pixels (the shorter side of the
	// face box), that is compared; smaller faces are face_too_small
	// (default DefaultMinFaceSize).
	MinFaceSize float64
}

// PickFunc chooses the face to compare among those found in an image of
// the given size (most confident first); it returns -1 when there is none.
type PickFunc func(faces []vision.FaceAnalysis, width, height int) int

// DefaultMinFaceSize is the default Options.MinFaceSize. Below it the
// recognition models' scores for genuine pairs fall fast (see
// docs/FACEMATCH.md); document portraits printed 100 px tall give faces of
// about 60-90 px.
const DefaultMinFaceSize = 40

// docMinFace is the smallest face the tiled (document) search looks for.
const docMinFace = 32

// Engine compares faces. It is safe for concurrent use.
type Engine struct {
	cal     *Calibration
	opts    Options
	near    *vision.Pipeline // BlazeFace front: a face filling much of the image
	plain   *vision.Pipeline // BlazeFace back: whole image, upright
	search  *vision.Pipeline // tiles for small faces, four orientations
	marks68 *faceapi.Landmarker
	models  []embedder
	version string
}

// embedder is one model of the fusion.
type embedder struct {
	vision.Embedder
	needs68 bool // aligns on face-api's 68 landmarks
}

// New builds an engine on the models in rt.
func New(rt vision.Runtime, opts Options) (*Engine, error) {
	if opts.Calibration == nil {
		c, err := DefaultCalibration()
		if err != nil {
			return nil, err
		}
		opts.Calibration = c
	}
	if opts.MinFaceSize <= 0 {
		opts.MinFaceSize = DefaultMinFaceSize
	}
	e := &Engine{cal: opts.Calibration, opts: opts}
	var err error
	if e.near, err = vision.NewPipeline(rt, vision.PipelineOptions{Detector: vision.DetectorOptions{Model: "blazeface-front"}}); err != nil {
		return nil, err
	}
	if e.plain, err = vision.NewPipeline(rt, vision.PipelineOptions{}); err != nil {
		return nil, err
	}
	if e.search, err = vision.NewPipeline(rt, vision.PipelineOptions{
		Detector: vision.DetectorOptions{MinFaceSize: docMinFace, TryRotations: true},
	}); err != nil {
		return nil, err
	}
	var names []string
	for _, m := range e.cal.Models {
		emb, err := newEmbedder(rt, m)
		if err != nil {
			return nil, err
		}
		if emb.needs68 && e.marks68 == nil {
			if e.marks68, err = faceapi.NewLandmarker(rt, faceapi.LandmarkerOptions{}); err != nil {
				return nil, err
			}
		}
		e.models = append(e.models, emb)
		names = append(names, m.label())
	}
	e.version = fmt.Sprintf("facematch-%s (blazeface+facemesh; %s)", e.cal.Version, strings.Join(names, " + "))
	return e, nil
}

// newEmbedder loads the model that m names.
func newEmbedder(rt vision.Runtime, m Model) (embedder, error) {
	if m.Name == faceapi.EmbedderModel {
		a, ok := parseAlignment(m.Alignment)
		if !ok {
			return embedder{}, fmt.Errorf("facematch: calibration: unknown alignment %q for %s", m.Alignment, m.Name)
		}
		e, err := faceapi.NewEmbedder(rt, faceapi.EmbedderOptions{Alignment: a, NoFlip: !m.Flip})
		if err != nil {
			return embedder{}, err
		}
		return embedder{Embedder: e, needs68: a == faceapi.AlignDlib5 || a == faceapi.AlignDlib68 || a == faceapi.AlignFaceAPI}, nil
	}
	spec, ok := vision.LookupEmbedder(m.Name)
	if !ok {
		return embedder{}, fmt.Errorf("facematch: calibration: unknown model %q", m.Name)
	}
	if m.Flip || (m.Alignment != "" && m.Alignment != arcFaceAlignment) {
		return embedder{}, fmt.Errorf("facematch: calibration: model %s supports only alignment %q without flip", m.Name, arcFaceAlignment)
	}
	e, err := vision.NewEmbedder(rt, spec)
	if err != nil {
		return embedder{}, err
	}
	return embedder{Embedder: e}, nil
}

// arcFaceAlignment names the five-point alignment of vision's embedders.
const arcFaceAlignment = "arcface-5"

func parseAlignment(s string) (faceapi.Alignment, bool) {
	for a := faceapi.AlignDlib5; a <= faceapi.AlignBox; a++ {
		if a.String() == s {
			return a, true
		}
	}
	return 0, false
}

// Version identifies the engine: the calibration and the models.
func (e *Engine) Version() string { return e.version }

// Calibration is the engine's calibration.
func (e *Engine) Calibration() *Calibration { return e.cal }

// Probe is the face of one image, ready to be compared.
type Probe struct {
	// Face is the chosen face.
	Face vision.FaceAnalysis
	// Found is how many faces the image holds.
	Found int
	// Warnings are codes for what may weaken the comparison (see
	// warnings.go), without the side prefix.
	Warnings []string
	// Embeddings holds one L2-normalised embedding per model of the
	// calibration.
	Embeddings [][]float32
}

// Extract finds the face of img to compare, chosen by pick (PickLargest if
// nil), and embeds it. Errors are *biometric.Error of KindUnprocessable
// with Field side: no_face_detected, face_too_small and image_unusable.
func (e *Engine) Extract(ctx context.Context, img image.Image, side Side, pick PickFunc) (*Probe, error) {
	faces, rgb, err := e.find(ctx, vision.ToRGB(img))
	if err != nil {
		return nil, err
	}
	if pick == nil {
		pick = PickLargest
	}
	i := pick(faces, rgb.W, rgb.H)
	if i < 0 {
		return nil, sideError(side, "no_face_detected",
			"No face was found in the %s image; send a photo in which the face is clearly visible and not covered.", side)
	}
	f := faces[i]
	if err := e.usable(f, side); err != nil {
		return nil, err
	}
	p := &Probe{Face: f, Found: len(faces), Warnings: faceWarnings(faces, i, side)}
	if p.Embeddings, err = e.embed(ctx, rgb, f.Face); err != nil {
		return nil, err
	}
	return p, nil
}

// find returns the faces of rgb and the image they were found in, trying
// searches in turn until one finds a face: BlazeFace's short-range model
// on the whole image (a selfie or portrait: the face fills much of the
// frame; the cheapest search), then its full-range model (faces of any
// size down to about a twentieth of the image), then the full-range model
// on overlapping tiles as well, for a small printed portrait on a document
// scan, with the image turned by quarter turns if it still shows no face
// upright. Last, the tiled search runs again on a descreened copy of the
// image (see descreen): the landmark model rejects faces printed with a
// coarse halftone screen that the detector finds.
func (e *Engine) find(ctx context.Context, rgb *vision.RGB) ([]vision.FaceAnalysis, *vision.RGB, error) {
	for _, p := range []*vision.Pipeline{e.near, e.plain, e.search} {
		faces, err := p.Analyze(ctx, rgb)
		if err != nil || len(faces) > 0 {
			return faces, rgb, wrap(err)
		}
	}
	soft := descreen(rgb, descreenSigma)
	faces, err := e.search.Analyze(ctx, soft)
	return faces, soft, wrap(err)
}

func wrap(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return biometric.Wrap(err, "facematch")
}

// embed runs every model of the fusion on face f.
func (e *Engine) embed(ctx context.Context, rgb *vision.RGB, f vision.Face) ([][]float32, error) {
	var f68 *vision.Face
	out := make([][]float32, len(e.models))
	for i, m := range e.models {
		face := f
		if m.needs68 {
			if f68 == nil {
				g, err := e.marks68.Landmarks(ctx, rgb, f)
				if err != nil {
					return nil, wrap(err)
				}
				f68 = &g
			}
			face = *f68
		}
		v, err := m.Embed(ctx, rgb, face)
		if err != nil {
			return nil, wrap(err)
		}
		out[i] = v
	}
	return out, nil
}

// Compare returns the fused similarity of two probes and each model's
// cosine similarity.
func (e *Engine) Compare(a, b *Probe) (fused float64, cosines []float64) {
	cosines = make([]float64, len(e.models))
	for i := range e.models {
		cosines[i] = vision.Cosine(a.Embeddings[i], b.Embeddings[i])
	}
	return e.cal.Fuse(cosines), cosines
}

// Match compares the face of source with that of target. threshold (0-100)
// decides IsMatch. The two images are processed concurrently.
func (e *Engine) Match(ctx context.Context, source, target image.Image, threshold float64) (*biometric.MatchResult, error) {
	var (
		probes [2]*Probe
		errs   [2]error
		wg     sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i, img := range []image.Image{source, target} {
		side := []Side{Source, Target}[i]
		wg.Go(func() {
			probes[i], errs[i] = e.Extract(ctx, img, side, PickLargest)
			if errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	// Report the source's own failure before a cancellation it caused in
	// the target, and vice versa.
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return nil, err
		}
	}
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	return e.Result(probes[0], probes[1], threshold), nil
}

// Result compares two probes and builds the match result.
func (e *Engine) Result(src, tgt *Probe, threshold float64) *biometric.MatchResult {
	fused, _ := e.Compare(src, tgt)
	score := math.Round(10*e.cal.Score(fused)) / 10
	si, ti := src.Face.Info(), tgt.Face.Info()
	var warnings []string
	for _, w := range src.Warnings {
		warnings = append(warnings, string(Source)+"_"+w)
	}
	for _, w := range tgt.Warnings {
		warnings = append(warnings, string(Target)+"_"+w)
	}
	return &biometric.MatchResult{
		MatchScore:   score,
		IsMatch:      score >= threshold,
		Confidence:   math.Round(10*math.Min(faceConfidence(src.Face), faceConfidence(tgt.Face))) / 10,
		Threshold:    threshold,
		SourceFace:   &si,
		TargetFace:   &ti,
		SourceFaces:  src.Found,
		TargetFaces:  tgt.Found,
		Warnings:     warnings,
		ModelVersion: e.version,
	}
}

// faceConfidence is how sure the engine is that f is a usable face, 0-100:
// the geometric mean of the detector's confidence and the quality score,
// 100·√(p · q/100). A face the detector is sure of with quality 100 gives
// 100; either factor at 0 gives 0.
func faceConfidence(f vision.FaceAnalysis) float64 {
	return 100 * math.Sqrt(math.Max(0, f.Score)*math.Max(0, f.Quality.Score)/100)
}

// PickLargest picks the face with the largest box (the prominent face of a
// selfie, the main portrait of a document), or -1 when there is none.
func PickLargest(faces []vision.FaceAnalysis, _, _ int) int { return vision.Largest(faces) }

// PickCentre picks the face whose box centre is nearest the image centre,
// or -1 when there is none. It is LFW's convention (the labelled person is
// the one in the middle of the image), used by evaluations on LFW-style
// data.
func PickCentre(faces []vision.FaceAnalysis, width, height int) int {
	best, bd := -1, 0.0
	for i, f := range faces {
		d := math.Hypot(f.Box.X+f.Box.Width/2-float64(width)/2, f.Box.Y+f.Box.Height/2-float64(height)/2)
		if best < 0 || d < bd {
			best, bd = i, d
		}
	}
	return best
}

func sideError(side Side, code, format string, args ...any) *biometric.Error {
	e := biometric.Errorf(biometric.KindUnprocessable, code, format, args...)
	e.Field = string(side)
	return e
}

// label describes a model of the fusion for the version string.
func (m Model) label() string {
	s := m.Name
	if m.Alignment != "" {
		s += "/" + m.Alignment
	}
	if m.Flip {
		s += "+flip"
	}
	return s
}
