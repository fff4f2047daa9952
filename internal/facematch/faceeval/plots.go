package faceeval

import (
	"math"
	"path/filepath"
	"slices"

	"github.com/everify/everify/internal/evalmetrics"
	"github.com/everify/everify/internal/facematch"
	"github.com/everify/everify/internal/plot"
)

// Curve is a ROC: the TAR of the genuine pairs at a range of FARs measured
// on all cross-identity pairs.
type Curve struct {
	Name     string
	FAR, TAR []float64
}

// curveStep is the spacing of a Curve's FARs, in decades.
const curveStep = 0.05

// roc computes the curve of genuine scores (NaN: failed) against impostor
// scores (sorted) out of total impostor pairs, from FAR 1/total to 1.
func roc(name string, genuine, impostor []float64, total int) Curve {
	c := Curve{Name: name}
	lo := -math.Log10(float64(total))
	for e := math.Ceil(lo/curveStep) * curveStep; e <= 1e-9; e += curveStep {
		far := math.Pow(10, e)
		thr := thresholdAtFAR(impostor, total, far)
		c.FAR = append(c.FAR, far)
		c.TAR = append(c.TAR, fracAtLeast(genuine, thr))
	}
	return c
}

// Curves returns the ROC of the fused score and, when there are several,
// of each model alone.
func Curves(sc *Scores, label string) []Curve {
	var all []evalmetrics.Trial
	for _, f := range sc.Pairs {
		all = append(all, f...)
	}
	genuine, _ := split(all)
	imp := slices.Clone(sc.Impostor)
	slices.Sort(imp)
	out := []Curve{roc(label, genuine, imp, sc.ImpostorTotal)}
	if len(sc.Models) < 2 {
		return out
	}
	for m, name := range sc.Models {
		var g []float64
		for i, t := range all {
			if t.Same {
				g = append(g, sc.PairCosines[m][i])
			}
		}
		mi := make([]float64, len(sc.ImpostorCosines[m]))
		for j, c := range sc.ImpostorCosines[m] {
			mi[j] = float64(c)
		}
		slices.Sort(mi)
		out = append(out, roc(name+" alone", g, mi, sc.ImpostorTotal))
	}
	return out
}

// WritePlots writes roc.png, det.png and scores.png into dir for the
// given curves, and the score histogram of sc (the photo condition) under
// the calibration. It returns the files written.
func WritePlots(dir string, curves []Curve, sc *Scores, cal *facematch.Calibration) ([]string, error) {
	var rocS, detS []plot.Series
	for i, c := range curves {
		col := plot.Palette[i%len(plot.Palette)]
		frr := make([]float64, len(c.TAR))
		for k, t := range c.TAR {
			frr[k] = 1 - t
		}
		rocS = append(rocS, plot.Series{Name: c.Name, X: c.FAR, Y: c.TAR, Color: col})
		detS = append(detS, plot.Series{Name: c.Name, X: c.FAR, Y: frr, Color: col})
	}
	for _, far := range []float64{1e-4, 1e-3} {
		rocS = append(rocS, plot.Series{X: []float64{far, far}, Y: []float64{0, 1}, Color: plot.Grey, Dashed: true})
	}
	// The TAR axis starts at 0.5, or lower to show the curves from FAR
	// 1e-5 on.
	minTAR := 0.5
	for _, c := range curves {
		for k, far := range c.FAR {
			if far >= 1e-5 {
				minTAR = math.Min(minTAR, math.Floor(c.TAR[k]*10)/10)
			}
		}
	}
	charts := map[string]*plot.Chart{
		"roc.png": {
			Title:  "ROC: TAR against FAR over all cross-identity pairs (dashed: FAR 1e-4, 1e-3)",
			X:      plot.Axis{Label: "false accept rate", Min: 1e-6, Max: 1, Log: true},
			Y:      plot.Axis{Label: "true accept rate", Min: 0.5, Max: 1},
			Series: rocS, Width: 760, Height: 520,
		},
		"det.png": {
			Title:  "DET: false non-match rate against false match rate (log-log)",
			X:      plot.Axis{Label: "false match rate", Min: 1e-6, Max: 1, Log: true},
			Y:      plot.Axis{Label: "false non-match rate", Min: 1e-3, Max: 1, Log: true},
			Series: detS, Width: 760, Height: 520,
		},
		"scores.png": scoreHistogram(sc, cal),
	}
	var files []string
	for _, name := range []string{"roc.png", "det.png", "scores.png"} {
		p := filepath.Join(dir, name)
		if err := charts[name].WritePNG(p); err != nil {
			return files, err
		}
		files = append(files, p)
	}
	return files, nil
}

// scoreHistogram draws the distributions of the calibrated score for the
// list's genuine pairs and for all cross-identity pairs, as fractions per
// 2-point bin on a log scale.
func scoreHistogram(sc *Scores, cal *facematch.Calibration) *plot.Chart {
	const bin = 2.0
	n := int(100/bin) + 1
	hist := func(sims []float64) (x, y []float64) {
		counts := make([]float64, n)
		total := 0
		for _, s := range sims {
			if math.IsNaN(s) {
				continue
			}
			counts[min(n-1, int(cal.Score(s)/bin))]++
			total++
		}
		for i, c := range counts {
			x = append(x, float64(i)*bin)
			y = append(y, c/float64(max(1, total)))
		}
		x = append(x, float64(n)*bin)
		y = append(y, y[len(y)-1])
		return x, y
	}
	var genuine []float64
	for _, f := range sc.Pairs {
		for _, t := range f {
			if t.Same && !t.Failed {
				genuine = append(genuine, t.Score)
			}
		}
	}
	gx, gy := hist(genuine)
	ix, iy := hist(sc.Impostor)
	return &plot.Chart{
		Title: "Calibrated match score: same person (list pairs) and all cross-identity pairs",
		X:     plot.Axis{Label: "match score (20 per decade of FMR; 100 = FMR 1e-5 and above)", Min: 0, Max: 102},
		Y:     plot.Axis{Label: "fraction of pairs per 2-point bin", Min: 1e-7, Max: 1, Log: true},
		Series: []plot.Series{
			{Name: "same person", X: gx, Y: gy, Color: plot.Palette[2], Steps: true},
			{Name: "different people", X: ix, Y: iy, Color: plot.Palette[1], Steps: true},
		},
		Width: 760, Height: 520,
	}
}
