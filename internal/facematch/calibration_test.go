package facematch_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/everify/everify/internal/facematch"
)

// normalCalibration fits a calibration to n draws from a standard normal
// distribution, whose true FMR at s is the normal survival function.
func normalCalibration(t *testing.T, n int) *facematch.Calibration {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	imp := make([]float64, n)
	for i := range imp {
		imp[i] = r.NormFloat64()
	}
	knots, slope, err := facematch.FitKnots(imp)
	if err != nil {
		t.Fatal(err)
	}
	return &facematch.Calibration{
		Version: "test", Knots: knots, TailSlope: slope,
		Models: []facematch.Model{{Name: "m", Weight: 1, ImpostorStd: 1}},
	}
}

// survival is the standard normal's P(X >= s).
func survival(s float64) float64 { return 0.5 * math.Erfc(s/math.Sqrt2) }

func TestFitKnotsFollowsTheImpostorDistribution(t *testing.T) {
	t.Parallel()
	c := normalCalibration(t, 2_000_000)
	// Measured range: within 5% (relative) of the true FMR down to 1e-4
	// (200 draws above).
	for _, s := range []float64{-1, 0, 1, 2, 2.5, 3, 3.5} {
		if got, want := c.FMR(s), survival(s); math.Abs(got-want) > 0.05*want {
			t.Errorf("FMR(%g) = %.3g, want %.3g", s, got, want)
		}
	}
	// Beyond the last knot (FMR 2.5e-5 with 50 pairs left) the fitted
	// tail takes over: the right order of magnitude, falling.
	for _, s := range []float64{4.2, 4.5} {
		got, want := c.FMR(s), survival(s)
		if got > 10*want || got < want/10 {
			t.Errorf("tail FMR(%g) = %.3g, want within 10x of %.3g", s, got, want)
		}
	}
	if !(c.FMR(4.5) < c.FMR(4.2)) {
		t.Errorf("tail does not fall: FMR(4.2) = %g, FMR(4.5) = %g", c.FMR(4.2), c.FMR(4.5))
	}
	// Score 60 is FMR 1e-3, at about 3.09 standard deviations.
	if s := c.Similarity(60); math.Abs(s-3.09) > 0.05 {
		t.Errorf("Similarity(60) = %.3f, want about 3.09", s)
	}
}

func TestScoreIsMonotonicAndInvertible(t *testing.T) {
	t.Parallel()
	c := normalCalibration(t, 500_000)
	prev := -1.0
	for s := -6.0; s <= 8; s += 0.01 {
		sc := c.Score(s)
		if sc < prev || sc < 0 || sc > 100 {
			t.Fatalf("Score(%g) = %g after %g: not monotonic in 0-100", s, sc, prev)
		}
		prev = sc
	}
	if c.Score(-6) != 0 || c.Score(8) != 100 {
		t.Errorf("Score(-6) = %g, Score(8) = %g; want 0 and 100", c.Score(-6), c.Score(8))
	}
	for score := 1.0; score <= 100; score += 3 {
		if got := c.Score(c.Similarity(score)); math.Abs(got-score) > 1e-6 {
			t.Errorf("Score(Similarity(%g)) = %g", score, got)
		}
		if got, want := c.FMR(c.Similarity(score)), facematch.FMRAtScore(score); math.Abs(got-want) > 1e-9*want+1e-12 {
			t.Errorf("FMR at score %g = %g, want %g", score, got, want)
		}
	}
}

func TestFitKnotsNeedsEnoughPairs(t *testing.T) {
	t.Parallel()
	if _, _, err := facematch.FitKnots(make([]float64, 1000)); err == nil {
		t.Error("FitKnots accepted 1000 impostor pairs")
	}
}

func TestParseCalibrationRejectsBadTables(t *testing.T) {
	t.Parallel()
	for name, js := range map[string]string{
		"not json":      `{`,
		"no version":    `{"models":[{"name":"m","weight":1,"impostor_std":1}],"knots":[{"similarity":0,"fmr":1},{"similarity":1,"fmr":0.1}],"tail_slope":-1}`,
		"no models":     `{"version":"v","knots":[{"similarity":0,"fmr":1},{"similarity":1,"fmr":0.1}],"tail_slope":-1}`,
		"zero std":      `{"version":"v","models":[{"name":"m","weight":1}],"knots":[{"similarity":0,"fmr":1},{"similarity":1,"fmr":0.1}],"tail_slope":-1}`,
		"one knot":      `{"version":"v","models":[{"name":"m","weight":1,"impostor_std":1}],"knots":[{"similarity":0,"fmr":1}],"tail_slope":-1}`,
		"fmr rises":     `{"version":"v","models":[{"name":"m","weight":1,"impostor_std":1}],"knots":[{"similarity":0,"fmr":0.1},{"similarity":1,"fmr":0.5}],"tail_slope":-1}`,
		"flat tail":     `{"version":"v","models":[{"name":"m","weight":1,"impostor_std":1}],"knots":[{"similarity":0,"fmr":1},{"similarity":1,"fmr":0.1}],"tail_slope":0}`,
		"similar knots": `{"version":"v","models":[{"name":"m","weight":1,"impostor_std":1}],"knots":[{"similarity":1,"fmr":1},{"similarity":1,"fmr":0.1}],"tail_slope":-1}`,
	} {
		if _, err := facematch.ParseCalibration([]byte(js)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestShippedCalibrations checks the calibrations in the binary: they
// parse, were fitted on millions of impostor pairs, and state the FMRs
// of the documented table.
func TestShippedCalibrations(t *testing.T) {
	t.Parallel()
	for _, p := range facematch.Profiles {
		c, err := facematch.ProfileCalibration(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if c.Fitted.ImpostorPairs < 1_000_000 {
			t.Errorf("%s: fitted on %d impostor pairs", p, c.Fitted.ImpostorPairs)
		}
		for score, fmr := range map[float64]float64{40: 1e-2, 60: 1e-3, 80: 1e-4, 100: 1e-5} {
			if got := c.FMR(c.Similarity(score)); math.Abs(got-fmr) > 1e-6*fmr {
				t.Errorf("%s: FMR at score %g = %g, want %g", p, score, got, fmr)
			}
		}
	}
	if _, err := facematch.ProfileCalibration("turbo"); err == nil {
		t.Error("unknown profile accepted")
	}
}
