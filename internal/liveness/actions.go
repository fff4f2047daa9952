package liveness

import (
	"cmp"
	"math"
	"slices"

	"github.com/everify/everify/internal/biometric"
)

// ActionThresholds are the detectors' thresholds. DefaultActionThresholds
// were chosen on the dev clips (docs/EVALUATION.md).
type ActionThresholds struct {
	// BlinkClosed: the eyes count as closed when the eye aspect ratio
	// (corrected for vertical foreshortening) falls below this fraction
	// of the person's open-eye baseline; BlinkOpen: open again above it.
	BlinkClosed, BlinkOpen float64
	// BlinkMaxMS is the longest closure that still counts as a blink.
	BlinkMaxMS int64
	// TurnDeg is the yaw change from the neutral pose a turn must reach.
	TurnDeg float64
	// NodDeg is the downward pitch change a nod must reach.
	NodDeg float64
	// SmileRise is the relative widening of the mouth (mouth width over
	// eye-corner distance) over the neutral face that counts as a smile.
	SmileRise float64
	// MouthOpen is the inner-lip gap over the mouth width that counts as
	// an open mouth; it must also exceed the neutral value by MouthRise.
	MouthOpen, MouthRise float64
	// HoldMS is how long a turn, smile or open mouth must be held.
	HoldMS int64
}

// DefaultActionThresholds are the thresholds everify uses.
var DefaultActionThresholds = ActionThresholds{
	BlinkClosed: 0.72, BlinkOpen: 0.85, BlinkMaxMS: 800,
	TurnDeg: 15, NodDeg: 10,
	SmileRise: 0.12, MouthOpen: 0.35, MouthRise: 0.2,
	HoldMS: 200,
}

// event is one detected action: it started (crossed its threshold) at
// Start, was at its extreme at Peak and ended at End (ms).
type event struct {
	Action           biometric.ChallengeType
	Start, Peak, End int64
	Strength         float64 // how far past the threshold, ≥ 1 (1 = just at it)
}

// neutral is the person's resting face over the capture, the reference
// every action is measured from.
type neutral struct {
	Yaw, Pitch   float64
	EAR          float64 // open-eye EAR: a high percentile, since eyes are open most of the time
	EARRight     float64
	EARLeft      float64
	Smile, Mouth float64 // a low percentile: the face at rest
	Aspect       float64 // median vertical/horizontal face proportion
}

func neutralOf(s []point) neutral {
	var yaw, pitch, ear, er, el, smile, mouth, aspect []float64
	for _, p := range s {
		if !p.OK {
			continue
		}
		yaw = append(yaw, p.Yaw)
		pitch = append(pitch, p.Pitch)
		ear = append(ear, p.EAR)
		er = append(er, p.EARRight)
		el = append(el, p.EARLeft)
		smile = append(smile, p.Smile)
		mouth = append(mouth, p.Mouth)
		aspect = append(aspect, p.Aspect)
	}
	return neutral{
		Yaw: frontal(yaw), Pitch: frontal(pitch),
		EAR: quantile(ear, 0.8), EARRight: quantile(er, 0.8), EARLeft: quantile(el, 0.8),
		Smile: quantile(smile, 0.2), Mouth: quantile(mouth, 0.2),
		Aspect: quantile(aspect, 0.5),
	}
}

// frontal is the neutral value of a head angle: the median of the half of
// the values nearest zero. A person facing the camera rests near zero,
// and turning away for much of the capture does not move this estimate,
// while a camera placed off to one side (a constant offset) still does.
func frontal(angles []float64) float64 {
	if len(angles) == 0 {
		return math.NaN()
	}
	s := slices.Clone(angles)
	slices.SortFunc(s, func(a, b float64) int { return cmp.Compare(math.Abs(a), math.Abs(b)) })
	return quantile(s[:(len(s)+1)/2], 0.5)
}

// quantile returns the q-quantile of xs (linear interpolation); NaN for no
// values. xs is not modified.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	k := q * float64(len(s)-1)
	i := int(k)
	if i >= len(s)-1 {
		return s[len(s)-1]
	}
	return s[i] + (k-float64(i))*(s[i+1]-s[i])
}

// detectActions finds every occurrence of action in the series.
func detectActions(s []point, n neutral, action biometric.ChallengeType, th ActionThresholds) []event {
	switch action {
	case biometric.ChallengeBlink:
		return detectBlinks(s, n, th)
	case biometric.ChallengeTurnLeft:
		return excursions(s, action, th.HoldMS, func(p point) float64 { return (p.Yaw - n.Yaw) / th.TurnDeg })
	case biometric.ChallengeTurnRight:
		return excursions(s, action, th.HoldMS, func(p point) float64 { return (n.Yaw - p.Yaw) / th.TurnDeg })
	case biometric.ChallengeNod:
		return excursions(s, action, th.HoldMS, func(p point) float64 { return (n.Pitch - p.Pitch) / th.NodDeg })
	case biometric.ChallengeSmile:
		return excursions(s, action, th.HoldMS, func(p point) float64 {
			if p.Mouth >= th.MouthOpen {
				return 0 // a wide-open mouth also widens it; that is not a smile
			}
			return (p.Smile/n.Smile - 1) / th.SmileRise
		})
	case biometric.ChallengeOpenMouth:
		return excursions(s, action, th.HoldMS, func(p point) float64 {
			return math.Min(p.Mouth/th.MouthOpen, (p.Mouth-n.Mouth)/th.MouthRise)
		})
	}
	return nil
}

