package liveness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"slices"
	"strings"

	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/vision"
)

// Version identifies the analysis (signals, thresholds and decision rule);
// it is part of every result's model_version.
const Version = "liveness-1"

// Thresholds gathers every threshold of the analysis.
type Thresholds struct {
	Actions   ActionThresholds
	Integrity IntegrityThresholds
	Quality   QualityThresholds
	Planar    PlanarThresholds
	PAD       PADThresholds
	Light     ScreenLightThresholds
}

// DefaultThresholds returns the thresholds everify uses.
func DefaultThresholds() Thresholds {
	return Thresholds{
		Actions:   DefaultActionThresholds,
		Integrity: DefaultIntegrityThresholds,
		Quality:   DefaultQualityThresholds,
		Planar:    DefaultPlanarThresholds,
		PAD:       DefaultPADThresholds(),
		Light:     DefaultScreenLightThresholds,
	}
}

// Outcome is the analysis of one capture.
type Outcome struct {
	// Result is the decision and its explanation; always set.
	Result *biometric.LivenessResult
	// Failure is set when the capture was too poor to decide (a
	// retryable poor-quality failure) or unusable; the session then ends
	// failed rather than completed. Result still lists what was measured.
	Failure *biometric.Failure
	// ReferenceJPEG is a JPEG crop around the face of the best frame, the
	// source face for face-match; nil when no usable face was found.
	// Result.ReferenceFace describes the face in the crop's coordinates.
	ReferenceJPEG []byte
}

// NewAnalyzer builds the standard analyzer from the installed models:
// BlazeFace (back model), FaceMesh, the mobilefacenet embedder and the
// antispoof and liveness presentation-attack models.
func NewAnalyzer(rt vision.Runtime) (*Analyzer, error) {
	p, err := vision.NewPipeline(rt, vision.PipelineOptions{})
	if err != nil {
		return nil, err
	}
	a := &Analyzer{Detector: p.Detector, Landmarker: p.Landmarker}
	spec, _ := vision.LookupEmbedder(DefaultEmbedder)
	if a.Embedder, err = vision.NewEmbedder(rt, spec); err != nil {
		return nil, err
	}
	for _, s := range vision.AttackModels {
		sc, err := vision.NewAttackScorer(rt, s)
		if err != nil {
			return nil, err
		}
		a.Attack = append(a.Attack, sc)
	}
	return a, nil
}

// DefaultEmbedder is the embedding model of the identity-consistency
// check.
const DefaultEmbedder = "mobileface"

// How densely the analysis measures.
const (
	detectEvery  = 5 // detector runs: every 5th frame of each worker's run
	qualityEvery = 3 // quality measured on every 3rd frame
	samples      = 6 // frames scored by the PAD models and the embedder
)

// Analyze decides whether capture shows a live person answering
// challenge. It returns an error only when the analysis itself failed (a
// model error, a cancelled context); everything wrong with the capture is
// in the Outcome. The decision rule is documented in docs/LIVENESS.md:
//
//   - a capture that cannot be judged (too few frames, unreadable frames,
//     a face too small, dark, blurred, off-centre or not alone) ends with a
//     retryable Failure, unless its frames already carry evidence of
//     injection;
//   - spoof_attempt_detected is set when any check found positive
//     evidence of an attack;
//   - is_live requires every check to pass: the challenge answered in
//     order, no attack evidence and the passive models not rejecting.
func (a *Analyzer) Analyze(ctx context.Context, challenge biometric.Challenge, capture *biometric.Capture, params biometric.CaptureParams) (*Outcome, error) {
	th := DefaultThresholds()
	if a.Thresholds != nil {
		th = *a.Thresholds
	}
	res := &biometric.LivenessResult{ModelVersion: a.modelVersion()}
	out := &Outcome{Result: res}
	frames := capture.Frames
	if f := captureSizeFailure(frames, params); f != nil {
		out.Failure = f
		res.Reasons = []string{f.Code}
		return out, nil
	}
	workers := a.Workers
	if workers <= 0 {
		workers = 2
	}
	obs, err := a.observe(ctx, frames, observeOptions{Workers: workers, DetectEvery: detectEvery, QualityEach: qualityEvery})
	if errors.Is(err, errUnreadableFrame) {
		out.Failure = &biometric.Failure{Code: "capture_unreadable", Retryable: true,
			Message: "A frame of the capture could not be decoded (" + err.Error() + "); capture again."}
		res.Reasons = []string{out.Failure.Code}
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("liveness: analysing capture: %w", err)
	}
	series := seriesOf(obs)
	neut := neutralOf(series)
	chosen, err := a.sample(ctx, frames, obs, series, neut, samples, workers)
	if err != nil {
		return nil, fmt.Errorf("liveness: analysing capture: %w", err)
	}

	// Integrity of the frames themselves.
	integrity := []biometric.Check{
		timingCheck(obs, params, th.Integrity),
		duplicateCheck(obs, th.Integrity),
		continuityCheck(obs, th.Integrity),
	}
	if c, ok := identityCheck(obs, neut, th.Integrity); ok {
		integrity = append(integrity, c)
	}
	quality, issue := qualityCheck(obs, th.Quality)

	// The challenge.
	start, end := obs[0].AtMS, obs[len(obs)-1].AtMS
	events := map[biometric.ChallengeType][]event{}
	for _, st := range challenge.Steps {
		if _, ok := events[st.Type]; !ok {
			events[st.Type] = detectActions(series, neut, st.Type, th.Actions)
		}
	}
	res.Steps = matchSteps(challenge.Steps, events, capture.PromptsMS, params, start, end)
	chal := challengeCheck(res.Steps)

	checks := []biometric.Check{quality, chal, planarCheck(obs, th.Planar)}
	checks = append(checks, padChecks(obs, th.PAD)...)
	checks = append(checks, integrity...)
	var reasons map[string]string
	if len(challenge.LightSequence) > 0 {
		light := screenLightCheck(obs, challenge.LightSequence, capture.Light, th.Light)
		checks = append(checks, light.Check)
		if issue == nil {
			issue = light.Issue
		}
		if light.Reason != "" {
			reasons = map[string]string{CheckScreenLight: light.Reason}
		}
	}
	res.Checks = checks
	decide(res, checks, issue, reasons)
	if issue != nil && !res.SpoofAttemptDetected {
		out.Failure = &biometric.Failure{Code: "poor_quality", Retryable: true, Message: issue.Message}
	}

	if best := bestFrame(obs, chosen); best >= 0 {
		ref, info, err := referenceCrop(frames[best], obs[best])
		if err != nil {
			return nil, fmt.Errorf("liveness: reference face: %w", err)
		}
		out.ReferenceJPEG, res.ReferenceFace = ref, info
	}
	return out, nil
}

