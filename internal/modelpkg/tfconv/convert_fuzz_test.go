package tfconv

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/everify/everify/internal/modelpkg/tfjs"
)

// seedWeight is one constant of a seed model: int32 when ints is set,
// float32 otherwise.
type seedWeight struct {
	name   string
	shape  []int64
	ints   []int32
	floats []float32
}

// seedModel writes a graph model.json around the node JSON fragments, with
// a Const node and a manifest entry per weight and the signature output
// out, and the weights' single shard.
func seedModel(out string, ws []seedWeight, nodes ...string) (model, shard []byte) {
	var specs []tfjs.WeightSpec
	for _, w := range ws {
		nodes = append(nodes, constNode(w.name))
		spec := tfjs.WeightSpec{Name: w.name, Shape: w.shape, DType: "float32"}
		if w.ints != nil {
			spec.DType = "int32"
			for _, v := range w.ints {
				shard = binary.LittleEndian.AppendUint32(shard, uint32(v))
			}
		}
		for _, v := range w.floats {
			shard = binary.LittleEndian.AppendUint32(shard, math.Float32bits(v))
		}
		specs = append(specs, spec)
	}
	manifest, _ := json.Marshal([]tfjs.WeightGroup{{Paths: []string{"seed.bin"}, Weights: specs}})
	model = fmt.Appendf(nil, `{"format":"graph-model","modelTopology":{"node":[%s]},"weightsManifest":%s,"signature":{"outputs":{"y":{"name":%q}}}}`,
		strings.Join(nodes, ","), manifest, out)
	return model, shard
}

// ramp returns n floats -1, -1+step, …
func ramp(n int, step float32) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = -1 + float32(i)*step
	}
	return out
}

// strAttr and intsAttr write attribute values as TF.js does: strings in
// base64, integers as JSON strings.
func strAttr(s string) string { return `{"s":"` + b64(s) + `"}` }

func intsAttr(v ...int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Quote(strconv.Itoa(x))
	}
	return `{"list":{"i":[` + strings.Join(s, ",") + `]}}`
}

// classifierSeed is a small image classifier: fused convolution, pooling,
// reshape, fused dense layer and softmax.
func classifierSeed() (model, shard []byte) {
	return seedModel("prob:0", []seedWeight{
		{name: "w", shape: []int64{1, 1, 3, 2}, floats: ramp(6, 0.4)},
		{name: "b", shape: []int64{2}, floats: []float32{0.1, -0.1}},
		{name: "shape", shape: []int64{2}, ints: []int32{-1, 8}},
		{name: "fw", shape: []int64{8, 2}, floats: ramp(16, 0.125)},
		{name: "fb", shape: []int64{2}, floats: []float32{0, 1}},
	},
		`{"name":"x","op":"Placeholder","attr":{"shape":{"shape":{"dim":[{"size":"-1"},{"size":"4"},{"size":"4"},{"size":"3"}]}}}}`,
		`{"name":"conv","op":"_FusedConv2D","input":["x","w","b"],"attr":{"data_format":`+strAttr("NHWC")+`,"padding":`+strAttr("SAME")+
			`,"strides":`+intsAttr(1, 1, 1, 1)+`,"fused_ops":{"list":{"s":["`+b64("BiasAdd")+`","`+b64("Relu")+`"]}}}}`,
		`{"name":"pool","op":"MaxPool","input":["conv"],"attr":{"padding":`+strAttr("VALID")+`,"ksize":`+intsAttr(1, 2, 2, 1)+`,"strides":`+intsAttr(1, 2, 2, 1)+`}}`,
		`{"name":"flat","op":"Reshape","input":["pool","shape"]}`,
		`{"name":"dense","op":"_FusedMatMul","input":["flat","fw","fb"],"attr":{"fused_ops":{"list":{"s":["`+b64("BiasAdd")+`"]}}}}`,
		`{"name":"prob","op":"Softmax","input":["dense","^x"]}`,
	)
}

