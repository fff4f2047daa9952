package vision

import (
	"context"
	"errors"
	"image"
	"math"

	"github.com/everify/everify/internal/biometric"
)

// PipelineOptions configures NewPipeline. The zero value is the default
// pipeline: BlazeFace (back model) and FaceMesh without iris.
type PipelineOptions struct {
	Detector   DetectorOptions
	Landmarker LandmarkerOptions
}

// Pipeline is the standard face analysis: detection, then landmarks and
// pose, then a quality summary for every face. It is safe for concurrent
// use.
type Pipeline struct {
	Detector   Detector
	Landmarker Landmarker
}

// TurningDetector is a Detector that can also search an image turned by
// quarter turns (see BlazeFaceDetector).
type TurningDetector interface {
	Detector
	// TryRotations reports whether turned searches are wanted.
	TryRotations() bool
	// DetectTurned detects faces in img turned by quarterTurns quarter
	// turns clockwise, returning them in img's coordinates.
	DetectTurned(ctx context.Context, img image.Image, quarterTurns int) ([]Face, error)
}

// pipelineMinScore is the pipeline's default detector threshold: lower
// than the detector's own default, since the landmark model confirms every
// detection.
const pipelineMinScore = 0.35

// NewPipeline builds the standard pipeline from the models in rt. Unless
// opts.Detector.MinScore says otherwise, the detector keeps detections down
// to a confidence of 0.35 and the landmark model rejects those that are not
// faces.
func NewPipeline(rt Runtime, opts PipelineOptions) (*Pipeline, error) {
	if opts.Detector.MinScore <= 0 {
		opts.Detector.MinScore = pipelineMinScore
	}
	d, err := NewDetector(rt, opts.Detector)
	if err != nil {
		return nil, err
	}
	l, err := NewLandmarker(rt, opts.Landmarker)
	if err != nil {
		return nil, err
	}
	return &Pipeline{Detector: d, Landmarker: l}, nil
}

// FaceAnalysis is one analysed face.
type FaceAnalysis struct {
	Face
	Quality biometric.Quality
}

// Info returns the face as the API describes it (confidence 0-100).
func (a FaceAnalysis) Info() biometric.FaceInfo {
	return biometric.FaceInfo{
		Box:        a.Box,
		Confidence: a.Score * 100,
		Landmarks:  a.Landmarks,
		Pose:       a.Pose,
		Quality:    a.Quality,
	}
}

// Analyze finds the faces in img and fits landmarks, pose and quality to
// each, most confident first. Detections that the landmark model rejects
// as not being faces are dropped. With a TurningDetector that asks for it,
// an image with no confirmed face upright is searched turned by 90°, 180°
// and 270°. The image is converted to RGB once; pass an *RGB to avoid even
// that.
func (p *Pipeline) Analyze(ctx context.Context, img image.Image) ([]FaceAnalysis, error) {
	rgb := ToRGB(img)
	td, turning := p.Detector.(TurningDetector)
	if !turning || !td.TryRotations() {
		faces, err := p.Detector.Detect(ctx, rgb)
		if err != nil {
			return nil, err
		}
		return p.confirm(ctx, rgb, faces)
	}
	// Turn the image only when no face is confirmed upright. BlazeFace
	// finds many faces lying on their side without the turn but places
	// their keypoints badly, and the mesh fitted from them is wrong, so a
	// turn only confirms faces whose fitted roll lies within 45° of it;
	// the others are left to the turn that shows them upright.
	for turn := 0; turn < 4; turn++ {
		faces, err := td.DetectTurned(ctx, rgb, turn)
		if err != nil {
			return nil, err
		}
		out, err := p.confirm(ctx, rgb, faces)
		if err != nil {
			return nil, err
		}
		kept := out[:0]
		for _, f := range out {
			if math.Abs(angleDiff(f.Pose.Roll*math.Pi/180, float64(turn)*math.Pi/2)) <= math.Pi/4 {
				kept = append(kept, f)
			}
		}
		if len(kept) > 0 {
			return kept, nil
		}
	}
	return nil, nil
}

// confirm fits landmarks and quality to faces, dropping those the landmark
// model rejects.
func (p *Pipeline) confirm(ctx context.Context, rgb *RGB, faces []Face) ([]FaceAnalysis, error) {
	out := make([]FaceAnalysis, 0, len(faces))
	for _, f := range faces {
		g, err := p.Landmarker.Landmarks(ctx, rgb, f)
		if errors.Is(err, ErrNoFace) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, FaceAnalysis{Face: g, Quality: FaceQuality(rgb, g)})
	}
	return out, nil
}

// Largest returns the index of the face with the largest box area, or -1
// when there is none.
func Largest(faces []FaceAnalysis) int {
	best, area := -1, -1.0
	for i, f := range faces {
		if a := f.Box.Width * f.Box.Height; a > area {
			best, area = i, a
		}
	}
	return best
}
