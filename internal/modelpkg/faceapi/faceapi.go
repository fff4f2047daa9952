// Package faceapi builds ONNX graphs for three networks of the npm package
// @vladmandic/face-api, whose weights ship as TF.js weight manifests while
// the architectures exist only as code in the package's src/. Build
// re-creates each architecture operator by operator from the decoded
// weights:
//
//   - "ssd_mobilenetv1": SSD MobileNetV1 face detector. Input "input"
//     [N, 512, 512, 3]; outputs "boxes" [N, 5118, 4] (decoded anchors:
//     ymin, xmin, ymax, xmax as fractions of the input, not clipped) and
//     "scores" [N, 5118] (face probability). Score threshold and
//     non-maximum suppression are left to the caller.
//   - "face_landmark_68": 68-point landmark net. Input "input"
//     [N, 112, 112, 3]; output "landmarks" [N, 136]: x0, y0, x1, y1, … as
//     fractions of the input square (iBUG 300-W point order).
//   - "face_recognition": dlib's ResNet-34-style face descriptor as ported
//     by face-api. Input "input" [N, 150, 150, 3]; output "descriptor"
//     [N, 128], not normalised (dlib's distance threshold is 0.6).
//
// Every input is NHWC float32 RGB with values 0-255: the graphs contain
// face-api's own input scaling, so callers only resize and crop. N may vary.
// The graphs compute in NCHW after one leading Transpose.
package faceapi

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/everify/everify/internal/modelpkg/onnxgraph"
	"github.com/everify/everify/internal/modelpkg/tfjs"
)

// The networks Build knows, by face-api's model file prefix.
const (
	SSDMobileNetV1  = "ssd_mobilenetv1"
	FaceLandmark68  = "face_landmark_68"
	FaceRecognition = "face_recognition"
)

// Tensor names and fixed sizes of the graphs Build returns.
const (
	InputName      = "input"
	BoxesName      = "boxes"
	ScoresName     = "scores"
	LandmarksName  = "landmarks"
	DescriptorName = "descriptor"

	SSDInputSize         = 512
	SSDAnchors           = 5118
	LandmarkInputSize    = 112
	LandmarkOutputs      = 136
	RecognitionInputSize = 150
	DescriptorDim        = 128
)

// Nets lists the networks Build accepts.
func Nets() []string { return []string{SSDMobileNetV1, FaceLandmark68, FaceRecognition} }

// ManifestName returns the file name of net's weights manifest in
// face-api's model/ directory.
func ManifestName(net string) string { return net + "_model-weights_manifest.json" }

// LoadWeights reads and decodes net's weights manifest and shards from
// dir (face-api's model/ directory).
func LoadWeights(dir, net string) (map[string]*tfjs.Weight, error) {
	data, err := os.ReadFile(filepath.Join(dir, ManifestName(net)))
	if err != nil {
		return nil, fmt.Errorf("faceapi: %s: %w", net, err)
	}
	groups, err := tfjs.ParseManifest(data)
	if err != nil {
		return nil, fmt.Errorf("faceapi: %s: %w", net, err)
	}
	ws, err := tfjs.DecodeWeights(groups, func(p string) ([]byte, error) {
		if filepath.Base(p) != p {
			return nil, fmt.Errorf("shard path %q leaves the model directory", p)
		}
		return os.ReadFile(filepath.Join(dir, p))
	})
	if err != nil {
		return nil, fmt.Errorf("faceapi: %s: %w", net, err)
	}
	return ws, nil
}

// Build returns the ONNX graph of net computed from weights decoded from
// face-api's weights manifest. It fails, naming them, when weights are
// missing, have another shape than the architecture needs, or are float
// weights the architecture does not use.
func Build(net string, weights map[string]*tfjs.Weight) (*onnxgraph.Graph, error) {
	b := newBuilder(net, weights)
	switch net {
	case SSDMobileNetV1:
		buildSSD(b)
		b.describe("face-api SSD MobileNetV1 face detector",
			"NHWC float32 RGB 0-255, 512x512 (letterbox: image at top-left, zero padding right/bottom)",
			"boxes [N,5118,4] ymin,xmin,ymax,xmax in 0-1 of the input; scores [N,5118] face probability")
	case FaceLandmark68:
		buildLandmark68(b)
		b.describe("face-api 68-point face landmark net",
			"NHWC float32 RGB 0-255, 112x112 face crop",
			"landmarks [N,136] x,y pairs in 0-1 of the input, iBUG 300-W order")
	case FaceRecognition:
		buildRecognition(b)
		b.describe("face-api port of dlib's ResNet face descriptor",
			"NHWC float32 RGB 0-255, 150x150 aligned face chip",
			"descriptor [N,128], not normalised")
	default:
		return nil, fmt.Errorf("faceapi: unknown net %q (known: %v)", net, Nets())
	}
	return b.finish()
}

func (b *builder) describe(doc, input, output string) {
	b.g.DocString = doc + ", rebuilt from the TF.js weights by everify"
	b.g.Metadata["input"] = input
	b.g.Metadata["output"] = output
}
