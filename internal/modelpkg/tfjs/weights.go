// Package tfjs reads TensorFlow.js model files: the weights manifest shared
// by graph models (model.json) and face-api's *-weights_manifest.json, and
// the binary weight shards it describes, including uint8/uint16/float16
// quantised weights.
package tfjs

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
)

// WeightGroup is one entry of a weights manifest: shard files whose
// concatenated bytes hold the listed weights in order.
type WeightGroup struct {
	Paths   []string     `json:"paths"`
	Weights []WeightSpec `json:"weights"`
}

// WeightSpec describes one weight tensor.
type WeightSpec struct {
	Name         string        `json:"name"`
	Shape        []int64       `json:"shape"`
	DType        string        `json:"dtype"` // "float32" or "int32"
	Quantization *Quantization `json:"quantization,omitempty"`
}

// Quantization says how a weight was stored: uint8/uint16 as
// value = q*Scale + Min, or float16.
type Quantization struct {
	DType         string  `json:"dtype"` // "uint8", "uint16" or "float16"
	Scale         float64 `json:"scale"`
	Min           float64 `json:"min"`
	OriginalDType string  `json:"original_dtype,omitempty"`
}

// Weight is a decoded weight tensor. Int32 weights are returned in Ints,
// everything else in Floats.
type Weight struct {
	Name   string
	Shape  []int64
	DType  string
	Floats []float32
	Ints   []int32
}

// elements is the number of elements of the weight's shape, or -1 when a
// dimension is negative or the shape describes more than max elements.
func (s WeightSpec) elements(max int) int {
	if slices.ContainsFunc(s.Shape, func(d int64) bool { return d < 0 }) {
		return -1
	}
	if slices.Contains(s.Shape, 0) {
		return 0
	}
	n := int64(1)
	for _, d := range s.Shape {
		if n > int64(max)/d {
			return -1
		}
		n *= d
	}
	return int(n)
}

// ParseManifest parses a face-api style weights manifest (a JSON array of
// weight groups).
func ParseManifest(data []byte) ([]WeightGroup, error) {
	var groups []WeightGroup
	if err := json.Unmarshal(data, &groups); err != nil {
		return nil, fmt.Errorf("tfjs: weights manifest: %w", err)
	}
	return groups, nil
}

// DecodeWeights decodes every weight of the manifest. shard returns the
// bytes of a shard file named in a group's paths. Weights are laid out back
// to back across the concatenation of all shards of all groups, in manifest
// order. It fails if the shards are shorter or longer than the manifest says.
func DecodeWeights(groups []WeightGroup, shard func(path string) ([]byte, error)) (map[string]*Weight, error) {
	var buf []byte
	var specs []WeightSpec
	for _, g := range groups {
		for _, p := range g.Paths {
			b, err := shard(p)
			if err != nil {
				return nil, fmt.Errorf("tfjs: weight shard %q: %w", p, err)
			}
			buf = append(buf, b...)
		}
		specs = append(specs, g.Weights...)
	}
	out := make(map[string]*Weight, len(specs))
	off := 0
	for _, s := range specs {
		w, n, err := decodeOne(s, buf[off:])
		if err != nil {
			return nil, err
		}
		off += n
		out[s.Name] = w
	}
	if off != len(buf) {
		return nil, fmt.Errorf("tfjs: weight shards hold %d bytes, manifest describes %d", len(buf), off)
	}
	return out, nil
}

func decodeOne(s WeightSpec, b []byte) (*Weight, int, error) {
	// Every value takes at least one byte: a shape that describes more
	// values than bytes are left cannot fit, whatever its dtype.
	n := s.elements(len(b))
	if n < 0 {
		return nil, 0, fmt.Errorf("tfjs: weight %q: shape %v has a negative dimension or more values than the %d bytes left in the shards", s.Name, s.Shape, len(b))
	}
	w := &Weight{Name: s.Name, Shape: s.Shape, DType: s.DType}
	need := func(size int) error {
		if len(b) < size {
			return fmt.Errorf("tfjs: weight %q needs %d bytes, only %d left in the shards", s.Name, size, len(b))
		}
		return nil
	}
	if q := s.Quantization; q != nil {
		var size int
		switch q.DType {
		case "uint8":
			size = n
		case "uint16", "float16":
			size = 2 * n
		default:
			return nil, 0, fmt.Errorf("tfjs: weight %q: unsupported quantization dtype %q", s.Name, q.DType)
		}
		if err := need(size); err != nil {
			return nil, 0, err
		}
		f := make([]float32, n)
		for i := range f {
			switch q.DType {
			case "uint8":
				f[i] = float32(float64(b[i])*q.Scale + q.Min)
			case "uint16":
				f[i] = float32(float64(binary.LittleEndian.Uint16(b[2*i:]))*q.Scale + q.Min)
			case "float16":
				f[i] = Float16ToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
			}
		}
		if s.DType == "int32" {
			w.Ints = make([]int32, n)
			for i, v := range f {
				w.Ints[i] = int32(math.Round(float64(v)))
			}
		} else {
			w.Floats = f
		}
		return w, size, nil
	}
	switch s.DType {
	case "float32", "int32":
	default:
		return nil, 0, fmt.Errorf("tfjs: weight %q: unsupported dtype %q", s.Name, s.DType)
	}
	if err := need(4 * n); err != nil {
		return nil, 0, err
	}
	if s.DType == "int32" {
		w.Ints = make([]int32, n)
		for i := range w.Ints {
			w.Ints[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
		}
	} else {
		w.Floats = make([]float32, n)
		for i := range w.Floats {
			w.Floats[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	}
	return w, 4 * n, nil
}

// Float16ToFloat32 converts an IEEE 754 half-precision value.
func Float16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: renormalise
		e := int32(-14)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		mant &= 0x3ff
		return math.Float32frombits(sign | uint32(e+127)<<23 | mant<<13)
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	default:
		return math.Float32frombits(sign | (exp-15+127)<<23 | mant<<13)
	}
}
