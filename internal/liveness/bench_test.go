package liveness

import (
	"context"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/evaldata"
)

// BenchmarkAnalyze4s measures the analysis of a typical capture: 4 s at
// 15 fps, 640x480 JPEG frames (a laptop-webcam clip, cropped to 4:3),
// challenge turn_right. The goal is under 1 s on 2 cores.
func BenchmarkAnalyze4s(b *testing.B) {
	src := evaldata.Require(b, "video/live/webcam-zubair-real.webm")
	dir := b.TempDir()
	cmd := exec.Command("ffmpeg", "-nostdin", "-loglevel", "error", "-ss", "5", "-t", "4", "-i", src,
		"-vf", "fps=15,scale=640:480:force_original_aspect_ratio=increase,crop=640:480", "-q:v", "3",
		filepath.Join(dir, "%04d.jpg"))
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("ffmpeg: %v: %s", err, out)
	}
	frames, err := ReadFrameDir(dir, DefaultFPS)
	if err != nil {
		b.Fatal(err)
	}
	if len(frames) != 60 {
		b.Fatalf("%d frames, want 60", len(frames))
	}
	a := analyzer(b)
	capture := &biometric.Capture{Frames: frames}
	ch := challengeOf(biometric.ChallengeTurnRight)
	ctx := context.Background()
	if _, err := a.Analyze(ctx, ch, capture, testParams); err != nil { // load the models
		b.Fatal(err)
	}
	// CPU time per analysis does not depend on what else the machine
	// runs; on an idle machine the wall time is about cpu-s/op divided by
	// the cores used.
	cpu0 := cpuSeconds(b)
	n := 0
	for b.Loop() {
		if _, err := a.Analyze(ctx, ch, capture, testParams); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric((cpuSeconds(b)-cpu0)/float64(n), "cpu-s/op")
}

// cpuSeconds is the user and system CPU time of the process so far.
func cpuSeconds(b *testing.B) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
