package tfjs

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"
)

func TestFloat16ToFloat32(t *testing.T) {
	cases := []struct {
		h    uint16
		want float32
	}{
		{0x0000, 0}, {0x3c00, 1}, {0xc000, -2}, {0x3555, 0.33325195}, {0x7bff, 65504},
		{0x0001, 5.9604645e-08}, // smallest subnormal
		{0x0400, 6.1035156e-05}, // smallest normal
	}
	for _, c := range cases {
		if got := Float16ToFloat32(c.h); got != c.want {
			t.Errorf("Float16ToFloat32(%#04x) = %g, want %g", c.h, got, c.want)
		}
	}
	if !math.IsInf(float64(Float16ToFloat32(0x7c00)), 1) {
		t.Error("0x7c00 is +Inf")
	}
}

func TestDecodeWeights(t *testing.T) {
	groups, err := ParseManifest([]byte(`[
	 {"paths":["a.bin"],"weights":[
	   {"name":"f","shape":[2],"dtype":"float32"},
	   {"name":"q","shape":[3],"dtype":"float32","quantization":{"dtype":"uint8","scale":0.5,"min":-1}}]},
	 {"paths":["b.bin"],"weights":[
	   {"name":"h","shape":[1],"dtype":"float32","quantization":{"dtype":"float16"}},
	   {"name":"i","shape":[1],"dtype":"int32"}]}]`))
	if err != nil {
		t.Fatal(err)
	}
	a := make([]byte, 8, 11)
	binary.LittleEndian.PutUint32(a[0:], math.Float32bits(1.5))
	binary.LittleEndian.PutUint32(a[4:], math.Float32bits(-2))
	a = append(a, 0, 2, 4)
	b := []byte{0x00, 0x3c, 7, 0, 0, 0}
	shards := map[string][]byte{"a.bin": a, "b.bin": b}
	ws, err := DecodeWeights(groups, func(p string) ([]byte, error) { return shards[p], nil })
	if err != nil {
		t.Fatal(err)
	}
	if got := ws["f"].Floats; got[0] != 1.5 || got[1] != -2 {
		t.Errorf("f = %v", got)
	}
	if got := ws["q"].Floats; got[0] != -1 || got[1] != 0 || got[2] != 1 {
		t.Errorf("q = %v, want [-1 0 1]", got)
	}
	if got := ws["h"].Floats; got[0] != 1 {
		t.Errorf("h = %v", got)
	}
	if got := ws["i"].Ints; got[0] != 7 {
		t.Errorf("i = %v", got)
	}

	shards["b.bin"] = b[:4]
	if _, err := DecodeWeights(groups, func(p string) ([]byte, error) { return shards[p], nil }); err == nil || !strings.Contains(err.Error(), `"i"`) {
		t.Errorf("short shard: err = %v, want one naming weight i", err)
	}
	shards["b.bin"] = append(b, 0)
	if _, err := DecodeWeights(groups, func(p string) ([]byte, error) { return shards[p], nil }); err == nil {
		t.Error("long shard: want an error")
	}
}
