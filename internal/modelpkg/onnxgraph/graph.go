// Package onnxgraph is a small in-memory ONNX graph and its protobuf
// encoding. The TF.js converter and the face-api architecture builders both
// produce a Graph; Marshal turns it into an ONNX ModelProto that ONNX
// Runtime loads.
//
// Only the parts of onnx.proto that everify writes are encoded: tensors with
// raw little-endian data, nodes with scalar, list and tensor attributes,
// float/int64 graph inputs and outputs with static or symbolic dimensions.
package onnxgraph

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
)

// Versions written into every model. ONNX Runtime 1.30 reads IR 10 and
// opsets up to 23; everify's graphs need nothing newer than opset 17.
const (
	IRVersion = 8
	Opset     = 17
)

// DataType is an ONNX TensorProto element type.
type DataType int32

// The element types everify uses.
const (
	Float   DataType = 1
	Uint8   DataType = 2
	Int32   DataType = 6
	Int64   DataType = 7
	Bool    DataType = 9
	Float16 DataType = 10
)

// Tensor is a constant (an initializer or a tensor attribute). Exactly one
// of Floats, Int64s or Int32s holds the data, matching Type.
type Tensor struct {
	Name   string
	Type   DataType
	Dims   []int64
	Floats []float32
	Int64s []int64
	Int32s []int32
}

// FloatTensor returns a float32 tensor.
func FloatTensor(name string, dims []int64, data []float32) *Tensor {
	return &Tensor{Name: name, Type: Float, Dims: dims, Floats: data}
}

// Int64Tensor returns an int64 tensor.
func Int64Tensor(name string, dims []int64, data []int64) *Tensor {
	return &Tensor{Name: name, Type: Int64, Dims: dims, Int64s: data}
}

// Len returns the number of elements the dims describe.
func (t *Tensor) Len() int {
	n := 1
	for _, d := range t.Dims {
		n *= int(d)
	}
	return n
}

// Attr is a node attribute. Set exactly one value field; Kind says which.
type Attr struct {
	Name   string
	Kind   AttrKind
	Float  float32
	Int    int64
	String string
	Tensor *Tensor
	Floats []float32
	Ints   []int64
}

// AttrKind is ONNX's AttributeProto.AttributeType.
type AttrKind int32

// The attribute kinds everify writes.
const (
	AttrFloat  AttrKind = 1
	AttrInt    AttrKind = 2
	AttrString AttrKind = 3
	AttrTensor AttrKind = 4
	AttrFloats AttrKind = 6
	AttrInts   AttrKind = 7
)

// AInt, AInts, AFloat, AFloats, AString and ATensor build attributes.
func AInt(name string, v int64) Attr         { return Attr{Name: name, Kind: AttrInt, Int: v} }
func AInts(name string, v ...int64) Attr     { return Attr{Name: name, Kind: AttrInts, Ints: v} }
func AFloat(name string, v float32) Attr     { return Attr{Name: name, Kind: AttrFloat, Float: v} }
func AFloats(name string, v ...float32) Attr { return Attr{Name: name, Kind: AttrFloats, Floats: v} }
func AString(name string, v string) Attr     { return Attr{Name: name, Kind: AttrString, String: v} }
func ATensor(name string, t *Tensor) Attr    { return Attr{Name: name, Kind: AttrTensor, Tensor: t} }

// Node is one operator application.
type Node struct {
	Name    string
	Op      string
	Inputs  []string // "" marks an omitted optional input
	Outputs []string
	Attrs   []Attr
}

// Value is a graph input or output. A dimension < 0 is symbolic; its name
// comes from DimNames when set, else "N". Nil Dims means the shape (even
// the rank) is not known; an empty non-nil Dims is a scalar.
type Value struct {
	Name     string
	Type     DataType
	Dims     []int64
	DimNames []string
}

// Graph is an ONNX graph plus the model-level metadata written with it.
type Graph struct {
	Name         string
	Inputs       []Value
	Outputs      []Value
	Nodes        []Node
	Initializers []*Tensor
	// Metadata is written as the model's metadata_props.
	Metadata map[string]string
	// DocString describes where the model came from.
	DocString string
}

// AddNode appends a node and returns its first output name.
func (g *Graph) AddNode(op, name string, inputs []string, outputs []string, attrs ...Attr) string {
	g.Nodes = append(g.Nodes, Node{Name: name, Op: op, Inputs: inputs, Outputs: outputs, Attrs: attrs})
	return outputs[0]
}

// AddInitializer appends a constant and returns its name.
func (g *Graph) AddInitializer(t *Tensor) string {
	g.Initializers = append(g.Initializers, t)
	return t.Name
}

// Validate checks that every node input is produced by an earlier node, a
// graph input or an initializer, and that every graph output is produced.
// It reports the first offending node by name.
func (g *Graph) Validate() error {
	known := map[string]bool{"": true}
	for _, v := range g.Inputs {
		known[v.Name] = true
	}
	for _, t := range g.Initializers {
		if t.Len() != tensorDataLen(t) {
			return fmt.Errorf("onnxgraph: initializer %q: dims %v describe %d elements, data has %d", t.Name, t.Dims, t.Len(), tensorDataLen(t))
		}
		known[t.Name] = true
	}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			if !known[in] {
				return fmt.Errorf("onnxgraph: node %q (%s): input %q is not produced before it", n.Name, n.Op, in)
			}
		}
		for _, out := range n.Outputs {
			known[out] = true
		}
	}
	for _, v := range g.Outputs {
		if !known[v.Name] {
			return fmt.Errorf("onnxgraph: graph output %q is never produced", v.Name)
		}
	}
	return nil
}

