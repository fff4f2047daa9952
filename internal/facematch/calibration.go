package facematch

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
)

// Calibration turns a fused similarity into the 0-100 match score. The
// score is a statement about false matches:
//
//	score = 20 · −log10 FMR(s), clamped to 0-100,
//
// where FMR(s) is the fraction of pairs of different people whose fused
// similarity is at least s. So 40 ↔ FMR 1e-2, 60 ↔ 1e-3, 80 ↔ 1e-4 and
// 100 ↔ 1e-5, and every threshold t has the stated FMR 10^(−t/20).
//
// FMR(s) is read from Knots (similarity, FMR) measured on an impostor
// distribution, interpolating log10 FMR linearly in s between them.
// Beyond the last knot, where too few impostor pairs remain to measure,
// log10 FMR falls along a straight line fitted to the upper tail
// (TailSlope per unit of similarity), starting at the last knot.
type Calibration struct {
	// Version names this calibration; it is part of the engine's model
	// version.
	Version string `json:"version"`
	// Fitted describes the data the calibration was measured on.
	Fitted FitInfo `json:"fitted"`
	// Models lists the fused embedding models and how each model's cosine
	// similarity enters the fused similarity (see Model).
	Models []Model `json:"models"`
	// Knots are (similarity, FMR) points with increasing similarity and
	// decreasing FMR; the first has FMR 1.
	Knots []Knot `json:"knots"`
	// TailSlope is d(log10 FMR)/ds beyond the last knot (negative).
	TailSlope float64 `json:"tail_slope"`
}

// FitInfo records where a calibration comes from.
type FitInfo struct {
	Data          string `json:"data"`           // e.g. "lfw-dev (3811 images)"
	ImpostorPairs int    `json:"impostor_pairs"` // cross-identity pairs measured
	GenuinePairs  int    `json:"genuine_pairs,omitempty"`
	Date          string `json:"date,omitempty"`
	Command       string `json:"command,omitempty"`
}

// Model is one embedding model of the fusion. Its cosine similarity c
// contributes Weight · (c − ImpostorMean) / ImpostorStd to the fused
// similarity: each model's cosine is z-normalised against its own
// impostor distribution, so that the weights compare like with like.
type Model struct {
	Name string `json:"name"`
	// Alignment is how the face is cut out for the model: "arcface-5"
	// for vision's embedders, a faceapi.Alignment name ("named-5",
	// "dlib-68", …) for the face-api recognition net.
	Alignment string `json:"alignment"`
	// Flip averages the embeddings of the face and its mirror image.
	Flip         bool    `json:"flip,omitempty"`
	Weight       float64 `json:"weight"`
	ImpostorMean float64 `json:"impostor_mean"`
	ImpostorStd  float64 `json:"impostor_std"`
}

// Knot is one measured point of the impostor distribution: a fraction FMR
// of impostor pairs has a fused similarity at or above Similarity.
type Knot struct {
	Similarity float64 `json:"similarity"`
	FMR        float64 `json:"fmr"`
}

// ScorePerDecade is how many score points one decade of FMR is worth.
const ScorePerDecade = 20

// ParseCalibration decodes and checks a calibration.
func ParseCalibration(data []byte) (*Calibration, error) {
	var c Calibration
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("facematch: calibration: %w", err)
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Calibration) check() error {
	if c.Version == "" {
		return errors.New("facematch: calibration has no version")
	}
	if len(c.Models) == 0 {
		return errors.New("facematch: calibration names no models")
	}
	for _, m := range c.Models {
		if !(m.ImpostorStd > 0) || !(m.Weight > 0) {
			return fmt.Errorf("facematch: calibration: model %s needs a positive weight and impostor_std", m.Name)
		}
	}
	if len(c.Knots) < 2 {
		return errors.New("facematch: calibration needs at least two knots")
	}
	for i := 1; i < len(c.Knots); i++ {
		a, b := c.Knots[i-1], c.Knots[i]
		if !(b.Similarity > a.Similarity) || !(b.FMR < a.FMR) || !(b.FMR > 0) {
			return fmt.Errorf("facematch: calibration knots %d-%d are not strictly monotonic", i-1, i)
		}
	}
	if !(c.TailSlope < 0) {
		return errors.New("facematch: calibration tail slope must be negative")
	}
	return nil
}

// Fuse combines per-model cosine similarities (in the order of Models)
// into the fused similarity.
func (c *Calibration) Fuse(cosines []float64) float64 {
	var s float64
	for i, m := range c.Models {
		s += m.Weight * (cosines[i] - m.ImpostorMean) / m.ImpostorStd
	}
	return s
}

