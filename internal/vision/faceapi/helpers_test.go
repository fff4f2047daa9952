package faceapi

import (
	"context"
	"fmt"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"math"
	"os"
	"testing"

	"github.com/everify/everify/internal/evalmetrics"
	"github.com/everify/everify/internal/vision"
)

// decodeFile decodes a JPEG or PNG file. EXIF orientation is not applied:
// the test images are upright.
func decodeFile(path string) (*vision.RGB, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, err
	}
	return vision.ToRGB(img), nil
}

// readPairs reads an LFW View-2 pairs file.
func readPairs(tb testing.TB, path string) [][]evalmetrics.Pair {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	folds, err := evalmetrics.ParsePairs(f)
	if err != nil {
		tb.Fatal(err)
	}
	return folds
}

// mainFace detects the faces of img, takes the one whose box centre is
// nearest the image centre (LFW's labelled face is the centred one) and
// adds its landmarks.
func mainFace(ctx context.Context, det *Detector, lm *Landmarker, img *vision.RGB) (vision.Face, error) {
	faces, err := det.Detect(ctx, img)
	if err != nil {
		return vision.Face{}, err
	}
	if len(faces) == 0 {
		return vision.Face{}, fmt.Errorf("no face")
	}
	best, bestD := 0, math.Inf(1)
	for i, f := range faces {
		d := math.Hypot(f.Box.X+f.Box.Width/2-float64(img.W)/2, f.Box.Y+f.Box.Height/2-float64(img.H)/2)
		if d < bestD {
			best, bestD = i, d
		}
	}
	return lm.Landmarks(ctx, img, faces[best])
}
