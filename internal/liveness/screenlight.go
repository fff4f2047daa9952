package liveness

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/vision"
)

// CheckScreenLight names the screen-light check: the face's reflected
// colour follows the server-chosen colour sequence the capture client
// showed on the screen (docs/LIVENESS.md, "Screen-light challenge").
const CheckScreenLight = "screen_light"

// Reasons of the screen-light check.
const (
	reasonLightNotFollowed = "screen_light_not_followed"
	reasonLightMissing     = "screen_light_missing"
	reasonAmbientBright    = "ambient_light_too_bright"
)

// ScreenLightThresholds are the screen-light check's thresholds. They were
// set on simulated reflections of real frames (docs/LIVENESS.md); no real
// screen-lit capture was available to set them.
type ScreenLightThresholds struct {
	// Pass is the correlation between the observed and the expected
	// colour shifts at and above which the check passes, provided the
	// reflection is at least MinGain.
	Pass float64
	// MinGain is the weakest reflection that counts: the light the screen
	// adds to the face, as a share of the ambient light, fitted from the
	// colour shifts. Chance correlations of an unlit face come with far
	// smaller gains.
	MinGain float64
	// AbsentGain is the gain below which the reflection is absent rather
	// than weak.
	AbsentGain float64
	// Sensitive is how far (in noise standard deviations) a reflection of
	// MinGain would have stood out of the capture's colour noise; at and
	// above it, a reflection that is absent is evidence of an attack.
	Sensitive float64
	// BrightLuma and ClippedShare mark an over-exposed face (median skin
	// luma, 0-255, and share of skin pixels with a channel at 250 or
	// more), on which a reflection cannot show.
	BrightLuma, ClippedShare float64
	// MaxLagMS is the longest camera latency searched for.
	MaxLagMS int64
	// HighPassMS is the width of the moving average subtracted from the
	// colour series, which removes slow drifts (head motion, exposure).
	HighPassMS int64
	// MinColors and MinFrames are the least the measurement needs: colours
	// reported shown and frames with a face while they were.
	MinColors, MinFrames int
	// TimingSlackMS is how far a reported colour's time on screen may be
	// from its issued duration (the browser switches colours on animation
	// frames, which a busy phone delays).
	TimingSlackMS int64
}

// DefaultScreenLightThresholds are the thresholds everify uses.
var DefaultScreenLightThresholds = ScreenLightThresholds{
	Pass:          0.7,
	MinGain:       0.008,
	AbsentGain:    0.004,
	Sensitive:     4,
	BrightLuma:    200,
	ClippedShare:  0.2,
	MaxLagMS:      200,
	HighPassMS:    1200,
	MinColors:     4,
	MinFrames:     20,
	TimingSlackMS: 150,
}

// skinSample is the mean colour of a frame's face skin (forehead and
// cheeks), 0-255 per channel, and the share of its pixels that clip.
type skinSample struct {
	RGB     [3]float64
	Luma    float64
	Clipped float64
}

// skinPoints are the FaceMesh landmarks at the centre of the forehead and
// of each cheek: skin that faces the screen and does not move with the
// eyes or the mouth.
var skinPoints = []int{151, 205, 425}

// skinBoxPoints are the same places relative to the face box, for a face
// without a mesh.
var skinBoxPoints = [][2]float64{{0.5, 0.18}, {0.3, 0.62}, {0.7, 0.62}}

