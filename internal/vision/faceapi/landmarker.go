package faceapi

import (
	"context"
	"fmt"
	"image"
	"math"
	"sync"

	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/vision"
)

// Indices into the 68 points (iBUG 300-W order, 0-based). "Right" and
// "left" are the person's: the right eye is on the image's left.
const (
	jawRight      = 0  // jaw end by the right ear
	jawLeft       = 16 // jaw end by the left ear
	rightEyeFirst = 36 // 36-41: right eye, 36 the outer corner, 39 the inner
	leftEyeFirst  = 42 // 42-47: left eye, 42 the inner corner, 45 the outer
	noseTip       = 30
	noseBase      = 33
	mouthRight    = 48
	mouthLeft     = 54
	numPoints     = 68
)

// LandmarkerOptions configures NewLandmarker. The zero value is the
// default.
type LandmarkerOptions struct {
	// By default the net also runs on the mirror image of the crop and the
	// two sets of points (the second mirrored back) are averaged. The net
	// is not symmetric: on LFW faces its points on a mirrored crop,
	// mirrored back, lie 2-3 px to the right of its points on the crop (for
	// a 40 px eye distance); the average cancels that bias and improves
	// the recognition net's LFW accuracy. NoFlip runs the net once, as
	// face-api does.
	NoFlip bool
}

// Landmarker finds 68 facial points with face-api's landmark net. It
// implements vision.Landmarker and is safe for concurrent use.
type Landmarker struct {
	model vision.Model
	opts  LandmarkerOptions
	bufs  sync.Pool // *[]float32 input buffers, room for two crops
}

var _ vision.Landmarker = (*Landmarker)(nil)

// NewLandmarker loads the landmark model from rt.
func NewLandmarker(rt vision.Runtime, opts LandmarkerOptions) (*Landmarker, error) {
	m, err := load(rt, LandmarkerModel, landmarkerSize, "landmarks")
	if err != nil {
		return nil, err
	}
	l := &Landmarker{model: m, opts: opts}
	l.bufs.New = func() any { b := make([]float32, 2*3*landmarkerSize*landmarkerSize); return &b }
	return l, nil
}

// mirrored[i] is the point that point i becomes in the mirror image
// (iBUG 300-W order).
var mirrored = [numPoints]int{
	16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, // jaw
	26, 25, 24, 23, 22, 21, 20, 19, 18, 17, // eyebrows
	27, 28, 29, 30, 35, 34, 33, 32, 31, // nose
	45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40, // eyes
	54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55, // outer lips
	64, 63, 62, 61, 60, 67, 66, 65, // inner lips
}

// Landmarks returns f with its 68 Keypoints, the five Landmarks derived
// from them (eye centres, nose tip, mouth corners) and a rough Pose. Like
// face-api it looks at the square centred on f.Box whose side is the box's
// longer side; unlike face-api, that square shows the image around a
// non-square box rather than black padding.
func (l *Landmarker) Landmarks(ctx context.Context, img image.Image, f vision.Face) (vision.Face, error) {
	if f.Box.Width <= 0 || f.Box.Height <= 0 {
		return f, fmt.Errorf("faceapi: landmarks: face box %+v is empty", f.Box)
	}
	rgb := vision.ToRGB(img)
	side := math.Max(f.Box.Width, f.Box.Height)
	centre := biometric.Point{X: f.Box.X + f.Box.Width/2, Y: f.Box.Y + f.Box.Height/2}
	toImage := vision.CropTransform(centre, side, side, 0, landmarkerSize, landmarkerSize)

	bp := l.bufs.Get().(*[]float32)
	defer l.bufs.Put(bp)
	const per = 3 * landmarkerSize * landmarkerSize
	n := 1
	vision.Warp(rgb, toImage, landmarkerSize, landmarkerSize, vision.NormRaw, (*bp)[:per])
	if !l.opts.NoFlip {
		n = 2
		mirror := vision.Translate(-landmarkerSize, 0).Then(vision.ScaleXY(-1, 1)).Then(toImage)
		vision.Warp(rgb, mirror, landmarkerSize, landmarkerSize, vision.NormRaw, (*bp)[per:2*per])
	}
	outs, err := l.model.Run(ctx, vision.Tensor{Shape: []int64{int64(n), landmarkerSize, landmarkerSize, 3}, Data: (*bp)[:n*per]})
	if err != nil {
		return f, fmt.Errorf("faceapi: landmarks: %w", err)
	}
	out := outs[0].Data
	if len(out) != n*2*numPoints {
		return f, fmt.Errorf("faceapi: model %q: %d landmark values, want %d", LandmarkerModel, len(out), n*2*numPoints)
	}
	pts := make([]biometric.Point, numPoints)
	for i := range pts {
		// Outputs are fractions of the input square.
		x, y := float64(out[2*i]), float64(out[2*i+1])
		if n == 2 {
			j := 2*numPoints + 2*mirrored[i]
			x = (x + 1 - float64(out[j])) / 2
			y = (y + float64(out[j+1])) / 2
		}
		pts[i] = toImage.Apply(biometric.Point{X: x * landmarkerSize, Y: y * landmarkerSize})
	}
	f.Keypoints = pts
	f.Landmarks = namedLandmarks(pts)
	f.Mesh = nil
	f.Pose = roughPose(pts)
	return f, nil
}

