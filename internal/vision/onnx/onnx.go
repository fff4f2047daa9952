// Package onnx runs everify's installed ONNX models with ONNX Runtime. It is
// the only package in the project that uses cgo: it loads the ONNX Runtime
// shared library (installed beside the models by `everify models install`)
// through github.com/yalue/onnxruntime_go, and implements vision.Runtime and
// vision.Model with a bounded pool of sessions per model.
//
// Built without cgo, Open returns an error that says so.
package onnx

import (
	"errors"
	"path/filepath"
	"runtime"
)

// LibraryName is the file name of the ONNX Runtime shared library in the
// models directory.
const LibraryName = "libonnxruntime.so.1"

// Options configures a Runtime. The zero value is usable.
type Options struct {
	// LibraryPath is the ONNX Runtime shared library. Default: LibraryName
	// in the models directory.
	LibraryPath string
	// IntraOpThreads is the number of threads one inference uses. Default 1:
	// the service gets its parallelism from concurrent requests, each on
	// its own session.
	IntraOpThreads int
	// PoolSize bounds the sessions (and so the concurrent runs) per model.
	// Default: GOMAXPROCS. The first session is created when the model is
	// loaded, further ones when all existing ones are busy.
	PoolSize int
}

// ErrNoCgo is returned by Open in binaries built without cgo.
var ErrNoCgo = errors.New("onnx: this binary was built without cgo, so it cannot run ONNX Runtime; rebuild with CGO_ENABLED=1 and a C compiler")

func (o Options) withDefaults(modelsDir string) Options {
	if o.LibraryPath == "" {
		o.LibraryPath = filepath.Join(modelsDir, LibraryName)
	}
	if o.IntraOpThreads <= 0 {
		o.IntraOpThreads = 1
	}
	if o.PoolSize <= 0 {
		o.PoolSize = runtime.GOMAXPROCS(0)
	}
	return o
}