// excursions finds the runs of consecutive tracked frames where level(p)
// ≥ 1, held for at least hold ms (a single frame counts as lasting one
// frame interval).
func excursions(s []point, action biometric.ChallengeType, hold int64, level func(point) float64) []event {
	var out []event
	for i := 0; i < len(s); i++ {
		if !s[i].OK || level(s[i]) < 1 {
			continue
		}
		j, peak, best := i, i, level(s[i])
		for j+1 < len(s) && s[j+1].OK && level(s[j+1]) >= 1 {
			j++
			if v := level(s[j]); v > best {
				peak, best = j, v
			}
		}
		if s[j].T-s[i].T+frameInterval(s, j) >= hold {
			out = append(out, event{Action: action, Start: s[i].T, Peak: s[peak].T, End: s[j].T, Strength: best})
		}
		i = j
	}
	return out
}

// frameInterval is the time from frame i to the next (or from the one
// before, for the last).
func frameInterval(s []point, i int) int64 {
	switch {
	case i+1 < len(s):
		return s[i+1].T - s[i].T
	case i > 0:
		return s[i].T - s[i-1].T
	}
	return 0
}

// eyeOpenness is p's eye aspect ratio relative to the open-eye baseline,
// corrected for vertical foreshortening: a photo tipped away from the
// camera flattens the eyes and the whole face alike, while a blink closes
// the eyes alone.
func eyeOpenness(p point, ear, aspect float64) float64 {
	if ear <= 0 || aspect <= 0 || p.Aspect <= 0 {
		return 0
	}
	return (p.EAR / ear) / (p.Aspect / aspect)
}

// detectBlinks finds blinks: both eyes close (openness below BlinkClosed)
// from open (above BlinkOpen) and open again within BlinkMaxMS.
func detectBlinks(s []point, n neutral, th ActionThresholds) []event {
	open := func(p point) bool { return p.OK && eyeOpenness(p, n.EAR, n.Aspect) >= th.BlinkOpen }
	closed := func(p point) bool {
		return p.OK && eyeOpenness(p, n.EAR, n.Aspect) < th.BlinkClosed &&
			eyeOpenness(point{OK: true, EAR: p.EARRight, Aspect: p.Aspect}, n.EARRight, n.Aspect) < th.BlinkOpen &&
			eyeOpenness(point{OK: true, EAR: p.EARLeft, Aspect: p.Aspect}, n.EARLeft, n.Aspect) < th.BlinkOpen
	}
	var out []event
	lastOpen := -1
	for i := 0; i < len(s); i++ {
		if open(s[i]) {
			lastOpen = i
			continue
		}
		if lastOpen < 0 || !closed(s[i]) {
			continue
		}
		// The eyes closed after frame lastOpen; find where they reopen.
		j, peak := i, i
		for j+1 < len(s) && !open(s[j+1]) {
			j++
			if s[j].OK && s[j].EAR < s[peak].EAR {
				peak = j
			}
		}
		if j+1 >= len(s) {
			break // still closed at the end: not a complete blink
		}
		if s[j+1].T-s[lastOpen].T <= th.BlinkMaxMS && steady(s[lastOpen:j+2]) {
			depth := 1 - eyeOpenness(s[peak], n.EAR, n.Aspect)
			out = append(out, event{Action: biometric.ChallengeBlink, Start: s[i].T, Peak: s[peak].T, End: s[j+1].T,
				Strength: depth / (1 - th.BlinkClosed)})
		}
		lastOpen = j + 1
		i = j + 1
	}
	return out
}

// steady reports whether the head kept still over the frames of a blink:
// a blink moves the eyelids, not the face. Tracking glitches and
// discontinuous frames make the eye aspect ratio jump together with the
// face's position, scale or pose, and are not blinks.
func steady(s []point) bool {
	ref := s[0]
	for _, p := range s {
		if !p.OK {
			continue
		}
		if math.Abs(p.IOD/ref.IOD-1) > blinkMaxScale ||
			math.Hypot(p.CX-ref.CX, p.CY-ref.CY) > blinkMaxMove*ref.IOD {
			return false
		}
	}
	return true
}

// How still the face must stay during a blink: its change of scale and
// the move of its centre (inter-ocular distances), relative to the last
// open-eye frame before it.
const (
	blinkMaxScale = 0.15
	blinkMaxMove  = 0.5
)