// skinSampleOf measures the face's skin colour on img: square patches of
// a sixth of the face width around the skinPoints.
func skinSampleOf(img *vision.RGB, f vision.Face) *skinSample {
	half := max(2, int(f.Box.Width/12))
	var centres [][2]float64
	if len(f.Mesh) >= 468 {
		for _, k := range skinPoints {
			centres = append(centres, [2]float64{f.Mesh[k][0], f.Mesh[k][1]})
		}
	} else {
		for _, p := range skinBoxPoints {
			centres = append(centres, [2]float64{f.Box.X + p[0]*f.Box.Width, f.Box.Y + p[1]*f.Box.Height})
		}
	}
	var sum [3]float64
	n, clipped := 0, 0
	for _, c := range centres {
		cx, cy := int(c[0]), int(c[1])
		for y := max(0, cy-half); y < min(img.H, cy+half); y++ {
			for x := max(0, cx-half); x < min(img.W, cx+half); x++ {
				p := img.Pix[3*(y*img.W+x):]
				sum[0] += float64(p[0])
				sum[1] += float64(p[1])
				sum[2] += float64(p[2])
				if p[0] >= 250 || p[1] >= 250 || p[2] >= 250 {
					clipped++
				}
				n++
			}
		}
	}
	if n == 0 {
		return nil
	}
	s := &skinSample{Clipped: float64(clipped) / float64(n)}
	for i := range sum {
		s.RGB[i] = sum[i] / float64(n)
	}
	s.Luma = 0.299*s.RGB[0] + 0.587*s.RGB[1] + 0.114*s.RGB[2]
	if s.RGB[0]+s.RGB[1]+s.RGB[2] <= 0 {
		return nil
	}
	return s
}

// lightOutcome is the screen-light check with what it implies for the
// decision: the reason to give when it fails, and a quality issue when the
// capture could not show a reflection.
type lightOutcome struct {
	Check  biometric.Check
	Reason string
	Issue  *qualityIssue
	// Corr, Gain and Z are the measurement (for the evaluation and tests):
	// the best correlation, the fitted reflection gain and how far a
	// MinGain reflection would have stood out of the noise.
	Corr, Gain, Z float64
	LagMS         int64
}

// screenLightCheck checks that the face's skin colour follows the light
// sequence seq that the client says it showed at the times in shown:
//
//  1. the reported times must be those of the issued sequence: colours
//     from the first, in order, each on screen for its issued duration
//     (within TimingSlackMS; the last may be cut short by the end of the
//     recording);
//  2. each frame's skin chromaticity (r, g, b over r+g+b, which exposure
//     changes do not move) is compared with the shift the colour on
//     screen at that time would cause on this skin, both high-passed (a
//     centred moving average subtracted), at camera lags 0-MaxLagMS;
//  3. the best Pearson correlation passes at Pass when the fitted
//     reflection gain reaches MinGain. Otherwise an over-exposed face is
//     an ambient_light_too_bright quality issue (retryable); a gain below
//     AbsentGain on a capture where a MinGain reflection would have stood
//     out of the noise by Sensitive standard deviations is attack
//     evidence (the reflection is clearly absent); otherwise (a weak or
//     noisy reflection) the check just fails.
func screenLightCheck(obs []frameObs, seq []biometric.LightColor, shown []biometric.LightShown, th ScreenLightThresholds) lightOutcome {
	out := lightOutcome{Check: biometric.Check{Name: CheckScreenLight}, Reason: reasonLightNotFollowed}
	if len(shown) == 0 {
		out.Reason = reasonLightMissing
		out.Check.Detail = "a light sequence was issued but the capture client reported none"
		return out
	}
	if msg := lightTimingProblem(seq, shown, th); msg != "" {
		out.Check.Detail = msg
		return out
	}
	from, to := shown[0].ShownAtMS+th.MaxLagMS, shown[len(shown)-1].HiddenAtMS
	var frames []frameObs
	for _, o := range obs {
		if o.Skin != nil && o.AtMS >= from && o.AtMS <= to {
			frames = append(frames, o)
		}
	}
	// Out-of-order timestamps are the timing check's business; the
	// moving average needs the frames in time order.
	slices.SortStableFunc(frames, func(a, b frameObs) int { return cmp.Compare(a.AtMS, b.AtMS) })
	if len(frames) < th.MinFrames {
		out.Check.Detail = fmt.Sprintf("only %d frame(s) show the face while the light sequence was on screen; at least %d are needed", len(frames), th.MinFrames)
		return out
	}
	bright := overExposed(frames, th)
	m := measureLight(frames, shown, th)
	out.Corr, out.Gain, out.Z, out.LagMS = m.corr, m.gain, m.z, m.lag
	out.Check.Score = lightScore(m.corr, m.gain, th)
	out.Check.Detail = fmt.Sprintf("correlation %.2f with the light sequence at %d ms camera lag (pass at %.2f); reflection gain %.4f (at least %.4f); sensitivity %.1f sd",
		m.corr, m.lag, th.Pass, m.gain, th.MinGain, m.z)
	switch {
	case m.corr >= th.Pass && m.gain >= th.MinGain:
		out.Check.Passed = true
		out.Reason = ""
	case bright:
		out.Reason = reasonAmbientBright
		out.Issue = &qualityIssue{reasonAmbientBright, "The light on your face is too bright for the screen's colours to show on it; move out of direct light (or away from a bright window) and capture again."}
	case m.gain < th.AbsentGain && m.z >= th.Sensitive:
		out.Check.Attack = true
		out.Check.Detail += "; the face shows no reflection of the screen although it would have been measurable"
	}
	return out
}

