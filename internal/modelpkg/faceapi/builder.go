package faceapi

import (
	"fmt"
	"slices"
	"strings"

	"github.com/everify/everify/internal/modelpkg/onnxgraph"
	"github.com/everify/everify/internal/modelpkg/tfjs"
)

// builder emits ONNX nodes in NCHW layout while tracking every value's
// shape (batch dimension -1), and takes weights by their face-api names.
// A missing or misshapen weight is recorded and replaced by zeros, so
// that one pass reports every problem; err then returns them all.
type builder struct {
	g       *onnxgraph.Graph
	weights map[string]*tfjs.Weight
	used    map[string]bool
	missing []string
	bad     []string
	shapes  map[string][]int64
	consts  map[string]string // scalar constant value → initializer name
}

func newBuilder(name string, weights map[string]*tfjs.Weight) *builder {
	return &builder{
		g:       &onnxgraph.Graph{Name: name, Metadata: map[string]string{}},
		weights: weights,
		used:    map[string]bool{},
		shapes:  map[string][]int64{},
		consts:  map[string]string{},
	}
}

// weight returns the named weight's values, which must have exactly the
// given shape.
func (b *builder) weight(name string, shape ...int64) []float32 {
	n := 1
	for _, d := range shape {
		n *= int(d)
	}
	w, ok := b.weights[name]
	b.used[name] = true
	switch {
	case !ok:
		b.missing = append(b.missing, name)
	case !slices.Equal(w.Shape, shape):
		b.bad = append(b.bad, fmt.Sprintf("%s has shape %v, want %v", name, w.Shape, shape))
	case len(w.Floats) != n:
		b.bad = append(b.bad, fmt.Sprintf("%s is %s, want float32", name, w.DType))
	default:
		return w.Floats
	}
	return make([]float32, n)
}

// err reports missing and misshapen weights, and float weights that the
// architecture does not use (they would mean the weights belong to another
// network). Unused int32 and scalar weights are constants left over from
// the TensorFlow graph the weights were exported from; face-api ignores
// them too.
func (b *builder) err() error {
	var unused []string
	for name, w := range b.weights {
		if !b.used[name] && w.DType != "int32" && len(w.Shape) > 0 {
			unused = append(unused, name)
		}
	}
	slices.Sort(unused)
	var parts []string
	if len(b.missing) > 0 {
		parts = append(parts, "missing weights: "+strings.Join(b.missing, ", "))
	}
	if len(b.bad) > 0 {
		parts = append(parts, "wrong weights: "+strings.Join(b.bad, "; "))
	}
	if len(unused) > 0 {
		parts = append(parts, "unknown weights: "+strings.Join(unused, ", "))
	}
	if len(parts) == 0 {
		return nil
	}
	return fmt.Errorf("faceapi: %s: %s", b.g.Name, strings.Join(parts, "; "))
}

func (b *builder) shape(v string) []int64 { return b.shapes[v] }

// node adds a single-output node named name whose output is also name.
func (b *builder) node(op, name string, shape []int64, inputs []string, attrs ...onnxgraph.Attr) string {
	b.g.AddNode(op, name, inputs, []string{name}, attrs...)
	b.shapes[name] = shape
	return name
}

func (b *builder) init(name string, dims []int64, data []float32) string {
	return b.g.AddInitializer(onnxgraph.FloatTensor(name, dims, data))
}

// scalar returns a shared float scalar initializer.
func (b *builder) scalar(v float32) string {
	key := fmt.Sprint(v)
	if name, ok := b.consts[key]; ok {
		return name
	}
	name := "const/" + key
	b.init(name, nil, []float32{v})
	b.consts[key] = name
	return name
}

func (b *builder) ints(name string, v ...int64) string {
	return b.g.AddInitializer(onnxgraph.Int64Tensor(name, []int64{int64(len(v))}, v))
}

// input declares the NHWC float32 image input and returns it converted to
// NCHW.
func (b *builder) input(name string, size int64) string {
	b.g.Inputs = append(b.g.Inputs, onnxgraph.Value{
		Name: name, Type: onnxgraph.Float, Dims: []int64{-1, size, size, 3}, DimNames: []string{"batch"},
	})
	b.shapes[name] = []int64{-1, size, size, 3}
	return name
}

func (b *builder) output(v string) {
	s := b.shapes[v]
	names := make([]string, len(s))
	names[0] = "batch"
	b.g.Outputs = append(b.g.Outputs, onnxgraph.Value{Name: v, Type: onnxgraph.Float, Dims: s, DimNames: names})
}

func (b *builder) toNCHW(name, x string) string {
	s := b.shape(x)
	return b.node("Transpose", name, []int64{s[0], s[3], s[1], s[2]}, []string{x}, onnxgraph.AInts("perm", 0, 3, 1, 2))
}

func (b *builder) toNHWC(name, x string) string {
	s := b.shape(x)
	return b.node("Transpose", name, []int64{s[0], s[2], s[3], s[1]}, []string{x}, onnxgraph.AInts("perm", 0, 2, 3, 1))
}

// binary adds an elementwise op whose output has x's shape.
func (b *builder) binary(op, name, x, y string) string {
	return b.node(op, name, b.shape(x), []string{x, y})
}

func (b *builder) unary(op, name, x string, attrs ...onnxgraph.Attr) string {
	return b.node(op, name, b.shape(x), []string{x}, attrs...)
}

func (b *builder) relu(name, x string) string { return b.unary("Relu", name, x) }

// relu6 clips to [0, 6] like tf.clipByValue(x, 0, 6).
func (b *builder) relu6(name, x string) string {
	return b.node("Clip", name, b.shape(x), []string{x, b.scalar(0), b.scalar(6)})
}

