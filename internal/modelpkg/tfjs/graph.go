package tfjs

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// GraphModel is a TF.js graph model (model.json with format "graph-model"):
// a TensorFlow GraphDef in JSON form plus the weights manifest that holds
// the values of its Const nodes.
type GraphModel struct {
	Format          string        `json:"format"`
	GeneratedBy     string        `json:"generatedBy"`
	ConvertedBy     string        `json:"convertedBy"`
	ModelTopology   GraphDef      `json:"modelTopology"`
	WeightsManifest []WeightGroup `json:"weightsManifest"`
	// Signature is the saved-model signature, when the converter kept one.
	// Some models carry it in userDefinedMetadata instead; ParseGraphModel
	// moves it here.
	Signature           *Signature `json:"signature"`
	UserDefinedMetadata struct {
		Signature *Signature `json:"signature"`
	} `json:"userDefinedMetadata"`
}

// GraphDef is the node list of a TensorFlow graph.
type GraphDef struct {
	Node []NodeDef `json:"node"`
}

// NodeDef is one TensorFlow operation.
type NodeDef struct {
	Name  string               `json:"name"`
	Op    string               `json:"op"`
	Input []string             `json:"input"`
	Attr  map[string]AttrValue `json:"attr"`
}

// Signature names a model's input and output tensors.
type Signature struct {
	Inputs  map[string]TensorSig `json:"inputs"`
	Outputs map[string]TensorSig `json:"outputs"`
}

// TensorSig is one signature entry; Name is a tensor name ("node:0").
type TensorSig struct {
	Name string `json:"name"`
}

// AttrValue is a TensorFlow AttrValue in its JSON form. Integers arrive as
// JSON strings (proto3 int64 encoding); strings are base64.
type AttrValue struct {
	S     string     `json:"s"`
	I     jsonInt    `json:"i"`
	F     float64    `json:"f"`
	B     bool       `json:"b"`
	Type  string     `json:"type"`
	Shape *ShapeAttr `json:"shape"`
	List  *ListAttr  `json:"list"`
}

// ShapeAttr is a TensorShapeProto; a size of -1 is unknown.
type ShapeAttr struct {
	Dim []struct {
		Size jsonInt `json:"size"`
	} `json:"dim"`
	UnknownRank bool `json:"unknownRank"`
}

// ListAttr is the list form of an AttrValue.
type ListAttr struct {
	S []string  `json:"s"`
	I []jsonInt `json:"i"`
	F []float64 `json:"f"`
}

// jsonInt decodes an int64 written either as a JSON number or a string.
type jsonInt int64

func (v *jsonInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("tfjs: integer attribute %s: %w", b, err)
	}
	*v = jsonInt(n)
	return nil
}

// ParseGraphModel parses a TF.js graph model's model.json.
func ParseGraphModel(data []byte) (*GraphModel, error) {
	var m GraphModel
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("tfjs: model.json: %w", err)
	}
	if m.Format != "graph-model" {
		return nil, fmt.Errorf("tfjs: model.json: format %q, want \"graph-model\"", m.Format)
	}
	if len(m.ModelTopology.Node) == 0 {
		return nil, fmt.Errorf("tfjs: model.json: the graph has no nodes")
	}
	if m.Signature == nil {
		m.Signature = m.UserDefinedMetadata.Signature
	}
	return &m, nil
}

// String returns a string attribute, decoded from base64.
func (n *NodeDef) String(name string) (string, bool) {
	a, ok := n.Attr[name]
	if !ok {
		return "", false
	}
	b, err := base64.StdEncoding.DecodeString(a.S)
	if err != nil {
		return "", false
	}
	return string(b), true
}

// Strings returns a list-of-strings attribute, each decoded from base64.
func (n *NodeDef) Strings(name string) []string {
	a, ok := n.Attr[name]
	if !ok || a.List == nil {
		return nil
	}
	out := make([]string, 0, len(a.List.S))
	for _, s := range a.List.S {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			b = []byte(s)
		}
		out = append(out, string(b))
	}
	return out
}

// Ints returns a list-of-ints attribute.
func (n *NodeDef) Ints(name string) []int64 {
	a, ok := n.Attr[name]
	if !ok || a.List == nil {
		return nil
	}
	out := make([]int64, len(a.List.I))
	for i, v := range a.List.I {
		out[i] = int64(v)
	}
	return out
}

// Int returns an int attribute.
func (n *NodeDef) Int(name string) (int64, bool) {
	a, ok := n.Attr[name]
	return int64(a.I), ok
}

// Float returns a float attribute.
func (n *NodeDef) Float(name string) (float64, bool) {
	a, ok := n.Attr[name]
	return a.F, ok
}

// Bool returns a bool attribute (false when absent).
func (n *NodeDef) Bool(name string) bool {
	return n.Attr[name].B
}

// Shape returns a shape attribute; unknown sizes are -1.
func (n *NodeDef) Shape(name string) ([]int64, bool) {
	a, ok := n.Attr[name]
	if !ok || a.Shape == nil || a.Shape.UnknownRank {
		return nil, false
	}
	out := make([]int64, len(a.Shape.Dim))
	for i, d := range a.Shape.Dim {
		out[i] = int64(d.Size)
	}
	return out, true
}

// SplitInput splits a node input reference ("name", "name:1" or the
// control dependency "^name") into the node name and output index. Control
// dependencies have index -1.
func SplitInput(ref string) (node string, index int) {
	if strings.HasPrefix(ref, "^") {
		return ref[1:], -1
	}
	if i := strings.LastIndexByte(ref, ':'); i >= 0 {
		if k, err := strconv.Atoi(ref[i+1:]); err == nil && k >= 0 {
			return ref[:i], k
		}
	}
	return ref, 0
}
