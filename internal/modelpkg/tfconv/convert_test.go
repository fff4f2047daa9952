package tfconv

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/everify/everify/internal/modelpkg/tfjs"
)

// graphJSON builds a model.json from node JSON fragments.
func graphJSON(nodes ...string) []byte {
	return []byte(`{"format":"graph-model","modelTopology":{"node":[` + strings.Join(nodes, ",") + `]},"weightsManifest":[]}`)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

const placeholder = `{"name":"x","op":"Placeholder","attr":{"shape":{"shape":{"dim":[{"size":"-1"},{"size":"8"},{"size":"8"},{"size":"3"}]}}}}`

func constNode(name string) string { return fmt.Sprintf(`{"name":%q,"op":"Const"}`, name) }

func parse(t *testing.T, data []byte) *tfjs.GraphModel {
	t.Helper()
	m, err := tfjs.ParseGraphModel(data)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestUnknownOperatorNamesTheNode(t *testing.T) {
	m := parse(t, graphJSON(placeholder, `{"name":"mystery/op","op":"FancyNewOp","input":["x"]}`))
	_, err := Convert("t", m, nil)
	if err == nil || !strings.Contains(err.Error(), `"mystery/op"`) || !strings.Contains(err.Error(), "FancyNewOp") {
		t.Fatalf("err = %v, want one naming node mystery/op and op FancyNewOp", err)
	}
}

func TestConvertShapesAndNames(t *testing.T) {
	conv := `{"name":"conv","op":"_FusedConv2D","input":["x","w","b"],"attr":{
		"data_format":{"s":"` + b64("NHWC") + `"},"padding":{"s":"` + b64("SAME") + `"},
		"strides":{"list":{"i":["1","2","2","1"]}},"fused_ops":{"list":{"s":["` + b64("BiasAdd") + `","` + b64("Relu") + `"]}}}}`
	pool := `{"name":"pool","op":"MaxPool","input":["conv"],"attr":{"padding":{"s":"` + b64("VALID") + `"},
		"ksize":{"list":{"i":["1","2","2","1"]}},"strides":{"list":{"i":["1","2","2","1"]}}}}`
	reshape := `{"name":"flat","op":"Reshape","input":["pool","shape"]}`
	mean := `{"name":"avg","op":"Mean","input":["conv","axes"],"attr":{"keep_dims":{"b":false}}}`
	m := parse(t, graphJSON(placeholder, constNode("w"), constNode("b"), constNode("shape"), constNode("axes"), conv, pool, reshape, mean))
	w := map[string]*tfjs.Weight{
		"w":     {Name: "w", Shape: []int64{3, 3, 3, 4}, Floats: make([]float32, 108)},
		"b":     {Name: "b", Shape: []int64{4}, Floats: make([]float32, 4)},
		"shape": {Name: "shape", Shape: []int64{2}, Ints: []int32{-1, 16}},
		"axes":  {Name: "axes", Shape: []int64{2}, Ints: []int32{1, 2}},
	}
	g, err := Convert("t", m, w)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, o := range g.Outputs {
		got[o.Name] = fmt.Sprint(o.Dims)
	}
	want := map[string]string{"avg": "[-1 4]", "flat": "[-1 16]"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("outputs = %v, want %v", got, want)
	}
	if _, err := g.Marshal("test"); err != nil {
		t.Fatal(err)
	}
	ops := map[string]int{}
	for _, n := range g.Nodes {
		ops[n.Op]++
	}
	// Conv and MaxPool each wrapped in a Transpose pair, Relu fused after the Conv.
	if ops["Conv"] != 1 || ops["MaxPool"] != 1 || ops["Transpose"] != 4 || ops["Relu"] != 1 || ops["ReduceMean"] != 1 {
		t.Errorf("ops = %v", ops)
	}
}

func TestNonConstantFilterIsAnError(t *testing.T) {
	conv := `{"name":"conv","op":"Conv2D","input":["x","x"],"attr":{"padding":{"s":"` + b64("VALID") + `"}}}`
	_, err := Convert("t", parse(t, graphJSON(placeholder, conv)), nil)
	if err == nil || !strings.Contains(err.Error(), `"conv"`) || !strings.Contains(err.Error(), "constant") {
		t.Fatalf("err = %v, want one saying the filter of conv must be constant", err)
	}
}

func TestReshapeShape(t *testing.T) {
	cases := []struct{ in, target, want []int64 }{
		{[]int64{1, 1, 1, 1404}, []int64{-1, 1404}, []int64{1, 1404}},
		{[]int64{-1, 1, 1, 1404}, []int64{-1, 1404}, []int64{-1, 1404}},
		{[]int64{2, 6, 4}, []int64{2, -1}, []int64{2, 24}},
		{nil, []int64{-1, 3}, []int64{-1, 3}},
	}
	for _, c := range cases {
		if got := reshapeShape(c.in, c.target); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("reshapeShape(%v, %v) = %v, want %v", c.in, c.target, got, c.want)
		}
	}
}
