package liveness

import (
	"context"
	"testing"

	"github.com/everify/everify/internal/biometric"
)

// The tests in this file measure each signal on real frames.

func TestBlinkDetectedOnBlinkingSelfie(t *testing.T) {
	t.Parallel()
	// The person blinks at about 0.5 s and 1.7 s (checked frame by frame).
	obs := observeAll(t, liveClip(t, "blink-selfie-portrait.mp4", 0, 4000))
	s := seriesOf(obs)
	ev := detectActions(s, neutralOf(s), biometric.ChallengeBlink, DefaultActionThresholds)
	if len(ev) < 2 {
		t.Fatalf("found %d blinks, want at least 2: %+v", len(ev), ev)
	}
	if ev[0].Peak < 300 || ev[0].Peak > 800 {
		t.Errorf("first blink at %d ms, want about 500 ms", ev[0].Peak)
	}
	for _, a := range []biometric.ChallengeType{biometric.ChallengeTurnLeft, biometric.ChallengeTurnRight, biometric.ChallengeOpenMouth} {
		if ev := detectActions(s, neutralOf(s), a, DefaultActionThresholds); len(ev) > 0 {
			t.Errorf("%s detected in a clip of a still face blinking: %+v", a, ev)
		}
	}
}

func TestNoActionOnHandheldPhoto(t *testing.T) {
	t.Parallel()
	// The photo is swung to imitate the turns and the nod.
	frames := photoClip(t, "deepface-unit/img1.jpg", HandheldOptions{Seed: 7,
		Mimic: []biometric.ChallengeType{biometric.ChallengeTurnLeft, biometric.ChallengeNod, biometric.ChallengeTurnRight}})
	s := seriesOf(observeAll(t, frames))
	n := neutralOf(s)
	for _, a := range []biometric.ChallengeType{biometric.ChallengeBlink, biometric.ChallengeTurnLeft, biometric.ChallengeTurnRight, biometric.ChallengeNod} {
		if ev := detectActions(s, n, a, DefaultActionThresholds); len(ev) > 0 {
			t.Errorf("%s detected on a still photo: %+v", a, ev)
		}
	}
}

func TestTurnsDetectedWithTheirSide(t *testing.T) {
	t.Parallel()
	// In webcam-zubair-real the person turns to their right at about 7 s
	// (the face points to the image's left) and to their left at about
	// 9.5 s.
	s := seriesOf(observeAll(t, liveClip(t, "webcam-zubair-real.webm", 6000, 11000)))
	n := neutralOf(s)
	right := detectActions(s, n, biometric.ChallengeTurnRight, DefaultActionThresholds)
	left := detectActions(s, n, biometric.ChallengeTurnLeft, DefaultActionThresholds)
	if len(right) == 0 || len(left) == 0 {
		t.Fatalf("turn_right %+v, turn_left %+v: want both", right, left)
	}
	if right[0].Start >= left[0].Start {
		t.Errorf("turn_right at %d ms should come before turn_left at %d ms", right[0].Start, left[0].Start)
	}
}

func TestPlanarResidualPhotoBelowLiveHead(t *testing.T) {
	t.Parallel()
	photo := planarity(observeAll(t, photoClip(t, "deepface-unit/img1.jpg", HandheldOptions{Seed: 7,
		Mimic: []biometric.ChallengeType{biometric.ChallengeTurnLeft, biometric.ChallengeTurnRight}})), DefaultPlanarThresholds.MinMotion, planarMaxFrames)
	live := planarity(observeAll(t, liveClip(t, "webcam-zubair-real.webm", 6000, 10000)), DefaultPlanarThresholds.MinMotion, planarMaxFrames)
	t.Logf("photo %+v", photo)
	t.Logf("live  %+v", live)
	if photo.Pairs < DefaultPlanarThresholds.MinPairs || live.Pairs < DefaultPlanarThresholds.MinPairs {
		t.Fatalf("not enough informative pairs: photo %d, live %d", photo.Pairs, live.Pairs)
	}
	// The photo's motion is explained by a plane far better than the
	// head's: its residual is at most half the head's, which is above the
	// check's typical live value.
	if !(photo.Excess < live.Excess/2) {
		t.Errorf("turned photo: non-planar residual %.2f, want below half the turning head's %.2f", photo.Excess, live.Excess)
	}
	if !(live.Excess > DefaultPlanarThresholds.Live) {
		t.Errorf("turning head: non-planar residual %.2f, want above %.2f", live.Excess, DefaultPlanarThresholds.Live)
	}
}