// lightTimingProblem describes how the reported light times disagree with
// the issued sequence, or returns "".
func lightTimingProblem(seq []biometric.LightColor, shown []biometric.LightShown, th ScreenLightThresholds) string {
	if len(shown) < min(th.MinColors, len(seq)) {
		return fmt.Sprintf("the capture client reported %d of the %d colours shown; at least %d are needed", len(shown), len(seq), min(th.MinColors, len(seq)))
	}
	for i, l := range shown {
		if l.Index != i || l.Index >= len(seq) {
			return fmt.Sprintf("the reported colours are not the issued sequence from its start (entry %d is colour %d)", i, l.Index)
		}
		d, want := l.HiddenAtMS-l.ShownAtMS, seq[i].DurationMS
		last := i == len(shown)-1
		if d > want+th.TimingSlackMS || (!last && d < want-th.TimingSlackMS) {
			return fmt.Sprintf("colour %d was reported on screen for %d ms, but %d ms were issued", i, d, want)
		}
		if i > 0 && l.ShownAtMS-shown[i-1].HiddenAtMS > th.TimingSlackMS {
			return fmt.Sprintf("the screen was reported unlit for %d ms before colour %d", l.ShownAtMS-shown[i-1].HiddenAtMS, i)
		}
	}
	return ""
}

// overExposed reports whether the face's skin was too bright for a
// reflection to show: median luma or clipped share at their limits.
func overExposed(frames []frameObs, th ScreenLightThresholds) bool {
	luma := make([]float64, len(frames))
	clip := make([]float64, len(frames))
	for i, o := range frames {
		luma[i], clip[i] = o.Skin.Luma, o.Skin.Clipped
	}
	return quantile(luma, 0.5) >= th.BrightLuma || quantile(clip, 0.5) >= th.ClippedShare
}

// lightMeasure is the comparison of the observed and expected colour
// shifts at the best lag.
type lightMeasure struct {
	corr, gain, z float64
	lag           int64
}

// measureLight correlates the high-passed skin chromaticity of frames with
// the expected shifts at each lag from 0 to MaxLagMS (in 20 ms steps) and
// keeps the best.
func measureLight(frames []frameObs, shown []biometric.LightShown, th ScreenLightThresholds) lightMeasure {
	// Mean skin colour, and the observed chromaticity series.
	var mean [3]float64
	obsChroma := make([][3]float64, len(frames))
	times := make([]int64, len(frames))
	for i, o := range frames {
		for c := range 3 {
			mean[c] += o.Skin.RGB[c] / float64(len(frames))
		}
		obsChroma[i] = chroma(o.Skin.RGB)
		times[i] = o.AtMS
	}
	observed := highPass(obsChroma, times, th.HighPassMS)
	colors := make([][3]float64, len(shown))
	for i, l := range shown {
		colors[i], _ = biometric.ParseLightColor(l.Color) // validated by the API
	}
	best := lightMeasure{corr: math.Inf(-1)}
	for lag := int64(0); lag <= th.MaxLagMS; lag += 20 {
		exp := make([][3]float64, len(frames))
		for i, t := range times {
			exp[i] = expectedShift(mean, colorAt(shown, colors, t-lag))
		}
		expected := highPass(exp, times, th.HighPassMS)
		corr, gain, z := compareShifts(observed, expected, th.MinGain)
		if corr > best.corr {
			best = lightMeasure{corr: corr, gain: gain, z: z, lag: lag}
		}
	}
	if math.IsInf(best.corr, -1) || math.IsNaN(best.corr) {
		best.corr = 0
	}
	return best
}

