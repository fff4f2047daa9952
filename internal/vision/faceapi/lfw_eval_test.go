//go:build lfw

package faceapi

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/everify/everify/internal/evaldata"
	"github.com/everify/everify/internal/vision"
	"github.com/everify/everify/internal/vision/faceapi/lfw"
	"github.com/everify/everify/internal/vision/visiontest"
)

// TestLFW measures the recognition net on LFW's View-2 pairs for each
// alignment and prints a table. It takes 30-60 minutes on two cores, so it
// is built only with the lfw tag:
//
//	go test -tags lfw -run TestLFW -v -timeout 3h ./internal/vision/faceapi
//
// EVERIFY_LFW_FACES=FILE keeps the detected faces between runs.
func TestLFW(t *testing.T) {
	root := evaldata.Require(t, "lfw-dev")
	rt := visiontest.Runtime(t, DetectorModel, LandmarkerModel, EmbedderModel)
	folds := readPairs(t, filepath.Join(root, "pairs.txt"))
	images := lfw.Images(folds)
	ctx := context.Background()

	// Detect and landmark every image once; the variants differ only in
	// the landmarks used and the chip.
	faces := lfwFaces(t, rt, root, images)
	t.Logf("%d images: no face in %d", len(images), len(images)-len(faces))

	// flipMarks: landmarks averaged with the mirror image's (the
	// Landmarker's default); chip flips are the Embedder's default.
	single := func(a Alignment) EmbedderOptions { return EmbedderOptions{Alignment: a, NoFlip: true} }
	variants := []struct {
		opts      EmbedderOptions
		flipMarks bool
	}{
		{single(AlignDlib5), false},
		{single(AlignDlib68), false},
		{single(AlignNamed), false},
		{single(AlignFaceAPI), false},
		{single(AlignBox), false},
		{single(AlignDlib5), true},
		{single(AlignDlib68), true},
		{EmbedderOptions{Alignment: AlignDlib5}, true},
		{EmbedderOptions{Alignment: AlignDlib68}, true},
	}
	var table strings.Builder
	fmt.Fprintf(&table, "\n%-36s %6s %15s %7s %15s %13s %13s\n", "alignment", "failed", "accuracy", "EER", "TAR@1e-3 pairs", "TAR@1e-3 all", "TAR@1e-4 all")
	for _, v := range variants {
		emb, err := NewEmbedder(rt, v.opts)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		embs, err := lfw.EmbedAll(ctx, images, func(ctx context.Context, name string) ([]float32, error) {
			f := faces[name]
			if f == nil {
				return nil, fmt.Errorf("no face")
			}
			img, err := decodeFile(filepath.Join(root, "images", name))
			if err != nil {
				return nil, err
			}
			face := f.Plain
			if v.flipMarks {
				face = f.Flip
			}
			return emb.Embed(ctx, img, face)
		})
		if err != nil {
			t.Fatal(err)
		}
		r := lfw.Evaluate(folds, embs)
		name := v.opts.Alignment.String()
		if v.flipMarks {
			name += ", flip landmarks"
		}
		if !v.opts.NoFlip {
			name += ", flip chip"
		}
		fmt.Fprintf(&table, "%-36s %6d %7.2f%% ±%4.2f %6.2f%% %14.2f%% %12.2f%% %12.2f%%\n", name, r.Failed,
			100*r.Accuracy, 100*r.AccuracyStd, 100*r.EER, 100*r.TARPairs.TAR, 100*r.TARAll[0].TAR, 100*r.TARAll[1].TAR)
		t.Logf("%s: embedded in %v; EER threshold %.4f; all-pairs thresholds %.4f / %.4f over %d impostor pairs",
			name, time.Since(start).Round(time.Second), r.EERThreshold, r.TARAll[0].Threshold, r.TARAll[1].Threshold, r.Impostors)
	}
	t.Log(table.String())
}

// lfwFace is the main face of an image with single-run and with
// flip-averaged landmarks (see LandmarkerOptions), both from the same
// detection.
type lfwFace struct {
	Plain, Flip vision.Face
}

// lfwFaces returns the main face of every image that has one, from the
// file $EVERIFY_LFW_FACES when it exists, else by detecting (and then
// saving them there, if set).
func lfwFaces(t *testing.T, rt vision.Runtime, root string, images []string) map[string]*lfwFace {
	cache := os.Getenv("EVERIFY_LFW_FACES")
	faces := map[string]*lfwFace{}
	if cache != "" {
		if data, err := os.ReadFile(cache); err == nil {
			if err := json.Unmarshal(data, &faces); err != nil {
				t.Fatalf("%s: %v", cache, err)
			}
			t.Logf("faces read from %s", cache)
			return faces
		}
	}
	det, err := NewDetector(rt, DetectorOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lm, err := NewLandmarker(rt, LandmarkerOptions{NoFlip: true})
	if err != nil {
		t.Fatal(err)
	}
	lmFlip, err := NewLandmarker(rt, LandmarkerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var mu sync.Mutex
	var done atomic.Int64
	_, err = lfw.EmbedAll(context.Background(), images, func(ctx context.Context, name string) ([]float32, error) {
		img, err := decodeFile(filepath.Join(root, "images", name))
		if err != nil {
			return nil, err
		}
		f, err := mainFace(ctx, det, lm, img)
		if n := done.Add(1); n%500 == 0 {
			t.Logf("%d images detected in %v", n, time.Since(start).Round(time.Second))
		}
		if err != nil {
			return nil, err
		}
		ff, err := lmFlip.Landmarks(ctx, img, f)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		faces[name] = &lfwFace{Plain: f, Flip: ff}
		mu.Unlock()
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if cache != "" {
		data, err := json.Marshal(faces)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cache, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return faces
}
