package faceeval

import (
	"fmt"
	"math"
	"strconv"

	"github.com/everify/everify/internal/facematch"
)

// Fit returns a calibration for the models of base (their names,
// alignments and weights) measured on the scores of a photo-condition Run:
// each model's impostor mean and standard deviation over all
// cross-identity pairs, and the knots and tail of the fused similarity's
// impostor distribution. Pairs that could not be scored are left out of
// the fit (they would only shift the FMR of the lowest scores).
func Fit(base *facematch.Calibration, sc *Scores, version string, info facematch.FitInfo) (*facematch.Calibration, error) {
	if len(sc.ImpostorCosines) != len(base.Models) {
		return nil, fmt.Errorf("faceeval: scores have %d models, the calibration %d", len(sc.ImpostorCosines), len(base.Models))
	}
	c := &facematch.Calibration{Version: version, Fitted: info}
	for m, model := range base.Models {
		mean, std := meanStd(sc.ImpostorCosines[m])
		if !(std > 0) {
			return nil, fmt.Errorf("faceeval: model %s: no spread in %d impostor cosines", model.Name, len(sc.ImpostorCosines[m]))
		}
		model.ImpostorMean, model.ImpostorStd = round(mean, 6), round(std, 6)
		c.Models = append(c.Models, model)
	}
	fused := make([]float64, len(sc.ImpostorCosines[0]))
	cos := make([]float64, len(c.Models))
	for i := range fused {
		for m := range c.Models {
			cos[m] = float64(sc.ImpostorCosines[m][i])
		}
		fused[i] = c.Fuse(cos)
	}
	knots, slope, err := facematch.FitKnots(fused)
	if err != nil {
		return nil, err
	}
	for i := range knots {
		knots[i].Similarity = round(knots[i].Similarity, 6)
		knots[i].FMR = sig(knots[i].FMR, 6)
	}
	c.Knots, c.TailSlope = knots, round(slope, 6)
	c.Fitted.ImpostorPairs = len(fused)
	if data, err := c.MarshalIndent(); err != nil {
		return nil, err
	} else if _, err := facematch.ParseCalibration(data); err != nil {
		return nil, err
	}
	return c, nil
}

// sig rounds v to n significant digits.
func sig(v float64, n int) float64 {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', n, 64), 64)
	return r
}

func meanStd(v []float32) (mean, std float64) {
	var s, ss float64
	for _, x := range v {
		s += float64(x)
	}
	mean = s / float64(len(v))
	for _, x := range v {
		d := float64(x) - mean
		ss += d * d
	}
	return mean, math.Sqrt(ss / float64(len(v)))
}