// captureSizeFailure checks the frame count and duration against params.
func captureSizeFailure(frames []biometric.Frame, params biometric.CaptureParams) *biometric.Failure {
	min := max(params.MinFrames, 2)
	switch {
	case len(frames) < min:
		return &biometric.Failure{Code: "capture_too_short", Retryable: true,
			Message: fmt.Sprintf("The capture has %d frame(s); at least %d are needed. Capture again.", len(frames), min)}
	case params.MaxFrames > 0 && len(frames) > params.MaxFrames:
		return &biometric.Failure{Code: "capture_too_long", Retryable: true,
			Message: fmt.Sprintf("The capture has %d frames, more than the %d allowed.", len(frames), params.MaxFrames)}
	case params.MaxDurationMS > 0 && frames[len(frames)-1].AtMS-frames[0].AtMS > params.MaxDurationMS:
		return &biometric.Failure{Code: "capture_too_long", Retryable: true,
			Message: fmt.Sprintf("The capture lasts longer than the %d ms allowed.", params.MaxDurationMS)}
	}
	return nil
}

// integrityChecks are the checks whose attack evidence does not depend on
// image quality: it stands even when the capture is too poor to judge.
var integrityChecks = []string{CheckFrameTiming, CheckDuplicateFrames, CheckContinuity, CheckIdentity}

// decide sets is_live, spoof_attempt_detected, liveness_score and the
// reasons from the checks (see docs/LIVENESS.md). reasons, which may be
// nil, gives a check's own reason code where it has a more precise one
// than its name's (attackReason, failReason).
func decide(res *biometric.LivenessResult, checks []biometric.Check, issue *qualityIssue, reasons map[string]string) {
	reason := func(check string, byName func(string) string) string {
		if r, ok := reasons[check]; ok {
			return r
		}
		return byName(check)
	}
	var attacks, failed []string
	for i := range checks {
		c := &checks[i]
		if !c.Passed {
			c.Score = math.Min(c.Score, 49.9)
		}
		if c.Attack && (issue == nil || slices.Contains(integrityChecks, c.Name)) {
			attacks = append(attacks, reason(c.Name, attackReason))
		}
		if !c.Passed && !c.Attack && c.Name != CheckQuality {
			failed = append(failed, reason(c.Name, failReason))
		}
	}
	res.SpoofAttemptDetected = len(attacks) > 0
	res.IsLive = issue == nil && !res.SpoofAttemptDetected && len(failed) == 0
	switch {
	case res.SpoofAttemptDetected:
		res.Reasons = append(attacks, failed...)
	case issue != nil:
		res.Reasons = []string{issue.Code}
	case !res.IsLive:
		res.Reasons = failed
	default:
		res.Reasons = []string{"challenge_completed", "no_attack_evidence"}
	}
	res.LivenessScore = livenessScore(checks)
}

