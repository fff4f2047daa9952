package onnx_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/everify/everify/internal/modelpkg"
	"github.com/everify/everify/internal/vision"
	"github.com/everify/everify/internal/vision/onnx"
)

// tfjsWasm is one model's timing under TF.js with the WebAssembly backend.
type tfjsWasm struct {
	SIMD    bool    `json:"simd"`
	Threads int     `json:"threads"`
	P50     float64 `json:"p50_ms"`
	P99     float64 `json:"p99_ms"`
}

var (
	wasmMu      sync.Mutex
	wasmResults = map[string]tfjsWasm{}
)

// wasmBaseline times the original model under tfjs-backend-wasm once per
// benchmark process (node tools/node/tfjs-bench.mjs).
func wasmBaseline(b *testing.B, tools, modelJSON string, shape []int64) tfjsWasm {
	wasmMu.Lock()
	defer wasmMu.Unlock()
	if r, ok := wasmResults[modelJSON]; ok {
		return r
	}
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = fmt.Sprint(d)
	}
	cmd := exec.Command("node", filepath.Join(tools, "tfjs-bench.mjs"), modelJSON, strings.Join(dims, ","), "30", fmt.Sprint(runtime.GOMAXPROCS(0)))
	cmd.Dir = tools
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("tfjs-bench %s: %v", modelJSON, err)
	}
	var r tfjsWasm
	if err := json.Unmarshal(out, &r); err != nil {
		b.Fatalf("tfjs-bench %s: %v: %s", modelJSON, err, out)
	}
	wasmResults[modelJSON] = r
	return r
}

// BenchmarkModels measures every installed model in ONNX Runtime:
//
//   - NAME/single: one session with one intra-op thread, runs one after
//     another; reports p50-ms and p99-ms per inference, and for graph
//     models the same model under TF.js with tfjs-backend-wasm in Node
//     (wasm-p50-ms) and the ratio wasm-p50 / onnx-p50 (x-vs-wasm, above 1
//     means ONNX Runtime is faster).
//   - NAME/throughput: GOMAXPROCS sessions of one thread each, driven by as
//     many goroutines; reports inferences/s.
//
// Run with `make bench-models` (or go test -run '^$' -bench Models
// -benchtime 30x ./internal/vision/onnx).
func BenchmarkModels(b *testing.B) {
	dir, m := modelsDir(b)
	tools := nodeTools(b)
	single, err := onnx.Open(dir, onnx.Options{PoolSize: 1, IntraOpThreads: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer single.Close()
	parallel, err := onnx.Open(dir, onnx.Options{IntraOpThreads: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer parallel.Close()
	ctx := context.Background()
	for _, e := range m.Models {
		spec, _ := modelpkg.Lookup(e.Name)
		b.Run(e.Name+"/single", func(b *testing.B) {
			model, err := single.Load(e.Name)
			if err != nil {
				b.Fatal(err)
			}
			in := benchInputs(model)
			if _, err := model.Run(ctx, in...); err != nil { // warm-up
				b.Fatal(err)
			}
			times := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				if _, err := model.Run(ctx, in...); err != nil {
					b.Fatal(err)
				}
				times = append(times, time.Since(t0))
			}
			b.StopTimer()
			slices.Sort(times)
			p50 := ms(times[len(times)/2])
			b.ReportMetric(p50, "p50-ms")
			b.ReportMetric(ms(times[min(len(times)-1, len(times)*99/100)]), "p99-ms")
			if spec.FaceAPINet == "" {
				src := filepath.Join(dir, filepath.FromSlash(modelpkg.SourceDir(spec.Package)), filepath.FromSlash(e.Source))
				w := wasmBaseline(b, tools, src, in[0].Shape)
				b.ReportMetric(w.P50, "wasm-p50-ms")
				b.ReportMetric(w.P50/p50, "x-vs-wasm")
			}
		})
		b.Run(e.Name+"/throughput", func(b *testing.B) {
			model, err := parallel.Load(e.Name)
			if err != nil {
				b.Fatal(err)
			}
			in := benchInputs(model)
			if _, err := model.Run(ctx, in...); err != nil {
				b.Fatal(err)
			}
			b.SetParallelism(1) // GOMAXPROCS goroutines, one per session
			start := time.Now()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := model.Run(ctx, in...); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "inferences/s")
		})
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// benchInputs returns a batch-1 input in [0, 1) (every installed model
// has one input).
func benchInputs(m vision.Model) []vision.Tensor {
	t := randomInput(m, 1)
	for j := range t.Data {
		t.Data[j] = (t.Data[j] + 1) / 2
	}
	return []vision.Tensor{t}
}
