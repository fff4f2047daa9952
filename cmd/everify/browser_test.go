package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/everify/everify/client"
	"github.com/everify/everify/internal/evaldata"
	"github.com/everify/everify/internal/liveness"
)

// e2eResult is the line tools/node/e2e-capture.mjs prints.
type e2eResult struct {
	OK        bool                            `json:"ok"`
	State     string                          `json:"state"`
	SessionID string                          `json:"session_id"`
	Status    string                          `json:"status"`
	ErrorCode string                          `json:"error_code"`
	Error     string                          `json:"error"`
	Result    *client.LivenessResultsResponse `json:"result"`
	Requests  map[string]int                  `json:"requests"`
	Phases    []struct {
		Phase string `json:"phase"`
		Text  string `json:"text"`
		AtMS  int64  `json:"at_ms"`
	} `json:"phases"`
	Console []string `json:"console_errors"`
}

// browserCapture runs the demo page of base in Debian's Chromium with a
// fake camera playing input (a clip or a still photo) and returns what
// the page ended with.
func browserCapture(t *testing.T, base, input string, extra ...string) e2eResult {
	t.Helper()
	for _, tool := range []string{"node", "ffmpeg", "/usr/bin/chromium"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed for the browser test (make deps-test installs it): %v", tool, err)
		}
	}
	script, err := filepath.Abs("../../tools/node/e2e-capture.mjs")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("../../tools/node/node_modules/playwright-core"); err != nil {
		t.Fatalf("playwright-core is not installed in tools/node (run make deps-test): %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	args := append([]string{script, "--base-url", base, "--input", input, "--timeout", "150"}, extra...)
	cmd := exec.CommandContext(ctx, "node", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var out e2eResult
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("e2e-capture printed %q (%v); stderr:\n%s", stdout.String(), runErr, stderr.String())
	}
	if !out.OK {
		t.Fatalf("the demo page did not reach a decision: state %q, error %q (%s); requests %v; console %v",
			out.State, out.Error, out.ErrorCode, out.Requests, out.Console)
	}
	if len(out.Console) > 0 {
		t.Errorf("console errors: %v", out.Console)
	}
	return out
}

// checkPrechecks checks that the SDK ran the server's framing pre-check
// before recording: at least two answered pre-checks, none refused or
// failed.
func checkPrechecks(t *testing.T, got e2eResult) {
	t.Helper()
	if n := got.Requests["POST precheck 200"]; n < 2 {
		t.Errorf("%d framing pre-checks answered 200, want at least 2; requests %v", n, got.Requests)
	}
	for k, n := range got.Requests {
		if strings.Contains(k, " precheck ") && k != "POST precheck 200" {
			t.Errorf("%d pre-checks ended %q; requests %v", n, k, got.Requests)
		}
	}
}

var demoKeyLine = regexp.MustCompile(`\b(ev_test_[A-Za-z0-9]+)\b`)

// demoKey reads the demo API key a `serve --demo` printed.
func demoKey(t *testing.T, s *served) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case line, ok := <-s.stdout:
			if !ok {
				t.Fatal("serve --demo printed no key")
			}
			if m := demoKeyLine.FindStringSubmatch(line); m != nil {
				return m[1]
			}
		case <-deadline:
			t.Fatal("serve --demo printed no key within 10 s")
		}
	}
}