// padding is TensorFlow's padding mode.
type padding int

const (
	valid padding = iota
	same
)

// pads returns ONNX pads (begin, begin, end, end) for a k×k window with
// the given stride: none for valid, TensorFlow's SAME split (the odd pixel
// goes at the end) for same. It also returns the output size.
func pads(in, k, stride int64, p padding) (pad []int64, out int64) {
	if p == valid {
		return []int64{0, 0, 0, 0}, (in-k)/stride + 1
	}
	out = (in + stride - 1) / stride
	total := max((out-1)*stride+k-in, 0)
	lo := total / 2
	return []int64{lo, lo, total - lo, total - lo}, out
}

// conv adds a 2-D convolution with a TF.js [kh, kw, cin, cout] filter and
// an optional bias (biasName ""), on an NCHW value with cin channels.
func (b *builder) conv(name, x, filterName, biasName string, k, cout, stride int64, p padding) string {
	s := b.shape(x)
	cin := s[1]
	f := b.weight(filterName, k, k, cin, cout)
	w := make([]float32, len(f))
	// TF.js [kh][kw][cin][cout] → ONNX [cout][cin][kh][kw].
	for i := range k {
		for j := range k {
			for c := range cin {
				for o := range cout {
					w[((o*cin+c)*k+i)*k+j] = f[((i*k+j)*cin+c)*cout+o]
				}
			}
		}
	}
	inputs := []string{x, b.init(name+"/W", []int64{cout, cin, k, k}, w)}
	if biasName != "" {
		inputs = append(inputs, b.init(name+"/B", []int64{cout}, b.weight(biasName, cout)))
	}
	pad, oh := pads(s[2], k, stride, p)
	_, ow := pads(s[3], k, stride, p)
	return b.node("Conv", name, []int64{s[0], cout, oh, ow}, inputs,
		onnxgraph.AInts("kernel_shape", k, k), onnxgraph.AInts("strides", stride, stride), onnxgraph.AInts("pads", pad...))
}

// depthwise adds a depthwise 3×3 convolution (channel multiplier 1) with a
// TF.js [3, 3, c, 1] filter and no bias.
func (b *builder) depthwise(name, x, filterName string, stride int64) string {
	const k = 3
	s := b.shape(x)
	c := s[1]
	f := b.weight(filterName, k, k, c, 1)
	w := make([]float32, len(f))
	// TF.js [kh][kw][c][1] → ONNX [c][1][kh][kw].
	for i := range int64(k) {
		for j := range int64(k) {
			for ch := range c {
				w[(ch*k+i)*k+j] = f[(i*k+j)*c+ch]
			}
		}
	}
	pad, oh := pads(s[2], k, stride, same)
	_, ow := pads(s[3], k, stride, same)
	return b.node("Conv", name, []int64{s[0], c, oh, ow}, []string{x, b.init(name+"/W", []int64{c, 1, k, k}, w)},
		onnxgraph.AInts("kernel_shape", k, k), onnxgraph.AInts("strides", stride, stride),
		onnxgraph.AInts("pads", pad...), onnxgraph.AInt("group", c))
}

// channelVector returns a per-channel weight as a [1, c, 1, 1] initializer
// that broadcasts over NCHW values.
func (b *builder) channelVector(name, weightName string, c int64) string {
	return b.init(name, []int64{1, c, 1, 1}, b.weight(weightName, c))
}

// pool adds a k×k MaxPool or AveragePool with TensorFlow's valid padding.
func (b *builder) pool(op, name, x string, k, stride int64) string {
	s := b.shape(x)
	_, oh := pads(s[2], k, stride, valid)
	_, ow := pads(s[3], k, stride, valid)
	return b.node(op, name, []int64{s[0], s[1], oh, ow}, []string{x},
		onnxgraph.AInts("kernel_shape", k, k), onnxgraph.AInts("strides", stride, stride))
}

// padEnd appends zeros at the end of the given axes of an NCHW value.
func (b *builder) padEnd(name, x string, extra [4]int64) string {
	s := b.shape(x)
	out := slices.Clone(s)
	p := make([]int64, 8)
	for i, e := range extra {
		p[4+i] = e
		if e != 0 {
			out[i] += e
		}
	}
	return b.node("Pad", name, out, []string{x, b.ints(name+"/pads", p...)})
}

// reshape reshapes x; shape may use ONNX's 0 (copy) and -1 (infer).
// outShape is the resulting shape for tracking.
func (b *builder) reshape(name, x string, outShape []int64, shape ...int64) string {
	return b.node("Reshape", name, outShape, []string{x, b.ints(name+"/shape", shape...)})
}

// slice takes [start, end) of the last axis of a rank-3 value.
func (b *builder) sliceLast(name, x string, start, end int64) string {
	s := slices.Clone(b.shape(x))
	s[len(s)-1] = end - start
	return b.node("Slice", name, s, []string{x, b.ints(name+"/starts", start), b.ints(name+"/ends", end), b.ints(name+"/axes", int64(len(s)-1))})
}

func (b *builder) concat(name string, axis int64, xs ...string) string {
	s := slices.Clone(b.shape(xs[0]))
	for _, x := range xs[1:] {
		s[axis] += b.shape(x)[axis]
	}
	return b.node("Concat", name, s, xs, onnxgraph.AInt("axis", axis))
}

// finish validates the graph and returns it, or the weight problems found.
func (b *builder) finish() (*onnxgraph.Graph, error) {
	if err := b.err(); err != nil {
		return nil, err
	}
	if err := b.g.Validate(); err != nil {
		return nil, fmt.Errorf("faceapi: %s: %w", b.g.Name, err)
	}
	return b.g, nil
}
