package tfjs

import (
	"errors"
	"strings"
	"testing"
)

// errMissingShard is the fuzz shard reader's answer for a path that names
// a missing file.
var errMissingShard = errors.New("no such shard")

// fuzzShards returns a shard reader that serves data as the first shard
// asked for and empty shards after it; paths containing "missing" fail.
func fuzzShards(data []byte) func(string) ([]byte, error) {
	served := false
	return func(p string) ([]byte, error) {
		if strings.Contains(p, "missing") {
			return nil, errMissingShard
		}
		if served {
			return nil, nil
		}
		served = true
		return data, nil
	}
}

// checkWeights checks decoded weights against their manifest: every weight
// has the number of values its shape describes, in the slice its dtype
// says, and all of them together fit in the shard bytes (every value takes
// at least one byte), which bounds what decoding may allocate.
func checkWeights(t *testing.T, groups []WeightGroup, ws map[string]*Weight, shardBytes int) {
	t.Helper()
	total := 0
	for _, g := range groups {
		for _, s := range g.Weights {
			w := ws[s.Name]
			if w == nil {
				t.Fatalf("weight %q of the manifest was not decoded", s.Name)
			}
			n := 1
			for _, d := range w.Shape {
				if d < 0 {
					t.Fatalf("weight %q decoded with shape %v", w.Name, w.Shape)
				}
				n *= int(d)
			}
			switch {
			case w.DType == "int32" && (w.Floats != nil || len(w.Ints) != n),
				w.DType != "int32" && (w.Ints != nil || len(w.Floats) != n):
				t.Fatalf("weight %q (%s, shape %v) decoded to %d floats and %d ints", w.Name, w.DType, w.Shape, len(w.Floats), len(w.Ints))
			}
		}
	}
	for _, w := range ws {
		total += len(w.Floats) + len(w.Ints)
	}
	if total > shardBytes {
		t.Fatalf("decoded %d values from %d bytes of shards", total, shardBytes)
	}
}

// FuzzDecodeWeights parses arbitrary weights manifests and decodes
// arbitrary shard bytes with them: no input may panic or allocate more
// values than the shards hold, errors come from this package, and decoded
// weights match their manifest entries.
func FuzzDecodeWeights(f *testing.F) {
	f.Add([]byte(`[{"paths":["a.bin"],"weights":[{"name":"f","shape":[2],"dtype":"float32"}]}]`),
		[]byte{0, 0, 0xc0, 0x3f, 0, 0, 0, 0xc0})
	f.Add([]byte(`[{"paths":["a.bin"],"weights":[
		{"name":"q","shape":[3],"dtype":"float32","quantization":{"dtype":"uint8","scale":0.5,"min":-1}},
		{"name":"u","shape":[1,2],"dtype":"float32","quantization":{"dtype":"uint16","scale":0.01,"min":0}},
		{"name":"h","shape":[1],"dtype":"float32","quantization":{"dtype":"float16","original_dtype":"float32"}},
		{"name":"i","shape":[1],"dtype":"int32"},
		{"name":"iq","shape":[2],"dtype":"int32","quantization":{"dtype":"uint8","scale":1,"min":-128}}]}]`),
		[]byte{0, 2, 4, 1, 0, 2, 0, 0x00, 0x3c, 7, 0, 0, 0, 127, 129})
	f.Add([]byte(`[{"paths":["a.bin","missing.bin"],"weights":[{"name":"s","shape":[],"dtype":"float32"}]}]`), []byte{0, 0, 0, 0})
	f.Add([]byte(`[{"paths":["a.bin"],"weights":[{"name":"e","shape":[0,5],"dtype":"int32"},{"name":"b","shape":[1],"dtype":"bool"}]}]`), []byte{1})
	f.Add([]byte(`[{"paths":["a.bin"],"weights":[{"name":"big","shape":[65536,65536],"dtype":"float32"}]}]`), []byte{0})
	f.Add([]byte(`{"paths":[]}`), []byte{})
	// Found by review, not by the fuzzer: a negative dimension made a
	// negative length (a makeslice panic, or [-1,-1] read as one value), and
	// 2^62 values overflowed the byte count to 0.
	f.Add([]byte(`[{"paths":["a.bin"],"weights":[{"name":"neg","shape":[-1],"dtype":"float32"}]}]`), []byte{1, 2, 3, 4})
	f.Add([]byte(`[{"paths":["a.bin"],"weights":[{"name":"negs","shape":[-1,-1],"dtype":"float32"}]}]`), []byte{1, 2, 3, 4})
	f.Add([]byte(`[{"paths":["a.bin"],"weights":[{"name":"q","shape":[-3],"dtype":"int32","quantization":{"dtype":"uint8"}}]}]`), []byte{1})
	f.Add([]byte(`[{"paths":["a.bin"],"weights":[{"name":"wrap","shape":[4611686018427387904],"dtype":"float32"}]}]`), []byte{1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, manifest, shard []byte) {
		groups, err := ParseManifest(manifest)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "tfjs: ") {
				t.Fatalf("error %q does not come from tfjs", err)
			}
			return
		}
		ws, err := DecodeWeights(groups, fuzzShards(shard))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "tfjs: ") {
				t.Fatalf("error %q does not come from tfjs", err)
			}
			return
		}
		checkWeights(t, groups, ws, len(shard))
	})
}