// TestBrowserCapture runs the whole liveness flow as a user does: the
// demo page in Chromium, the capture SDK, a fake camera, `everify serve`
// with the real models deciding. A real person blinking is live; a still
// photo held in front of the camera is not. Both run the server's framing
// pre-check before recording: the person is framed, the photo (badly
// framed in the fake camera's picture) gets instructions until the SDK
// stops guiding. The live session's reference face then serves as the
// source of a face match against a frame of the same clip.
func TestBrowserCapture(t *testing.T) {
	t.Setenv(databaseURLEnv, "")
	live := evaldata.Require(t, "video/live/blink-selfie-portrait.mp4")
	photo := evaldata.Require(t, "pad-samples/head_640x480/image_F1.jpg")
	srv := serve(t, "--data-dir", t.TempDir(), "--demo")
	key := demoKey(t, srv)

	t.Run("live person", func(t *testing.T) {
		got := browserCapture(t, srv.url, live, "--challenge", "blink", "--viewport", "390x844")
		if got.Status != "completed" || got.Result == nil || got.Result.Result == nil {
			t.Fatalf("status %q, result %+v", got.Status, got.Result)
		}
		r := got.Result.Result
		if !r.IsLive || r.SpoofAttemptDetected {
			t.Errorf("a live person blinking was judged is_live=%v spoof=%v: %+v", r.IsLive, r.SpoofAttemptDetected, r)
		}
		if got.Requests["POST complete 202"] != 1 || got.Requests["POST frames 200"] == 0 {
			t.Errorf("requests %v", got.Requests)
		}
		checkPrechecks(t, got)
		// Framed from the start: the countdown follows the pre-check's
		// two "ok" answers, long before the SDK's 20 s of patience.
		if d := phaseGap(got, "checking", "countdown"); d < 0 || d > 10000 {
			t.Errorf("the countdown began %d ms after the pre-checks; phases %+v", d, got.Phases)
		}

		// The reference face of the session against a frame of the clip.
		frame := filepath.Join(t.TempDir(), "frame.jpg")
		if out, err := exec.Command("ffmpeg", "-v", "error", "-ss", "1", "-i", live, "-frames:v", "1", frame).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg: %v\n%s", err, out)
		}
		img, err := os.ReadFile(frame)
		if err != nil {
			t.Fatal(err)
		}
		m, err := client.New(srv.url, key).FaceMatch(t.Context(), &client.FaceMatchRequest{
			SourceSessionID:   got.SessionID,
			TargetImageBase64: base64.StdEncoding.EncodeToString(img),
		})
		if err != nil {
			t.Fatalf("face match from the session: %v", err)
		}
		if !m.Result.IsMatch || m.Result.MatchScore < 80 {
			t.Errorf("the session's face against its own clip: %+v", m.Result)
		}
	})

	t.Run("still photo", func(t *testing.T) {
		got := browserCapture(t, srv.url, photo)
		if got.Status != "completed" || got.Result == nil || got.Result.Result == nil {
			t.Fatalf("status %q, result %+v", got.Status, got.Result)
		}
		r := got.Result.Result
		if r.IsLive || !r.SpoofAttemptDetected {
			t.Errorf("a still photo was judged is_live=%v spoof=%v: %+v", r.IsLive, r.SpoofAttemptDetected, r)
		}
		if !strings.Contains(strings.Join(r.Reasons, ","), "challenge_not_completed") {
			t.Errorf("reasons %v lack challenge_not_completed", r.Reasons)
		}
		checkPrechecks(t, got)
		// The fake camera crops the portrait photo to 640x480, which puts
		// the face high and to one side: the prompt passes on the
		// server's instructions before the SDK gives up guiding.
		if !showedFraming(got) {
			t.Errorf("no framing instruction was shown; phases %+v", got.Phases)
		}
	})
}

// phaseGap is the time from the first phase from to the first phase to,
// in ms; -1 when either is missing.
func phaseGap(got e2eResult, from, to string) int64 {
	start := int64(-1)
	for _, p := range got.Phases {
		if p.Phase == from && start < 0 {
			start = p.AtMS
		}
		if p.Phase == to && start >= 0 {
			return p.AtMS - start
		}
	}
	return -1
}

// showedFraming reports whether the capture's prompt showed one of the
// pre-check's instructions for a frame that is not ok.
func showedFraming(got e2eResult) bool {
	for _, p := range got.Phases {
		for _, v := range []string{liveness.FramingNoFace, liveness.FramingSeveralFaces, liveness.FramingTooFar, liveness.FramingTooClose,
			liveness.FramingOffCentre, liveness.FramingTooDark, liveness.FramingTooBright, liveness.FramingBlurred} {
			if p.Phase == "checking" && p.Text == liveness.FramingInstructions(v) {
				return true
			}
		}
	}
	return false
}
