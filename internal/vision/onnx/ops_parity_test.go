package onnx_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/everify/everify/internal/modelpkg/tfconv"
	"github.com/everify/everify/internal/modelpkg/tfjs"
	"github.com/everify/everify/internal/vision"
	"github.com/everify/everify/internal/vision/onnx"
)

// synthModel writes a TF.js graph model by hand, for operators and
// attribute combinations that the shipped models do not exercise.
type synthModel struct {
	nodes []map[string]any
	specs []map[string]any
	bin   []byte
	r     *rand.Rand
}

func aStr(s string) map[string]any {
	return map[string]any{"s": base64.StdEncoding.EncodeToString([]byte(s))}
}
func aBool(b bool) map[string]any { return map[string]any{"b": b} }
func aFloat(f float64) map[string]any {
	return map[string]any{"f": f}
}
func aInts(v ...int) map[string]any {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return map[string]any{"list": map[string]any{"i": s}}
}
func aStrs(v ...string) map[string]any {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = base64.StdEncoding.EncodeToString([]byte(x))
	}
	return map[string]any{"list": map[string]any{"s": s}}
}

func (m *synthModel) node(name, op string, inputs []string, attrs map[string]any) string {
	m.nodes = append(m.nodes, map[string]any{"name": name, "op": op, "input": inputs, "attr": attrs})
	return name
}

// constF adds a float constant with values uniform in [lo, hi).
func (m *synthModel) constF(name string, lo, hi float32, shape ...int) string {
	if shape == nil {
		shape = []int{}
	}
	n := 1
	for _, d := range shape {
		n *= d
	}
	for range n {
		m.bin = binary.LittleEndian.AppendUint32(m.bin, math.Float32bits(lo+(hi-lo)*m.r.Float32()))
	}
	m.specs = append(m.specs, map[string]any{"name": name, "shape": shape, "dtype": "float32"})
	return m.node(name, "Const", nil, nil)
}

// constI adds a 1-D int32 constant.
func (m *synthModel) constI(name string, v ...int) string {
	return m.constIShape(name, []int{len(v)}, v...)
}

func (m *synthModel) constIShape(name string, shape []int, v ...int) string {
	for _, x := range v {
		m.bin = binary.LittleEndian.AppendUint32(m.bin, uint32(int32(x)))
	}
	m.specs = append(m.specs, map[string]any{"name": name, "shape": shape, "dtype": "int32"})
	return m.node(name, "Const", nil, nil)
}