// namedLandmarks derives the five named points from the 68.
func namedLandmarks(pts []biometric.Point) biometric.Landmarks {
	return biometric.Landmarks{
		LeftEye:    mean(pts[leftEyeFirst : leftEyeFirst+6]),
		RightEye:   mean(pts[rightEyeFirst : rightEyeFirst+6]),
		Nose:       pts[noseTip],
		MouthLeft:  pts[mouthLeft],
		MouthRight: pts[mouthRight],
	}
}

func mean(pts []biometric.Point) biometric.Point {
	var m biometric.Point
	for _, p := range pts {
		m.X += p.X
		m.Y += p.Y
	}
	n := float64(len(pts))
	return biometric.Point{X: m.X / n, Y: m.Y / n}
}

// Pose model constants. frontalNoseDrop is where the nose tip falls
// between the eye line (0) and the mouth corners (1) in a frontal face: the
// median over the 3,792 LFW faces found by this package (dlib's mean face
// has 0.531). A nose tip standing out about noseDepth times the
// eye-to-mouth distance from the face moves by that times sin(pitch); across
// the face it is taken to move by half the jaw width times sin(yaw).
const (
	frontalNoseDrop = 0.55
	noseDepth       = 0.5
)

// roughPose estimates the head pose from the 68 points with a rigid-face
// approximation (within about 10-15 degrees for moderate poses): roll from
// the eye line, yaw from where the nose tip falls between the jaw ends,
// pitch from where it falls between the eye line and the mouth corners.
func roughPose(pts []biometric.Point) biometric.Pose {
	re := mean(pts[rightEyeFirst : rightEyeFirst+6])
	le := mean(pts[leftEyeFirst : leftEyeFirst+6])
	roll := math.Atan2(le.Y-re.Y, le.X-re.X)
	// Measure in the face's own frame: undo the roll about the eye midpoint.
	eyes := biometric.Point{X: (re.X + le.X) / 2, Y: (re.Y + le.Y) / 2}
	upright := vision.Translate(-eyes.X, -eyes.Y).Then(vision.Rotate(-roll))
	nose := upright.Apply(pts[noseTip])
	jr, jl := upright.Apply(pts[jawRight]), upright.Apply(pts[jawLeft])
	mouth := mean([]biometric.Point{upright.Apply(pts[mouthLeft]), upright.Apply(pts[mouthRight])})

	var yaw, pitch float64
	if w := jl.X - jr.X; w > 0 {
		yaw = math.Asin(clamp((nose.X-(jr.X+jl.X)/2)/(w/2), -1, 1))
	}
	if h := mouth.Y; h > 0 {
		pitch = math.Asin(clamp((frontalNoseDrop-nose.Y/h)/noseDepth, -1, 1))
	}
	deg := 180 / math.Pi
	return biometric.Pose{Yaw: yaw * deg, Pitch: pitch * deg, Roll: roll * deg}
}

func clamp(v, lo, hi float64) float64 { return math.Min(math.Max(v, lo), hi) }