// chroma returns the chromaticity of an RGB colour.
func chroma(rgb [3]float64) [3]float64 {
	s := rgb[0] + rgb[1] + rgb[2]
	return [3]float64{rgb[0] / s, rgb[1] / s, rgb[2] / s}
}

// colorAt returns the colour on screen at time t, white (no colour shift)
// outside the reported intervals.
func colorAt(shown []biometric.LightShown, colors [][3]float64, t int64) [3]float64 {
	for i, l := range shown {
		if t >= l.ShownAtMS && t < l.HiddenAtMS {
			return colors[i]
		}
	}
	return [3]float64{1, 1, 1}
}

// expectedShift is how the chromaticity of skin of colour s moves, per
// unit of reflection gain, when light of colour c is added: the skin
// reflects c in proportion to its own colour (s·c), and the derivative
// of chroma(s + g·s·c) at g = 0 is (s·c − chroma(s)·Σ s·c) / Σ s.
func expectedShift(s, c [3]float64) [3]float64 {
	sum := s[0] + s[1] + s[2]
	var sc [3]float64
	scSum := 0.0
	for i := range 3 {
		sc[i] = s[i] * c[i]
		scSum += sc[i]
	}
	var d [3]float64
	for i := range 3 {
		d[i] = (sc[i] - s[i]/sum*scSum) / sum
	}
	return d
}

// highPass subtracts from each sample the mean of the samples within
// width/2 ms of it.
func highPass(x [][3]float64, times []int64, width int64) [][3]float64 {
	out := make([][3]float64, len(x))
	lo, hi := 0, 0
	var sum [3]float64
	for i, t := range times {
		for hi < len(x) && times[hi] <= t+width/2 {
			for c := range 3 {
				sum[c] += x[hi][c]
			}
			hi++
		}
		for lo < i && times[lo] < t-width/2 {
			for c := range 3 {
				sum[c] -= x[lo][c]
			}
			lo++
		}
		n := float64(hi - lo)
		for c := range 3 {
			out[i][c] = x[i][c] - sum[c]/n
		}
	}
	return out
}

// compareShifts returns the Pearson correlation of the observed and
// expected shifts (all three channels together), the least-squares gain
// of observed on expected, and how many residual standard deviations a
// reflection of minGain would have moved the observed series along the
// expected one.
func compareShifts(observed, expected [][3]float64, minGain float64) (corr, gain, z float64) {
	var oo, ee, oe, so, se float64
	n := float64(3 * len(observed))
	for i := range observed {
		for c := range 3 {
			o, e := observed[i][c], expected[i][c]
			so += o
			se += e
			oo += o * o
			ee += e * e
			oe += o * e
		}
	}
	vo, ve, cov := oo-so*so/n, ee-se*se/n, oe-so*se/n
	if vo <= 0 || ve <= 0 {
		return 0, 0, 0
	}
	corr = cov / math.Sqrt(vo*ve)
	gain = cov / ve
	resid := math.Max(vo-cov*cov/ve, 1e-18) / n // residual variance per sample
	z = minGain * math.Sqrt(ve) / math.Sqrt(resid)
	return corr, gain, z
}

// lightScore maps the correlation and gain to the check's 0-100 score: 50
// at Pass and above it in proportion to the correlation when the gain
// reaches MinGain; below 50 in proportion to whichever falls short.
func lightScore(corr, gain float64, th ScreenLightThresholds) float64 {
	var s float64
	switch {
	case corr < th.Pass:
		s = 50 * math.Max(corr, 0) / th.Pass
	case gain < th.MinGain:
		s = 50 * math.Max(gain, 0) / th.MinGain
	default:
		s = 50 + 50*(corr-th.Pass)/(1-th.Pass)
	}
	return math.Min(math.Round(10*s)/10, 100)
}
