package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/liveness"
	"github.com/everify/everify/internal/liveness/evaluate"
	"github.com/everify/everify/internal/vision/onnx"
)

// runLiveness implements `everify liveness`.
func runLiveness(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "analyze" {
		fmt.Fprintln(stderr, "Usage: everify liveness analyze (--video FILE | --frames DIR) --challenge ACTION[,ACTION…] [flags]")
		if len(args) == 0 {
			return usageErrorf("missing sub-command")
		}
		return usageErrorf("unknown sub-command %q", args[0])
	}
	fs := flag.NewFlagSet("liveness analyze", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: everify liveness analyze (--video FILE | --frames DIR) --challenge ACTION[,ACTION…] [flags]

Runs the liveness analysis of a liveness session offline on a video (decoded
with ffmpeg) or a directory of frames (file-name order; timed by timestamps.txt,
one ms value per line, or --fps apart). Without --prompts the whole clip is the
response window of every step, in order. Actions: blink, turn_left, turn_right,
smile, open_mouth, nod ("left" and "right" are the person's own).

Flags:`)
		fs.PrintDefaults()
	}
	video := fs.String("video", "", "video file to analyse")
	frames := fs.String("frames", "", "directory of frames to analyse")
	challenge := fs.String("challenge", "", "the challenge steps, in order, comma-separated (required)")
	prompts := fs.String("prompts", "", "when each step's prompt was shown, ms from the first frame, comma-separated")
	fps := fs.Float64("fps", liveness.DefaultFPS, "video sampling rate, and frame spacing of a directory without timestamps.txt")
	window := fs.Int64("step-window", 5000, "with --prompts, how long after its prompt each step may be answered (ms)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	reference := fs.String("reference", "", "write the reference face (JPEG crop of the best frame) to this file")
	models := fs.String("models", defaultModelsDir(), "models directory (default from $EVERIFY_MODELS)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if (*video == "") == (*frames == "") {
		return usageErrorf("give exactly one of --video and --frames")
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected arguments %q", fs.Args())
	}
	steps, err := evaluate.ParseChallenge(*challenge)
	if err != nil {
		return usageErrorf("--challenge: %v", err)
	}
	var promptsMS []int64
	for _, p := range strings.FieldsFunc(*prompts, func(r rune) bool { return r == ',' }) {
		v, err := strconv.ParseInt(strings.TrimSpace(p), 10, 64)
		if err != nil {
			return usageErrorf("--prompts: %v", err)
		}
		promptsMS = append(promptsMS, v)
	}
	if len(promptsMS) > 0 && len(promptsMS) != len(steps) {
		return usageErrorf("--prompts has %d times for %d steps", len(promptsMS), len(steps))
	}
	path := *video
	if path == "" {
		path = *frames
	}
	capture, err := liveness.LoadCapture(ctx, path, liveness.LoadOptions{FPS: *fps})
	if err != nil {
		return err
	}
	capture.PromptsMS = promptsMS

	a, closeModels, err := openAnalyzer(*models)
	if err != nil {
		return err
	}
	defer closeModels()
	ch := biometric.Challenge{}
	for _, s := range steps {
		ch.Steps = append(ch.Steps, biometric.ChallengeStep{Type: s, Instructions: biometric.ChallengeInstructions[s]})
	}
	// Offline, the clip may be longer than a session's capture: only the
	// frame rate and the step window are held to.
	params := biometric.CaptureParams{FPS: int(math.Round(*fps)), StepWindowMS: *window}
	out, err := a.Analyze(ctx, ch, capture, params)
	if err != nil {
		return err
	}
	if *reference != "" && out.ReferenceJPEG != nil {
		if err := os.WriteFile(*reference, out.ReferenceJPEG, 0o644); err != nil {
			return err
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Input   string                    `json:"input"`
			Frames  int                       `json:"frames"`
			Result  *biometric.LivenessResult `json:"result"`
			Failure *biometric.Failure        `json:"failure,omitempty"`
		}{path, len(capture.Frames), out.Result, out.Failure})
	}
	printLiveness(stdout, path, len(capture.Frames), out)
	return nil
}

// printLiveness writes a human-readable account of an analysis.
func printLiveness(w io.Writer, path string, frames int, out *liveness.Outcome) {
	r := out.Result
	fmt.Fprintf(w, "%s: %d frames\n", path, frames)
	if out.Failure != nil {
		fmt.Fprintf(w, "failed: %s (retryable: %v): %s\n", out.Failure.Code, out.Failure.Retryable, out.Failure.Message)
	}
	fmt.Fprintf(w, "liveness_score %.1f  is_live %v  spoof_attempt_detected %v\n", r.LivenessScore, r.IsLive, r.SpoofAttemptDetected)
	fmt.Fprintf(w, "reasons: %s\n", strings.Join(r.Reasons, ", "))
	for _, s := range r.Steps {
		seen := "not seen"
		if s.Seen {
			seen = fmt.Sprintf("seen at %d ms", s.SeenMS)
		}
		fmt.Fprintf(w, "step %-11s %s\n", s.Type, seen)
	}
	for _, c := range r.Checks {
		verdict := "pass"
		switch {
		case c.Attack:
			verdict = "ATTACK"
		case !c.Passed:
			verdict = "fail"
		}
		fmt.Fprintf(w, "check %-21s %5.1f  %-6s %s\n", c.Name, c.Score, verdict, c.Detail)
	}
	if f := r.ReferenceFace; f != nil {
		fmt.Fprintf(w, "reference face: %.0fx%.0f px, quality %.0f, yaw %.1f°, pitch %.1f°\n", f.Box.Width, f.Box.Height, f.Quality.Score, f.Pose.Yaw, f.Pose.Pitch)
	}
	fmt.Fprintf(w, "model: %s\n", r.ModelVersion)
}

// openAnalyzer loads the liveness analyzer from the models directory; the
// returned function releases the models.
func openAnalyzer(modelsDir string) (*liveness.Analyzer, func(), error) {
	rt, err := onnx.Open(modelsDir, onnx.Options{})
	if err != nil {
		return nil, nil, err
	}
	a, err := liveness.NewAnalyzer(rt)
	if err != nil {
		rt.Close()
		return nil, nil, err
	}
	return a, func() { rt.Close() }, nil
}
