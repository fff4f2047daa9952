// Package visiontest gives tests the installed ONNX models: it finds the
// models directory the way the everify command does and opens one shared
// ONNX Runtime for the test binary. Under CI=true a missing model set or
// runtime fails the test; otherwise the test is skipped.
package visiontest

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/everify/everify/internal/vision"
	"github.com/everify/everify/internal/vision/onnx"
)

// ModelsDir is where `everify models install` puts the models:
// $EVERIFY_MODELS, else $XDG_DATA_HOME/everify/models, else
// ~/.local/share/everify/models.
func ModelsDir() string {
	if d := os.Getenv("EVERIFY_MODELS"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "everify", "models")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "everify", "models")
	}
	return filepath.Join(".everify", "models")
}

var shared struct {
	once sync.Once
	rt   *onnx.Runtime
	err  error
}

// Runtime returns an ONNX Runtime over the installed models, shared by every
// test of the binary and never closed (the process ends first). Each model
// runs single-threaded, with as many sessions as GOMAXPROCS. It also
// requires that every named model is installed.
func Runtime(tb testing.TB, models ...string) vision.Runtime {
	tb.Helper()
	dir := ModelsDir()
	for _, m := range models {
		if _, err := os.Stat(filepath.Join(dir, m+".onnx")); err != nil {
			missing(tb, "model %q is not installed in %s (run 'everify models install' or set EVERIFY_MODELS): %v", m, dir, err)
		}
	}
	shared.once.Do(func() {
		shared.rt, shared.err = onnx.Open(dir, onnx.Options{IntraOpThreads: 1})
	})
	if shared.err != nil {
		missing(tb, "ONNX Runtime: %v", shared.err)
	}
	return shared.rt
}

// missing fails the test under CI=true and skips it otherwise.
func missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf(format, args...)
	}
	tb.Skipf(format, args...)
}
