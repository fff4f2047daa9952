package faceeval

import (
	"math"
	"slices"
	"sort"

	"github.com/everify/everify/internal/evalmetrics"
	"github.com/everify/everify/internal/facematch"
)

// Report is the outcome of Run. Rates are fractions (0-1); scores are the
// calibrated 0-100 match scores.
type Report struct {
	Condition   string   `json:"condition"` // "photo" or "document"
	Models      []string `json:"models"`
	Calibration string   `json:"calibration"`
	// Images is the number of images processed (photos plus documents);
	// ImageFailures counts those without a comparable face, by code.
	Images        int            `json:"images"`
	ImageFailures map[string]int `json:"image_failures"`
	// Pairs is the number of pairs in the list; FailuresToDetect those
	// with an image without a comparable face. They count as errors (a
	// rejected genuine pair, a correctly rejected impostor pair) and are
	// never dropped.
	Pairs            int `json:"pairs"`
	FailuresToDetect int `json:"failures_to_detect"`
	// Accuracy is the mean over folds of the accuracy on each fold at the
	// threshold that is best on the other folds; AccuracyStd its standard
	// deviation over folds; FoldThresholds those thresholds as scores.
	Accuracy       float64   `json:"accuracy"`
	AccuracyStd    float64   `json:"accuracy_std"`
	FoldThresholds []float64 `json:"fold_thresholds"`
	// EER is the equal error rate over the list's pairs.
	EER float64 `json:"eer"`
	// TARAtFAR1e3 and TARAtFAR1e4 are the fractions of genuine pairs at
	// or above the scores that the calibration states for FMR 1e-3 (60)
	// and 1e-4 (80): thresholds fixed before seeing this data.
	TARAtFAR1e3 float64 `json:"tar_at_far_1e3"`
	TARAtFAR1e4 float64 `json:"tar_at_far_1e4"`
	// ImpostorPairs counts every cross-identity pair of the images (the
	// denominator of the measured FMRs).
	ImpostorPairs int `json:"impostor_pairs"`
	// Thresholds checks the calibration: at each score threshold, the FMR
	// it states, the FMR measured on all cross-identity pairs and on the
	// list's different-person pairs, and the TAR.
	Thresholds []ThresholdRow `json:"thresholds"`
	// Empirical holds TARs at thresholds set on this data's own
	// cross-identity pairs (not the calibration's).
	Empirical []Operating `json:"empirical"`
	// ListTAR is the TAR at FAR 1e-3 with the threshold set on the list's
	// own different-person pairs, as papers report LFW (with 1,500 such
	// pairs a FAR of 1e-3 allows one false accept, so it is coarse).
	ListTAR Operating `json:"list_tar_at_far_1e3"`
	// PerModel reports each fused model alone.
	PerModel []ModelReport `json:"per_model,omitempty"`
	// Groups splits the accuracy by what can be told reliably from the
	// images themselves.
	Groups []Group `json:"groups"`
}

// ThresholdRow is one row of Report.Thresholds.
type ThresholdRow struct {
	Score       float64 `json:"score"`
	StatedFMR   float64 `json:"stated_fmr"`
	MeasuredFMR float64 `json:"measured_fmr"` // all cross-identity pairs
	ListFMR     float64 `json:"list_fmr"`     // the list's different-person pairs
	TAR         float64 `json:"tar"`          // the list's same-person pairs
}

// Operating is a TAR at a FAR, with the threshold that gives it.
type Operating struct {
	FAR       float64 `json:"far"`
	TAR       float64 `json:"tar"`
	Threshold float64 `json:"threshold"` // a score for the fusion, a cosine for a model
}

// ModelReport is one model alone, on its cosine similarity.
type ModelReport struct {
	Model    string      `json:"model"`
	Accuracy float64     `json:"accuracy"`
	EER      float64     `json:"eer"`
	TAR      []Operating `json:"tar"` // at FAR 1e-3 and 1e-4 over all cross-identity pairs
}

