package modelpkg

import (
	"fmt"
	"path"

	"github.com/everify/everify/internal/modelpkg/faceapi"
	"github.com/everify/everify/internal/modelpkg/onnxgraph"
	"github.com/everify/everify/internal/modelpkg/tfconv"
	"github.com/everify/everify/internal/modelpkg/tfjs"
)

// Spec describes one model of the installed set: where its TF.js files come
// from and how it is converted.
type Spec struct {
	// Name is the model's name in the installed set; its file is NAME.onnx.
	Name string
	// Package is the npm package the source files come from.
	Package Package
	// Source is the main source file inside the package: a graph model's
	// model.json or a face-api weights manifest.
	Source string
	// FaceAPINet is the face-api architecture for weights-only models; empty
	// for graph models.
	FaceAPINet string
	// InputRange is the value range the model expects for its (RGB) input
	// pixels, e.g. [0, 1] or [-1, 1].
	InputRange [2]float32
	// Use says what everify uses the model for.
	Use string
}

// Files lists the package files the model needs: the source and the weight
// shards it names.
func (s Spec) Files(readSource func(name string) ([]byte, error)) ([]string, error) {
	data, err := readSource(s.Source)
	if err != nil {
		return nil, err
	}
	var groups []tfjs.WeightGroup
	if s.FaceAPINet == "" {
		m, err := tfjs.ParseGraphModel(data)
		if err != nil {
			return nil, err
		}
		groups = m.WeightsManifest
	} else if groups, err = tfjs.ParseManifest(data); err != nil {
		return nil, err
	}
	files := []string{s.Source}
	for _, g := range groups {
		for _, p := range g.Paths {
			files = append(files, path.Join(path.Dir(s.Source), p))
		}
	}
	return files, nil
}

// Models is the installed set, in install order: the detector and landmark
// models the pipelines need first, then embedders and attack scorers, then
// the face-api nets.
var Models = []Spec{
	{Name: "blazeface-back", Package: HumanModels, Source: "models/blazeface-back.json", InputRange: [2]float32{-1, 1},
		Use: "face detector (256x256, far/back camera variant), boxes and 6 keypoints"},
	{Name: "facemesh", Package: HumanModels, Source: "models/facemesh.json", InputRange: [2]float32{0, 1},
		Use: "468-point 3-D face mesh on a 192x192 face crop; landmarks, pose, eye and mouth state"},
	{Name: "blazeface-front", Package: HumanModels, Source: "models/blazeface-front.json", InputRange: [2]float32{-1, 1},
		Use: "face detector (128x128, front/selfie camera variant)"},
	{Name: "iris", Package: HumanModels, Source: "models/iris.json", InputRange: [2]float32{0, 1},
		Use: "eye contour and iris landmarks on a 64x64 eye crop (blink and gaze)"},
	{Name: "faceres", Package: HumanModels, Source: "models/faceres.json", InputRange: [2]float32{0, 255},
		Use: "1024-d face embedding (plus age and gender heads) on a 224x224 face crop"},
	{Name: "faceres-deep", Package: HumanModels, Source: "models/faceres-deep.json", InputRange: [2]float32{0, 255},
		Use: "1024-d face embedding, full-precision weights variant of faceres"},
	{Name: "mobilefacenet", Package: HumanModels, Source: "models/mobilefacenet.json", InputRange: [2]float32{0, 1},
		Use: "192-d L2-normalised face embedding on a 112x112 face crop"},
	{Name: "mobileface", Package: HumanModels, Source: "models/mobileface.json", InputRange: [2]float32{0, 255},
		Use: "256-d face embedding on a 112x112 face crop"},
	{Name: "antispoof", Package: HumanModels, Source: "models/antispoof.json", InputRange: [2]float32{0, 1},
		Use: "realness score on a 128x128 face crop (1 = real, 0 = e.g. computer generated)"},
	{Name: "liveness", Package: HumanModels, Source: "models/liveness.json", InputRange: [2]float32{0, 1},
		Use: "replay-artefact classifier on a 32x32 face crop; output [live, not live] probabilities"},
	{Name: "faceapi-ssd", Package: FaceAPI, Source: "model/ssd_mobilenetv1_model-weights_manifest.json", FaceAPINet: "ssd_mobilenetv1", InputRange: [2]float32{0, 255},
		Use: "SSD MobileNet v1 face detector (second detector for cross-checks)"},
	{Name: "faceapi-landmark68", Package: FaceAPI, Source: "model/face_landmark_68_model-weights_manifest.json", FaceAPINet: "face_landmark_68", InputRange: [2]float32{0, 255},
		Use: "68-point face landmarks"},
	{Name: "faceapi-recognition", Package: FaceAPI, Source: "model/face_recognition_model-weights_manifest.json", FaceAPINet: "face_recognition", InputRange: [2]float32{0, 255},
		Use: "128-d face embedding (ResNet-34 style)"},
}

// Lookup returns the spec of the named model.
func Lookup(name string) (Spec, bool) {
	for _, s := range Models {
		if s.Name == name {
			return s, true
		}
	}
	return Spec{}, false
}

// Build converts the model from its source files. read returns a package
// file's bytes by its path inside the package.
func (s Spec) Build(read func(name string) ([]byte, error)) (*onnxgraph.Graph, error) {
	data, err := read(s.Source)
	if err != nil {
		return nil, err
	}
	shard := func(p string) ([]byte, error) { return read(path.Join(path.Dir(s.Source), p)) }
	var g *onnxgraph.Graph
	if s.FaceAPINet == "" {
		m, err := tfjs.ParseGraphModel(data)
		if err != nil {
			return nil, err
		}
		w, err := tfjs.DecodeWeights(m.WeightsManifest, shard)
		if err != nil {
			return nil, err
		}
		if g, err = tfconv.Convert(s.Name, m, w); err != nil {
			return nil, err
		}
	} else {
		groups, err := tfjs.ParseManifest(data)
		if err != nil {
			return nil, err
		}
		w, err := tfjs.DecodeWeights(groups, shard)
		if err != nil {
			return nil, err
		}
		if g, err = faceapi.Build(s.FaceAPINet, w); err != nil {
			return nil, fmt.Errorf("face-api net %s: %w", s.FaceAPINet, err)
		}
		g.Name = s.Name
	}
	g.DocString = fmt.Sprintf("%s converted by everify from %s %s", s.Name, s.Package.Spec(), s.Source)
	if g.Metadata == nil {
		g.Metadata = map[string]string{}
	}
	g.Metadata["everify.source"] = s.Package.Spec() + "/" + s.Source
	g.Metadata["everify.input_range"] = fmt.Sprintf("%g,%g", s.InputRange[0], s.InputRange[1])
	return g, nil
}
