package liveness

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/evaldata"
	"github.com/everify/everify/internal/imagein"
	"github.com/everify/everify/internal/vision/visiontest"
)

var testAnalyzer struct {
	once sync.Once
	a    *Analyzer
	err  error
}

// analyzer returns the standard analyzer over the installed models,
// shared by the tests of the package.
func analyzer(t testing.TB) *Analyzer {
	t.Helper()
	rt := visiontest.Runtime(t, "blazeface-back", "facemesh", DefaultEmbedder, "antispoof", "liveness")
	testAnalyzer.once.Do(func() { testAnalyzer.a, testAnalyzer.err = NewAnalyzer(rt) })
	if testAnalyzer.err != nil {
		t.Fatal(testAnalyzer.err)
	}
	return testAnalyzer.a
}

var clipCache struct {
	sync.Mutex
	frames map[string][]biometric.Frame
}

// liveClip returns the frames of a clip in video/live between from and
// to ms (to 0: the end), timed from 0, decoded once per test binary.
func liveClip(t testing.TB, name string, from, to int64) []biometric.Frame {
	t.Helper()
	path := evaldata.Require(t, filepath.Join("video", "live", name))
	clipCache.Lock()
	defer clipCache.Unlock()
	if clipCache.frames == nil {
		clipCache.frames = map[string][]biometric.Frame{}
	}
	all, ok := clipCache.frames[path]
	if !ok {
		var err error
		if all, err = DecodeVideo(context.Background(), path, VideoOptions{}); err != nil {
			t.Fatal(err)
		}
		clipCache.frames[path] = all
	}
	var out []biometric.Frame
	for _, f := range all {
		if f.AtMS >= from && (to == 0 || f.AtMS < to) {
			f.Index = len(out)
			f.AtMS -= from
			out = append(out, f)
		}
	}
	return out
}

// photoClip returns a hand-held clip of a photo of the evaluation data.
func photoClip(t testing.TB, rel string, opts HandheldOptions) []biometric.Frame {
	t.Helper()
	data, err := os.ReadFile(evaldata.Require(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	img, err := imagein.Decode(data, imagein.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	frames, err := HandheldClip(img.RGBA, opts)
	if err != nil {
		t.Fatal(err)
	}
	return frames
}

// observeAll runs the first analysis pass on frames.
func observeAll(t testing.TB, frames []biometric.Frame) []frameObs {
	t.Helper()
	obs, err := analyzer(t).observe(context.Background(), frames, observeOptions{Workers: 2, DetectEvery: detectEvery, QualityEach: qualityEvery})
	if err != nil {
		t.Fatal(err)
	}
	return obs
}

func challengeOf(types ...biometric.ChallengeType) biometric.Challenge {
	var c biometric.Challenge
	for _, t := range types {
		c.Steps = append(c.Steps, biometric.ChallengeStep{Type: t, Instructions: biometric.ChallengeInstructions[t]})
	}
	return c
}

// testParams are capture parameters like the API's defaults.
var testParams = biometric.CaptureParams{FPS: 15, MinFrames: 15, MaxFrames: 300, MaxDurationMS: 20000, StepWindowMS: 5000}
