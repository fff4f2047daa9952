package evaluate

import (
	"context"
	"testing"

	"github.com/everify/everify/internal/evaldata"
	"github.com/everify/everify/internal/liveness"
	"github.com/everify/everify/internal/vision/visiontest"
)

// TestReducedDevEvaluation builds the development evaluation and runs a
// reduced part of it: a few items of every label. The floors are the
// measured rates of the full run (docs/EVALUATION.md) with a margin for
// the smaller sample.
func TestReducedDevEvaluation(t *testing.T) {
	evaldata.Require(t, "video/live")
	rt := visiontest.Runtime(t, "blazeface-back", "facemesh", liveness.DefaultEmbedder, "antispoof", "liveness")
	a, err := liveness.NewAnalyzer(rt)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	items, err := BuildDev(ctx, DevOptions{Data: evaldata.Dir(), Cache: t.TempDir(), LFWPhotos: 2})
	if err != nil {
		t.Fatal(err)
	}
	perLabel := map[string]int{BonaFide: 6, SpeciesStillPhoto: 3, SpeciesPrint: 4, SpeciesReplay: 1,
		SpeciesWrongChallenge: 3, SpeciesDuplicated: 2, SpeciesTimestamps: 4, SpeciesSplice: 2}
	byLabel := map[string][]Item{}
	for _, it := range items {
		byLabel[it.Label] = append(byLabel[it.Label], it)
	}
	var subset []Item
	for label, n := range perLabel {
		all := byLabel[label]
		if len(all) < n {
			t.Fatalf("the dev manifest has %d %s items, want at least %d", len(all), label, n)
		}
		for k := range n { // spread over the label's items
			subset = append(subset, all[(2*k+1)*len(all)/(2*n)])
		}
	}
	rep, err := Run(ctx, a, subset, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range rep.Items {
		t.Logf("%-20s %-5v %5.1f %v %s", v.Label, v.Accepted, v.LivenessScore, v.Reasons, v.Path)
	}
	if rep.BPCER > 1.0/6 {
		t.Errorf("BPCER %.2f, want at most 1 in 6", rep.BPCER)
	}
	for _, s := range []string{SpeciesStillPhoto, SpeciesWrongChallenge, SpeciesDuplicated, SpeciesTimestamps, SpeciesSplice, SpeciesPrint} {
		if rep.APCER[s] > 0 {
			t.Errorf("APCER %s %.2f, want 0", s, rep.APCER[s])
		}
	}
	for _, s := range []string{SpeciesDuplicated, SpeciesTimestamps, SpeciesSplice} {
		if rep.Detected[s] < 1 {
			t.Errorf("%s: spoof detected in %.0f%%, want every item", s, 100*rep.Detected[s])
		}
	}
}
