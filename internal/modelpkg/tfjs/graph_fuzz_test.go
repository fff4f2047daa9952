package tfjs

import (
	"strings"
	"testing"
)

// fuzzGraph is a small hand-written graph model: a placeholder, a fused
// convolution with constant filter and bias, a pooling, a reshape and a
// softmax, with the kinds of attributes the converter reads.
const fuzzGraph = `{"format":"graph-model","generatedBy":"everify fuzz seed","convertedBy":"hand",
"modelTopology":{"node":[
 {"name":"x","op":"Placeholder","attr":{"dtype":{"type":"DT_FLOAT"},"shape":{"shape":{"dim":[{"size":"-1"},{"size":"4"},{"size":"4"},{"size":"3"}]}}}},
 {"name":"w","op":"Const","attr":{"dtype":{"type":"DT_FLOAT"},"value":{"tensor":{"dtype":"DT_FLOAT","tensorShape":{"dim":[{"size":"1"},{"size":"1"},{"size":"3"},{"size":"2"}]}}}}},
 {"name":"b","op":"Const","attr":{"dtype":{"type":"DT_FLOAT"}}},
 {"name":"conv","op":"_FusedConv2D","input":["x","w","b","^x"],"attr":{"data_format":{"s":"TkhXQw=="},"padding":{"s":"U0FNRQ=="},
   "strides":{"list":{"i":["1","1","1","1"]}},"dilations":{"list":{"i":[1,1,1,1]}},"fused_ops":{"list":{"s":["Qmlhc0FkZA==","UmVsdQ=="]}},
   "epsilon":{"f":0.0001},"use_cudnn_on_gpu":{"b":true},"num_args":{"i":"1"}}},
 {"name":"pool","op":"MaxPool","input":["conv:0"],"attr":{"ksize":{"list":{"i":["1","2","2","1"]}},"strides":{"list":{"i":["1","2","2","1"]}},"padding":{"s":"VkFMSUQ="}}},
 {"name":"shape","op":"Const","attr":{"dtype":{"type":"DT_INT32"}}},
 {"name":"flat","op":"Reshape","input":["pool","shape"]},
 {"name":"out","op":"Softmax","input":["flat"]}],
 "library":{},"versions":{"producer":440}},
"weightsManifest":[{"paths":["tiny.bin"],"weights":[
 {"name":"w","shape":[1,1,3,2],"dtype":"float32","quantization":{"dtype":"float16","original_dtype":"float32"}},
 {"name":"b","shape":[2],"dtype":"float32","quantization":{"dtype":"uint8","scale":0.1,"min":-0.1}},
 {"name":"shape","shape":[2],"dtype":"int32"}]}],
"signature":{"inputs":{"x":{"name":"x:0"}},"outputs":{"out":{"name":"out:0"}}}}`

// FuzzParseGraphModel parses arbitrary model.json files and reads every
// node through the accessors the converter uses: no input may panic, and
// input references split into a node name and an index consistently.
func FuzzParseGraphModel(f *testing.F) {
	f.Add([]byte(fuzzGraph))
	f.Add([]byte(strings.Replace(fuzzGraph, `"signature":{`, `"userDefinedMetadata":{"signature":{`, 1) + "}"))
	f.Add([]byte(`{"format":"layers-model","modelTopology":{"node":[{"name":"a","op":"Relu"}]}}`))
	f.Add([]byte(`{"format":"graph-model","modelTopology":{"node":[]}}`))
	f.Add([]byte(`{"format":"graph-model","modelTopology":{"node":[{"name":"n","op":"Pad","input":["a:1","^b",":2","c:x"],
		"attr":{"i":{"i":"9223372036854775808"},"s":{"s":"%%%"},"shape":{"shape":{"unknownRank":true}},"l":{"list":{"s":["not base64"],"i":[]}}}}]}}`))
	// Found by review, not by the fuzzer: "a:-1" split as a control
	// dependency on a, which the converter's data inputs disagreed with.
	f.Add([]byte(`{"format":"graph-model","modelTopology":{"node":[{"name":"n","op":"Relu","input":["a:-1"]}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseGraphModel(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "tfjs: ") {
				t.Fatalf("error %q does not come from tfjs", err)
			}
			return
		}
		if m.Format != "graph-model" || len(m.ModelTopology.Node) == 0 {
			t.Fatalf("accepted a model of format %q with %d nodes", m.Format, len(m.ModelTopology.Node))
		}
		for i := range m.ModelTopology.Node {
			n := &m.ModelTopology.Node[i]
			for name := range n.Attr {
				n.String(name)
				n.Strings(name)
				n.Ints(name)
				n.Int(name)
				n.Float(name)
				n.Bool(name)
				if dims, ok := n.Shape(name); ok && len(dims) != len(n.Attr[name].Shape.Dim) {
					t.Fatalf("node %q: shape %s has %d dims, read as %v", n.Name, name, len(n.Attr[name].Shape.Dim), dims)
				}
			}
			for _, ref := range n.Input {
				node, k := SplitInput(ref)
				switch {
				case k == -1 && ref != "^"+node,
					k == 0 && ref != node && !strings.HasPrefix(ref, node+":"),
					k > 0 && !strings.HasPrefix(ref, node+":"),
					k < -1:
					t.Fatalf("SplitInput(%q) = %q, %d", ref, node, k)
				}
			}
		}
		ws, err := DecodeWeights(m.WeightsManifest, fuzzShards(nil))
		if err == nil {
			checkWeights(t, m.WeightsManifest, ws, 0)
		}
	})
}