// Group is the accuracy on the pairs with one property.
type Group struct {
	Name          string  `json:"name"`
	GenuinePairs  int     `json:"genuine_pairs"`
	ImpostorPairs int     `json:"impostor_pairs"`
	Accuracy      float64 `json:"accuracy"`         // at each fold's k-fold threshold
	FNMRAtDefault float64 `json:"fnmr_at_score_80"` // genuine pairs below 80
	FNMRAtScore60 float64 `json:"fnmr_at_score_60"`
	FMRAtScore60  float64 `json:"fmr_at_score_60"` // the list's impostor pairs at or above 60
}

// reportScores are the score thresholds of Report.Thresholds.
var reportScores = []float64{20, 40, 50, 60, 70, 80, 90, 100}

// report computes the Report of scores.
func report(eng *facematch.Engine, folds [][]evalmetrics.Pair, sc *Scores, left, right map[string]*Image) *Report {
	cal := eng.Calibration()
	r := &Report{Models: sc.Models, Calibration: cal.Version, ImageFailures: map[string]int{}, ImpostorPairs: sc.ImpostorTotal}
	var all []evalmetrics.Trial
	for _, f := range sc.Pairs {
		all = append(all, f...)
	}
	r.Pairs = len(all)
	for _, t := range all {
		if t.Failed {
			r.FailuresToDetect++
		}
	}
	per, acc, std := evalmetrics.KFold(sc.Pairs)
	r.Accuracy, r.AccuracyStd = acc, std
	for _, p := range per {
		r.FoldThresholds = append(r.FoldThresholds, round(cal.Score(p.Threshold), 1))
	}
	r.EER, _ = evalmetrics.EER(all)

	genuine, listImp := split(all)
	imp := slices.Clone(sc.Impostor)
	slices.Sort(imp)
	for _, s := range reportScores {
		thr := cal.Similarity(s)
		r.Thresholds = append(r.Thresholds, ThresholdRow{
			Score:       s,
			StatedFMR:   facematch.FMRAtScore(s),
			MeasuredFMR: float64(atLeast(imp, thr)) / float64(max(1, sc.ImpostorTotal)),
			ListFMR:     fracAtLeast(listImp, thr),
			TAR:         fracAtLeast(genuine, thr),
		})
	}
	r.TARAtFAR1e3 = fracAtLeast(genuine, cal.Similarity(60))
	r.TARAtFAR1e4 = fracAtLeast(genuine, cal.Similarity(80))
	for _, far := range []float64{1e-3, 1e-4} {
		thr := thresholdAtFAR(imp, sc.ImpostorTotal, far)
		r.Empirical = append(r.Empirical, Operating{FAR: far, TAR: fracAtLeast(genuine, thr), Threshold: round(cal.Score(thr), 2)})
	}
	tar, thr := evalmetrics.TARAtFAR(all, 1e-3)
	r.ListTAR = Operating{FAR: 1e-3, TAR: tar, Threshold: round(cal.Score(thr), 2)}
	if len(sc.Models) > 1 {
		r.PerModel = perModel(folds, sc)
	}
	r.Groups = groups(folds, sc, per, left, right, cal)
	return r
}

// split returns the scores of the same-person and different-person
// trials; failed trials are NaN (never accepted).
func split(trials []evalmetrics.Trial) (genuine, impostor []float64) {
	for _, t := range trials {
		s := t.Score
		if t.Failed {
			s = math.NaN()
		}
		if t.Same {
			genuine = append(genuine, s)
		} else {
			impostor = append(impostor, s)
		}
	}
	return genuine, impostor
}

// fracAtLeast is the fraction of scores at or above thr (NaN never is); 0
// for no scores.
func fracAtLeast(scores []float64, thr float64) float64 {
	if len(scores) == 0 {
		return 0
	}
	n := 0
	for _, s := range scores {
		if s >= thr {
			n++
		}
	}
	return float64(n) / float64(len(scores))
}

// atLeast counts the values of sorted at or above thr.
func atLeast(sorted []float64, thr float64) int {
	return len(sorted) - sort.SearchFloat64s(sorted, thr)
}

