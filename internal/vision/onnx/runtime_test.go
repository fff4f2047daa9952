package onnx_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/everify/everify/internal/vision"
	"github.com/everify/everify/internal/vision/onnx"
)

func randomInput(m vision.Model, seed uint64) vision.Tensor {
	shape := slices.Clone(m.Inputs()[0].Shape)
	if shape[0] < 0 {
		shape[0] = 1
	}
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	r := rand.New(rand.NewPCG(seed, 7))
	data := make([]float32, n)
	for i := range data {
		data[i] = 2*r.Float32() - 1
	}
	return vision.Tensor{Shape: shape, Data: data}
}

// TestConcurrentRuns runs one model from many goroutines through a pool of
// two sessions: every result must equal the serial result for its input.
func TestConcurrentRuns(t *testing.T) {
	dir, _ := modelsDir(t)
	rt, err := onnx.Open(dir, onnx.Options{PoolSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	m, err := rt.Load("blazeface-front")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := rt.Load("blazeface-front"); again != m {
		t.Error("second Load returned a different model")
	}
	ctx := context.Background()
	inputs := []vision.Tensor{randomInput(m, 1), randomInput(m, 2), randomInput(m, 3)}
	want := make([][]vision.Tensor, len(inputs))
	for i, in := range inputs {
		if want[i], err = m.Run(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	if slices.Equal(want[0][0].Data, want[1][0].Data) {
		t.Fatal("different inputs gave identical outputs")
	}
	var wg sync.WaitGroup
	errs := make(chan error, 12)
	for g := range 12 {
		wg.Go(func() {
			i := g % len(inputs)
			got, err := m.Run(ctx, inputs[i])
			if err != nil {
				errs <- err
				return
			}
			for k := range got {
				if !slices.Equal(got[k].Data, want[i][k].Data) || !slices.Equal(got[k].Shape, want[i][k].Shape) {
					errs <- errors.New("concurrent run differs from the serial run")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestRunErrors(t *testing.T) {
	dir, _ := modelsDir(t)
	rt, err := onnx.Open(dir, onnx.Options{PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	if _, err := rt.Load("no-such-model"); err == nil || !strings.Contains(err.Error(), "models install") {
		t.Errorf("unknown model: err = %v, want one saying how to install", err)
	}
	if _, err := rt.Load("../manifest"); err == nil {
		t.Error("a path as model name was accepted")
	}
	m, err := rt.Load("liveness")
	if err != nil {
		t.Fatal(err)
	}
	wantIn := "[-1 32 32 3]"
	if got := m.Inputs()[0].Shape; fmt.Sprint(got) != wantIn {
		t.Errorf("liveness input shape %v, want %s", got, wantIn)
	}
	bad := vision.Tensor{Shape: []int64{1, 31, 32, 3}, Data: make([]float32, 31*32*3)}
	if _, err := m.Run(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "[1 31 32 3]") {
		t.Errorf("wrong shape: err = %v, want one naming the shape", err)
	}
	short := vision.Tensor{Shape: []int64{1, 32, 32, 3}, Data: make([]float32, 10)}
	if _, err := m.Run(context.Background(), short); err == nil {
		t.Error("too little data accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Run(ctx, randomInput(m, 1)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: err = %v, want context.Canceled", err)
	}
	// A batch of 3 works where the batch is free.
	batch := vision.Tensor{Shape: []int64{3, 32, 32, 3}, Data: make([]float32, 3*32*32*3)}
	out, err := m.Run(context.Background(), batch)
	if err != nil || fmt.Sprint(out[0].Shape) != "[3 2]" {
		t.Errorf("batch of 3: shape %v, err %v; want [3 2]", out, err)
	}
}
