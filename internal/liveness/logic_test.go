package liveness

import (
	"bytes"
	"crypto/sha256"
	"slices"
	"testing"

	"github.com/everify/everify/internal/biometric"
)

func TestPolicyChallenge(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy()
	seen := map[biometric.ChallengeType]int{}
	for i := range 200 {
		seed := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
		c, err := p.NewChallenge(bytes.NewReader(bytes.Repeat(seed[:], 8)), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Steps) != p.Steps || c.Steps[0].Type != biometric.ChallengeBlink || len(c.Nonce) != 32 {
			t.Fatalf("challenge %+v: want %d steps starting with blink and a 32-digit nonce", c, p.Steps)
		}
		if c.Steps[1].Type == c.Steps[0].Type || !slices.Contains(p.Actions, c.Steps[1].Type) {
			t.Fatalf("second step %q not a distinct allowed action", c.Steps[1].Type)
		}
		if c.Steps[1].Instructions != biometric.ChallengeInstructions[c.Steps[1].Type] {
			t.Fatalf("instructions %q", c.Steps[1].Instructions)
		}
		seen[c.Steps[1].Type]++
	}
	for _, a := range p.Actions {
		if seen[a] < 60 {
			t.Errorf("%s drawn %d times in 200, want about 100", a, seen[a])
		}
	}
	req := []biometric.ChallengeType{biometric.ChallengeNod, biometric.ChallengeSmile}
	c, err := p.Challenge(req)
	if err != nil || len(c.Steps) != 2 || c.Steps[0].Type != biometric.ChallengeNod || c.Steps[1].Type != biometric.ChallengeSmile {
		t.Errorf("requested steps: got %+v, %v", c, err)
	}
	if _, err := p.Challenge(slices.Repeat([]biometric.ChallengeType{biometric.ChallengeBlink}, p.MaxRequested+1)); biometric.KindOf(err) != biometric.KindInvalid {
		t.Errorf("too many requested steps: err %v, want invalid", err)
	}
}

func TestMatchStepsOrderAndWindows(t *testing.T) {
	t.Parallel()
	steps := challengeOf(biometric.ChallengeBlink, biometric.ChallengeTurnLeft).Steps
	params := biometric.CaptureParams{StepWindowMS: 2000}
	ev := func(blinks, lefts []int64) map[biometric.ChallengeType][]event {
		m := map[biometric.ChallengeType][]event{}
		for _, t := range blinks {
			m[biometric.ChallengeBlink] = append(m[biometric.ChallengeBlink], event{Start: t})
		}
		for _, t := range lefts {
			m[biometric.ChallengeTurnLeft] = append(m[biometric.ChallengeTurnLeft], event{Start: t})
		}
		return m
	}
	for _, tc := range []struct {
		name          string
		blinks, lefts []int64
		prompts       []int64
		want          [2]bool
	}{
		{"in order, no prompts", []int64{500}, []int64{1500}, nil, [2]bool{true, true}},
		{"wrong order, no prompts", []int64{2500}, []int64{1500}, nil, [2]bool{true, false}},
		{"second blink makes the order", []int64{100, 2500}, []int64{1500}, nil, [2]bool{true, true}},
		{"in windows", []int64{1200}, []int64{3500}, []int64{1000, 3000}, [2]bool{true, true}},
		{"blink before its prompt", []int64{800}, []int64{3500}, []int64{1000, 3000}, [2]bool{false, false}},
		{"turn after its window", []int64{1200}, []int64{5200}, []int64{1000, 3000}, [2]bool{true, false}},
		{"turn before its prompt", []int64{1200}, []int64{2500}, []int64{1000, 3000}, [2]bool{true, false}},
	} {
		res := matchSteps(steps, ev(tc.blinks, tc.lefts), tc.prompts, params, 0, 6000)
		got := [2]bool{res[0].Seen, res[1].Seen}
		if got != tc.want {
			t.Errorf("%s: seen %v, want %v (%+v)", tc.name, got, tc.want, res)
		}
		c := challengeCheck(res)
		if c.Passed != (tc.want == [2]bool{true, true}) || (c.Passed && c.Score != 100) || (!c.Passed && c.Score >= 50) {
			t.Errorf("%s: check %+v", tc.name, c)
		}
	}
}

func TestBlinkDetectorOnSeries(t *testing.T) {
	t.Parallel()
	// 15 fps; eyes open at 0.30 with a blink of three frames, a closure
	// lasting 1.2 s, and a dip coinciding with a jump of the face.
	var s []point
	add := func(ear, cx float64) {
		s = append(s, point{T: int64(len(s)) * 1000 / 15, OK: true, EAR: ear, EARRight: ear, EARLeft: ear, Aspect: 0.57, IOD: 60, CX: cx})
	}
	for range 10 {
		add(0.30, 100)
	}
	add(0.18, 100) // blink, frames 10-12
	add(0.12, 100)
	add(0.20, 100)
	for range 10 {
		add(0.30, 100)
	}
	for range 18 { // 1.2 s closed: not a blink
		add(0.10, 100)
	}
	for range 10 {
		add(0.30, 100)
	}
	add(0.12, 160) // the face jumps by one inter-ocular distance
	for range 5 {
		add(0.30, 100)
	}
	ev := detectBlinks(s, neutralOf(s), DefaultActionThresholds)
	if len(ev) != 1 || ev[0].Peak != s[11].T {
		t.Fatalf("blinks %+v: want one at %d ms", ev, s[11].T)
	}
	// A photo tipped back flattens the eyes and the whole face alike.
	for i := 10; i < 13; i++ {
		s[i].Aspect = 0.57 * s[i].EAR / 0.30
	}
	if ev := detectBlinks(s[:23], neutralOf(s[:23]), DefaultActionThresholds); len(ev) != 0 {
		t.Errorf("foreshortening taken for a blink: %+v", ev)
	}
}

