// Package liveness decides whether a liveness capture shows a live person
// answering the session's challenge, or a presentation attack (a printed
// photo, a photo or video on a screen, a pre-recorded clip) or frames
// injected into the upload. It combines independent evidence measured on
// the frames — the challenge response, the 3-D consistency of the face's
// motion, passive presentation-attack models and the temporal integrity of
// the capture — and explains its decision (docs/LIVENESS.md).
//
// Analyzer.Analyze is the one entry point; Policy chooses challenges and
// the capture parameters the analysis holds the capture to.
package liveness

import (
	"github.com/everify/everify/internal/imagein"
	"github.com/everify/everify/internal/vision"
)

// frameLimits bounds each decoded frame: a capture frame is at most a
// few megapixels.
var frameLimits = imagein.Limits{MaxBytes: 4 << 20, MaxPixels: 4_000_000}

// Analyzer analyses liveness captures. Detector and Landmarker (a
// 468-point mesh landmarker) are required; Embedder enables the identity
// consistency check and Attack the passive presentation-attack check. It
// is safe for concurrent use.
type Analyzer struct {
	Detector   vision.Detector
	Landmarker vision.Landmarker
	// Embedder computes identity embeddings for the identity-consistency
	// check (same person in every frame).
	Embedder vision.Embedder
	// Attack are the passive presentation-attack models, scored on
	// sampled frames.
	Attack []vision.AttackScorer
	// Workers is how many frames are analysed in parallel; 2 if zero.
	Workers int
	// Thresholds overrides DefaultThresholds when set.
	Thresholds *Thresholds
}

// The names of the checks in a result, in the order they are reported.
const (
	CheckQuality         = "quality"
	CheckChallenge       = "challenge"
	CheckPlanar          = "planar_motion"
	CheckFrameTiming     = "frame_timing"
	CheckDuplicateFrames = "duplicate_frames"
	CheckIdentity        = "identity_consistency"
	CheckContinuity      = "face_continuity"
)
