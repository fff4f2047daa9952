package vision

import (
	"math"

	"github.com/everify/everify/internal/biometric"
)

type vec3 [3]float64

func (a vec3) add(b vec3) vec3      { return vec3{a[0] + b[0], a[1] + b[1], a[2] + b[2]} }
func (a vec3) sub(b vec3) vec3      { return vec3{a[0] - b[0], a[1] - b[1], a[2] - b[2]} }
func (a vec3) mul(s float64) vec3   { return vec3{a[0] * s, a[1] * s, a[2] * s} }
func (a vec3) dot(b vec3) float64   { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }
func (a vec3) norm() float64        { return math.Sqrt(a.dot(a)) }
func (a vec3) unit() vec3           { return a.mul(1 / a.norm()) }
func dist3(a, b [3]float64) float64 { return vec3(a).sub(vec3(b)).norm() }

// Mirror-symmetric point pairs (person's right, person's left) and midline
// pairs (top, bottom) of the mesh, used to find the face's axes.
var (
	poseAcross = [][2]int{{MeshRightCheek, MeshLeftCheek}, {MeshRightEyeOuter, MeshLeftEyeOuter}, {MeshRightEyeInner, MeshLeftEyeInner}, {MeshMouthRight, MeshMouthLeft}, {127, 356}, {132, 361}}
	poseDown   = [][2]int{{MeshForehead, MeshChin}, {151, 200}, {9, 164}}
)

// MeshPose estimates the head pose from a 468-point mesh in image
// coordinates (x right, y down, z away from the camera, all in pixels). The
// face's left-right axis is the sum of the vectors between mirror-symmetric
// points, its top-bottom axis the sum of vectors down the midline; after
// orthogonalisation the rotation they form is split into roll (about the
// camera axis), yaw and pitch, in that order of application from the face
// outwards: R = Rz(roll) · Ry(yaw) · Rx(pitch). Angles follow
// biometric.Pose.
func MeshPose(mesh [][3]float64) biometric.Pose {
	if len(mesh) < meshPoints {
		return biometric.Pose{}
	}
	var x, y vec3
	for _, p := range poseAcross {
		x = x.add(vec3(mesh[p[1]]).sub(vec3(mesh[p[0]])))
	}
	for _, p := range poseDown {
		y = y.add(vec3(mesh[p[1]]).sub(vec3(mesh[p[0]])))
	}
	if x.norm() == 0 || y.norm() == 0 {
		return biometric.Pose{}
	}
	x = x.unit()
	y = y.sub(x.mul(y.dot(x))).unit()
	// z = x × y completes the right-handed frame (into the scene).
	z := vec3{x[1]*y[2] - x[2]*y[1], x[2]*y[0] - x[0]*y[2], x[0]*y[1] - x[1]*y[0]}
	deg := 180 / math.Pi
	return biometric.Pose{
		Roll:  math.Atan2(x[1], x[0]) * deg,
		Yaw:   math.Asin(math.Max(-1, math.Min(1, x[2]))) * deg,
		Pitch: math.Atan2(-y[2], z[2]) * deg,
	}
}

// EyeAspectRatio returns the eye aspect ratio of each eye (the person's
// right, then left) from a 468-point mesh: the mean of two eyelid openings
// divided by the distance between the eye's corners, in 3-D. It is about
// 0.25-0.35 for an open eye and falls towards 0.05 when the eye closes.
func EyeAspectRatio(mesh [][3]float64) (right, left float64) {
	if len(mesh) < meshPoints {
		return 0, 0
	}
	ear := func(c0, c1, u0, l0, u1, l1 int) float64 {
		w := dist3(mesh[c0], mesh[c1])
		if w == 0 {
			return 0
		}
		return (dist3(mesh[u0], mesh[l0]) + dist3(mesh[u1], mesh[l1])) / (2 * w)
	}
	right = ear(MeshRightEyeOuter, MeshRightEyeInner, 160, 144, 158, 153)
	left = ear(MeshLeftEyeOuter, MeshLeftEyeInner, 387, 373, 385, 380)
	return right, left
}

// MouthOpening returns the mouth aspect ratio from a 468-point mesh: the
// gap between the inner lips at the middle divided by the width between the
// inner mouth corners, in 3-D. It is near 0 for a closed mouth and above
// about 0.3 for a clearly open one.
func MouthOpening(mesh [][3]float64) float64 {
	if len(mesh) < meshPoints {
		return 0
	}
	w := dist3(mesh[MeshMouthRightIn], mesh[MeshMouthLeftIn])
	if w == 0 {
		return 0
	}
	return dist3(mesh[MeshUpperLipInner], mesh[MeshLowerLipInner]) / w
}