func TestDuplicateFramesFlagged(t *testing.T) {
	t.Parallel()
	frames := liveClip(t, "blink-selfie-portrait.mp4", 0, 4000)
	clean := observeAll(t, frames)
	if c := duplicateCheck(clean, DefaultIntegrityThresholds); c.Attack || !c.Passed {
		t.Fatalf("camera frames flagged: %+v", c)
	}
	// Repeat every fifth frame byte for byte, keeping the timing.
	var dup []biometric.Frame
	for i, f := range frames {
		if i%5 == 4 {
			f.Image = frames[i-1].Image
		}
		dup = append(dup, f)
	}
	if c := duplicateCheck(observeAll(t, dup), DefaultIntegrityThresholds); !c.Attack {
		t.Errorf("repeated frames not flagged: %+v", c)
	}
}

func TestTimestampChecks(t *testing.T) {
	t.Parallel()
	obs := observeAll(t, liveClip(t, "blink-selfie-portrait.mp4", 0, 2000))
	params := testParams
	if c := timingCheck(obs, params, DefaultIntegrityThresholds); c.Attack {
		t.Fatalf("camera timing flagged: %+v", c)
	}
	rewrite := map[string]func(i int, t int64) int64{
		"all equal":   func(int, int64) int64 { return 0 },
		"backwards":   func(i int, t int64) int64 { return -t },
		"60 fps":      func(i int, _ int64) int64 { return int64(16 * i) },
		"clock reset": func(i int, t int64) int64 { return t % 1000 },
	}
	for name, f := range rewrite {
		o := append([]frameObs(nil), obs...)
		for i := range o {
			o[i].AtMS = f(i, o[i].AtMS)
		}
		if c := timingCheck(o, params, DefaultIntegrityThresholds); !c.Attack {
			t.Errorf("%s: not flagged: %+v", name, c)
		}
	}
}

func TestSpliceOfTwoPeopleFlagged(t *testing.T) {
	t.Parallel()
	a := liveClip(t, "blink-selfie-portrait.mp4", 0, 2000)
	b := liveClip(t, "WDA_KatieHill_000.mp4", 2000, 4000)
	same := append(append([]biometric.Frame(nil), a...), liveClip(t, "blink-selfie-portrait.mp4", 6000, 8000)...)
	other := append(append([]biometric.Frame(nil), a...), b...)
	for _, tc := range []struct {
		name   string
		frames []biometric.Frame
		attack bool
	}{{"same person", same, false}, {"two people", other, true}} {
		out, err := analyzer(t).Analyze(context.Background(), challengeOf(biometric.ChallengeBlink), &biometric.Capture{Frames: retimeFrames(tc.frames)}, testParams)
		if err != nil {
			t.Fatal(err)
		}
		var id *biometric.Check
		for i, c := range out.Result.Checks {
			if c.Name == CheckIdentity {
				id = &out.Result.Checks[i]
			}
		}
		if id == nil {
			t.Fatalf("%s: no identity check in %+v", tc.name, out.Result.Checks)
		}
		if id.Attack != tc.attack {
			t.Errorf("%s: identity check %+v, want attack=%v", tc.name, *id, tc.attack)
		}
	}
}

// retimeFrames renumbers frames 15 fps apart.
func retimeFrames(frames []biometric.Frame) []biometric.Frame {
	out := make([]biometric.Frame, len(frames))
	for i, f := range frames {
		f.Index, f.AtMS = i, int64(i*1000/DefaultFPS)
		out[i] = f
	}
	return out
}

func TestAnalyzeLiveAndPhoto(t *testing.T) {
	t.Parallel()
	a := analyzer(t)
	ctx := context.Background()
	live, err := a.Analyze(ctx, challengeOf(biometric.ChallengeBlink), &biometric.Capture{Frames: liveClip(t, "blink-selfie-portrait.mp4", 0, 4000)}, testParams)
	if err != nil {
		t.Fatal(err)
	}
	r := live.Result
	if live.Failure != nil || !r.IsLive || r.SpoofAttemptDetected || r.LivenessScore < 50 {
		t.Errorf("live selfie: failure %+v, result %+v", live.Failure, r)
	}
	if len(r.Steps) != 1 || !r.Steps[0].Seen {
		t.Errorf("steps %+v: want the blink seen", r.Steps)
	}
	if live.ReferenceJPEG == nil || r.ReferenceFace == nil || r.ReferenceFace.Box.Width < 50 {
		t.Errorf("no usable reference face: %+v", r.ReferenceFace)
	}

	photo, err := a.Analyze(ctx, challengeOf(biometric.ChallengeBlink, biometric.ChallengeTurnLeft),
		&biometric.Capture{Frames: photoClip(t, "lfw-dev/images/Aaron_Sorkin/Aaron_Sorkin_0001.jpg", HandheldOptions{Seed: 3, Mimic: []biometric.ChallengeType{biometric.ChallengeTurnLeft}})}, testParams)
	if err != nil {
		t.Fatal(err)
	}
	if photo.Result.IsLive || photo.Result.LivenessScore >= 50 {
		t.Errorf("photo accepted: %+v", photo.Result)
	}
}