func TestExcursionsNeedHolding(t *testing.T) {
	t.Parallel()
	var s []point
	for i, yaw := range []float64{0, 0, 20, 0, 0, 18, 22, 25, 21, 0, 0} {
		s = append(s, point{T: int64(i) * 67, OK: true, Yaw: yaw})
	}
	n := neutralOf(s)
	left := detectActions(s, n, biometric.ChallengeTurnLeft, DefaultActionThresholds)
	if len(left) != 1 || left[0].Start != s[5].T || left[0].Peak != s[7].T {
		t.Errorf("turn_left %+v: want one from frame 5, peak at frame 7", left)
	}
	if right := detectActions(s, n, biometric.ChallengeTurnRight, DefaultActionThresholds); len(right) != 0 {
		t.Errorf("turn_right %+v in a turn to the left", right)
	}
}

func TestLivenessScoreMonotone(t *testing.T) {
	t.Parallel()
	base := []biometric.Check{{Name: "a", Score: 80, Passed: true}, {Name: "b", Score: 60, Passed: true}, {Name: "c", Score: 50, Passed: true}}
	prev := -1.0
	for s := 0.0; s <= 100; s += 5 {
		cs := slices.Clone(base)
		cs[1].Score, cs[1].Passed = s, s >= 50
		if !cs[1].Passed {
			cs[1].Score = min(s, 49.9)
		}
		got := livenessScore(cs)
		if got < prev {
			t.Fatalf("score fell from %.1f to %.1f as a check rose to %.0f", prev, got, s)
		}
		if (got >= 50) != cs[1].Passed {
			t.Fatalf("score %.1f with check passed=%v", got, cs[1].Passed)
		}
		prev = got
	}
}

func TestDecideReasons(t *testing.T) {
	t.Parallel()
	pass := func(name string) biometric.Check { return biometric.Check{Name: name, Score: 90, Passed: true} }
	for _, tc := range []struct {
		name        string
		checks      []biometric.Check
		issue       *qualityIssue
		live, spoof bool
		firstReason string
	}{
		{"all pass", []biometric.Check{pass(CheckQuality), pass(CheckChallenge), pass(CheckFrameTiming)}, nil, true, false, "challenge_completed"},
		{"challenge missed", []biometric.Check{pass(CheckQuality), {Name: CheckChallenge, Score: 24}, pass(CheckFrameTiming)}, nil, false, false, "challenge_not_completed"},
		{"planar", []biometric.Check{pass(CheckQuality), pass(CheckChallenge), {Name: CheckPlanar, Score: 20, Attack: true}}, nil, false, true, "planar_motion"},
		{"poor quality hides planar", []biometric.Check{{Name: CheckQuality, Score: 30}, pass(CheckChallenge), {Name: CheckPlanar, Score: 20, Attack: true}}, &qualityIssue{Code: "too_dark"}, false, false, "too_dark"},
		{"poor quality keeps injection", []biometric.Check{{Name: CheckQuality, Score: 30}, {Name: CheckDuplicateFrames, Attack: true}}, &qualityIssue{Code: "too_dark"}, false, true, "duplicated_frames"},
	} {
		var r biometric.LivenessResult
		decide(&r, slices.Clone(tc.checks), tc.issue, nil)
		if r.IsLive != tc.live || r.SpoofAttemptDetected != tc.spoof || len(r.Reasons) == 0 || r.Reasons[0] != tc.firstReason {
			t.Errorf("%s: live %v spoof %v reasons %v; want %v %v %s", tc.name, r.IsLive, r.SpoofAttemptDetected, r.Reasons, tc.live, tc.spoof, tc.firstReason)
		}
		if (r.LivenessScore >= 50) != r.IsLive {
			t.Errorf("%s: score %.1f with is_live %v", tc.name, r.LivenessScore, r.IsLive)
		}
	}
}

func TestSessionsAdapter(t *testing.T) {
	t.Parallel()
	// Too few frames: the adapter reports the failure and no result.
	sess := &biometric.Session{Challenge: challengeOf(biometric.ChallengeBlink), CaptureParams: testParams}
	res, fail, ref, err := Sessions{&Analyzer{}}.Analyze(t.Context(), sess, &biometric.Capture{Frames: make([]biometric.Frame, 3)})
	if err != nil || res != nil || ref != nil || fail == nil || fail.Code != "capture_too_short" || !fail.Retryable {
		t.Errorf("got %v, %+v, %d bytes, %v; want the capture_too_short failure alone", res, fail, len(ref), err)
	}
}
