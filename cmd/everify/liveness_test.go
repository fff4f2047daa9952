package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/everify/everify/internal/evaldata"
)

// TestLivenessAnalyzeCommand runs `everify liveness analyze` on a real
// clip of a person blinking: live for a blink challenge, not live for a
// head turn the clip does not contain.
func TestLivenessAnalyzeCommand(t *testing.T) {
	clip := evaldata.Require(t, "video/live/blink-selfie-portrait.mp4")
	var out struct {
		Frames int `json:"frames"`
		Result struct {
			IsLive  bool     `json:"is_live"`
			Reasons []string `json:"reasons"`
		} `json:"result"`
	}
	for _, tc := range []struct {
		challenge string
		live      bool
	}{{"blink", true}, {"turn_left,turn_right", false}} {
		code, stdout, stderr := run(t, "liveness", "analyze", "--video", clip, "--challenge", tc.challenge, "--json")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.challenge, code, stderr)
		}
		if err := json.Unmarshal([]byte(stdout), &out); err != nil {
			t.Fatalf("%s: %v: %.300s", tc.challenge, err, stdout)
		}
		if out.Frames < 100 || out.Result.IsLive != tc.live {
			t.Errorf("%s: %d frames, is_live %v (want %v), reasons %v", tc.challenge, out.Frames, out.Result.IsLive, tc.live, out.Result.Reasons)
		}
	}
	if code, _, stderr := run(t, "liveness", "analyze", "--challenge", "blink"); code != 2 || !strings.Contains(stderr, "--video") {
		t.Errorf("no input: exit %d, %s", code, stderr)
	}
}

// TestEvalLivenessCommand runs `everify eval liveness` on a two-line
// manifest: a bona fide clip and a still photo presented as a clip.
func TestEvalLivenessCommand(t *testing.T) {
	clip := evaldata.Require(t, "video/live/blink-selfie-portrait.mp4")
	photo := evaldata.Require(t, "pad-samples/head_640x480/image_F1.jpg")
	manifest := filepath.Join(t.TempDir(), "manifest.csv")
	body := fmt.Sprintf("path,label,challenge\n%s,bona_fide,blink\n%s,photo,blink\n", clip, photo)
	if err := os.WriteFile(manifest, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, "eval", "liveness", "--manifest", manifest, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep struct {
		BPCER float64            `json:"bpcer"`
		APCER map[string]float64 `json:"apcer"`
		Items []struct {
			Label    string `json:"label"`
			Accepted bool   `json:"accepted"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v: %.300s", err, stdout)
	}
	if rep.BPCER != 0 || len(rep.APCER) != 1 || rep.APCER["photo"] != 0 || len(rep.Items) != 2 {
		t.Errorf("bpcer %v, apcer %v, %d items", rep.BPCER, rep.APCER, len(rep.Items))
	}
	if code, _, stderr := run(t, "eval", "liveness", "--manifest", filepath.Join(t.TempDir(), "none.csv")); code == 0 {
		t.Errorf("a missing manifest was accepted: %s", stderr)
	}
}