// opsModel exercises the converter's operators beyond the shipped models:
// every Resize mode, AvgPool, batch norm, dilated and strided convolutions
// with other fused activations, channel-multiplier depthwise convolutions,
// transposed fused MatMul, reductions, padding with a value and unary ops.
func opsModel() *synthModel {
	m := &synthModel{r: rand.New(rand.NewPCG(3, 3))}
	nhwc := aStr("NHWC")
	x := m.node("x", "Placeholder", nil, map[string]any{"shape": map[string]any{"shape": map[string]any{"dim": []map[string]any{{"size": "-1"}, {"size": "9"}, {"size": "9"}, {"size": "4"}}}}})
	s1, s2, s3 := m.constI("size_a", 13, 7), m.constI("size_b", 5, 17), m.constI("size_c", 18, 18)
	m.node("rb_half", "ResizeBilinear", []string{x, s1}, map[string]any{"half_pixel_centers": aBool(true)})
	m.node("rb_align", "ResizeBilinear", []string{x, s2}, map[string]any{"align_corners": aBool(true)})
	m.node("rb_asym", "ResizeBilinear", []string{x, s3}, nil)
	m.node("rn_half", "ResizeNearestNeighbor", []string{x, s1}, map[string]any{"half_pixel_centers": aBool(true)})
	m.node("rn_align", "ResizeNearestNeighbor", []string{x, s2}, map[string]any{"align_corners": aBool(true)})
	m.node("rn_asym", "ResizeNearestNeighbor", []string{x, s3}, nil)
	for _, pad := range []string{"SAME", "VALID"} {
		m.node("avg_"+pad, "AvgPool", []string{x}, map[string]any{"data_format": nhwc, "padding": aStr(pad), "ksize": aInts(1, 3, 3, 1), "strides": aInts(1, 2, 2, 1)})
	}
	bn := m.node("bn", "FusedBatchNormV3", []string{x, m.constF("bn_scale", 0.5, 2, 4), m.constF("bn_offset", -1, 1, 4), m.constF("bn_mean", -0.5, 0.5, 4), m.constF("bn_var", 0.2, 2, 4)},
		map[string]any{"data_format": nhwc, "epsilon": aFloat(0.001), "is_training": aBool(false)})
	m.node("relu6", "Relu6", []string{bn}, nil)
	m.node("conv_dilated", "_FusedConv2D", []string{x, m.constF("w1", -0.5, 0.5, 3, 3, 4, 5), m.constF("b1", -1, 1, 5)},
		map[string]any{"data_format": nhwc, "padding": aStr("SAME"), "strides": aInts(1, 1, 1, 1), "dilations": aInts(1, 2, 2, 1), "fused_ops": aStrs("BiasAdd", "Relu6"), "num_args": map[string]any{"i": "1"}})
	m.node("conv_leaky", "_FusedConv2D", []string{x, m.constF("w2", -0.5, 0.5, 2, 3, 4, 3), m.constF("b2", -1, 1, 3)},
		map[string]any{"data_format": nhwc, "padding": aStr("VALID"), "strides": aInts(1, 2, 2, 1), "dilations": aInts(1, 1, 1, 1), "fused_ops": aStrs("BiasAdd", "LeakyRelu"), "leakyrelu_alpha": aFloat(0.2), "num_args": map[string]any{"i": "1"}})
	m.node("dw_mult", "DepthwiseConv2dNative", []string{x, m.constF("wd", -0.5, 0.5, 3, 3, 4, 2)},
		map[string]any{"data_format": nhwc, "padding": aStr("SAME"), "strides": aInts(1, 2, 2, 1), "dilations": aInts(1, 1, 1, 1)})
	m.node("dw_fused", "FusedDepthwiseConv2dNative", []string{x, m.constF("wd2", -0.5, 0.5, 3, 3, 4, 1), m.constF("bd2", -1, 1, 4)},
		map[string]any{"data_format": nhwc, "padding": aStr("VALID"), "strides": aInts(1, 1, 1, 1), "dilations": aInts(1, 1, 1, 1), "fused_ops": aStrs("BiasAdd", "Relu"), "num_args": map[string]any{"i": "1"}})
	flat := m.node("flat", "Reshape", []string{x, m.constI("flat_shape", -1, 324)}, nil)
	m.node("matmul_tb", "_FusedMatMul", []string{flat, m.constF("wm", -0.1, 0.1, 7, 324), m.constF("bm", -1, 1, 7)},
		map[string]any{"transpose_a": aBool(false), "transpose_b": aBool(true), "fused_ops": aStrs("BiasAdd", "Relu"), "num_args": map[string]any{"i": "1"}})
	ed := m.node("expand", "ExpandDims", []string{x, m.constI("expand_axis", 1)}, nil)
	sq := m.node("squeeze", "Squeeze", []string{ed}, map[string]any{"squeeze_dims": aInts(1)})
	m.node("mean_keep", "Mean", []string{sq, m.constI("mean_axes", 1, 2)}, map[string]any{"keep_dims": aBool(true)})
	m.node("max_c", "Max", []string{x, m.constI("max_axes", 3)}, map[string]any{"keep_dims": aBool(false)})
	m.node("min_c", "Min", []string{x, m.constI("min_axes", -1)}, map[string]any{"keep_dims": aBool(false)})
	m.node("pad_value", "PadV2", []string{x, m.constIShape("paddings", []int{4, 2}, 0, 0, 1, 2, 2, 1, 0, 0), m.constF("pad_c", 0.5, 0.5)}, nil)
	neg := m.node("neg", "Neg", []string{x}, nil)
	m.node("concat", "ConcatV2", []string{x, neg, m.constI("concat_axis", -1)}, nil)
	m.node("tanh_elu", "Tanh", []string{m.node("elu", "Elu", []string{neg}, nil)}, nil)
	sqr := m.node("square", "Square", []string{x}, nil)
	m.node("ratio", "RealDiv", []string{x, m.node("sq1", "AddV2", []string{sqr, m.constF("one", 1, 1)}, nil)}, nil)
	m.node("exp_log", "Log", []string{m.node("exp", "Exp", []string{x}, nil)}, nil)
	m.node("softmax", "Softmax", []string{x}, nil)
	return m
}

