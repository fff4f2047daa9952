package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/facematch"
	"github.com/everify/everify/internal/imagein"
	"github.com/everify/everify/internal/vision"
	"github.com/everify/everify/internal/vision/faceapi"
	"github.com/everify/everify/internal/vision/onnx"
)

// runEmbed implements `everify embed`.
func runEmbed(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("embed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: everify embed [flags] IMAGE\n\nPrints the L2-normalised identity embedding of the largest face in IMAGE,\nfor every embedding model or the one named.\n\nFlags:")
		fs.PrintDefaults()
	}
	model := fs.String("model", "", "embedding model: "+strings.Join(embedModelNames(), ", ")+" (default: all)")
	models := fs.String("models", defaultModelsDir(), "models directory ($EVERIFY_MODELS sets the default)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseAnywhere(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErrorf("need exactly one IMAGE argument")
	}
	specs := vision.Embedders
	if *model == faceapi.EmbedderModel {
		specs = nil
	} else if *model != "" {
		s, ok := vision.LookupEmbedder(*model)
		if !ok {
			return usageErrorf("unknown model %q; choose one of %s", *model, strings.Join(embedModelNames(), ", "))
		}
		specs = []vision.EmbedderSpec{s}
	}
	img, err := readImage(fs.Arg(0))
	if err != nil {
		return err
	}
	rt, err := onnx.Open(*models, onnx.Options{})
	if err != nil {
		return err
	}
	defer rt.Close()
	p, err := vision.NewPipeline(rt, vision.PipelineOptions{})
	if err != nil {
		return err
	}
	rgb := vision.ToRGB(img.RGBA)
	faces, err := p.Analyze(ctx, rgb)
	if err != nil {
		return err
	}
	i := vision.Largest(faces)
	if i < 0 {
		return biometric.Errorf(biometric.KindUnprocessable, "no_face_detected", "No face was found in %s; use a photo with the face clearly visible.", fs.Arg(0))
	}
	face := faces[i]
	var results []result
	for _, s := range specs {
		e, err := vision.NewEmbedder(rt, s)
		if err != nil {
			return err
		}
		v, err := e.Embed(ctx, rgb, face.Face)
		if err != nil {
			return err
		}
		results = append(results, result{Model: s.Name, Dim: len(v), Embedding: v})
	}
	if *model == "" || *model == faceapi.EmbedderModel {
		r, err := faceMatchEmbedding(ctx, rt, img)
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Image   string             `json:"image"`
			Face    biometric.FaceInfo `json:"face"`
			Results []result           `json:"embeddings"`
		}{fs.Arg(0), roundInfo(face.Info()), results})
	}
	fmt.Fprintf(stdout, "%s: face %d of %d, box x=%.0f y=%.0f w=%.0f h=%.0f\n", fs.Arg(0), i+1, len(faces), face.Box.X, face.Box.Y, face.Box.Width, face.Box.Height)
	for _, r := range results {
		parts := make([]string, len(r.Embedding))
		for k, x := range r.Embedding {
			parts[k] = strconv.FormatFloat(float64(x), 'f', 5, 32)
		}
		fmt.Fprintf(stdout, "%s (%d): [%s]\n", r.Model, r.Dim, strings.Join(parts, ", "))
	}
	return nil
}

// result is one model's embedding, as `embed` prints it.
type result struct {
	Model     string    `json:"model"`
	Dim       int       `json:"dim"`
	Embedding []float32 `json:"embedding"`
}

// embedModelNames lists the models `embed` knows: the candidates of
// package vision and the face-api recognition net that face match uses.
func embedModelNames() []string {
	return append(vision.EmbedderNames(), faceapi.EmbedderModel)
}

// faceMatchEmbedding is the embedding face match compares: the default
// profile's recognition net on its own alignment of the largest face.
func faceMatchEmbedding(ctx context.Context, rt vision.Runtime, img *imagein.Image) (result, error) {
	eng, err := facematch.New(rt, facematch.Options{})
	if err != nil {
		return result{}, err
	}
	p, err := eng.Extract(ctx, img.RGBA, facematch.Source, nil)
	if err != nil {
		return result{}, err
	}
	v := p.Embeddings[0]
	return result{Model: faceapi.EmbedderModel, Dim: len(v), Embedding: v}, nil
}