// FMR returns the false match rate of accepting fused similarities at or
// above s.
func (c *Calibration) FMR(s float64) float64 {
	k := c.Knots
	if s <= k[0].Similarity {
		return 1
	}
	last := k[len(k)-1]
	if s >= last.Similarity {
		return math.Pow(10, math.Log10(last.FMR)+c.TailSlope*(s-last.Similarity))
	}
	i := sort.Search(len(k), func(i int) bool { return k[i].Similarity > s })
	a, b := k[i-1], k[i]
	t := (s - a.Similarity) / (b.Similarity - a.Similarity)
	return math.Pow(10, math.Log10(a.FMR)+t*(math.Log10(b.FMR)-math.Log10(a.FMR)))
}

// Score returns the calibrated 0-100 match score of fused similarity s.
func (c *Calibration) Score(s float64) float64 {
	return math.Max(0, math.Min(100, -ScorePerDecade*math.Log10(c.FMR(s))))
}

// Similarity is the inverse of Score: the fused similarity whose score is
// score (0 < score <= 100); a threshold on the score is the same decision
// as this threshold on the similarity.
func (c *Calibration) Similarity(score float64) float64 {
	lf := -score / ScorePerDecade // log10 FMR
	k := c.Knots
	last := k[len(k)-1]
	if lf <= math.Log10(last.FMR) {
		return last.Similarity + (lf-math.Log10(last.FMR))/c.TailSlope
	}
	for i := 1; i < len(k); i++ {
		a, b := math.Log10(k[i-1].FMR), math.Log10(k[i].FMR)
		if lf >= b {
			t := (lf - a) / (b - a)
			return k[i-1].Similarity + t*(k[i].Similarity-k[i-1].Similarity)
		}
	}
	return k[0].Similarity
}

// FMRAtScore is the false match rate that a threshold on the score states:
// 10^(−score/20).
func FMRAtScore(score float64) float64 { return math.Pow(10, -score/ScorePerDecade) }

// Fitting parameters.
const (
	// knotsPerDecade spaces the knots a quarter of a decade (5 score
	// points) apart.
	knotsPerDecade = 4
	// minTailPairs is how many impostor pairs must lie at or above the
	// last knot: below that the measured FMR is too noisy, and the fitted
	// tail takes over.
	minTailPairs = 50
	// tailFitFrom is the FMR from which the tail line is fitted to the
	// measured curve, down to the last knot.
	tailFitFrom = 1e-3
)

// FitKnots measures the knots and the tail of a calibration from the fused
// similarities of impostor pairs (modified: sorted in place). It needs
// enough pairs to reach an FMR of tailFitFrom with minTailPairs to spare.
func FitKnots(impostor []float64) (knots []Knot, tailSlope float64, err error) {
	n := len(impostor)
	if float64(n)*tailFitFrom < 4*minTailPairs {
		return nil, 0, fmt.Errorf("facematch: %d impostor pairs are too few to calibrate (need %d)", n, int(4*minTailPairs/tailFitFrom))
	}
	slices.Sort(impostor)
	// above(s) = number of scores >= s; the FMR at the k-th largest score
	// is k/n.
	atFMR := func(fmr float64) (float64, float64) {
		k := max(1, int(math.Round(fmr*float64(n)))) // pairs at or above
		return impostor[n-k], float64(k) / float64(n)
	}
	knots = append(knots, Knot{Similarity: impostor[0], FMR: 1})
	// Where FMR is high its logarithm moves little; a few extra knots keep
	// the interpolation close there too.
	fmrs := []float64{0.98, 0.9, 0.75}
	for d := 1; math.Pow(10, -float64(d)/knotsPerDecade)*float64(n) >= minTailPairs; d++ {
		fmrs = append(fmrs, math.Pow(10, -float64(d)/knotsPerDecade))
	}
	for _, fmr := range fmrs {
		s, f := atFMR(fmr)
		if last := knots[len(knots)-1]; s > last.Similarity && f < last.FMR {
			knots = append(knots, Knot{Similarity: s, FMR: f})
		}
	}
	// Least-squares line through (s, log10 FMR) at every impostor score
	// between tailFitFrom and the last knot, anchored at the last knot.
	last := knots[len(knots)-1]
	lo := n - int(math.Round(tailFitFrom*float64(n)))
	hi := n - int(math.Round(last.FMR*float64(n)))
	var sxx, sxy float64
	for i := lo; i <= hi; i++ {
		dx := impostor[i] - last.Similarity
		dy := math.Log10(float64(n-i)/float64(n)) - math.Log10(last.FMR)
		sxx += dx * dx
		sxy += dx * dy
	}
	if !(sxx > 0) || !(sxy < 0) {
		return nil, 0, errors.New("facematch: the impostor tail is degenerate; cannot calibrate")
	}
	return knots, sxy / sxx, nil
}

// MarshalIndent encodes the calibration as indented JSON, the form of
// calibration.json.
func (c *Calibration) MarshalIndent() ([]byte, error) {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}
