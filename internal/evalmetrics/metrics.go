package evalmetrics

import (
	"math"
	"sort"
)

// Trial is one scored verification trial. Higher scores mean "more likely
// the same person"; a trial is accepted when Score >= the threshold.
//
// Failed marks a trial whose score could not be computed (for example no
// face was detected in one image). A failed trial is never accepted: it is a
// false reject when Same and a true reject otherwise in ROC statistics, and
// an error in both cases for Accuracy (the stricter LFW convention that
// failures to detect count as errors).
type Trial struct {
	Score  float64
	Same   bool
	Failed bool
}

// Accuracy is the fraction of trials classified correctly at threshold;
// failed trials count as errors.
func Accuracy(trials []Trial, threshold float64) float64 {
	if len(trials) == 0 {
		return 0
	}
	ok := 0
	for _, t := range trials {
		if !t.Failed && (t.Score >= threshold) == t.Same {
			ok++
		}
	}
	return float64(ok) / float64(len(trials))
}

// BestThreshold returns the threshold that maximises Accuracy on trials,
// placed halfway between the two neighbouring scores that bound it (ties are
// broken towards the lowest such threshold).
func BestThreshold(trials []Trial) float64 {
	var s []Trial
	for _, t := range trials {
		if !t.Failed {
			s = append(s, t)
		}
	}
	if len(s) == 0 {
		return 0
	}
	sort.Slice(s, func(i, j int) bool { return s[i].Score < s[j].Score })
	// With the threshold below every score, all trials are accepted:
	// correct ones are the same-person trials.
	correct := 0
	for _, t := range s {
		if t.Same {
			correct++
		}
	}
	best, bestThr := correct, s[0].Score-1
	for i := 0; i < len(s); {
		// Move the threshold above every trial with score s[i].Score.
		j := i
		for ; j < len(s) && s[j].Score == s[i].Score; j++ {
			if s[j].Same {
				correct--
			} else {
				correct++
			}
		}
		if correct > best {
			best = correct
			if j < len(s) {
				bestThr = (s[i].Score + s[j].Score) / 2
			} else {
				bestThr = s[i].Score + 1
			}
		}
		i = j
	}
	return bestThr
}

// FoldResult is the outcome of one fold of KFold.
type FoldResult struct {
	Threshold float64 // chosen on the other folds
	Accuracy  float64 // on this fold
}

// KFold runs the standard LFW protocol: for each fold, the threshold that
// maximises accuracy on all other folds is applied to that fold. It returns
// each fold's result and the mean and (population) standard deviation of
// the fold accuracies. It needs at least two folds.
func KFold(folds [][]Trial) (per []FoldResult, mean, std float64) {
	if len(folds) < 2 {
		return nil, 0, 0
	}
	for i := range folds {
		var train []Trial
		for j, f := range folds {
			if j != i {
				train = append(train, f...)
			}
		}
		thr := BestThreshold(train)
		per = append(per, FoldResult{Threshold: thr, Accuracy: Accuracy(folds[i], thr)})
	}
	for _, r := range per {
		mean += r.Accuracy
	}
	mean /= float64(len(per))
	for _, r := range per {
		std += (r.Accuracy - mean) * (r.Accuracy - mean)
	}
	std = math.Sqrt(std / float64(len(per)))
	return per, mean, std
}

// ROCPoint is one operating point: accepting trials with Score >=
// Threshold gives false accept rate FAR and true accept rate TAR.
type ROCPoint struct {
	Threshold float64
	FAR, TAR  float64
}

// ROC returns the operating points of trials, one per distinct score, from
// the strictest threshold (nothing accepted) to the most lenient. The first
// point has FAR = TAR = 0 with threshold +Inf. Failed trials are never
// accepted. It returns nil unless there is at least one same-person and one
// different-person trial.
func ROC(trials []Trial) []ROCPoint {
	var nSame, nDiff int
	var s []Trial
	for _, t := range trials {
		if t.Same {
			nSame++
		} else {
			nDiff++
		}
		if !t.Failed {
			s = append(s, t)
		}
	}
	if nSame == 0 || nDiff == 0 {
		return nil
	}
	sort.Slice(s, func(i, j int) bool { return s[i].Score > s[j].Score })
	out := []ROCPoint{{Threshold: math.Inf(1)}}
	var ta, fa int
	for i := 0; i < len(s); {
		j := i
		for ; j < len(s) && s[j].Score == s[i].Score; j++ {
			if s[j].Same {
				ta++
			} else {
				fa++
			}
		}
		out = append(out, ROCPoint{Threshold: s[i].Score, FAR: float64(fa) / float64(nDiff), TAR: float64(ta) / float64(nSame)})
		i = j
	}
	return out
}

// TARAtFAR returns the highest true accept rate whose false accept rate
// does not exceed far, and the threshold that gives it.
func TARAtFAR(trials []Trial, far float64) (tar, threshold float64) {
	roc := ROC(trials)
	if roc == nil {
		return 0, math.NaN()
	}
	threshold = roc[0].Threshold
	for _, p := range roc {
		if p.FAR > far {
			break
		}
		tar, threshold = p.TAR, p.Threshold
	}
	return tar, threshold
}

// EER returns the equal error rate, where the false accept rate equals the
// false reject rate (1 - TAR), interpolating linearly between the two ROC
// points that bracket it, and the threshold of the nearer point.
func EER(trials []Trial) (eer, threshold float64) {
	roc := ROC(trials)
	if roc == nil {
		return math.NaN(), math.NaN()
	}
	// d = FRR - FAR starts at 1 (nothing accepted) and decreases.
	prev := roc[0]
	for _, p := range roc[1:] {
		dPrev := (1 - prev.TAR) - prev.FAR
		d := (1 - p.TAR) - p.FAR
		if d <= 0 {
			// Interpolate along the segment from prev to p.
			t := dPrev / (dPrev - d)
			far := prev.FAR + t*(p.FAR-prev.FAR)
			frr := (1 - prev.TAR) + t*((1-p.TAR)-(1-prev.TAR))
			threshold = p.Threshold
			if t < 0.5 {
				threshold = prev.Threshold
			}
			return (far + frr) / 2, threshold
		}
		prev = p
	}
	// Failed same-person trials keep FRR above FAR everywhere.
	last := roc[len(roc)-1]
	return ((1 - last.TAR) + last.FAR) / 2, last.Threshold
}
