package lfw

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/everify/everify/internal/evaldata"
	"github.com/everify/everify/internal/evalmetrics"
)

func TestImagesOfLFW(t *testing.T) {
	f, err := os.Open(evaldata.Require(t, "lfw-dev/pairs.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	folds, err := evalmetrics.ParsePairs(f)
	if err != nil {
		t.Fatal(err)
	}
	// The data README: folds 1-5 of View 2 reference 3,811 images.
	if n := len(Images(folds)); n != 3811 {
		t.Errorf("%d images, want 3811", n)
	}
}

// unit returns the unit vector at angle a in the plane.
func unit(a float64) []float32 { return []float32{float32(math.Cos(a)), float32(math.Sin(a))} }

func TestEvaluate(t *testing.T) {
	// Two folds of five genuine and five impostor pairs. Genuine pairs are
	// 0.1 rad apart (cosine 0.995), impostor pairs 1 rad (0.540); one
	// impostor pair in fold 1 is as close as a genuine one, and one image
	// of a genuine pair in fold 0 failed.
	emb := map[string][]float32{}
	folds := make([][]evalmetrics.Pair, 2)
	for k := range folds {
		for i := range 5 {
			id := fmt.Sprintf("p%d%d", k, i)
			other := "x" + id
			folds[k] = append(folds[k], evalmetrics.Pair{A: evalmetrics.ImageRef{Name: id, Num: 1}, B: evalmetrics.ImageRef{Name: id, Num: 2}, Same: true})
			emb[evalmetrics.ImageRef{Name: id, Num: 1}.File()] = unit(0)
			emb[evalmetrics.ImageRef{Name: id, Num: 2}.File()] = unit(0.1)
			folds[k] = append(folds[k], evalmetrics.Pair{A: evalmetrics.ImageRef{Name: id, Num: 3}, B: evalmetrics.ImageRef{Name: other, Num: 1}})
			emb[evalmetrics.ImageRef{Name: id, Num: 3}.File()] = unit(2)
			emb[evalmetrics.ImageRef{Name: other, Num: 1}.File()] = unit(3)
		}
	}
	emb[evalmetrics.ImageRef{Name: "xp14", Num: 1}.File()] = unit(2.1)
	emb[evalmetrics.ImageRef{Name: "p00", Num: 2}.File()] = nil

	r := Evaluate(folds, emb)
	if r.Pairs != 20 || r.Failed != 1 {
		t.Errorf("Pairs, Failed = %d, %d; want 20, 1", r.Pairs, r.Failed)
	}
	// Each fold gets a threshold between the clusters and makes one error
	// (the failure, the confusable impostor).
	if math.Abs(r.Accuracy-0.9) > 1e-9 || r.AccuracyStd > 1e-9 {
		t.Errorf("Accuracy = %g ± %g, want 0.9 ± 0", r.Accuracy, r.AccuracyStd)
	}
	if math.Abs(r.EER-0.1) > 1e-9 {
		t.Errorf("EER = %g, want 0.1", r.EER)
	}
	// Every image of a person is at angle 0, 0.1 or 2, others' at 2.1 or
	// 3, so across identities many pairs score as high as genuine ones.
	if r.Impostors == 0 || r.TARAll[0].TAR >= 0.9 {
		t.Errorf("all-pairs report %+v over %d impostors: want many confusable impostors", r.TARAll, r.Impostors)
	}
}

func TestEmbedAllRecordsFailures(t *testing.T) {
	images := []string{"a", "b", "c", "d"}
	got, err := EmbedAll(context.Background(), images, func(_ context.Context, im string) ([]float32, error) {
		if im == "c" {
			return []float32{1}, errors.New("no face")
		}
		return []float32{float32(len(im))}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got["c"] != nil || got["a"] == nil {
		t.Errorf("EmbedAll = %v, want 4 entries with c nil", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := EmbedAll(ctx, images, func(context.Context, string) ([]float32, error) { return nil, nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled EmbedAll error = %v", err)
	}
}
