package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"os"

	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/imagein"
	"github.com/everify/everify/internal/vision"
	"github.com/everify/everify/internal/vision/onnx"
)

// cliImageLimits are the image limits of the command-line tools: larger
// than the API's, since the operator chose the file.
var cliImageLimits = imagein.Limits{MaxBytes: 64 << 20, MaxPixels: 100_000_000}

// runDetect implements `everify detect`.
func runDetect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("detect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: everify detect [flags] IMAGE\n\nPrints every face in IMAGE: box, confidence, landmarks, head pose and quality.\n\nFlags:")
		fs.PrintDefaults()
	}
	asJSON := fs.Bool("json", false, "print JSON, with the dense 468-point mesh of every face")
	annotate := fs.String("annotate", "", "write a PNG copy of the image with boxes, landmarks and mesh drawn on it")
	models := fs.String("models", defaultModelsDir(), "models directory ($EVERIFY_MODELS sets the default)")
	detector := fs.String("detector", "blazeface-back", "face detector: blazeface-back (any photo) or blazeface-front (faster; a face filling much of the frame)")
	iris := fs.Bool("iris", false, "refine the eye centres with the iris model")
	minFace := fs.Float64("min-face", 0, "also look for faces down to this size in pixels by scanning tiles (documents)")
	rotations := fs.Bool("rotations", false, "try the image turned by 90, 180 and 270 degrees when no face is found upright")
	if err := parseAnywhere(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErrorf("need exactly one IMAGE argument")
	}
	if *detector != "blazeface-back" && *detector != "blazeface-front" {
		return usageErrorf("unknown detector %q (want blazeface-back or blazeface-front)", *detector)
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
	p, err := vision.NewPipeline(rt, vision.PipelineOptions{
		Detector:   vision.DetectorOptions{Model: *detector, MinFaceSize: *minFace, TryRotations: *rotations},
		Landmarker: vision.LandmarkerOptions{Iris: *iris},
	})
	if err != nil {
		return err
	}
	faces, err := p.Analyze(ctx, img.RGBA)
	if err != nil {
		return err
	}
	if *annotate != "" {
		if err := writeAnnotated(*annotate, img.RGBA, faces); err != nil {
			return err
		}
	}
	b := img.RGBA.Bounds()
	if *asJSON {
		type jsonFace struct {
			biometric.FaceInfo
			Mesh [][3]float64 `json:"mesh,omitempty"`
		}
		out := struct {
			Image  string     `json:"image"`
			Width  int        `json:"width"`
			Height int        `json:"height"`
			Faces  []jsonFace `json:"faces"`
		}{Image: fs.Arg(0), Width: b.Dx(), Height: b.Dy(), Faces: []jsonFace{}}
		for _, f := range faces {
			out.Faces = append(out.Faces, jsonFace{FaceInfo: roundInfo(f.Info()), Mesh: roundMesh(f.Mesh)})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	fmt.Fprintf(stdout, "%s: %dx%d, %d face(s)\n", fs.Arg(0), b.Dx(), b.Dy(), len(faces))
	for i, f := range faces {
		lm := f.Landmarks
		fmt.Fprintf(stdout, "face %d: box x=%.0f y=%.0f w=%.0f h=%.0f  confidence %.1f%%\n", i+1, f.Box.X, f.Box.Y, f.Box.Width, f.Box.Height, 100*f.Score)
		fmt.Fprintf(stdout, "  landmarks: right eye (%.1f, %.1f)  left eye (%.1f, %.1f)  nose (%.1f, %.1f)  mouth right (%.1f, %.1f)  mouth left (%.1f, %.1f)\n",
			lm.RightEye.X, lm.RightEye.Y, lm.LeftEye.X, lm.LeftEye.Y, lm.Nose.X, lm.Nose.Y, lm.MouthRight.X, lm.MouthRight.Y, lm.MouthLeft.X, lm.MouthLeft.Y)
		fmt.Fprintf(stdout, "  pose: yaw %.1f°  pitch %.1f°  roll %.1f°\n", f.Pose.Yaw, f.Pose.Pitch, f.Pose.Roll)
		q := f.Quality
		fmt.Fprintf(stdout, "  quality: %.0f/100 (face %.0f px, sharpness %.0f, brightness %.0f)\n", q.Score, q.FaceSize, q.Sharpness, q.Brightness)
	}
	return nil
}

// readImage reads and decodes an image file through imagein (format
// sniffing, EXIF orientation).
func readImage(path string) (*imagein.Image, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	img, err := imagein.Decode(data, cliImageLimits)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

func roundPoint(p biometric.Point) biometric.Point {
	return biometric.Point{X: round2(p.X), Y: round2(p.Y)}
}

// roundInfo rounds coordinates and angles to hundredths for printing.
func roundInfo(fi biometric.FaceInfo) biometric.FaceInfo {
	fi.Box = biometric.Box{X: round2(fi.Box.X), Y: round2(fi.Box.Y), Width: round2(fi.Box.Width), Height: round2(fi.Box.Height)}
	fi.Confidence = round2(fi.Confidence)
	l := &fi.Landmarks
	l.LeftEye, l.RightEye, l.Nose = roundPoint(l.LeftEye), roundPoint(l.RightEye), roundPoint(l.Nose)
	l.MouthLeft, l.MouthRight = roundPoint(l.MouthLeft), roundPoint(l.MouthRight)
	fi.Pose = biometric.Pose{Yaw: round2(fi.Pose.Yaw), Pitch: round2(fi.Pose.Pitch), Roll: round2(fi.Pose.Roll)}
	return fi
}

func roundMesh(mesh [][3]float64) [][3]float64 {
	if mesh == nil {
		return nil
	}
	out := make([][3]float64, len(mesh))
	for i, p := range mesh {
		out[i] = [3]float64{round2(p[0]), round2(p[1]), round2(p[2])}
	}
	return out
}

// Annotation colours.
var (
	boxColour      = color.RGBA{0, 230, 0, 255}
	meshColour     = color.RGBA{0, 200, 255, 255}
	landmarkColour = color.RGBA{255, 40, 40, 255}
)

// writeAnnotated writes a PNG of img with every face's box, mesh and five
// landmarks drawn on it.
func writeAnnotated(path string, img *image.RGBA, faces []vision.FaceAnalysis) error {
	out := image.NewRGBA(img.Bounds())
	draw.Draw(out, out.Rect, img, img.Rect.Min, draw.Src)
	// Line widths and dot sizes scale with the image.
	w := max(1, int(math.Round(float64(max(out.Rect.Dx(), out.Rect.Dy()))/400)))
	for _, f := range faces {
		drawRect(out, f.Box, w, boxColour)
		for _, p := range f.Mesh {
			fillDisc(out, p[0], p[1], 0.5*float64(w), meshColour)
		}
		lm := f.Landmarks
		for _, p := range []biometric.Point{lm.RightEye, lm.LeftEye, lm.Nose, lm.MouthRight, lm.MouthLeft} {
			fillDisc(out, p.X, p.Y, 1.5*float64(w)+1, landmarkColour)
		}
	}
	file, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(file, out); err != nil {
		file.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return file.Close()
}

// drawRect draws the outline of b, w pixels wide, inside b.
func drawRect(img *image.RGBA, b biometric.Box, w int, c color.Color) {
	r := image.Rect(int(math.Round(b.X)), int(math.Round(b.Y)), int(math.Round(b.X+b.Width)), int(math.Round(b.Y+b.Height)))
	u := image.NewUniform(c)
	for _, e := range []image.Rectangle{
		{r.Min, image.Pt(r.Max.X, r.Min.Y+w)},
		{image.Pt(r.Min.X, r.Max.Y-w), r.Max},
		{r.Min, image.Pt(r.Min.X+w, r.Max.Y)},
		{image.Pt(r.Max.X-w, r.Min.Y), r.Max},
	} {
		draw.Draw(img, e.Intersect(img.Rect), u, image.Point{}, draw.Src)
	}
}

// fillDisc fills the disc of radius rad centred at (x, y) (continuous
// coordinates, pixel centres at +0.5).
func fillDisc(img *image.RGBA, x, y, rad float64, c color.RGBA) {
	for py := int(math.Floor(y - rad)); py <= int(math.Ceil(y+rad)); py++ {
		for px := int(math.Floor(x - rad)); px <= int(math.Ceil(x+rad)); px++ {
			dx, dy := float64(px)+0.5-x, float64(py)+0.5-y
			if dx*dx+dy*dy <= rad*rad+0.25 && image.Pt(px, py).In(img.Rect) {
				img.SetRGBA(px, py, c)
			}
		}
	}
}
