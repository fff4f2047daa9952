//go:build cgo

package onnx

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/everify/everify/internal/vision"
)

// env is the process-wide ONNX Runtime environment. ONNX Runtime allows one
// per process, so it is created by the first Open and kept until exit.
var env struct {
	mu      sync.Mutex
	library string
}

func initEnv(library string) error {
	env.mu.Lock()
	defer env.mu.Unlock()
	if env.library != "" {
		if env.library != library {
			return fmt.Errorf("onnx: ONNX Runtime is already loaded from %s; cannot load %s as well", env.library, library)
		}
		return nil
	}
	if _, err := os.Stat(library); err != nil {
		return fmt.Errorf("onnx: ONNX Runtime library not found (%w); run 'everify models install' or set EVERIFY_MODELS", err)
	}
	ort.SetSharedLibraryPath(library)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return fmt.Errorf("onnx: loading ONNX Runtime from %s: %w", library, err)
	}
	env.library = library
	return nil
}

// Runtime loads models from a models directory. It implements
// vision.Runtime and is safe for concurrent use.
type Runtime struct {
	dir  string
	opts Options

	mu     sync.Mutex
	models map[string]*Model
	closed bool
}

var _ vision.Runtime = (*Runtime)(nil)

// Open loads ONNX Runtime (once per process) and returns a Runtime for the
// models in dir.
func Open(dir string, opts Options) (*Runtime, error) {
	opts = opts.withDefaults(dir)
	if err := initEnv(opts.LibraryPath); err != nil {
		return nil, err
	}
	return &Runtime{dir: dir, opts: opts, models: map[string]*Model{}}, nil
}

// Load returns the named model (file NAME.onnx in the models directory),
// loading it on first use; later calls return the same *Model.
func (r *Runtime) Load(name string) (vision.Model, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errors.New("onnx: runtime is closed")
	}
	if m, ok := r.models[name]; ok {
		return m, nil
	}
	if name == "" || filepath.Base(name) != name {
		return nil, fmt.Errorf("onnx: invalid model name %q", name)
	}
	path := filepath.Join(r.dir, name+".onnx")
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("onnx: model %q is not installed in %s; run 'everify models install'", name, r.dir)
	}
	if err != nil {
		return nil, fmt.Errorf("onnx: model %q: %w", name, err)
	}
	m, err := newModel(name, data, r.opts)
	if err != nil {
		return nil, err
	}
	r.models[name] = m
	return m, nil
}

// Close releases every session of every loaded model. Runs in progress
// finish first; the models must not be used afterwards.
func (r *Runtime) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	var errs []error
	for _, m := range r.models {
		errs = append(errs, m.close())
	}
	r.models = nil
	return errors.Join(errs...)
}

// Model is one loaded ONNX model with a pool of up to PoolSize sessions.
// It keeps the model's bytes to create sessions as the pool grows. It
// implements vision.Model.
type Model struct {
	name            string
	data            []byte
	opts            Options
	inputs, outputs []vision.TensorInfo
	inNames         []string
	outNames        []string

	slots chan struct{} // one token per run in progress, cap PoolSize
	idle  chan *session // sessions not running, cap PoolSize

	mu      sync.Mutex
	created []*session
}

var _ vision.Model = (*Model)(nil)

type session struct {
	s  *ort.DynamicAdvancedSession
	ro *ort.RunOptions
}

func newModel(name string, data []byte, opts Options) (*Model, error) {
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(data)
	if err != nil {
		return nil, fmt.Errorf("onnx: model %q: %w", name, err)
	}
	m := &Model{
		name:  name,
		data:  data,
		opts:  opts,
		slots: make(chan struct{}, opts.PoolSize),
		idle:  make(chan *session, opts.PoolSize),
	}
	for _, in := range ins {
		if in.DataType != ort.TensorElementDataTypeFloat {
			return nil, fmt.Errorf("onnx: model %q: input %q is %s; only float32 inputs are supported", name, in.Name, in.DataType)
		}
		m.inputs = append(m.inputs, vision.TensorInfo{Name: in.Name, Shape: slices.Clone([]int64(in.Dimensions))})
		m.inNames = append(m.inNames, in.Name)
	}
	for _, out := range outs {
		m.outputs = append(m.outputs, vision.TensorInfo{Name: out.Name, Shape: slices.Clone([]int64(out.Dimensions))})
		m.outNames = append(m.outNames, out.Name)
	}
	// Create the first session now, so that a broken model fails at load.
	s, err := m.newSession()
	if err != nil {
		return nil, err
	}
	m.idle <- s
	return m, nil
}

