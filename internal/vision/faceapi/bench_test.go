package faceapi

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/everify/everify/internal/evaldata"
	"github.com/everify/everify/internal/vision"
	"github.com/everify/everify/internal/vision/visiontest"
)

// benchFace returns an LFW image and its landmarked main face.
func benchFace(b *testing.B) (*vision.RGB, vision.Face, vision.Runtime) {
	b.Helper()
	rt := visiontest.Runtime(b, DetectorModel, LandmarkerModel, EmbedderModel)
	det, err := NewDetector(rt, DetectorOptions{})
	if err != nil {
		b.Fatal(err)
	}
	lm, err := NewLandmarker(rt, LandmarkerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	folds := readPairs(b, evaldata.Require(b, "lfw-dev/pairs.txt"))
	img, err := decodeFile(filepath.Join(evaldata.Require(b, "lfw-dev/images"), folds[0][0].A.File()))
	if err != nil {
		b.Fatal(err)
	}
	f, err := mainFace(context.Background(), det, lm, img)
	if err != nil {
		b.Fatal(err)
	}
	return img, f, rt
}

// BenchmarkDetect is one SSD MobileNetV1 detection on a 250x250 LFW image
// (the model input is always 512x512).
func BenchmarkDetect(b *testing.B) {
	img, _, rt := benchFace(b)
	det, err := NewDetector(rt, DetectorOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := det.Detect(context.Background(), img); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLandmarks is one 68-point landmark run for a detected face.
func BenchmarkLandmarks(b *testing.B) {
	img, f, rt := benchFace(b)
	lm, err := NewLandmarker(rt, LandmarkerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := lm.Landmarks(context.Background(), img, f); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEmbed is one aligned 150x150 chip and descriptor.
func BenchmarkEmbed(b *testing.B) {
	img, f, rt := benchFace(b)
	emb, err := NewEmbedder(rt, EmbedderOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := emb.Embed(context.Background(), img, f); err != nil {
			b.Fatal(err)
		}
	}
}
