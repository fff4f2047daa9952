// Package tfconv converts TF.js graph models (a TensorFlow GraphDef in
// model.json plus weight shards) into ONNX graphs.
//
// Tensors keep TensorFlow's NHWC layout throughout. Operators that ONNX only
// defines for NCHW (Conv, MaxPool, AveragePool, Resize) are wrapped in a
// pair of Transposes; ONNX Runtime's layout optimiser cancels the adjacent
// Transposes between consecutive layers, so the wrapping costs nothing at
// run time. Constant operands (filters, biases, shapes, axes) are folded at
// conversion time. Every operator of the graph must be known: an unknown one
// is an error that names the node.
package tfconv

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/everify/everify/internal/modelpkg/onnxgraph"
	"github.com/everify/everify/internal/modelpkg/tfjs"
)

// Version identifies the converter's output. Change it whenever the graphs
// it writes change, so that installs convert again.
const Version = "tfconv/2"

// Convert turns a TF.js graph model with its decoded weights into an ONNX
// graph named name. The graph's inputs are the model's Placeholders; its
// outputs are the signature's outputs or, without a signature, every node
// whose result nothing else consumes. ONNX value names are TensorFlow
// tensor names ("node" for output 0, "node:k" otherwise), so inputs and
// outputs can be requested by the same names in TF.js.
func Convert(name string, m *tfjs.GraphModel, weights map[string]*tfjs.Weight) (*onnxgraph.Graph, error) {
	c := &converter{
		g:       &onnxgraph.Graph{Name: name},
		nodes:   make(map[string]*tfjs.NodeDef, len(m.ModelTopology.Node)),
		weights: weights,
		values:  map[string]value{},
		inits:   map[string]bool{},
	}
	for i := range m.ModelTopology.Node {
		n := &m.ModelTopology.Node[i]
		if _, dup := c.nodes[n.Name]; dup {
			return nil, fmt.Errorf("tfconv: duplicate node name %q", n.Name)
		}
		c.nodes[n.Name] = n
	}
	outputs, err := c.outputNames(m)
	if err != nil {
		return nil, err
	}
	order, err := c.topoOrder(outputs)
	if err != nil {
		return nil, err
	}
	for _, n := range order {
		if err := c.convertNode(n); err != nil {
			return nil, fmt.Errorf("tfconv: node %q (%s): %w", n.Name, n.Op, err)
		}
	}
	for _, ref := range outputs {
		v, err := c.input(ref)
		if err != nil {
			return nil, fmt.Errorf("tfconv: output %q: %w", ref, err)
		}
		c.g.Outputs = append(c.g.Outputs, onnxgraph.Value{Name: v.name, Type: onnxgraph.Float, Dims: v.shape})
	}
	if err := c.g.Validate(); err != nil {
		return nil, err
	}
	return c.g, nil
}

// value is a converted tensor: its ONNX name and its shape as far as it is
// known (-1 for an unknown dimension, nil for an unknown rank).
type value struct {
	name  string
	shape []int64
}

type converter struct {
	g       *onnxgraph.Graph
	nodes   map[string]*tfjs.NodeDef
	weights map[string]*tfjs.Weight
	values  map[string]value // by TF tensor name
	inits   map[string]bool  // Const nodes already written as initializers
}

// tensorName is the canonical TF name of output k of node.
func tensorName(node string, k int) string {
	if k == 0 {
		return node
	}
	return fmt.Sprintf("%s:%d", node, k)
}

func (c *converter) outputNames(m *tfjs.GraphModel) ([]string, error) {
	var outs []string
	if m.Signature != nil && len(m.Signature.Outputs) > 0 {
		for _, s := range m.Signature.Outputs {
			node, k := tfjs.SplitInput(s.Name)
			if _, ok := c.nodes[node]; !ok {
				return nil, fmt.Errorf("tfconv: signature output %q names no node", s.Name)
			}
			outs = append(outs, tensorName(node, k))
		}
	} else {
		used := map[string]bool{}
		for _, n := range c.nodes {
			for _, in := range n.Input {
				node, _ := tfjs.SplitInput(in)
				used[node] = true
			}
		}
		for _, n := range c.nodes {
			if !used[n.Name] && n.Op != "Const" && n.Op != "Placeholder" && n.Op != "NoOp" {
				outs = append(outs, n.Name)
			}
		}
	}
	if len(outs) == 0 {
		return nil, fmt.Errorf("tfconv: the graph has no outputs")
	}
	sort.Strings(outs)
	return outs, nil
}

