package vision

import (
	"image"
	"math"

	"github.com/everify/everify/internal/biometric"
)

// qualityPatch is the side of the levelled face patch that sharpness and
// brightness are measured on, so that values compare across face sizes.
const qualityPatch = 112

// Quality-score calibration. Sizes are the face box's shorter side.
const (
	qualityMinSize  = 32.0  // at or below: unusable
	qualityGoodSize = 112.0 // at or above: no size penalty
	// sharpnessScale maps the Laplacian variance of the face patch to
	// 0-100: 100*(1-exp(-v/sharpnessScale)); a typical in-focus webcam or
	// LFW face gives 60-95, a visibly blurred one below 30.
	sharpnessScale = 150.0
	qualityPoseOK  = 20.0 // yaw or pitch beyond this (degrees) costs score
	qualityPoseMax = 60.0 // at or beyond: unusable
)

// FaceQuality measures how usable face f in img is for matching: its size
// (the box's shorter side), the sharpness and brightness of a levelled
// 112x112 patch of the face, and an overall 0-100 score.
//
// The score multiplies four factors, each 0-1: size (0 at 32 px, 1 from
// 112 px, log-linear between), sharpness (the 0-100 sharpness over 50,
// capped at 1), exposure (1 for a mean luma of 70-190 with little clipping,
// falling to 0 for a black or white face) and pose (1 within 20° of
// frontal in yaw and pitch, 0 at 60°).
func FaceQuality(img image.Image, f Face) biometric.Quality {
	rgb := ToRGB(img)
	size := math.Min(f.Box.Width, f.Box.Height)
	if !(size > 0) {
		return biometric.Quality{}
	}
	re, le := f.Landmarks.RightEye, f.Landmarks.LeftEye
	angle := 0.0
	if le != re {
		angle = math.Atan2(le.Y-re.Y, le.X-re.X)
	}
	side := math.Max(f.Box.Width, f.Box.Height)
	patch := GrayPatch(rgb, CropTransform(RectOf(f.Box).Centre(), side, side, angle, qualityPatch, qualityPatch), qualityPatch, qualityPatch)
	st := patch.Stats()
	sharp := 100 * (1 - math.Exp(-patch.LaplacianVariance()/sharpnessScale))

	sizeF := clamp01(math.Log(size/qualityMinSize) / math.Log(qualityGoodSize/qualityMinSize))
	sharpF := clamp01(sharp / 50)
	expF := exposureFactor(st)
	off := math.Max(math.Abs(f.Pose.Yaw), math.Abs(f.Pose.Pitch))
	poseF := clamp01((qualityPoseMax - off) / (qualityPoseMax - qualityPoseOK))
	return biometric.Quality{
		FaceSize:   size,
		Sharpness:  round1(sharp),
		Brightness: round1(st.Mean / 255 * 100),
		Score:      round1(100 * sizeF * sharpF * expF * poseF),
	}
}

// exposureFactor is 1 for a well exposed patch and falls to 0 as its mean
// luma nears black or white or as more of it is clipped.
func exposureFactor(st LumaStats) float64 {
	var m float64
	switch {
	case st.Mean < 70:
		m = (st.Mean - 20) / 50
	case st.Mean > 190:
		m = (240 - st.Mean) / 50
	default:
		m = 1
	}
	clip := clamp01(1 - 2*math.Max(st.Dark+st.Bright-0.1, 0))
	return clamp01(m) * clip
}

func clamp01(v float64) float64 { return math.Max(0, math.Min(1, v)) }

func round1(v float64) float64 { return math.Round(v*10) / 10 }
