package faceeval_test

import (
	"context"
	"image"
	"os"
	"path/filepath"
	"testing"

	"github.com/everify/everify/internal/evaldata"
	"github.com/everify/everify/internal/evalmetrics"
	"github.com/everify/everify/internal/facematch"
	"github.com/everify/everify/internal/facematch/faceeval"
	"github.com/everify/everify/internal/imagein"
	"github.com/everify/everify/internal/vision/faceapi"
	"github.com/everify/everify/internal/vision/visiontest"
)

// Floors of TestReducedLFW, set from measured values with a margin (the
// full protocol on lfw-dev is in docs/EVALUATION.md).
const (
	reducedAccuracyFloor = 0.96 // measured 1.000 on this subset
	reducedTARFloor      = 0.90 // TAR at score 60; measured 0.98
)

// TestReducedLFW runs the evaluation on the first 20 same-person and 20
// different-person pairs of each lfw-dev fold (200 pairs): the accuracy
// and the TAR at the calibrated FAR 1e-3 threshold must stay above their
// floors, and every face must be found.
func TestReducedLFW(t *testing.T) {
	pairsFile := evaldata.Require(t, "lfw-dev/pairs.txt")
	root := filepath.Join(filepath.Dir(pairsFile), "images")
	folds := subset(t, pairsFile, 20)
	rt := visiontest.Runtime(t, "blazeface-front", "blazeface-back", "facemesh", faceapi.EmbedderModel)
	eng, err := facematch.New(rt, facematch.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep, sc, err := faceeval.Run(context.Background(), eng, folds, faceeval.Options{Photo: loader(root)})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("accuracy %.4f ± %.4f, EER %.4f, TAR@60 %.4f, TAR@80 %.4f, failures %d, impostor pairs %d",
		rep.Accuracy, rep.AccuracyStd, rep.EER, rep.TARAtFAR1e3, rep.TARAtFAR1e4, rep.FailuresToDetect, rep.ImpostorPairs)
	if rep.Pairs != 200 || rep.FailuresToDetect != 0 {
		t.Errorf("%d pairs, %d failures to detect; want 200 and 0", rep.Pairs, rep.FailuresToDetect)
	}
	if rep.Accuracy < reducedAccuracyFloor {
		t.Errorf("accuracy %.4f, below the floor %.2f", rep.Accuracy, reducedAccuracyFloor)
	}
	if rep.TARAtFAR1e3 < reducedTARFloor {
		t.Errorf("TAR at score 60: %.4f, below the floor %.2f", rep.TARAtFAR1e3, reducedTARFloor)
	}
	// Every cross-identity pair of the subset's images is an impostor
	// trial: n images give n(n-1)/2 pairs, less those of one person.
	perID := map[string]int{}
	seen := map[string]bool{}
	for _, f := range folds {
		for _, p := range f {
			for _, r := range []evalmetrics.ImageRef{p.A, p.B} {
				if !seen[r.File()] {
					seen[r.File()] = true
					perID[r.Name]++
				}
			}
		}
	}
	want := len(seen) * (len(seen) - 1) / 2
	for _, k := range perID {
		want -= k * (k - 1) / 2
	}
	if rep.ImpostorPairs != want || len(sc.Impostor) != want {
		t.Errorf("%d impostor pairs, %d scored; want %d", rep.ImpostorPairs, len(sc.Impostor), want)
	}
	// The plots render.
	dir := t.TempDir()
	files, err := faceeval.WritePlots(dir, faceeval.Curves(sc, "test"), sc, eng.Calibration())
	if err != nil || len(files) != 3 {
		t.Fatalf("plots: %v %v", files, err)
	}
}

// TestFailedImagesCountAsErrors: a pair whose image cannot be read is a
// failure to detect and an error in the accuracy, never dropped.
func TestFailedImagesCountAsErrors(t *testing.T) {
	pairsFile := evaldata.Require(t, "lfw-dev/pairs.txt")
	root := filepath.Join(filepath.Dir(pairsFile), "images")
	folds := subset(t, pairsFile, 2)
	rt := visiontest.Runtime(t, "blazeface-front", "blazeface-back", "facemesh", faceapi.EmbedderModel)
	eng, err := facematch.New(rt, facematch.Options{})
	if err != nil {
		t.Fatal(err)
	}
	broken := folds[0][0].A.File()
	load := loader(root)
	rep, _, err := faceeval.Run(context.Background(), eng, folds, faceeval.Options{Photo: func(file string) (image.Image, error) {
		if file == broken {
			return nil, os.ErrNotExist
		}
		return load(file)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.FailuresToDetect < 1 || rep.ImageFailures["image_unreadable"] != 1 || rep.Pairs != 20 {
		t.Errorf("failures %d (%v) over %d pairs; want the broken image's pairs counted", rep.FailuresToDetect, rep.ImageFailures, rep.Pairs)
	}
	// The broken image is the first of a same-person pair of fold 1 (4
	// pairs): that pair is an error, so fold 1 scores at most 3/4 and the
	// mean over 5 folds at most 0.95.
	if rep.Accuracy > 0.95+1e-9 {
		t.Errorf("accuracy %.3f: the failed same-person pair did not count as an error", rep.Accuracy)
	}
}

// subset reads the pairs file and keeps the first n pairs of each class
// in every fold.
func subset(t *testing.T, path string, n int) [][]evalmetrics.Pair {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	folds, err := evalmetrics.ParsePairs(f)
	if err != nil {
		t.Fatal(err)
	}
	for i, fold := range folds {
		half := len(fold) / 2
		folds[i] = append(append([]evalmetrics.Pair{}, fold[:n]...), fold[half:half+n]...)
	}
	return folds
}

func loader(root string) faceeval.Loader {
	return func(file string) (image.Image, error) {
		data, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			return nil, err
		}
		img, err := imagein.Decode(data, imagein.Limits{})
		if err != nil {
			return nil, err
		}
		return img.RGBA, nil
	}
}