// topoOrder returns the nodes the outputs depend on, each after its inputs.
// Control dependencies are ignored; cycles are an error.
func (c *converter) topoOrder(outputs []string) ([]*tfjs.NodeDef, error) {
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var order []*tfjs.NodeDef
	var visit func(name string) error
	visit = func(name string) error {
		switch state[name] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("tfconv: the graph has a cycle through node %q", name)
		}
		n, ok := c.nodes[name]
		if !ok {
			return fmt.Errorf("tfconv: reference to unknown node %q", name)
		}
		state[name] = visiting
		for _, in := range n.Input {
			node, k := tfjs.SplitInput(in)
			if k < 0 {
				continue
			}
			if err := visit(node); err != nil {
				return err
			}
		}
		state[name] = done
		order = append(order, n)
		return nil
	}
	for _, o := range outputs {
		node, _ := tfjs.SplitInput(o)
		if err := visit(node); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// dataInputs returns the node's inputs without control dependencies.
func dataInputs(n *tfjs.NodeDef) []string {
	var out []string
	for _, in := range n.Input {
		if !strings.HasPrefix(in, "^") {
			out = append(out, in)
		}
	}
	return out
}

// constOf returns the weight behind a Const input, or nil when the input is
// computed.
func (c *converter) constOf(ref string) *tfjs.Weight {
	node, k := tfjs.SplitInput(ref)
	n, ok := c.nodes[node]
	if !ok || k != 0 {
		return nil
	}
	for n.Op == "Identity" && len(n.Input) > 0 {
		if n, ok = c.nodes[n.Input[0]]; !ok {
			return nil
		}
	}
	if n.Op != "Const" {
		return nil
	}
	return c.weights[n.Name]
}

// constInts returns an integer (or integral float) Const input.
func (c *converter) constInts(ref string) ([]int64, error) {
	w := c.constOf(ref)
	if w == nil {
		return nil, fmt.Errorf("input %q must be a constant", ref)
	}
	if w.Ints != nil {
		out := make([]int64, len(w.Ints))
		for i, v := range w.Ints {
			out[i] = int64(v)
		}
		return out, nil
	}
	out := make([]int64, len(w.Floats))
	for i, v := range w.Floats {
		out[i] = int64(v)
	}
	return out, nil
}

// constFloats returns a float Const input.
func (c *converter) constFloats(ref string) (*tfjs.Weight, error) {
	w := c.constOf(ref)
	if w == nil || w.Floats == nil {
		return nil, fmt.Errorf("input %q must be a float constant", ref)
	}
	return w, nil
}

// input returns the converted value of a TF tensor reference, writing a
// Const as an initializer on first use.
func (c *converter) input(ref string) (value, error) {
	node, k := tfjs.SplitInput(ref)
	name := tensorName(node, k)
	if v, ok := c.values[name]; ok {
		return v, nil
	}
	n, ok := c.nodes[node]
	if !ok || n.Op != "Const" {
		return value{}, fmt.Errorf("input %q is not produced by an earlier node", ref)
	}
	w := c.weights[node]
	if w == nil {
		return value{}, fmt.Errorf("constant %q has no weight in the manifest", node)
	}
	t := &onnxgraph.Tensor{Name: name, Dims: slices.Clone(w.Shape)}
	if w.Ints != nil {
		t.Type, t.Int32s = onnxgraph.Int32, w.Ints
	} else {
		t.Type, t.Floats = onnxgraph.Float, w.Floats
	}
	if t.Dims == nil {
		t.Dims = []int64{}
	}
	c.g.AddInitializer(t)
	v := value{name: name, shape: t.Dims}
	c.values[name] = v
	return v, nil
}

// inputs converts the first n data inputs of node.
func (c *converter) inputs(nd *tfjs.NodeDef, n int) ([]value, error) {
	in := dataInputs(nd)
	if len(in) < n {
		return nil, fmt.Errorf("has %d inputs, needs %d", len(in), n)
	}
	out := make([]value, n)
	for i := range n {
		v, err := c.input(in[i])
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// set records the ONNX value for output 0 of node.
func (c *converter) set(n *tfjs.NodeDef, name string, shape []int64) {
	c.values[n.Name] = value{name: name, shape: shape}
}

// tmp returns a fresh ONNX value name derived from the node's name.
func tmp(n *tfjs.NodeDef, suffix string) string {
	return n.Name + "/onnx_" + suffix
}

// addFloat writes a float constant and returns its name.
func (c *converter) addFloat(name string, dims []int64, data []float32) string {
	return c.g.AddInitializer(onnxgraph.FloatTensor(name, dims, data))
}

// addInt64 writes an int64 constant and returns its name.
func (c *converter) addInt64(name string, data ...int64) string {
	return c.g.AddInitializer(onnxgraph.Int64Tensor(name, []int64{int64(len(data))}, data))
}

func (c *converter) convertNode(n *tfjs.NodeDef) error {
	switch n.Op {
	case "Const", "NoOp":
		return nil
	case "Placeholder":
		shape, ok := n.Shape("shape")
		if !ok {
			return fmt.Errorf("placeholder without a static rank")
		}
		c.g.Inputs = append(c.g.Inputs, onnxgraph.Value{Name: n.Name, Type: onnxgraph.Float, Dims: shape})
		c.set(n, n.Name, shape)
		return nil
	case "Identity", "StopGradient", "Snapshot":
		in, err := c.inputs(n, 1)
		if err != nil {
			return err
		}
		c.g.AddNode("Identity", n.Name, []string{in[0].name}, []string{n.Name})
		c.set(n, n.Name, in[0].shape)
		return nil
	case "Conv2D", "_FusedConv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative":
		return c.conv(n)
	case "MaxPool", "AvgPool":
		return c.pool(n)
	case "ResizeBilinear", "ResizeNearestNeighbor":
		return c.resize(n)
	case "MatMul", "_FusedMatMul":
		return c.matMul(n)
	case "FusedBatchNorm", "FusedBatchNormV3":
		return c.batchNorm(n)
	case "Pad", "PadV2":
		return c.pad(n)
	case "ConcatV2":
		return c.concat(n)
	case "Reshape":
		return c.reshape(n)
	case "Squeeze":
		return c.squeeze(n)
	case "ExpandDims":
		return c.expandDims(n)
	case "Mean", "Sum", "Max", "Min":
		return c.reduce(n)
	}
	if op, ok := binaryOps[n.Op]; ok {
		in, err := c.inputs(n, 2)
		if err != nil {
			return err
		}
		shape, err := broadcast(in[0].shape, in[1].shape)
		if err != nil {
			return err
		}
		c.g.AddNode(op, n.Name, []string{in[0].name, in[1].name}, []string{n.Name})
		c.set(n, n.Name, shape)
		return nil
	}
	if _, ok := activations[n.Op]; ok {
		in, err := c.inputs(n, 1)
		if err != nil {
			return err
		}
		var alpha []string
		if n.Op == "Prelu" {
			a, err := c.inputs(n, 2)
			if err != nil {
				return err
			}
			alpha = []string{a[1].name}
		}
		out, err := c.activation(n, n.Op, in[0].name, n.Name, alpha)
		if err != nil {
			return err
		}
		c.set(n, out, in[0].shape)
		return nil
	}
	return fmt.Errorf("unsupported TensorFlow operator %q", n.Op)
}

// binaryOps maps element-wise TF operators (numpy broadcasting in both) to ONNX.
var binaryOps = map[string]string{
	"Add": "Add", "AddV2": "Add", "BiasAdd": "Add", "Sub": "Sub", "Mul": "Mul",
	"RealDiv": "Div", "Div": "Div", "Maximum": "Max", "Minimum": "Min", "Pow": "Pow",
}

// activations lists the unary operators activation() writes.
var activations = map[string]bool{
	"Relu": true, "Relu6": true, "Elu": true, "LeakyRelu": true, "Sigmoid": true,
	"Tanh": true, "Prelu": true, "Softmax": true, "Abs": true, "Neg": true,
	"Exp": true, "Log": true, "Sqrt": true, "Rsqrt": true, "Square": true,
}

// activation writes the unary operator op of node n from in to out. alpha
// is the Prelu slope input.
func (c *converter) activation(n *tfjs.NodeDef, op, in, out string, alpha []string) (string, error) {
	switch op {
	case "Relu", "Sigmoid", "Tanh", "Elu", "Abs", "Neg", "Exp", "Log", "Sqrt":
		c.g.AddNode(op, out, []string{in}, []string{out})
	case "Relu6":
		lo := c.addFloat(tmp(n, "relu6_min"), []int64{}, []float32{0})
		hi := c.addFloat(tmp(n, "relu6_max"), []int64{}, []float32{6})
		c.g.AddNode("Clip", out, []string{in, lo, hi}, []string{out})
	case "LeakyRelu":
		a, ok := n.Float("alpha")
		if !ok {
			a, _ = n.Float("leakyrelu_alpha")
		}
		c.g.AddNode("LeakyRelu", out, []string{in}, []string{out}, onnxgraph.AFloat("alpha", float32(a)))
	case "Prelu":
		if len(alpha) != 1 {
			return "", fmt.Errorf("Prelu needs its slope input")
		}
		c.g.AddNode("PRelu", out, []string{in, alpha[0]}, []string{out})
	case "Softmax":
		c.g.AddNode("Softmax", out, []string{in}, []string{out}, onnxgraph.AInt("axis", -1))
	case "Rsqrt":
		s := c.g.AddNode("Sqrt", out+"/onnx_sqrt", []string{in}, []string{out + "/onnx_sqrt"})
		c.g.AddNode("Reciprocal", out, []string{s}, []string{out})
	case "Square":
		c.g.AddNode("Mul", out, []string{in, in}, []string{out})
	default:
		return "", fmt.Errorf("unsupported activation %q", op)
	}
	return out, nil
}

// fusedActivation applies the activation named in a fused op list (after
// BiasAdd), reading extra arguments from args. It returns the name of the
// result: in itself when there is no activation, else out.
func (c *converter) fusedActivation(n *tfjs.NodeDef, fused []string, in, out string, args []string, alphaShape func(*tfjs.Weight) []int64) (string, error) {
	if len(fused) == 0 || fused[0] != "BiasAdd" || len(fused) > 2 {
		return "", fmt.Errorf("unsupported fused operations %v", fused)
	}
	if len(fused) == 1 {
		return in, nil
	}
	act := fused[1]
	var alpha []string
	if act == "Prelu" {
		if len(args) < 2 {
			return "", fmt.Errorf("fused Prelu without a slope argument")
		}
		w, err := c.constFloats(args[1])
		if err != nil {
			return "", err
		}
		alpha = []string{c.addFloat(tmp(n, "prelu_alpha"), alphaShape(w), w.Floats)}
	}
	if !activations[act] {
		return "", fmt.Errorf("unsupported fused activation %q", act)
	}
	return c.activation(n, act, in, out, alpha)
}

// nhwc returns the 4-D attribute list [1, h, w, 1] as (h, w), checking that
// the batch and channel entries are 1 and the spatial ones positive.
func nhwc(n *tfjs.NodeDef, attr string, def int64) ([2]int64, error) {
	v := n.Ints(attr)
	if v == nil {
		return [2]int64{def, def}, nil
	}
	if len(v) != 4 || v[0] != 1 || v[3] != 1 || v[1] < 1 || v[2] < 1 {
		return [2]int64{}, fmt.Errorf("attribute %s = %v: only positive spatial values are supported", attr, v)
	}
	return [2]int64{v[1], v[2]}, nil
}

// padding returns the ONNX padding attributes for n's TF padding mode over
// an input of spatial size in (-1 where unknown) with kernel k, stride st
// and dilation d, and the pads (top, left, bottom, right) for shape
// inference; same reports SAME padding left to ONNX Runtime (auto_pad),
// which it only supports without dilation.
func padding(n *tfjs.NodeDef, in, k, st, d [2]int64) (attrs []onnxgraph.Attr, pads [4]int64, same bool, err error) {
	mode, _ := n.String("padding")
	switch mode {
	case "SAME":
		if in[0] < 0 || in[1] < 0 {
			if d != [2]int64{1, 1} {
				return nil, pads, false, fmt.Errorf("SAME padding with dilation %v needs a known input size", d)
			}
			return []onnxgraph.Attr{onnxgraph.AString("auto_pad", "SAME_UPPER")}, pads, true, nil
		}
		// TF pads so that out = ceil(in/stride), the odd pixel at the end.
		for i := range 2 {
			out := (in[i] + st[i] - 1) / st[i]
			total := max((out-1)*st[i]+(k[i]-1)*d[i]+1-in[i], 0)
			pads[i], pads[i+2] = total/2, total-total/2
		}
	case "VALID":
	case "EXPLICIT":
		e := n.Ints("explicit_paddings")
		if len(e) != 8 || e[0] != 0 || e[1] != 0 || e[6] != 0 || e[7] != 0 {
			return nil, pads, false, fmt.Errorf("explicit_paddings %v: only spatial padding is supported", e)
		}
		pads = [4]int64{e[2], e[4], e[3], e[5]}
	default:
		return nil, pads, false, fmt.Errorf("unsupported padding %q", mode)
	}
	return []onnxgraph.Attr{onnxgraph.AInts("pads", pads[:]...)}, pads, false, nil
}

// spatial returns the height and width of an NHWC shape, -1 where unknown.
func spatial(shape []int64) [2]int64 {
	if len(shape) != 4 {
		return [2]int64{-1, -1}
	}
	return [2]int64{shape[1], shape[2]}
}

// spatialOut computes one output size of a convolution or pooling window.
func spatialOut(in, k, stride, dil, padBefore, padAfter int64, same bool) int64 {
	if in < 0 {
		return -1
	}
	if same {
		return (in + stride - 1) / stride
	}
	eff := (k-1)*dil + 1
	return (in+padBefore+padAfter-eff)/stride + 1
}

// toNCHW and toNHWC wrap a layout-bound operator.
func (c *converter) toNCHW(n *tfjs.NodeDef, in string) string {
	out := tmp(n, "nchw")
	return c.g.AddNode("Transpose", out, []string{in}, []string{out}, onnxgraph.AInts("perm", 0, 3, 1, 2))
}

func (c *converter) toNHWC(in, out string) string {
	return c.g.AddNode("Transpose", out, []string{in}, []string{out}, onnxgraph.AInts("perm", 0, 2, 3, 1))
}

func checkNHWC(n *tfjs.NodeDef) error {
	if f, ok := n.String("data_format"); ok && f != "NHWC" {
		return fmt.Errorf("data_format %q: only NHWC is supported", f)
	}
	return nil
}

func (c *converter) conv(n *tfjs.NodeDef) error {
	if err := checkNHWC(n); err != nil {
		return err
	}
	args := dataInputs(n)
	if len(args) < 2 {
		return fmt.Errorf("needs an input and a filter")
	}
	x, err := c.input(args[0])
	if err != nil {
		return err
	}
	if x.shape != nil && len(x.shape) != 4 {
		return fmt.Errorf("input rank %d, want 4", len(x.shape))
	}
	f, err := c.constFloats(args[1])
	if err != nil {
		return err
	}
	if len(f.Shape) != 4 {
		return fmt.Errorf("filter shape %v, want 4-D", f.Shape)
	}
	if err := checkFilter(f); err != nil {
		return err
	}
	strides, err := nhwc(n, "strides", 1)
	if err != nil {
		return err
	}
	dil, err := nhwc(n, "dilations", 1)
	if err != nil {
		return err
	}
	kh, kw, cin, cm := f.Shape[0], f.Shape[1], f.Shape[2], f.Shape[3]
	padAttrs, pads, same, err := padding(n, spatial(x.shape), [2]int64{kh, kw}, strides, dil)
	if err != nil {
		return err
	}
	depthwise := strings.Contains(n.Op, "Depthwise")
	var w []float32
	var cout, group int64
	if depthwise {
		// TF [kh, kw, in, mult] -> ONNX [in*mult, 1, kh, kw], output channel i*mult+m.
		cout, group = cin*cm, cin
		w = make([]float32, len(f.Floats))
		for y := range kh {
			for xx := range kw {
				for i := range cin {
					for m := range cm {
						w[((i*cm+m)*kh+y)*kw+xx] = f.Floats[((y*kw+xx)*cin+i)*cm+m]
					}
				}
			}
		}
	} else {
		// TF [kh, kw, in, out] -> ONNX [out, in, kh, kw].
		cout, group = cm, 1
		w = make([]float32, len(f.Floats))
		for y := range kh {
			for xx := range kw {
				for i := range cin {
					for o := range cm {
						w[((o*cin+i)*kh+y)*kw+xx] = f.Floats[((y*kw+xx)*cin+i)*cm+o]
					}
				}
			}
		}
	}
	if x.shape != nil && x.shape[3] >= 0 && x.shape[3] != cin {
		return fmt.Errorf("input has %d channels, filter expects %d", x.shape[3], cin)
	}
	dims := []int64{cout, cin, kh, kw}
	if depthwise {
		dims = []int64{cout, 1, kh, kw}
	}
	inputs := []string{c.toNCHW(n, x.name), c.addFloat(tmp(n, "filter"), dims, w)}
	fused := n.Strings("fused_ops")
	if len(fused) > 0 {
		if len(args) < 3 {
			return fmt.Errorf("fused %v without a bias argument", fused)
		}
		b, err := c.constFloats(args[2])
		if err != nil {
			return err
		}
		if int64(len(b.Floats)) != cout {
			return fmt.Errorf("bias has %d values, want %d", len(b.Floats), cout)
		}
		inputs = append(inputs, c.addFloat(tmp(n, "bias"), []int64{cout}, b.Floats))
	}
	attrs := append([]onnxgraph.Attr{
		onnxgraph.AInts("kernel_shape", kh, kw),
		onnxgraph.AInts("strides", strides[0], strides[1]),
		onnxgraph.AInts("dilations", dil[0], dil[1]),
		onnxgraph.AInt("group", group),
	}, padAttrs...)
	y := c.g.AddNode("Conv", tmp(n, "conv"), inputs, []string{tmp(n, "conv")}, attrs...)
	if len(fused) > 0 {
		chw := func(w *tfjs.Weight) []int64 { return []int64{int64(len(w.Floats)), 1, 1} }
		if y, err = c.fusedActivation(n, fused, y, tmp(n, "act"), args[2:], chw); err != nil {
			return err
		}
	}
	c.toNHWC(y, n.Name)
	var shape []int64
	if x.shape != nil {
		shape = []int64{
			x.shape[0],
			spatialOut(x.shape[1], kh, strides[0], dil[0], pads[0], pads[2], same),
			spatialOut(x.shape[2], kw, strides[1], dil[1], pads[1], pads[3], same),
			cout,
		}
	}
	c.set(n, n.Name, shape)
	return nil
}

// checkFilter requires a filter's dimensions to be positive and to
// describe exactly its values: the weight rearrangement walks every
// dimension, even when another one is empty.
func checkFilter(w *tfjs.Weight) error {
	n := int64(1)
	for _, d := range w.Shape {
		if d <= 0 || n > int64(len(w.Floats))/d {
			return fmt.Errorf("filter shape %v does not describe its %d values", w.Shape, len(w.Floats))
		}
		n *= d
	}
	if n != int64(len(w.Floats)) {
		return fmt.Errorf("filter shape %v does not describe its %d values", w.Shape, len(w.Floats))
	}
	return nil
}

func (c *converter) pool(n *tfjs.NodeDef) error {
	if err := checkNHWC(n); err != nil {
		return err
	}
	in, err := c.inputs(n, 1)
	if err != nil {
		return err
	}
	if x := in[0].shape; x != nil && len(x) != 4 {
		return fmt.Errorf("input rank %d, want 4", len(x))
	}
	k, err := nhwc(n, "ksize", 1)
	if err != nil {
		return err
	}
	s, err := nhwc(n, "strides", 1)
	if err != nil {
		return err
	}
	padAttrs, pads, same, err := padding(n, spatial(in[0].shape), k, s, [2]int64{1, 1})
	if err != nil {
		return err
	}
	op := "MaxPool"
	if n.Op == "AvgPool" {
		op = "AveragePool" // count_include_pad=0 matches TF's SAME averaging
	}
	attrs := append([]onnxgraph.Attr{onnxgraph.AInts("kernel_shape", k[0], k[1]), onnxgraph.AInts("strides", s[0], s[1])}, padAttrs...)
	y := c.g.AddNode(op, tmp(n, "pool"), []string{c.toNCHW(n, in[0].name)}, []string{tmp(n, "pool")}, attrs...)
	c.toNHWC(y, n.Name)
	var shape []int64
	if x := in[0].shape; x != nil {
		shape = []int64{x[0], spatialOut(x[1], k[0], s[0], 1, pads[0], pads[2], same), spatialOut(x[2], k[1], s[1], 1, pads[1], pads[3], same), x[3]}
	}
	c.set(n, n.Name, shape)
	return nil
}

func (c *converter) resize(n *tfjs.NodeDef) error {
	args := dataInputs(n)
	if len(args) != 2 {
		return fmt.Errorf("needs an input and a size")
	}
	x, err := c.input(args[0])
	if err != nil {
		return err
	}
	if x.shape != nil && len(x.shape) != 4 {
		return fmt.Errorf("input rank %d, want 4", len(x.shape))
	}
	size, err := c.constInts(args[1])
	if err != nil || len(size) != 2 {
		return fmt.Errorf("size must be a constant [height, width]")
	}
	mode, coord := "linear", "asymmetric"
	switch {
	case n.Bool("align_corners"):
		coord = "align_corners"
	case n.Bool("half_pixel_centers") && n.Op == "ResizeBilinear":
		coord = "half_pixel"
	case n.Bool("half_pixel_centers"):
		coord = "tf_half_pixel_for_nn"
	}
	var attrs []onnxgraph.Attr
	if n.Op == "ResizeNearestNeighbor" {
		mode = "nearest"
		// TF rounds half up with align_corners and floors otherwise.
		nearest := "floor"
		if n.Bool("align_corners") {
			nearest = "round_prefer_ceil"
		}
		attrs = append(attrs, onnxgraph.AString("nearest_mode", nearest))
	}
	attrs = append(attrs, onnxgraph.AString("mode", mode), onnxgraph.AString("coordinate_transformation_mode", coord))
	// Resize (opset 17) wants the full NCHW output size: take N and C from
	// the input's shape at run time.
	xt := c.toNCHW(n, x.name)
	shp := c.g.AddNode("Shape", tmp(n, "shape"), []string{xt}, []string{tmp(n, "shape")},
		onnxgraph.AInt("start", 0), onnxgraph.AInt("end", 2))
	sizes := c.g.AddNode("Concat", tmp(n, "sizes"), []string{shp, c.addInt64(tmp(n, "hw"), size...)}, []string{tmp(n, "sizes")}, onnxgraph.AInt("axis", 0))
	y := c.g.AddNode("Resize", tmp(n, "resize"), []string{xt, "", "", sizes}, []string{tmp(n, "resize")}, attrs...)
	c.toNHWC(y, n.Name)
	var shape []int64
	if x.shape != nil {
		shape = []int64{x.shape[0], size[0], size[1], x.shape[3]}
	}
	c.set(n, n.Name, shape)
	return nil
}

func (c *converter) matMul(n *tfjs.NodeDef) error {
	args := dataInputs(n)
	in, err := c.inputs(n, 2)
	if err != nil {
		return err
	}
	ta, tb := n.Bool("transpose_a"), n.Bool("transpose_b")
	boolInt := func(b bool) int64 {
		if b {
			return 1
		}
		return 0
	}
	inputs := []string{in[0].name, in[1].name}
	fused := n.Strings("fused_ops")
	if len(fused) > 0 {
		if len(args) < 3 {
			return fmt.Errorf("fused %v without a bias argument", fused)
		}
		b, err := c.input(args[2])
		if err != nil {
			return err
		}
		inputs = append(inputs, b.name)
	}
	out := n.Name
	if len(fused) == 2 {
		out = tmp(n, "gemm")
	}
	y := c.g.AddNode("Gemm", out, inputs, []string{out},
		onnxgraph.AInt("transA", boolInt(ta)), onnxgraph.AInt("transB", boolInt(tb)))
	if len(fused) > 0 {
		if _, err := c.fusedActivation(n, fused, y, n.Name, args[2:], func(w *tfjs.Weight) []int64 { return w.Shape }); err != nil {
			return err
		}
	}
	var shape []int64
	if a, b := in[0].shape, in[1].shape; len(a) == 2 && len(b) == 2 {
		rows, cols := a[0], b[1]
		if ta {
			rows = a[1]
		}
		if tb {
			cols = b[0]
		}
		shape = []int64{rows, cols}
	}
	c.set(n, n.Name, shape)
	return nil
}

// batchNorm folds an inference-mode FusedBatchNorm into a multiply and an
// add over the channel (last) axis.
func (c *converter) batchNorm(n *tfjs.NodeDef) error {
	if err := checkNHWC(n); err != nil {
		return err
	}
	args := dataInputs(n)
	if len(args) < 5 {
		return fmt.Errorf("needs input, scale, offset, mean and variance")
	}
	x, err := c.input(args[0])
	if err != nil {
		return err
	}
	var p [4]*tfjs.Weight
	for i := range p {
		if p[i], err = c.constFloats(args[i+1]); err != nil {
			return err
		}
	}
	eps, _ := n.Float("epsilon")
	ch := len(p[0].Floats)
	for i, name := range []string{"offset", "mean", "variance"} {
		if len(p[i+1].Floats) != ch {
			return fmt.Errorf("%s has %d values, scale has %d", name, len(p[i+1].Floats), ch)
		}
	}
	scale, shift := make([]float32, ch), make([]float32, ch)
	for i := range ch {
		s := float64(p[0].Floats[i]) / math.Sqrt(float64(p[3].Floats[i])+eps)
		scale[i] = float32(s)
		shift[i] = float32(float64(p[1].Floats[i]) - float64(p[2].Floats[i])*s)
	}
	m := c.g.AddNode("Mul", tmp(n, "scale"), []string{x.name, c.addFloat(tmp(n, "scale_c"), []int64{int64(ch)}, scale)}, []string{tmp(n, "scale")})
	c.g.AddNode("Add", n.Name, []string{m, c.addFloat(tmp(n, "shift_c"), []int64{int64(ch)}, shift)}, []string{n.Name})
	c.set(n, n.Name, x.shape)
	return nil
}

func (c *converter) pad(n *tfjs.NodeDef) error {
	args := dataInputs(n)
	if len(args) < 2 {
		return fmt.Errorf("needs an input and paddings")
	}
	x, err := c.input(args[0])
	if err != nil {
		return err
	}
	p, err := c.constInts(args[1])
	if err != nil {
		return err
	}
	rank := len(p) / 2
	if len(p)%2 != 0 || (x.shape != nil && len(x.shape) != rank) {
		return fmt.Errorf("paddings %v do not fit input shape %v", p, x.shape)
	}
	pads := make([]int64, 2*rank)
	var shape []int64
	if x.shape != nil {
		shape = slices.Clone(x.shape)
	}
	for i := range rank {
		pads[i], pads[rank+i] = p[2*i], p[2*i+1]
		if shape != nil && shape[i] >= 0 {
			shape[i] += p[2*i] + p[2*i+1]
		}
	}
	inputs := []string{x.name, c.addInt64(tmp(n, "pads"), pads...)}
	if n.Op == "PadV2" && len(args) > 2 {
		v, err := c.input(args[2])
		if err != nil {
			return err
		}
		inputs = append(inputs, v.name)
	}
	c.g.AddNode("Pad", n.Name, inputs, []string{n.Name}, onnxgraph.AString("mode", "constant"))
	c.set(n, n.Name, shape)
	return nil
}

func (c *converter) concat(n *tfjs.NodeDef) error {
	args := dataInputs(n)
	if len(args) < 2 {
		return fmt.Errorf("needs at least one input and an axis")
	}
	axis, err := c.constInts(args[len(args)-1])
	if err != nil || len(axis) != 1 {
		return fmt.Errorf("axis must be a scalar constant")
	}
	var names []string
	var shape []int64
	for i, ref := range args[:len(args)-1] {
		v, err := c.input(ref)
		if err != nil {
			return err
		}
		names = append(names, v.name)
		if i == 0 {
			shape = slices.Clone(v.shape)
			continue
		}
		if shape == nil || v.shape == nil || len(v.shape) != len(shape) {
			shape = nil
			continue
		}
		a := int(axis[0])
		if a < 0 {
			a += len(shape)
		}
		if a < 0 || a >= len(shape) {
			return fmt.Errorf("axis %d is out of range for inputs of rank %d", axis[0], len(shape))
		}
		if shape[a] < 0 || v.shape[a] < 0 {
			shape[a] = -1
		} else {
			shape[a] += v.shape[a]
		}
	}
	c.g.AddNode("Concat", n.Name, names, []string{n.Name}, onnxgraph.AInt("axis", axis[0]))
	c.set(n, n.Name, shape)
	return nil
}

func (c *converter) reshape(n *tfjs.NodeDef) error {
	args := dataInputs(n)
	if len(args) != 2 {
		return fmt.Errorf("needs an input and a shape")
	}
	x, err := c.input(args[0])
	if err != nil {
		return err
	}
	target, err := c.constInts(args[1])
	if err != nil {
		return err
	}
	if slices.Contains(target, 0) {
		return fmt.Errorf("shape %v has a zero dimension", target)
	}
	c.g.AddNode("Reshape", n.Name, []string{x.name, c.addInt64(tmp(n, "shape"), target...)}, []string{n.Name})
	c.set(n, n.Name, reshapeShape(x.shape, target))
	return nil
}

// reshapeShape resolves a -1 in target when the input size is known.
func reshapeShape(in, target []int64) []int64 {
	out := slices.Clone(target)
	hole := slices.Index(out, -1)
	if hole < 0 || in == nil {
		return out
	}
	total := int64(1)
	for _, d := range in {
		if d < 0 {
			return out
		}
		total *= d
	}
	rest := int64(1)
	for i, d := range out {
		if i != hole {
			rest *= d
		}
	}
	if rest > 0 && total%rest == 0 {
		out[hole] = total / rest
	}
	return out
}

func (c *converter) squeeze(n *tfjs.NodeDef) error {
	in, err := c.inputs(n, 1)
	if err != nil {
		return err
	}
	axes := n.Ints("squeeze_dims")
	if axes == nil {
		axes = n.Ints("axis")
	}
	x := in[0]
	inputs := []string{x.name}
	var shape []int64
	if x.shape != nil {
		rank := int64(len(x.shape))
		drop := map[int64]bool{}
		for _, a := range axes {
			if a < 0 {
				a += rank
			}
			drop[a] = true
		}
		for i, d := range x.shape {
			if (len(axes) == 0 && d == 1) || drop[int64(i)] {
				continue
			}
			shape = append(shape, d)
		}
		if shape == nil {
			shape = []int64{}
		}
	}
	if len(axes) > 0 {
		inputs = append(inputs, c.addInt64(tmp(n, "axes"), axes...))
	}
	c.g.AddNode("Squeeze", n.Name, inputs, []string{n.Name})
	c.set(n, n.Name, shape)
	return nil
}

func (c *converter) expandDims(n *tfjs.NodeDef) error {
	args := dataInputs(n)
	if len(args) != 2 {
		return fmt.Errorf("needs an input and an axis")
	}
	x, err := c.input(args[0])
	if err != nil {
		return err
	}
	axis, err := c.constInts(args[1])
	if err != nil || len(axis) != 1 {
		return fmt.Errorf("axis must be a scalar constant")
	}
	var shape []int64
	if x.shape != nil {
		a := int(axis[0])
		if a < 0 {
			a += len(x.shape) + 1
		}
		if a < 0 || a > len(x.shape) {
			return fmt.Errorf("axis %d is out of range for an input of rank %d", axis[0], len(x.shape))
		}
		shape = slices.Insert(slices.Clone(x.shape), a, 1)
	}
	c.g.AddNode("Unsqueeze", n.Name, []string{x.name, c.addInt64(tmp(n, "axes"), axis...)}, []string{n.Name})
	c.set(n, n.Name, shape)
	return nil
}

func (c *converter) reduce(n *tfjs.NodeDef) error {
	args := dataInputs(n)
	if len(args) != 2 {
		return fmt.Errorf("needs an input and axes")
	}
	x, err := c.input(args[0])
	if err != nil {
		return err
	}
	axes, err := c.constInts(args[1])
	if err != nil {
		return err
	}
	keep := int64(0)
	if n.Bool("keep_dims") {
		keep = 1
	}
	op := map[string]string{"Mean": "ReduceMean", "Sum": "ReduceSum", "Max": "ReduceMax", "Min": "ReduceMin"}[n.Op]
	if op == "ReduceSum" {
		// Opset 13 moved ReduceSum's axes to an input; the others follow in 18.
		c.g.AddNode(op, n.Name, []string{x.name, c.addInt64(tmp(n, "axes"), axes...)}, []string{n.Name}, onnxgraph.AInt("keepdims", keep))
	} else {
		c.g.AddNode(op, n.Name, []string{x.name}, []string{n.Name}, onnxgraph.AInts("axes", axes...), onnxgraph.AInt("keepdims", keep))
	}
	var shape []int64
	if x.shape != nil {
		rank := int64(len(x.shape))
		red := map[int64]bool{}
		for _, a := range axes {
			if a < 0 {
				a += rank
			}
			red[a] = true
		}
		shape = []int64{}
		for i, d := range x.shape {
			switch {
			case !red[int64(i)]:
				shape = append(shape, d)
			case keep == 1:
				shape = append(shape, 1)
			}
		}
	}
	c.set(n, n.Name, shape)
	return nil
}

// broadcast returns the numpy broadcast of two shapes (nil if unknown).
func broadcast(a, b []int64) ([]int64, error) {
	if a == nil || b == nil {
		return nil, nil
	}
	n := max(len(a), len(b))
	out := make([]int64, n)
	for i := range n {
		da, db := int64(1), int64(1)
		if j := i - (n - len(a)); j >= 0 {
			da = a[j]
		}
		if j := i - (n - len(b)); j >= 0 {
			db = b[j]
		}
		switch {
		case da == db:
			out[i] = da
		case da == 1:
			out[i] = db
		case db == 1:
			out[i] = da
		case da < 0 || db < 0:
			out[i] = max(da, db)
		default:
			return nil, fmt.Errorf("shapes %v and %v do not broadcast", a, b)
		}
	}
	return out, nil
}