func (m *Model) newSession() (*session, error) {
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("onnx: session options: %w", err)
	}
	defer so.Destroy()
	if err := so.SetGraphOptimizationLevel(ort.GraphOptimizationLevelEnableAll); err != nil {
		return nil, fmt.Errorf("onnx: session options: %w", err)
	}
	if err := so.SetIntraOpNumThreads(m.opts.IntraOpThreads); err != nil {
		return nil, fmt.Errorf("onnx: session options: %w", err)
	}
	if err := so.SetInterOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("onnx: session options: %w", err)
	}
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(m.data, m.inNames, m.outNames, so)
	if err != nil {
		return nil, fmt.Errorf("onnx: model %q: creating session: %w", m.name, err)
	}
	ro, err := ort.NewRunOptions()
	if err != nil {
		s.Destroy()
		return nil, fmt.Errorf("onnx: run options: %w", err)
	}
	sess := &session{s: s, ro: ro}
	m.mu.Lock()
	m.created = append(m.created, sess)
	m.mu.Unlock()
	return sess, nil
}

// Name returns the model's name in the installed set.
func (m *Model) Name() string { return m.name }

// Inputs describes the model's inputs (-1 for a free dimension).
func (m *Model) Inputs() []vision.TensorInfo { return m.inputs }

// Outputs describes the model's outputs (-1 for a dimension known only
// after a run).
func (m *Model) Outputs() []vision.TensorInfo { return m.outputs }

// Run evaluates the model on one set of inputs. It waits (or returns the
// context's error) while PoolSize runs of this model are in progress, and a
// context cancelled during the run stops it.
func (m *Model) Run(ctx context.Context, inputs ...vision.Tensor) ([]vision.Tensor, error) {
	if err := m.checkInputs(inputs); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case m.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-m.slots }()
	var s *session
	select {
	case s = <-m.idle:
	default:
		var err error
		if s, err = m.newSession(); err != nil {
			return nil, err
		}
	}
	defer func() { m.idle <- s }()
	return m.run(ctx, s, inputs)
}

func (m *Model) checkInputs(inputs []vision.Tensor) error {
	if len(inputs) != len(m.inputs) {
		return fmt.Errorf("onnx: model %q takes %d inputs, got %d", m.name, len(m.inputs), len(inputs))
	}
	for i, in := range inputs {
		want := m.inputs[i].Shape
		ok := len(in.Shape) == len(want)
		n := int64(1)
		for j, d := range in.Shape {
			if d <= 0 || (ok && want[j] >= 0 && want[j] != d) {
				ok = false
			}
			n *= d
		}
		if !ok {
			return fmt.Errorf("onnx: model %q input %q: shape %v does not fit %v", m.name, m.inputs[i].Name, in.Shape, want)
		}
		if int64(len(in.Data)) != n {
			return fmt.Errorf("onnx: model %q input %q: shape %v needs %d values, got %d", m.name, m.inputs[i].Name, in.Shape, n, len(in.Data))
		}
	}
	return nil
}

func (m *Model) run(ctx context.Context, s *session, inputs []vision.Tensor) ([]vision.Tensor, error) {
	ins := make([]ort.Value, len(inputs))
	for i, in := range inputs {
		t, err := ort.NewTensor(ort.NewShape(in.Shape...), in.Data)
		if err != nil {
			destroyAll(ins)
			return nil, fmt.Errorf("onnx: model %q input %q: %w", m.name, m.inputs[i].Name, err)
		}
		ins[i] = t
	}
	defer destroyAll(ins)
	outs := make([]ort.Value, len(m.outputs))
	terminated := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(terminated)
		s.ro.Terminate()
	})
	err := s.s.RunWithOptions(ins, outs, s.ro)
	if !stop() {
		<-terminated
		s.ro.UnsetTerminate()
		if err == nil {
			err = ctx.Err()
		}
	}
	if err != nil {
		destroyAll(outs)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("onnx: model %q: %w", m.name, ctx.Err())
		}
		return nil, fmt.Errorf("onnx: model %q: %w", m.name, err)
	}
	defer destroyAll(outs)
	res := make([]vision.Tensor, len(outs))
	for i, o := range outs {
		t, ok := o.(*ort.Tensor[float32])
		if !ok {
			return nil, fmt.Errorf("onnx: model %q output %q is not a float32 tensor", m.name, m.outputs[i].Name)
		}
		// GetData is a Go-owned copy of ONNX Runtime's buffer: it stays
		// valid after Destroy.
		res[i] = vision.Tensor{Shape: slices.Clone([]int64(t.GetShape())), Data: t.GetData()}
	}
	return res, nil
}

func destroyAll(vs []ort.Value) {
	for _, v := range vs {
		if v != nil {
			v.Destroy()
		}
	}
}

// close waits for runs in progress and destroys every session.
func (m *Model) close() error {
	for range cap(m.slots) {
		m.slots <- struct{}{}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for _, s := range m.created {
		errs = append(errs, s.s.Destroy(), s.ro.Destroy())
	}
	m.created = nil
	return errors.Join(errs...)
}
