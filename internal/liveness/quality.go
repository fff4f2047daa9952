package liveness

import (
	"fmt"
	"math"

	"github.com/everify/everify/internal/biometric"
)

// QualityThresholds are the quality gates. A capture that fails one ends
// as a retryable poor-quality failure, never as a spoof.
type QualityThresholds struct {
	// MinTracked is the share of frames on which the face must be in
	// view (tracked, or found by the detector).
	MinTracked float64
	// MinFaceSize is the smallest median face size (shorter side of the
	// face box, pixels).
	MinFaceSize float64
	// MinBrightness and MinSharpness bound the median brightness and
	// sharpness of the face (vision.FaceQuality's 0-100 scales).
	MinBrightness, MinSharpness float64
	// MaxOffCentre is how far the median face centre may be from the
	// frame centre, as a share of the frame's width or height: the
	// capture client shows an oval in the middle of the picture.
	MaxOffCentre float64
	// MaxMultiFace is the share of detector runs that may see a second
	// face of comparable size.
	MaxMultiFace float64
}

// DefaultQualityThresholds are the gates everify uses; every bona fide
// dev clip passes them with a margin (docs/EVALUATION.md).
var DefaultQualityThresholds = QualityThresholds{
	MinTracked:    0.7,
	MinFaceSize:   72,
	MinBrightness: 15,
	MinSharpness:  15,
	MaxOffCentre:  0.3,
	MaxMultiFace:  0.3,
}

// qualityIssue is a failed quality gate: a stable code and what to tell
// the person.
type qualityIssue struct {
	Code, Message string
}

// qualityCheck applies the gates to the observations. It returns the
// check and the first failed gate (nil when all pass).
func qualityCheck(obs []frameObs, th QualityThresholds) (biometric.Check, *qualityIssue) {
	c := biometric.Check{Name: CheckQuality}
	var sizes, bright, sharp, offX, offY []float64
	tracked, present := 0, 0
	for _, o := range obs {
		if o.Present {
			present++
		}
		if o.Face == nil {
			continue
		}
		tracked++
		b := o.Face.Box
		sizes = append(sizes, math.Min(b.Width, b.Height))
		if o.W > 0 && o.H > 0 {
			offX = append(offX, math.Abs(b.X+b.Width/2-float64(o.W)/2)/float64(o.W))
			offY = append(offY, math.Abs(b.Y+b.Height/2-float64(o.H)/2)/float64(o.H))
		}
		if o.Quality != nil {
			bright = append(bright, o.Quality.Brightness)
			sharp = append(sharp, o.Quality.Sharpness)
		}
	}
	runs, multi := faceCounts(obs)
	share := float64(present) / float64(max(len(obs), 1))
	size, br, sh := quantile(sizes, 0.5), quantile(bright, 0.5), quantile(sharp, 0.5)
	off := math.Max(quantile(offX, 0.5), quantile(offY, 0.5))
	c.Detail = fmt.Sprintf("face on %.0f%% of frames, %.0f px, brightness %.0f, sharpness %.0f, %.0f%% off centre",
		100*share, size, br, sh, 100*off)

	var issue *qualityIssue
	switch {
	case tracked == 0:
		issue = &qualityIssue{"no_face", "No face was found in the capture; look straight at the camera with your face inside the oval."}
	case runs > 0 && float64(multi)/float64(runs) > th.MaxMultiFace:
		issue = &qualityIssue{"multiple_faces", "More than one face was in view; make sure only your face is in the picture."}
	case share < th.MinTracked:
		issue = &qualityIssue{"face_lost", "Your face was out of view for too much of the capture; keep it inside the oval throughout."}
	case size < th.MinFaceSize:
		issue = &qualityIssue{"face_too_small", "Your face is too small in the picture; move closer to the camera so that it fills the oval."}
	case off > th.MaxOffCentre:
		issue = &qualityIssue{"face_off_centre", "Your face was not inside the oval; centre it in the picture."}
	case br < th.MinBrightness:
		issue = &qualityIssue{"too_dark", "The picture is too dark; face a light source or turn on a light."}
	case sh < th.MinSharpness:
		issue = &qualityIssue{"blurred", "The picture is blurred; hold the camera still and clean the lens."}
	}
	// Score: the weakest margin over the gates, 50 at a gate.
	c.Score = math.Min(math.Min(scoreAround(share, 0, th.MinTracked, 1), scoreAround(size, 0, th.MinFaceSize, 2*th.MinFaceSize)),
		math.Min(scoreAround(br, 0, th.MinBrightness, 3*th.MinBrightness), scoreAround(sh, 0, th.MinSharpness, 3*th.MinSharpness)))
	if issue != nil {
		c.Score = math.Min(c.Score, 49)
		c.Detail = issue.Code + ": " + c.Detail
	} else {
		c.Score = math.Max(c.Score, 50)
	}
	c.Passed = issue == nil
	return c, issue
}