// thresholdAtFAR returns the lowest threshold at which at most far·total
// of the sorted impostor scores are accepted.
func thresholdAtFAR(sorted []float64, total int, far float64) float64 {
	k := int(math.Floor(far * float64(total))) // accepts allowed
	n := len(sorted)
	if k >= n {
		return math.Inf(-1)
	}
	return math.Nextafter(sorted[n-k-1], math.Inf(1))
}

// perModel evaluates each model's cosine alone.
func perModel(folds [][]evalmetrics.Pair, sc *Scores) []ModelReport {
	var out []ModelReport
	for m, name := range sc.Models {
		trials := make([][]evalmetrics.Trial, len(folds))
		var all []evalmetrics.Trial
		i := 0
		for k, f := range sc.Pairs {
			for _, t := range f {
				c := sc.PairCosines[m][i]
				i++
				t.Score = c
				if t.Failed {
					t.Score = 0
				}
				trials[k] = append(trials[k], t)
				all = append(all, t)
			}
		}
		_, acc, _ := evalmetrics.KFold(trials)
		eer, _ := evalmetrics.EER(all)
		genuine, _ := split(all)
		imp := make([]float64, len(sc.ImpostorCosines[m]))
		for j, c := range sc.ImpostorCosines[m] {
			imp[j] = float64(c)
		}
		slices.Sort(imp)
		mr := ModelReport{Model: name, Accuracy: acc, EER: eer}
		for _, far := range []float64{1e-3, 1e-4} {
			thr := thresholdAtFAR(imp, sc.ImpostorTotal, far)
			mr.TAR = append(mr.TAR, Operating{FAR: far, TAR: fracAtLeast(genuine, thr), Threshold: round(thr, 4)})
		}
		out = append(out, mr)
	}
	return out
}

// groupYaw is the head turn (degrees) beyond which a pair counts as
// having a turned face.
const groupYaw = 20

// groups splits the pairs by properties read from the images: greyscale
// photos, and turned heads.
func groups(folds [][]evalmetrics.Pair, sc *Scores, per []evalmetrics.FoldResult, left, right map[string]*Image, cal *facematch.Calibration) []Group {
	type pairInfo struct {
		t    evalmetrics.Trial
		thr  float64
		grey bool
		yaw  bool
	}
	var pairs []pairInfo
	for k, f := range folds {
		for i, p := range f {
			a, b := left[p.A.File()], right[p.B.File()]
			pi := pairInfo{t: sc.Pairs[k][i], grey: a.Grey || b.Grey}
			if len(per) > k {
				pi.thr = per[k].Threshold
			}
			for _, im := range []*Image{a, b} {
				if im.Probe != nil && math.Abs(im.Probe.Face.Pose.Yaw) > groupYaw {
					pi.yaw = true
				}
			}
			pairs = append(pairs, pi)
		}
	}
	mk := func(name string, keep func(pairInfo) bool) Group {
		g := Group{Name: name}
		var ok int
		var genuine, imp []float64
		for _, p := range pairs {
			if !keep(p) {
				continue
			}
			s := p.t.Score
			if p.t.Failed {
				s = math.NaN()
			}
			if p.t.Same {
				g.GenuinePairs++
				genuine = append(genuine, s)
			} else {
				g.ImpostorPairs++
				imp = append(imp, s)
			}
			if !p.t.Failed && (s >= p.thr) == p.t.Same {
				ok++
			}
		}
		if n := g.GenuinePairs + g.ImpostorPairs; n > 0 {
			g.Accuracy = float64(ok) / float64(n)
		}
		g.FNMRAtDefault = 1 - fracAtLeast(genuine, cal.Similarity(80))
		g.FNMRAtScore60 = 1 - fracAtLeast(genuine, cal.Similarity(60))
		g.FMRAtScore60 = fracAtLeast(imp, cal.Similarity(60))
		return g
	}
	return []Group{
		mk("all pairs", func(pairInfo) bool { return true }),
		mk("both images in colour", func(p pairInfo) bool { return !p.grey }),
		mk("a greyscale image", func(p pairInfo) bool { return p.grey }),
		mk("both faces within 20° of frontal (yaw)", func(p pairInfo) bool { return !p.yaw }),
		mk("a face turned more than 20° (yaw)", func(p pairInfo) bool { return p.yaw }),
	}
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}