// livenessScore combines the check scores (each 0-100, 50 at its
// threshold) into 0-100: when every check passes, 50 plus half the mean
// margin above 50; otherwise the lowest score of a failed check, below
// 50. It never decreases when a check's score rises, and it is at least
// 50 exactly when every check passes.
func livenessScore(checks []biometric.Check) float64 {
	low, sum, all := 100.0, 0.0, true
	for _, c := range checks {
		if !c.Passed {
			all = false
			low = math.Min(low, c.Score)
		}
		sum += c.Score
	}
	if !all {
		return math.Round(10*low) / 10
	}
	return math.Round(10*(50+0.5*(sum/float64(len(checks))-50))) / 10
}

// attackReason and failReason name the reason codes of the checks.
func attackReason(check string) string {
	switch check {
	case CheckFrameTiming:
		return "invalid_timestamps"
	case CheckDuplicateFrames:
		return "duplicated_frames"
	case CheckContinuity:
		return "discontinuous_frames"
	case CheckIdentity:
		return "identity_changed"
	case CheckPlanar:
		return "planar_motion"
	case CheckScreenLight:
		return reasonLightNotFollowed
	}
	return "presentation_attack_" + check
}

func failReason(check string) string {
	switch check {
	case CheckChallenge:
		return "challenge_not_completed"
	case CheckScreenLight:
		return reasonLightNotFollowed
	}
	return check + "_not_passed"
}

// bestFrame picks the reference frame among the scored ones: the highest
// quality score, near frontal.
func bestFrame(obs []frameObs, chosen []int) int {
	best, bestScore := -1, math.Inf(-1)
	for _, i := range chosen {
		o := obs[i]
		if o.Face == nil || o.Quality == nil {
			continue
		}
		score := o.Quality.Score - 0.5*(math.Abs(o.Face.Pose.Yaw)+math.Abs(o.Face.Pose.Pitch))
		if score > bestScore {
			best, bestScore = i, score
		}
	}
	return best
}

// referenceCrop cuts a square around the face (twice the face box's
// longer side, clipped to the frame) out of the frame at its own
// resolution and encodes it as JPEG (quality 92). The face description is
// moved into the crop's coordinates.
func referenceCrop(f biometric.Frame, o frameObs) ([]byte, *biometric.FaceInfo, error) {
	rgb, err := decodeFrame(f)
	if err != nil {
		return nil, nil, err
	}
	b := o.Face.Box
	side := 2 * math.Max(b.Width, b.Height)
	cx, cy := b.X+b.Width/2, b.Y+b.Height/2
	r := image.Rect(int(cx-side/2), int(cy-side/2), int(cx+side/2), int(cy+side/2)).Intersect(image.Rect(0, 0, rgb.W, rgb.H))
	if r.Empty() {
		return nil, nil, errors.New("face box outside the frame")
	}
	crop := image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	for y := range r.Dy() {
		for x := range r.Dx() {
			s := 3 * ((r.Min.Y+y)*rgb.W + r.Min.X + x)
			d := crop.PixOffset(x, y)
			crop.Pix[d], crop.Pix[d+1], crop.Pix[d+2], crop.Pix[d+3] = rgb.Pix[s], rgb.Pix[s+1], rgb.Pix[s+2], 255
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, crop, &jpeg.Options{Quality: 92}); err != nil {
		return nil, nil, err
	}
	dx, dy := float64(r.Min.X), float64(r.Min.Y)
	shift := func(p biometric.Point) biometric.Point { return biometric.Point{X: p.X - dx, Y: p.Y - dy} }
	lm := o.Face.Landmarks
	info := &biometric.FaceInfo{
		Box:        biometric.Box{X: b.X - dx, Y: b.Y - dy, Width: b.Width, Height: b.Height},
		Confidence: 100 * o.Face.Score,
		Landmarks: biometric.Landmarks{LeftEye: shift(lm.LeftEye), RightEye: shift(lm.RightEye), Nose: shift(lm.Nose),
			MouthLeft: shift(lm.MouthLeft), MouthRight: shift(lm.MouthRight)},
		Pose:    o.Face.Pose,
		Quality: *o.Quality,
	}
	return buf.Bytes(), info, nil
}

// modelVersion names the analysis version and the models it ran.
func (a *Analyzer) modelVersion() string {
	names := []string{}
	if a.Embedder != nil {
		names = append(names, a.Embedder.Name())
	}
	for _, s := range a.Attack {
		names = append(names, s.Name())
	}
	return Version + " (facemesh, " + strings.Join(names, ", ") + ")"
}

// Sessions adapts an Analyzer to the analysis job's interface: it analyses
// a session's capture against the session's challenge and capture
// parameters, and returns the result with the reference face, or the
// failure.
type Sessions struct{ *Analyzer }

// Analyze implements the analysis job's Analyzer.
func (s Sessions) Analyze(ctx context.Context, sess *biometric.Session, c *biometric.Capture) (*biometric.LivenessResult, *biometric.Failure, []byte, error) {
	out, err := s.Analyzer.Analyze(ctx, sess.Challenge, c, sess.CaptureParams)
	if err != nil {
		return nil, nil, nil, err
	}
	if out.Failure != nil {
		return nil, out.Failure, nil, nil
	}
	return out.Result, nil, out.ReferenceJPEG, nil
}
