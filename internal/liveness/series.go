package liveness

import (
	"math"

	"github.com/everify/everify/internal/vision"
)

// point is one frame of the landmark time series that the action
// detectors read.
type point struct {
	T  int64 // ms since the capture started
	OK bool  // a face was tracked on this frame; the fields below are zero otherwise

	Yaw, Pitch, Roll float64 // degrees, biometric.Pose conventions
	// EAR is the eye aspect ratio, the mean of both eyes; EARRight and
	// EARLeft are the person's right and left eye.
	EAR, EARRight, EARLeft float64
	// Mouth is the inner-lip gap over the inner mouth width
	// (vision.MouthOpening).
	Mouth float64
	// Smile is the outer mouth width over the distance between the outer
	// eye corners, in 3-D: it grows when the lips are pulled wide.
	Smile float64
	// Aspect is the face's vertical over horizontal proportion, in 3-D:
	// nose bridge to the base of the nose over the outer eye corners'
	// distance. A face tipped away from the camera in a photo shrinks it;
	// a blink does not change it.
	Aspect float64
	// CX, CY is the centre of the face box in pixels.
	CX, CY float64
	// IOD is the 2-D distance between the eye centres in pixels: the
	// face's scale on the frame.
	IOD float64
}

// FaceMesh points the series reads besides those vision names.
const (
	meshNoseBridge = 168 // between the eyes
	meshNoseBase   = 2   // below the nose tip
)

// seriesOf derives the landmark time series from the observations.
func seriesOf(obs []frameObs) []point {
	s := make([]point, len(obs))
	for i, o := range obs {
		s[i].T = o.AtMS
		f := o.Face
		if f == nil || len(f.Mesh) == 0 {
			continue
		}
		r, l := vision.EyeAspectRatio(f.Mesh)
		lm := f.Landmarks
		s[i] = point{
			T: o.AtMS, OK: true,
			Yaw: f.Pose.Yaw, Pitch: f.Pose.Pitch, Roll: f.Pose.Roll,
			EAR: (r + l) / 2, EARRight: r, EARLeft: l,
			Mouth: vision.MouthOpening(f.Mesh),
			Smile: dist3(f.Mesh[vision.MeshMouthRight], f.Mesh[vision.MeshMouthLeft]) /
				dist3(f.Mesh[vision.MeshRightEyeOuter], f.Mesh[vision.MeshLeftEyeOuter]),
			Aspect: dist3(f.Mesh[meshNoseBridge], f.Mesh[meshNoseBase]) /
				dist3(f.Mesh[vision.MeshRightEyeOuter], f.Mesh[vision.MeshLeftEyeOuter]),
			CX:  f.Box.X + f.Box.Width/2,
			CY:  f.Box.Y + f.Box.Height/2,
			IOD: iod(lm),
		}
	}
	return s
}

func dist3(a, b [3]float64) float64 {
	return math.Sqrt((a[0]-b[0])*(a[0]-b[0]) + (a[1]-b[1])*(a[1]-b[1]) + (a[2]-b[2])*(a[2]-b[2]))
}
