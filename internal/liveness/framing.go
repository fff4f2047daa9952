package liveness

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/vision"
)

// The framing pre-check judges one preview frame before a capture starts,
// so that the capture client can guide the person into the oval: a face
// detector confirmed by the analysis's mesh, the analysis's quality
// measure held to its quality gates with a margin (the person moves a
// little while recording), and the oval the client draws.

// The framing verdicts, in the order they are tested.
const (
	FramingNoFace       = "no_face"
	FramingSeveralFaces = "several_faces"
	FramingTooFar       = "too_far"
	FramingTooClose     = "too_close"
	FramingOffCentre    = "off_centre"
	FramingTooDark      = "too_dark"
	FramingTooBright    = "too_bright"
	FramingBlurred      = "blurred"
	FramingOK           = "ok"
)

// Framing is the verdict on one frame.
type Framing struct {
	// Verdict is one of the Framing* constants.
	Verdict string
	// Instructions tell the person what to do, in one sentence.
	Instructions string
	// Faces is how many faces of comparable size are in view (0 when the
	// mesh confirmed none).
	Faces int
	// Face is the largest face, in the request image's pixels; nil when
	// there is none.
	Face *vision.Face
	// Quality is Face's quality (its size in the request image's pixels).
	Quality *biometric.Quality
}

// FramingThresholds are the oval's bounds on a face; the quality gates
// come from QualityThresholds.
type FramingThresholds struct {
	// MinOvalWidth and MaxOvalWidth bound the face's width (its mesh
	// box) as a share of the oval's width: below, the person is too far;
	// above, too close.
	MinOvalWidth, MaxOvalWidth float64
	// MaxOvalHeight bounds the face's height as a share of the oval's.
	MaxOvalHeight float64
	// MaxOvalOffset is how far the face centre may be from the oval
	// centre, as a share of the oval's radius on each axis.
	MaxOvalOffset float64
	// SizeMargin multiplies the analysis's smallest face size, and
	// CentreMargin its largest offset from the frame centre, so that a
	// frame that passes leaves room to move while recording.
	SizeMargin, CentreMargin float64
	// QualityMargin is added to the analysis's smallest brightness and
	// sharpness.
	QualityMargin float64
	// MaxBrightness is the brightest face (0-100) that is not washed out.
	MaxBrightness float64
}

// DefaultFramingThresholds are the bounds everify uses; the dev clips of
// a person framing themselves pass them (internal/liveness framing tests).
var DefaultFramingThresholds = FramingThresholds{
	MinOvalWidth:  0.45,
	MaxOvalWidth:  1.2,
	MaxOvalHeight: 1.25,
	MaxOvalOffset: 0.5,
	SizeMargin:    1.25,
	CentreMargin:  0.5,
	QualityMargin: 3,
	MaxBrightness: 88,
}

// framingText is what each verdict tells the person.
var framingText = map[string]string{
	FramingNoFace:       "Place your face inside the oval and look at the camera.",
	FramingSeveralFaces: "Make sure only your face is in the picture.",
	FramingTooFar:       "Move closer, so that your face fills the oval.",
	FramingTooClose:     "Move back a little, so that your whole face fits inside the oval.",
	FramingOffCentre:    "Move your face into the middle of the oval.",
	FramingTooDark:      "Your face is too dark. Face a light or turn one on.",
	FramingTooBright:    "Your face is too bright. Move out of direct light.",
	FramingBlurred:      "The picture is blurred. Hold still and clean the camera lens.",
	FramingOK:           "Good. Hold still.",
}

// FramingInstructions returns what the pre-check tells the person for
// verdict; "" for an unknown verdict.
func FramingInstructions(verdict string) string { return framingText[verdict] }

// FramingChecker is the framing pre-check. Detector and Landmarker are
// required; the landmarker confirms the detection as the analysis's
// tracking does. It is safe for concurrent use.
type FramingChecker struct {
	Detector   vision.Detector
	Landmarker vision.Landmarker
	// Quality overrides DefaultQualityThresholds (set it to the
	// analysis's when those are not the defaults); Framing overrides
	// DefaultFramingThresholds.
	Quality *QualityThresholds
	Framing *FramingThresholds
}

// FramingDetector is the detector model of the pre-check: BlazeFace's
// short-range model, made for a face at selfie distance. In the framing
// tests it gives the same verdicts as the analysis's full-range model, and
// it detects in about a fifth of the time (0.9 against 4.7 ms on a
// 240x320 preview), which halves the cost of a pre-check.
const FramingDetector = "blazeface-front"

// NewFramingChecker returns the checker over the models in rt: the
// short-range BlazeFace and FaceMesh (shared with the analysis, which
// loads it from the same runtime).
func NewFramingChecker(rt vision.Runtime) (*FramingChecker, error) {
	p, err := vision.NewPipeline(rt, vision.PipelineOptions{Detector: vision.DetectorOptions{Model: FramingDetector}})
	if err != nil {
		return nil, err
	}
	return &FramingChecker{Detector: p.Detector, Landmarker: p.Landmarker}, nil
}

