// Package vision turns images into faces: detection, landmarks, alignment,
// embeddings and presentation-attack scores. It runs neural networks through
// the Model interface, which internal/vision/onnx implements with ONNX
// Runtime; nothing here imports cgo.
package vision

import "context"

// Tensor is a dense float32 tensor in row-major order.
type Tensor struct {
	Shape []int64
	Data  []float32
}

// TensorInfo names a model input or output and its shape (-1 for a
// dimension that is not fixed).
type TensorInfo struct {
	Name  string
	Shape []int64
}

// Model is one loaded network. Implementations are safe for concurrent use
// and bound how many runs execute at once.
type Model interface {
	// Name is the model's name in the installed set (e.g. "blazeface-back").
	Name() string
	Inputs() []TensorInfo
	Outputs() []TensorInfo
	// Run evaluates the model. inputs are given in the order of Inputs();
	// outputs come back in the order of Outputs().
	Run(ctx context.Context, inputs ...Tensor) ([]Tensor, error)
}

// Runtime loads installed models by name.
type Runtime interface {
	// Load returns the named model, loading it on first use. Unknown or
	// missing models give an error that names the model and says how to
	// install it.
	Load(name string) (Model, error)
	// Close releases every loaded model.
	Close() error
}