func tensorDataLen(t *Tensor) int {
	switch t.Type {
	case Int64:
		return len(t.Int64s)
	case Int32:
		return len(t.Int32s)
	default:
		return len(t.Floats)
	}
}

// Marshal validates g and encodes it as an ONNX ModelProto.
func (g *Graph) Marshal(producer string) ([]byte, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	var m []byte
	m = protowire.AppendTag(m, 1, protowire.VarintType) // ir_version
	m = protowire.AppendVarint(m, IRVersion)
	m = appendString(m, 2, producer) // producer_name
	if g.DocString != "" {
		m = appendString(m, 6, g.DocString)
	}
	m = appendBytes(m, 7, g.encodeGraph())
	var opset []byte
	opset = appendString(opset, 1, "")
	opset = protowire.AppendTag(opset, 2, protowire.VarintType)
	opset = protowire.AppendVarint(opset, Opset)
	m = appendBytes(m, 8, opset)
	for _, k := range slices.Sorted(maps.Keys(g.Metadata)) {
		var kv []byte
		kv = appendString(kv, 1, k)
		kv = appendString(kv, 2, g.Metadata[k])
		m = appendBytes(m, 14, kv)
	}
	return m, nil
}

func (g *Graph) encodeGraph() []byte {
	var b []byte
	for _, n := range g.Nodes {
		b = appendBytes(b, 1, encodeNode(n))
	}
	b = appendString(b, 2, g.Name)
	for _, t := range g.Initializers {
		b = appendBytes(b, 5, encodeTensor(t))
	}
	for _, v := range g.Inputs {
		b = appendBytes(b, 11, encodeValue(v))
	}
	for _, v := range g.Outputs {
		b = appendBytes(b, 12, encodeValue(v))
	}
	return b
}

func encodeNode(n Node) []byte {
	var b []byte
	for _, in := range n.Inputs {
		b = appendString(b, 1, in)
	}
	for _, out := range n.Outputs {
		b = appendString(b, 2, out)
	}
	b = appendString(b, 3, n.Name)
	b = appendString(b, 4, n.Op)
	for _, a := range n.Attrs {
		b = appendBytes(b, 5, encodeAttr(a))
	}
	return b
}

func encodeAttr(a Attr) []byte {
	var b []byte
	b = appendString(b, 1, a.Name)
	switch a.Kind {
	case AttrFloat:
		b = protowire.AppendTag(b, 2, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(a.Float))
	case AttrInt:
		b = protowire.AppendTag(b, 3, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(a.Int))
	case AttrString:
		b = appendString(b, 4, a.String)
	case AttrTensor:
		b = appendBytes(b, 5, encodeTensor(a.Tensor))
	case AttrFloats:
		var p []byte
		for _, f := range a.Floats {
			p = protowire.AppendFixed32(p, math.Float32bits(f))
		}
		b = appendBytes(b, 7, p)
	case AttrInts:
		var p []byte
		for _, i := range a.Ints {
			p = protowire.AppendVarint(p, uint64(i))
		}
		b = appendBytes(b, 8, p)
	}
	b = protowire.AppendTag(b, 20, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(a.Kind))
	return b
}

func encodeTensor(t *Tensor) []byte {
	var b []byte
	if len(t.Dims) > 0 {
		var p []byte
		for _, d := range t.Dims {
			p = protowire.AppendVarint(p, uint64(d))
		}
		b = appendBytes(b, 1, p)
	}
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(t.Type))
	b = appendString(b, 8, t.Name)
	var raw []byte
	switch t.Type {
	case Int64:
		raw = make([]byte, 8*len(t.Int64s))
		for i, v := range t.Int64s {
			binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
		}
	case Int32:
		raw = make([]byte, 4*len(t.Int32s))
		for i, v := range t.Int32s {
			binary.LittleEndian.PutUint32(raw[4*i:], uint32(v))
		}
	default:
		raw = make([]byte, 4*len(t.Floats))
		for i, v := range t.Floats {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
		}
	}
	return appendBytes(b, 9, raw)
}

func encodeValue(v Value) []byte {
	var tt []byte
	tt = protowire.AppendTag(tt, 1, protowire.VarintType)
	tt = protowire.AppendVarint(tt, uint64(v.Type))
	if v.Dims != nil {
		tt = appendBytes(tt, 2, encodeShape(v))
	}
	var typ []byte
	typ = appendBytes(typ, 1, tt)
	var b []byte
	b = appendString(b, 1, v.Name)
	return appendBytes(b, 2, typ)
}

func encodeShape(v Value) []byte {
	var shape []byte
	for i, d := range v.Dims {
		var dim []byte
		if d >= 0 {
			dim = protowire.AppendTag(dim, 1, protowire.VarintType)
			dim = protowire.AppendVarint(dim, uint64(d))
		} else {
			name := "N"
			if i < len(v.DimNames) && v.DimNames[i] != "" {
				name = v.DimNames[i]
			}
			dim = appendString(dim, 2, name)
		}
		shape = appendBytes(shape, 1, dim)
	}
	return shape
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}
