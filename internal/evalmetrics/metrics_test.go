package evalmetrics

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestParsePairs(t *testing.T) {
	t.Parallel()
	in := "2\t2\nAnn\t1\t2\nBob  3 4\nAnn\t1\tBob\t2\nCid\t5\tDee\t1\n" +
		"Eve\t1\t3\nFay\t2\t3\n\nGus\t1\tHal\t1\nIda\t2\tJon\t9\n"
	folds, err := ParsePairs(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(folds) != 2 || len(folds[0]) != 4 || len(folds[1]) != 4 {
		t.Fatalf("got %d folds of sizes %d, %d", len(folds), len(folds[0]), len(folds[1]))
	}
	want := Pair{A: ImageRef{"Bob", 3}, B: ImageRef{"Bob", 4}, Same: true}
	if folds[0][1] != want {
		t.Errorf("fold 1 pair 2 = %+v, want %+v", folds[0][1], want)
	}
	want = Pair{A: ImageRef{"Ida", 2}, B: ImageRef{"Jon", 9}}
	if folds[1][3] != want {
		t.Errorf("fold 2 pair 4 = %+v, want %+v", folds[1][3], want)
	}
	if f := folds[1][3].B.File(); f != "Jon/Jon_0009.jpg" {
		t.Errorf("File = %q", f)
	}

	bad := map[string]string{
		"empty":           "",
		"bad header":      "two 2\n",
		"short":           "1 1\nAnn 1 2\n",
		"wrong same line": "1 1\nAnn 1 Bob 2\nAnn 1 Bob 2\n",
		"wrong diff line": "1 1\nAnn 1 2\nAnn 1 2\n",
		"bad number":      "1 1\nAnn 1 x\nAnn 1 Bob 2\n",
		"zero number":     "1 1\nAnn 0 2\nAnn 1 Bob 2\n",
		"trailing line":   "1 1\nAnn 1 2\nAnn 1 Bob 2\nAnn 1 2\n",
	}
	for name, in := range bad {
		if _, err := ParsePairs(strings.NewReader(in)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestSeparableScores(t *testing.T) {
	t.Parallel()
	var trials []Trial
	for i := 0; i < 50; i++ {
		trials = append(trials, Trial{Score: 0.6 + float64(i)/200, Same: true}, Trial{Score: 0.1 + float64(i)/200})
	}
	thr := BestThreshold(trials)
	if thr <= 0.345 || thr >= 0.6 {
		t.Errorf("threshold %v is not between the classes", thr)
	}
	if a := Accuracy(trials, thr); a != 1 {
		t.Errorf("accuracy = %v, want 1", a)
	}
	if eer, _ := EER(trials); eer != 0 {
		t.Errorf("EER = %v, want 0", eer)
	}
	if tar, thr := TARAtFAR(trials, 0); tar != 1 || thr != 0.6 {
		t.Errorf("TAR@FAR=0 = %v at %v, want 1 at 0.6", tar, thr)
	}
}

func TestFailuresCountAsErrors(t *testing.T) {
	t.Parallel()
	trials := []Trial{
		{Score: 0.9, Same: true}, {Score: 0.8, Same: true}, {Same: true, Failed: true}, {Score: 0.99, Same: true, Failed: true},
		{Score: 0.1}, {Score: 0.2}, {Failed: true}, {Score: 0.3},
	}
	if a := Accuracy(trials, 0.5); a != 5.0/8 {
		t.Errorf("accuracy = %v, want 5/8", a)
	}
	// Failed trials are never accepted, whatever their score: TAR stops at
	// 2/4 and FAR at 3/4 even at the most lenient threshold.
	roc := ROC(trials)
	last := roc[len(roc)-1]
	if last.TAR != 0.5 || last.FAR != 0.75 {
		t.Errorf("last ROC point = %+v, want TAR 0.5 FAR 0.75", last)
	}
	if tar, _ := TARAtFAR(trials, 0); tar != 0.5 {
		t.Errorf("TAR@FAR=0 = %v, want 0.5", tar)
	}
	if eer, _ := EER(trials); eer != 0.5 {
		t.Errorf("EER = %v, want 0.5 (FRR 0.5 = FAR 0.5 between 0.3 and 0.2)", eer)
	}
}

// gaussianTrials draws n same-person scores from N(d, 1) and n
// different-person scores from N(0, 1).
func gaussianTrials(r *rand.Rand, n int, d float64) []Trial {
	out := make([]Trial, 0, 2*n)
	for i := 0; i < n; i++ {
		out = append(out, Trial{Score: d + r.NormFloat64(), Same: true}, Trial{Score: r.NormFloat64()})
	}
	return out
}

// phi is the standard normal CDF.
func phi(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }

func TestGaussianScoresMatchTheory(t *testing.T) {
	t.Parallel()
	const d = 2.0
	r := rand.New(rand.NewPCG(1, 2))
	trials := gaussianTrials(r, 200000, d)
	// Equal-variance Gaussians cross at d/2: EER = Φ(-d/2), and the best
	// accuracy is Φ(d/2).
	eer, thr := EER(trials)
	if want := phi(-d / 2); math.Abs(eer-want) > 0.003 {
		t.Errorf("EER = %.4f, want %.4f", eer, want)
	}
	if math.Abs(thr-d/2) > 0.02 {
		t.Errorf("EER threshold = %.3f, want %.3f", thr, d/2)
	}
	// FAR = 1e-3 at z = 3.0902; TAR = Φ(d - z).
	tar, thr := TARAtFAR(trials, 1e-3)
	if want := phi(d - 3.0902); math.Abs(tar-want) > 0.01 {
		t.Errorf("TAR@FAR=1e-3 = %.4f, want %.4f", tar, want)
	}
	if math.Abs(thr-3.0902) > 0.05 {
		t.Errorf("TAR@FAR=1e-3 threshold = %.3f, want ≈3.09", thr)
	}
	folds := make([][]Trial, 5)
	for i := range folds {
		folds[i] = gaussianTrials(r, 20000, d)
	}
	per, mean, std := KFold(folds)
	if len(per) != 5 {
		t.Fatalf("%d fold results", len(per))
	}
	if want := phi(d / 2); math.Abs(mean-want) > 0.005 {
		t.Errorf("k-fold accuracy = %.4f, want %.4f", mean, want)
	}
	if std <= 0 || std > 0.01 {
		t.Errorf("k-fold std = %v, want small and positive", std)
	}
	for _, f := range per {
		if math.Abs(f.Threshold-d/2) > 0.1 {
			t.Errorf("fold threshold %.3f far from %.3f", f.Threshold, d/2)
		}
	}
}

func TestROCIsMonotone(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	trials := gaussianTrials(r, 500, 1)
	for i := 0; i < 100; i++ {
		trials[i].Score = math.Round(trials[i].Score) // many ties
	}
	roc := ROC(trials)
	if roc[0].FAR != 0 || roc[0].TAR != 0 || !math.IsInf(roc[0].Threshold, 1) {
		t.Errorf("first point %+v", roc[0])
	}
	last := roc[len(roc)-1]
	if last.FAR != 1 || last.TAR != 1 {
		t.Errorf("last point %+v, want FAR = TAR = 1", last)
	}
	for i := 1; i < len(roc); i++ {
		if roc[i].Threshold >= roc[i-1].Threshold || roc[i].FAR < roc[i-1].FAR || roc[i].TAR < roc[i-1].TAR {
			t.Fatalf("not monotone at %d: %+v after %+v", i, roc[i], roc[i-1])
		}
	}
	if ROC([]Trial{{Score: 1, Same: true}}) != nil {
		t.Error("ROC without different-person trials is not nil")
	}
}
