package main

import (
	"fmt"

	"github.com/everify/everify/internal/api"
	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/facematch"
	"github.com/everify/everify/internal/liveness"
	"github.com/everify/everify/internal/vision/onnx"
)

// engineChoice says which inference engines `serve` loads.
type engineChoice struct {
	faceMatch   bool
	faceProfile string
	liveness    bool
}

// engines are the service's inference engines, sharing one pool of ONNX
// Runtime sessions; a field is nil when its engine was not chosen.
type engines struct {
	matcher  *facematch.Service
	analyzer *liveness.Sessions
	// framing is the capture client's framing pre-check, loaded with
	// either engine; nil with neither.
	framing api.FramingChecker
	close   func()
}

// loadEngines loads the chosen engines from the models directory, with
// the sessions' reference faces from refs for face match.
func loadEngines(modelsDir string, c engineChoice, refs biometric.ReferenceFaceStore) (*engines, error) {
	e := &engines{close: func() {}}
	if !c.faceMatch && !c.liveness {
		return e, nil
	}
	cal, err := facematch.ProfileCalibration(c.faceProfile)
	if c.faceMatch && err != nil {
		return nil, usageErrorf("--face-profile: %v", err)
	}
	const hint = "run 'everify models install', or start with --face-match=false --liveness=false"
	rt, err := onnx.Open(modelsDir, onnx.Options{})
	if err != nil {
		return nil, fmt.Errorf("loading the models: %w (or start with --face-match=false --liveness=false)", err)
	}
	e.close = func() { rt.Close() }
	if c.faceMatch {
		m, err := facematch.New(rt, facematch.Options{Calibration: cal})
		if err != nil {
			rt.Close()
			return nil, fmt.Errorf("face-match engine: %w (%s)", err, hint)
		}
		e.matcher = &facematch.Service{Engine: m, References: refs}
	}
	if c.liveness {
		a, err := liveness.NewAnalyzer(rt)
		if err != nil {
			rt.Close()
			return nil, fmt.Errorf("liveness engine: %w (%s)", err, hint)
		}
		e.analyzer = &liveness.Sessions{Analyzer: a}
	}
	fc, err := liveness.NewFramingChecker(rt)
	if err != nil {
		rt.Close()
		return nil, fmt.Errorf("framing pre-check: %w (%s)", err, hint)
	}
	e.framing = fc
	return e, nil
}
