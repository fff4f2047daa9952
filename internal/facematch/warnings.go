package facematch

import (
	"math"

	"github.com/everify/everify/internal/vision"
)

// Warning codes. Match results prefix them with the side ("source_",
// "target_"). They flag what may weaken a comparison; none of them stops
// it.
const (
	// WarnMultipleFaces: the source shows more than one face, or the
	// target shows another face at least half as large as the one compared
	// (a document's small ghost portrait does not count).
	WarnMultipleFaces = "multiple_faces"
	// WarnSmallFace: the face is smaller than smallFace pixels.
	WarnSmallFace = "small_face"
	// WarnBlurred: the face's sharpness is below blurredSharpness.
	WarnBlurred = "blurred_face"
	// WarnDark and WarnBright: the face's mean brightness is outside
	// darkBrightness-brightBrightness.
	WarnDark   = "dark_face"
	WarnBright = "overexposed_face"
	// WarnPose: the head is turned (yaw) or tilted (pitch) beyond
	// poseYaw / posePitch degrees.
	WarnPose = "face_not_frontal"
	// WarnRotated: the face lies on its side or upside down in the image
	// (a scan or photo turned by a quarter or half turn); it was found in
	// the turned image.
	WarnRotated = "image_rotated"
	// WarnLowQuality: the face's overall quality score is below
	// lowQuality.
	WarnLowQuality = "low_quality_face"
)

// Warning thresholds. Sizes are the face box's shorter side; sharpness and
// brightness are biometric.Quality's 0-100 scales.
const (
	smallFace        = 80
	blurredSharpness = 30
	darkBrightness   = 25
	brightBrightness = 85
	poseYaw          = 30
	posePitch        = 25
	lowQuality       = 30
	// otherFaceArea is the area, relative to the compared face, from which
	// another face in a target counts as a second person.
	otherFaceArea = 0.5
)

// faceWarnings lists the warnings about face i of faces, found in an image
// on side.
func faceWarnings(faces []vision.FaceAnalysis, i int, side Side) []string {
	f := faces[i]
	q := f.Quality
	var w []string
	area := f.Box.Width * f.Box.Height
	for j, g := range faces {
		if j == i {
			continue
		}
		if side == Source || g.Box.Width*g.Box.Height >= otherFaceArea*area {
			w = append(w, WarnMultipleFaces)
			break
		}
	}
	if q.FaceSize < smallFace {
		w = append(w, WarnSmallFace)
	}
	if q.Sharpness < blurredSharpness {
		w = append(w, WarnBlurred)
	}
	switch {
	case q.Brightness < darkBrightness:
		w = append(w, WarnDark)
	case q.Brightness > brightBrightness:
		w = append(w, WarnBright)
	}
	if math.Abs(f.Pose.Yaw) > poseYaw || math.Abs(f.Pose.Pitch) > posePitch {
		w = append(w, WarnPose)
	}
	if math.Abs(f.Pose.Roll) > 45 {
		w = append(w, WarnRotated)
	}
	if q.Score < lowQuality {
		w = append(w, WarnLowQuality)
	}
	return w
}

// Limits beyond which a face is not compared at all (image_unusable).
const (
	unusableDark      = 8  // brightness (0-100) below: too dark
	unusableBright    = 94 // brightness above: washed out
	unusableSharpness = 2  // sharpness below: no detail left
	unusablePose      = 60 // yaw or pitch beyond (degrees): turned away
)

// usable checks that face f can be compared: large enough
// (face_too_small), and neither black, white, featureless nor turned away
// (image_unusable).
func (e *Engine) usable(f vision.FaceAnalysis, side Side) error {
	q := f.Quality
	if q.FaceSize < e.opts.MinFaceSize {
		return sideError(side, "face_too_small",
			"The face in the %s image is %.0f pixels across; at least %.0f are needed to compare faces. Send a sharper, closer or higher-resolution image.",
			side, q.FaceSize, e.opts.MinFaceSize)
	}
	var why string
	switch {
	case q.Brightness < unusableDark:
		why = "the face is too dark"
	case q.Brightness > unusableBright:
		why = "the face is overexposed"
	case q.Sharpness < unusableSharpness:
		why = "the face is too blurred"
	case math.Abs(f.Pose.Yaw) >= unusablePose || math.Abs(f.Pose.Pitch) >= unusablePose:
		why = "the face is turned away from the camera"
	}
	if why != "" {
		return sideError(side, "image_unusable",
			"The %s image cannot be compared: %s. Send a well-lit, sharp photo of the face looking at the camera.", side, why)
	}
	return nil
}