// zooSeed chains most of the other operators the converter knows.
func zooSeed() (model, shard []byte) {
	return seedModel("out:0", []seedWeight{
		{name: "dwf", shape: []int64{3, 3, 2, 1}, floats: ramp(18, 0.1)},
		{name: "scale", shape: []int64{2}, floats: []float32{1, 2}},
		{name: "offset", shape: []int64{2}, floats: []float32{0, 0.5}},
		{name: "mean", shape: []int64{2}, floats: []float32{0.1, 0.2}},
		{name: "var", shape: []int64{2}, floats: []float32{1, 4}},
		{name: "pads", shape: []int64{4, 2}, ints: []int32{0, 0, 1, 1, 1, 1, 0, 0}},
		{name: "size", shape: []int64{2}, ints: []int32{8, 8}},
		{name: "axis", shape: []int64{}, ints: []int32{3}},
		{name: "axes", shape: []int64{2}, ints: []int32{1, 2}},
		{name: "eaxis", shape: []int64{}, ints: []int32{1}},
		{name: "bias", shape: []int64{4}, floats: []float32{0.5, -0.5, 1, -1}},
		{name: "alpha", shape: []int64{4}, floats: []float32{0.1, 0.2, 0.3, 0.4}},
	},
		`{"name":"x","op":"Placeholder","attr":{"shape":{"shape":{"dim":[{"size":"1"},{"size":"4"},{"size":"4"},{"size":"2"}]}}}}`,
		`{"name":"dw","op":"DepthwiseConv2dNative","input":["x","dwf"],"attr":{"padding":`+strAttr("SAME")+`,"strides":`+intsAttr(1, 1, 1, 1)+`,"dilations":`+intsAttr(1, 1, 1, 1)+`}}`,
		`{"name":"bn","op":"FusedBatchNormV3","input":["dw","scale","offset","mean","var"],"attr":{"epsilon":{"f":0.001}}}`,
		`{"name":"pad","op":"Pad","input":["bn","pads"]}`,
		`{"name":"avg","op":"AvgPool","input":["pad"],"attr":{"padding":`+strAttr("VALID")+`,"ksize":`+intsAttr(1, 3, 3, 1)+`,"strides":`+intsAttr(1, 1, 1, 1)+`}}`,
		`{"name":"rs","op":"ResizeBilinear","input":["avg","size"],"attr":{"half_pixel_centers":{"b":true}}}`,
		`{"name":"cat","op":"ConcatV2","input":["rs","rs","axis"]}`,
		`{"name":"red","op":"Mean","input":["cat","axes"],"attr":{"keep_dims":{"b":false}}}`,
		`{"name":"ex","op":"ExpandDims","input":["red","eaxis"]}`,
		`{"name":"sq","op":"Squeeze","input":["ex"],"attr":{"squeeze_dims":`+intsAttr(1)+`}}`,
		`{"name":"add","op":"AddV2","input":["sq","bias"]}`,
		`{"name":"pr","op":"Prelu","input":["add","alpha"]}`,
		`{"name":"id","op":"Identity","input":["pr"]}`,
		`{"name":"out","op":"Relu6","input":["id"]}`,
	)
}

// FuzzConvert converts arbitrary graph models with arbitrary weight
// shards, as `everify models install` does with a package's files: no
// input may panic or hang, a failure is an error of the converter (one
// that names the node when a node is at fault), and a converted graph
// encodes as an ONNX model.
func FuzzConvert(f *testing.F) {
	replaced := func(seed []byte, old, new string) []byte {
		return []byte(strings.Replace(string(seed), old, new, 1))
	}
	zoo, zooShard := zooSeed()
	f.Add(zoo, zooShard)
	model, shard := classifierSeed()
	f.Add(model, shard)
	f.Add(replaced(model, `"Softmax"`, `"Softplus"`), shard)
	f.Add(model, shard[:len(shard)-4])
	// Found by review, not by the fuzzer's runs (docs/FUZZING.md): a
	// filter with an empty dimension (the weight rearrangement walked 2^40
	// positions of a filter without values), a zero stride (division by
	// zero in the padding and shape arithmetic), pooling or resizing an
	// input that is not 4-D, and batch-norm parameters of different
	// lengths (index panics).
	f.Add(replaced(model, `"shape":[1,1,3,2]`, `"shape":[1048576,1048576,0,2]`), shard[6*4:])
	f.Add(replaced(model, `"strides":`+intsAttr(1, 1, 1, 1), `"strides":`+intsAttr(1, 0, 1, 1)), shard)
	f.Add(replaced(model, `"strides":`+intsAttr(1, 2, 2, 1), `"strides":`+intsAttr(1, 2, 0, 1)), shard)
	f.Add(replaced(zoo, `"input":["pad"]`, `"input":["bias"]`), zooShard)
	f.Add(replaced(zoo, `"input":["avg","size"]`, `"input":["bias","size"]`), zooShard)
	f.Add(replaced(zoo, `"input":["dw","scale",`, `"input":["dw","bias",`), zooShard)
	f.Fuzz(func(t *testing.T, model, shard []byte) {
		m, err := tfjs.ParseGraphModel(model)
		if err != nil {
			return
		}
		served := false // the first shard holds all the weights
		ws, err := tfjs.DecodeWeights(m.WeightsManifest, func(string) ([]byte, error) {
			if served {
				return nil, nil
			}
			served = true
			return shard, nil
		})
		if err != nil {
			return
		}
		g, err := Convert("fuzz", m, ws)
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "tfconv: ") && !strings.HasPrefix(msg, "onnxgraph: ") {
				t.Fatalf("error %q does not come from the converter", msg)
			}
			if rest, ok := strings.CutPrefix(msg, "tfconv: node "); ok {
				name, err := strconv.QuotedPrefix(rest)
				if err != nil {
					t.Fatalf("error %q does not quote the node's name", msg)
				}
				name, _ = strconv.Unquote(name)
				if !hasNode(m, name) {
					t.Fatalf("error %q names node %q, which the graph does not have", msg, name)
				}
			}
			return
		}
		if len(g.Outputs) == 0 {
			t.Fatal("converted a graph without outputs")
		}
		if _, err := g.Marshal("fuzz"); err != nil {
			t.Fatalf("the converted graph does not encode: %v", err)
		}
	})
}

func hasNode(m *tfjs.GraphModel, name string) bool {
	for _, n := range m.ModelTopology.Node {
		if n.Name == name {
			return true
		}
	}
	return false
}