func (m *synthModel) write(t *testing.T, dir string) string {
	t.Helper()
	doc := map[string]any{
		"format":          "graph-model",
		"modelTopology":   map[string]any{"node": m.nodes, "versions": map[string]any{"producer": 1}},
		"weightsManifest": []map[string]any{{"paths": []string{"ops.bin"}, "weights": m.specs}},
	}
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ops.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ops.bin"), m.bin, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestOperatorParity converts a hand-written graph that uses the
// converter's less common operators and compares it with TF.js like
// TestParity does, with the same tolerance.
func TestOperatorParity(t *testing.T) {
	modelsDir, _ := modelsDir(t)
	tools := nodeTools(t)
	dir := t.TempDir()
	src := opsModel().write(t, dir)
	data, _ := os.ReadFile(src)
	gm, err := tfjs.ParseGraphModel(data)
	if err != nil {
		t.Fatal(err)
	}
	w, err := tfjs.DecodeWeights(gm.WeightsManifest, func(p string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, p)) })
	if err != nil {
		t.Fatal(err)
	}
	g, err := tfconv.Convert("ops", gm, w)
	if err != nil {
		t.Fatal(err)
	}
	onnxData, err := g.Marshal("test")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ops.onnx"), onnxData, 0o644); err != nil {
		t.Fatal(err)
	}
	rt, err := onnx.Open(dir, onnx.Options{LibraryPath: filepath.Join(modelsDir, onnx.LibraryName), PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	model, err := rt.Load("ops")
	if err != nil {
		t.Fatal(err)
	}
	var cases []parityCase
	for seed := range uint64(2) {
		r := rand.New(rand.NewPCG(seed, 9))
		data := make([]float32, 2*9*9*4)
		for i := range data {
			data[i] = 2*r.Float32() - 1
		}
		cases = append(cases, parityCase{label: fmt.Sprintf("seed %d", seed), tensors: []vision.Tensor{{Shape: []int64{2, 9, 9, 4}, Data: data}}})
	}
	ref := runTFJS(t, tools, src, model, cases)
	var worst float64
	for i, c := range cases {
		got, err := model.Run(context.Background(), c.tensors...)
		if err != nil {
			t.Fatal(err)
		}
		for k, out := range model.Outputs() {
			abs, scale := maxDiff(got[k].Data, ref[i][k].Data)
			if fmt.Sprint(got[k].Shape) != fmt.Sprint(ref[i][k].Shape) {
				t.Errorf("%s %s: shape %v, TF.js %v", c.label, out.Name, got[k].Shape, ref[i][k].Shape)
				continue
			}
			rel := abs / max(1, scale)
			worst = max(worst, rel)
			if rel > 1e-4 || math.IsNaN(rel) {
				t.Errorf("%s %s: max abs error %.3g (relative %.3g)", c.label, out.Name, abs, rel)
			}
		}
	}
	t.Logf("PARITY operators: %d outputs, max relative error %.2e (tolerance 1e-04)", len(model.Outputs()), worst)
	if n := len(model.Outputs()); n != 23 {
		t.Errorf("%d outputs converted, want the graph's 23", n)
	}
}
