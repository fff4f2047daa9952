package biometric

import "image"

// Oval is the face oval a capture client shows, in the pixels of a frame:
// centre and radii.
type Oval struct {
	CX, CY, RX, RY float64
}

// Inside reports whether o is an oval centred inside a w x h frame.
func (o Oval) Inside(w, h int) bool {
	return o.RX > 0 && o.RY > 0 && o.CX >= 0 && o.CY >= 0 && o.CX <= float64(w) && o.CY <= float64(h)
}

// FramingRequest is one preview frame for the framing pre-check.
type FramingRequest struct {
	// Image is the preview frame (a downscaled copy of the camera picture
	// is enough: 320 pixels wide).
	Image image.Image
	// Oval is the client's face oval in Image's pixels; nil when the
	// client sent none (the frame centre is used).
	Oval *Oval
	// Scale is how many pixels of the frames the capture will record one
	// pixel of Image spans (2 for a 320-pixel preview of 640-pixel
	// frames), so that the face size is judged as the analysis will see
	// it; 1 if zero.
	Scale float64
}

// Framing is the verdict of the framing pre-check on one preview frame.
type Framing struct {
	// Verdict is one of the framing values of docs/openapi.yaml: ok,
	// no_face, too_far, too_close, off_centre, several_faces, too_dark,
	// too_bright, blurred.
	Verdict string
	// Instructions tell the person what to do, in one sentence.
	Instructions string
	// Faces is how many faces of comparable size are in view.
	Faces int
	// Face is the largest face, in the frame's pixels; nil when none.
	Face *FaceInfo
}