// Check judges the framing of req's frame. It returns an error only when
// the models failed; a frame without a usable face is a verdict.
func (c *FramingChecker) Check(ctx context.Context, req biometric.FramingRequest) (Framing, error) {
	if c.Detector == nil || c.Landmarker == nil {
		return Framing{}, errors.New("liveness: the framing checker needs a detector and a landmarker")
	}
	if req.Image == nil {
		return Framing{}, errors.New("liveness: no image to check")
	}
	rgb := vision.ToRGB(req.Image)
	faces, err := c.Detector.Detect(ctx, rgb)
	if err != nil {
		return Framing{}, fmt.Errorf("liveness: framing: %w", err)
	}
	var face *vision.Face
	if d := pickFace(faces, nil); d != nil {
		g, err := c.Landmarker.Landmarks(ctx, rgb, *d)
		switch {
		case errors.Is(err, vision.ErrNoFace):
		case err != nil:
			return Framing{}, fmt.Errorf("liveness: framing: %w", err)
		default:
			face = &g
		}
	}
	if face == nil {
		return verdict(FramingNoFace, 0, nil, nil), nil
	}
	q := vision.FaceQuality(rgb, *face)
	n := facesInView(faces, *face)
	return verdict(c.judge(*face, q, n, rgb.W, rgb.H, req), n, face, &q), nil
}

// CheckFraming is Check in the API's terms (api.FramingChecker): the
// face as the API describes faces.
func (c *FramingChecker) CheckFraming(ctx context.Context, req biometric.FramingRequest) (*biometric.Framing, error) {
	v, err := c.Check(ctx, req)
	if err != nil {
		return nil, err
	}
	out := &biometric.Framing{Verdict: v.Verdict, Instructions: v.Instructions, Faces: v.Faces}
	if v.Face != nil && v.Quality != nil {
		info := vision.FaceAnalysis{Face: *v.Face, Quality: *v.Quality}.Info()
		out.Face = &info
	}
	return out, nil
}

// facesInView counts face and the detections of comparable size (as the
// analysis counts them, see countFaces) whose centre lies outside face:
// the detector also fires on parts of a face close to the camera.
func facesInView(dets []vision.Face, face vision.Face) int {
	big := math.Min(face.Box.Width, face.Box.Height)
	for _, d := range dets {
		big = math.Max(big, math.Min(d.Box.Width, d.Box.Height))
	}
	r := vision.RectOf(face.Box)
	n := 1
	for _, d := range dets {
		c := vision.RectOf(d.Box).Centre()
		inside := c.X >= r.X0 && c.X <= r.X1 && c.Y >= r.Y0 && c.Y <= r.Y1
		if !inside && math.Min(d.Box.Width, d.Box.Height) >= minOtherFace*big {
			n++
		}
	}
	return n
}

// verdict is the Framing of verdict v.
func verdict(v string, faces int, f *vision.Face, q *biometric.Quality) Framing {
	return Framing{Verdict: v, Instructions: framingText[v], Faces: faces, Face: f, Quality: q}
}

// judge applies the gates to the largest face of a w x h frame, in the
// order a person can act on them: the people in view, the distance, the
// position, then the light and the sharpness.
func (c *FramingChecker) judge(f vision.Face, q biometric.Quality, faces, w, h int, req biometric.FramingRequest) string {
	qt, ft := DefaultQualityThresholds, DefaultFramingThresholds
	if c.Quality != nil {
		qt = *c.Quality
	}
	if c.Framing != nil {
		ft = *c.Framing
	}
	scale := req.Scale
	if !(scale > 0) {
		scale = 1
	}
	b := f.Box
	size := math.Min(b.Width, b.Height) * scale // in the capture's pixels
	fx, fy := b.X+b.Width/2, b.Y+b.Height/2
	offFrame := math.Max(math.Abs(fx-float64(w)/2)/float64(w), math.Abs(fy-float64(h)/2)/float64(h))
	o := req.Oval
	if o != nil && !o.Inside(w, h) {
		o = nil
	}
	switch {
	case faces > 1:
		return FramingSeveralFaces
	case size < qt.MinFaceSize*ft.SizeMargin:
		return FramingTooFar
	case o != nil && b.Width < ft.MinOvalWidth*2*o.RX:
		return FramingTooFar
	case o != nil && (b.Width > ft.MaxOvalWidth*2*o.RX || b.Height > ft.MaxOvalHeight*2*o.RY):
		return FramingTooClose
	case o == nil && (b.Width > 0.9*float64(w) || b.Height > 0.9*float64(h)):
		return FramingTooClose
	case offFrame > qt.MaxOffCentre*ft.CentreMargin:
		return FramingOffCentre
	case o != nil && (math.Abs(fx-o.CX) > ft.MaxOvalOffset*o.RX || math.Abs(fy-o.CY) > ft.MaxOvalOffset*o.RY):
		return FramingOffCentre
	case q.Brightness < qt.MinBrightness+ft.QualityMargin:
		return FramingTooDark
	case q.Brightness > ft.MaxBrightness:
		return FramingTooBright
	case q.Sharpness < qt.MinSharpness+ft.QualityMargin:
		return FramingBlurred
	}
	return FramingOK
}
