//go:build !cgo

package onnx

import "github.com/everify/everify/internal/vision"

// Runtime is unavailable without cgo.
type Runtime struct{}

// Open always fails without cgo; see ErrNoCgo.
func Open(modelsDir string, opts Options) (*Runtime, error) { return nil, ErrNoCgo }

// Load always fails without cgo.
func (r *Runtime) Load(name string) (vision.Model, error) { return nil, ErrNoCgo }

// Close does nothing.
func (r *Runtime) Close() error { return nil }
