// Package faceapi runs the three face-api networks that everify converts to
// ONNX at install time (internal/modelpkg/faceapi): the SSD MobileNetV1
// face Detector, the 68-point Landmarker, and the Embedder for dlib's
// ResNet face descriptor, which crops faces the way dlib's
// get_face_chip_details does (a similarity transform of the landmarks onto
// dlib's mean face, 150x150 chip, padding 0.25). The lfw subpackage and
// TestLFW measure the chain on LFW.
//
// A typical chain is Detect, then Landmarks for the chosen face, then
// Embed: the detector gives only a box and a score, the landmarker adds the
// 68 points, the five named landmarks and a rough pose, and the embedder
// aligns on those points.
package faceapi

import (
	"fmt"
	"slices"

	"github.com/everify/everify/internal/vision"
)

// Installed model names (files NAME.onnx in the models directory).
const (
	DetectorModel   = "faceapi-ssd"
	LandmarkerModel = "faceapi-landmark68"
	EmbedderModel   = "faceapi-recognition"
)

// Model input sizes and output tensor names, as built by
// internal/modelpkg/faceapi.
const (
	detectorSize   = 512
	landmarkerSize = 112
	chipSize       = 150
	descriptorDim  = 128
)

// load loads name from rt and checks that it takes one NHWC RGB image of
// side size and has the named outputs, in that order.
func load(rt vision.Runtime, name string, size int64, outputs ...string) (vision.Model, error) {
	m, err := rt.Load(name)
	if err != nil {
		return nil, err
	}
	in := m.Inputs()
	if len(in) != 1 || len(in[0].Shape) != 4 || !slices.Equal(in[0].Shape[1:], []int64{size, size, 3}) {
		return nil, fmt.Errorf("faceapi: model %q: want one [N,%d,%d,3] input, have %v", name, size, size, in)
	}
	var have []string
	for _, o := range m.Outputs() {
		have = append(have, o.Name)
	}
	if !slices.Equal(have, outputs) {
		return nil, fmt.Errorf("faceapi: model %q: want outputs %v, have %v; reinstall the models with 'everify models install'", name, outputs, have)
	}
	return m, nil
}
