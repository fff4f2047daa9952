package vision_test

import (
	"context"
	"image"
	"os"
	"testing"
	"time"

	"github.com/everify/everify/internal/evaldata"
	"github.com/everify/everify/internal/imagein"
	"github.com/everify/everify/internal/vision"
	"github.com/everify/everify/internal/vision/visiontest"
)

// benchImage is a 640x480 webcam capture with one face.
const benchImage = "nuaa-train/live/0001/0001_00_00_01_0.jpg"

// benchSetup returns the runtime, the standard pipeline, the bench image as
// imagein decodes it (the form requests arrive in) and its analysed face.
func benchSetup(b *testing.B) (vision.Runtime, *vision.Pipeline, *image.RGBA, vision.FaceAnalysis) {
	b.Helper()
	rt := visiontest.Runtime(b, allModels...)
	p := newPipeline(b, vision.PipelineOptions{})
	data, err := os.ReadFile(evaldata.Require(b, benchImage))
	if err != nil {
		b.Fatal(err)
	}
	dec, err := imagein.Decode(data, imagein.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	if s := dec.RGBA.Bounds().Size(); s.X != 640 || s.Y != 480 {
		b.Fatalf("bench image is %v, want 640x480", s)
	}
	faces, err := p.Analyze(context.Background(), dec.RGBA)
	if err != nil || len(faces) == 0 {
		b.Fatalf("%d faces, %v", len(faces), err)
	}
	return rt, p, dec.RGBA, faces[vision.Largest(faces)]
}

// measure runs op b.N times on one locked OS thread and reports, besides
// the wall time, the thread's CPU time per operation ("cpu-ms/op"): with
// single-threaded sessions that is the work of one call, whatever else the
// machine is doing.
func measure(b *testing.B, op func() error) {
	b.Helper()
	defer lockThread()()
	if err := op(); err != nil { // warm-up
		b.Fatal(err)
	}
	var cpu time.Duration
	for b.Loop() {
		c0 := threadCPU()
		if err := op(); err != nil {
			b.Fatal(err)
		}
		cpu += threadCPU() - c0
	}
	b.ReportMetric(float64(cpu)/float64(b.N)/float64(time.Millisecond), "cpu-ms/op")
}

// BenchmarkDetect is BlazeFace (both models) on a 640x480 image, the
// conversion to RGB included.
func BenchmarkDetect(b *testing.B) {
	rt, _, img, _ := benchSetup(b)
	ctx := context.Background()
	for _, model := range []string{"blazeface-back", "blazeface-front"} {
		d, err := vision.NewDetector(rt, vision.DetectorOptions{Model: model})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(model, func(b *testing.B) {
			measure(b, func() error {
				faces, err := d.Detect(ctx, img)
				if err == nil && len(faces) == 0 {
					b.Fatal("no face")
				}
				return err
			})
		})
	}
}

// BenchmarkLandmarks is FaceMesh on one detected face.
func BenchmarkLandmarks(b *testing.B) {
	_, p, img, _ := benchSetup(b)
	rgb := vision.ToRGB(img)
	faces, err := p.Detector.Detect(context.Background(), rgb)
	if err != nil || len(faces) == 0 {
		b.Fatalf("%d faces, %v", len(faces), err)
	}
	ctx := context.Background()
	measure(b, func() error {
		_, err := p.Landmarker.Landmarks(ctx, rgb, faces[0])
		return err
	})
}

// BenchmarkEmbed is each embedding model on one aligned face.
func BenchmarkEmbed(b *testing.B) {
	rt, _, img, f := benchSetup(b)
	rgb := vision.ToRGB(img)
	ctx := context.Background()
	for _, spec := range vision.Embedders {
		e, err := vision.NewEmbedder(rt, spec)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(spec.Name, func(b *testing.B) {
			measure(b, func() error {
				_, err := e.Embed(ctx, rgb, f.Face)
				return err
			})
		})
	}
}

// BenchmarkAttack is each presentation-attack model on one face.
func BenchmarkAttack(b *testing.B) {
	rt, _, img, f := benchSetup(b)
	rgb := vision.ToRGB(img)
	ctx := context.Background()
	for _, spec := range vision.AttackModels {
		s, err := vision.NewAttackScorer(rt, spec)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(spec.Name, func(b *testing.B) {
			measure(b, func() error {
				_, err := s.Score(ctx, rgb, f.Face)
				return err
			})
		})
	}
}

// BenchmarkFaceToEmbedding is the whole path of one 640x480 image: RGB
// conversion, detection (either model), landmarks and quality, and the
// embedding of the largest face with mobileface, faceres, or both fused.
func BenchmarkFaceToEmbedding(b *testing.B) {
	rt, _, img, _ := benchSetup(b)
	ctx := context.Background()
	embedders := map[string]vision.Embedder{}
	for _, name := range []string{"mobileface", "faceres"} {
		spec, _ := vision.LookupEmbedder(name)
		e, err := vision.NewEmbedder(rt, spec)
		if err != nil {
			b.Fatal(err)
		}
		embedders[name] = e
	}
	fused, err := vision.NewFusedEmbedder(embedders["faceres"], embedders["mobileface"])
	if err != nil {
		b.Fatal(err)
	}
	for _, det := range []string{"blazeface-back", "blazeface-front"} {
		p := newPipeline(b, vision.PipelineOptions{Detector: vision.DetectorOptions{Model: det}})
		for _, e := range []vision.Embedder{embedders["mobileface"], embedders["faceres"], fused} {
			b.Run(det+"/"+e.Name(), func(b *testing.B) {
				measure(b, func() error {
					rgb := vision.ToRGB(img)
					faces, err := p.Analyze(ctx, rgb)
					if err != nil {
						return err
					}
					_, err = e.Embed(ctx, rgb, faces[vision.Largest(faces)].Face)
					return err
				})
			})
		}
	}
}
