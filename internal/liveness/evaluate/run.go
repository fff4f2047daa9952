package evaluate

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/liveness"
)

// Verdict is the analysis of one item.
type Verdict struct {
	Path      string   `json:"path"`
	Label     string   `json:"label"`
	Challenge []string `json:"challenge"`
	// Accepted is whether the presentation was classified bona fide
	// (is_live); a failed (poor-quality) session is not accepted.
	Accepted             bool                   `json:"accepted"`
	LivenessScore        float64                `json:"liveness_score"`
	SpoofAttemptDetected bool                   `json:"spoof_attempt_detected"`
	Failure              string                 `json:"failure,omitempty"`
	Reasons              []string               `json:"reasons,omitempty"`
	Checks               []biometric.Check      `json:"checks,omitempty"`
	Steps                []biometric.StepResult `json:"steps,omitempty"`
	Error                string                 `json:"error,omitempty"`
	MS                   int64                  `json:"analysis_ms"`
}

// Report is the outcome of an evaluation.
type Report struct {
	// BPCER is the share of bona fide items not accepted.
	BPCER float64 `json:"bpcer"`
	// APCER maps each attack species to the share of its items accepted.
	APCER map[string]float64 `json:"apcer"`
	// Counts maps each label to its number of items.
	Counts map[string]int `json:"counts"`
	// Detected maps each attack species to the share of its items with
	// spoof_attempt_detected (positive attack evidence), beyond merely
	// not being accepted.
	Detected map[string]float64 `json:"spoof_detected"`
	// PoorQuality maps each label to the share of its items that ended
	// in a poor-quality failure.
	PoorQuality map[string]float64 `json:"poor_quality"`
	// Checks maps each label to the statistics of each check over its
	// items: what every signal contributed.
	Checks map[string]map[string]CheckStats `json:"checks"`
	Items  []Verdict                        `json:"items"`
}

// CheckStats summarise one check over the items of one label.
type CheckStats struct {
	N           int     `json:"n"`            // items the check ran on
	Passed      float64 `json:"passed"`       // share passed
	Attack      float64 `json:"attack"`       // share with attack evidence
	MedianScore float64 `json:"median_score"` // median 0-100 score
}

// Options configures Run.
type Options struct {
	// Params are the capture parameters items are held to; each item's
	// frame rate replaces Params.FPS. Zero limits are not enforced.
	Params biometric.CaptureParams
	// Progress, when set, receives one line per analysed item.
	Progress io.Writer
}

// Run analyses every item with a and computes the error rates. An item
// that cannot be loaded or analysed counts as not accepted and carries
// the error in its verdict.
func Run(ctx context.Context, a *liveness.Analyzer, items []Item, opts Options) (*Report, error) {
	var verdicts []Verdict
	for i, it := range items {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		v := analyse(ctx, a, it, opts.Params)
		verdicts = append(verdicts, v)
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, "[%d/%d] %s %s: %s\n", i+1, len(items), it.Label, it.Path, describe(v))
		}
	}
	return Summarise(verdicts), nil
}

func analyse(ctx context.Context, a *liveness.Analyzer, it Item, params biometric.CaptureParams) Verdict {
	v := Verdict{Path: it.Path, Label: it.Label}
	for _, c := range it.Challenge {
		v.Challenge = append(v.Challenge, string(c))
	}
	fps := it.FPS
	if fps <= 0 {
		fps = liveness.DefaultFPS
	}
	mimic := it.Challenge
	capture, err := liveness.LoadCapture(ctx, it.Path, liveness.LoadOptions{FPS: fps, Mimic: mimic})
	if err != nil {
		v.Error = err.Error()
		return v
	}
	challenge := biometric.Challenge{}
	for _, c := range it.Challenge {
		challenge.Steps = append(challenge.Steps, biometric.ChallengeStep{Type: c, Instructions: biometric.ChallengeInstructions[c]})
	}
	params.FPS = int(math.Round(fps))
	start := time.Now()
	out, err := a.Analyze(ctx, challenge, capture, params)
	v.MS = time.Since(start).Milliseconds()
	if err != nil {
		v.Error = err.Error()
		return v
	}
	r := out.Result
	v.Accepted = r.IsLive && out.Failure == nil
	v.LivenessScore, v.SpoofAttemptDetected = r.LivenessScore, r.SpoofAttemptDetected
	v.Reasons, v.Checks, v.Steps = r.Reasons, r.Checks, r.Steps
	if out.Failure != nil {
		v.Failure = out.Failure.Code
	}
	return v
}

// Summarise computes the error rates of verdicts.
func Summarise(verdicts []Verdict) *Report {
	r := &Report{APCER: map[string]float64{}, Counts: map[string]int{}, Detected: map[string]float64{},
		PoorQuality: map[string]float64{}, Checks: map[string]map[string]CheckStats{}, Items: verdicts}
	accepted, detected, poor := map[string]int{}, map[string]int{}, map[string]int{}
	scores := map[string]map[string][]float64{}
	for _, v := range verdicts {
		for _, c := range v.Checks {
			if scores[v.Label] == nil {
				scores[v.Label] = map[string][]float64{}
				r.Checks[v.Label] = map[string]CheckStats{}
			}
			st := r.Checks[v.Label][c.Name]
			st.N++
			if c.Passed {
				st.Passed++
			}
			if c.Attack {
				st.Attack++
			}
			r.Checks[v.Label][c.Name] = st
			scores[v.Label][c.Name] = append(scores[v.Label][c.Name], c.Score)
		}
		r.Counts[v.Label]++
		if v.Accepted {
			accepted[v.Label]++
		}
		if v.SpoofAttemptDetected {
			detected[v.Label]++
		}
		if v.Failure == "poor_quality" {
			poor[v.Label]++
		}
	}
	for label, byCheck := range r.Checks {
		for name, st := range byCheck {
			st.Passed /= float64(st.N)
			st.Attack /= float64(st.N)
			s := scores[label][name]
			slices.Sort(s)
			st.MedianScore = s[len(s)/2]
			byCheck[name] = st
		}
	}
	for label, n := range r.Counts {
		rate := func(k int) float64 { return float64(k) / float64(n) }
		r.PoorQuality[label] = rate(poor[label])
		if label == BonaFide {
			r.BPCER = rate(n - accepted[label])
			continue
		}
		r.APCER[label] = rate(accepted[label])
		r.Detected[label] = rate(detected[label])
	}
	return r
}

// Species returns the attack species of the report in name order.
func (r *Report) Species() []string {
	var s []string
	for k := range r.APCER {
		s = append(s, k)
	}
	slices.Sort(s)
	return s
}

func describe(v Verdict) string {
	switch {
	case v.Error != "":
		return "error: " + v.Error
	case v.Accepted:
		return fmt.Sprintf("accepted (score %.1f, %d ms)", v.LivenessScore, v.MS)
	case v.Failure != "":
		return fmt.Sprintf("failed %s %v (%d ms)", v.Failure, v.Reasons, v.MS)
	}
	return fmt.Sprintf("rejected %v spoof=%v (score %.1f, %d ms)", v.Reasons, v.SpoofAttemptDetected, v.LivenessScore, v.MS)
}
