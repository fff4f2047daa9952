package main

import (
	"encoding/json"
	"flag"
	"image"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/everify/everify/internal/evaldata"
	"github.com/everify/everify/internal/vision/visiontest"
)

// modelsDir returns the installed models directory, failing under CI=true
// (skipping otherwise) when the models are missing.
func modelsDir(t *testing.T) string {
	t.Helper()
	visiontest.Runtime(t, "blazeface-back", "facemesh", "faceres", "faceres-deep", "mobilefacenet", "mobileface")
	return visiontest.ModelsDir()
}

func TestDetectCommand(t *testing.T) {
	dir := modelsDir(t)
	img := evaldata.Require(t, "deepface-unit/couple.jpg")
	annotated := filepath.Join(t.TempDir(), "out.png")
	code, out, errs := run(t, "detect", "--json", "--annotate", annotated, "--models", dir, img)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res struct {
		Width, Height int
		Faces         []struct {
			Box        struct{ X, Y, Width, Height float64 } `json:"bounding_box"`
			Confidence float64
			Landmarks  map[string]struct{ X, Y float64 }
			Pose       struct{ Yaw, Pitch, Roll float64 }
			Quality    struct{ Score float64 }
			Mesh       [][3]float64
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if res.Width != 2280 || res.Height != 1588 || len(res.Faces) != 2 {
		t.Fatalf("got %dx%d with %d faces, want 2280x1588 with 2", res.Width, res.Height, len(res.Faces))
	}
	for _, f := range res.Faces {
		if f.Confidence < 50 || f.Confidence > 100 || len(f.Mesh) != 468 || len(f.Landmarks) != 5 || f.Box.Width < 300 {
			t.Errorf("face: confidence %.1f, %d mesh points, %d landmarks, box %+v", f.Confidence, len(f.Mesh), len(f.Landmarks), f.Box)
		}
	}
	fh, err := os.Open(annotated)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	cfg, err := png.DecodeConfig(fh)
	if err != nil || cfg.Width != 2280 || cfg.Height != 1588 {
		t.Errorf("annotated image: %+v, %v", cfg, err)
	}

	code, out, errs = run(t, "detect", "--models", dir, img)
	if code != 0 || !strings.Contains(out, "2 face(s)") || !strings.Contains(out, "pose: yaw") {
		t.Errorf("text output (exit %d): %s%s", code, out, errs)
	}
}

func TestDetectCommandErrors(t *testing.T) {
	if code, _, _ := run(t, "detect"); code != 2 {
		t.Errorf("no argument: exit %d, want 2", code)
	}
	notImage := filepath.Join(t.TempDir(), "x.jpg")
	if err := os.WriteFile(notImage, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := run(t, "detect", "--models", t.TempDir(), notImage)
	if code != 1 || !strings.Contains(errs, "unsupported_image_type") {
		t.Errorf("text file: exit %d, %s", code, errs)
	}
}

func TestEmbedCommand(t *testing.T) {
	dir := modelsDir(t)
	img := evaldata.Require(t, "lfw-dev/images/Zico/Zico_0001.jpg")
	code, out, errs := run(t, "embed", img, "--json", "--models", dir) // flags after the image too
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res struct {
		Embeddings []struct {
			Model     string
			Dim       int
			Embedding []float64
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"faceres": 1024, "faceres-deep": 1024, "mobilefacenet": 192, "mobileface": 256, "faceapi-recognition": 128}
	if len(res.Embeddings) != len(want) {
		t.Fatalf("%d embeddings, want %d", len(res.Embeddings), len(want))
	}
	for _, e := range res.Embeddings {
		var n float64
		for _, x := range e.Embedding {
			n += x * x
		}
		if want[e.Model] != e.Dim || len(e.Embedding) != e.Dim || math.Abs(n-1) > 1e-4 {
			t.Errorf("%s: dim %d, %d values, squared norm %v", e.Model, e.Dim, len(e.Embedding), n)
		}
	}
	code, out, _ = run(t, "embed", "--model", "mobileface", "--models", dir, img)
	if code != 0 || !strings.Contains(out, "mobileface (256): [") || strings.Contains(out, "faceres") {
		t.Errorf("one model (exit %d): %.200s", code, out)
	}
	if code, _, errs := run(t, "embed", "--model", "nope", "--models", dir, img); code != 2 || !strings.Contains(errs, "unknown model") {
		t.Errorf("unknown model: exit %d, %s", code, errs)
	}
	grey := filepath.Join(t.TempDir(), "grey.png")
	writeGreyPNG(t, grey)
	if code, _, errs := run(t, "embed", "--models", dir, grey); code != 1 || !strings.Contains(errs, "no_face_detected") {
		t.Errorf("no face: exit %d, %s", code, errs)
	}
}

// writeGreyPNG writes a 320x240 mid-grey PNG to path.
func writeGreyPNG(t *testing.T, path string) {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 320, 240))
	for i := range img.Pix {
		img.Pix[i] = 128
	}
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(fh, img); err != nil {
		t.Fatal(err)
	}
	if err := fh.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestParseAnywhere checks that the file-taking tools accept flags before
// and after their arguments, and "--" before an argument that looks like a
// flag.
func TestParseAnywhere(t *testing.T) {
	for _, tc := range []struct {
		args []string
		json bool
		out  string
		pos  []string
	}{
		{[]string{"a.jpg"}, false, "", []string{"a.jpg"}},
		{[]string{"--json", "a.jpg", "b.jpg"}, true, "", []string{"a.jpg", "b.jpg"}},
		{[]string{"a.jpg", "--json", "b.jpg", "--out", "x.png"}, true, "x.png", []string{"a.jpg", "b.jpg"}},
		{[]string{"a.jpg", "--", "--json"}, false, "", []string{"a.jpg", "--json"}},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		asJSON := fs.Bool("json", false, "")
		out := fs.String("out", "", "")
		if err := parseAnywhere(fs, tc.args); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if *asJSON != tc.json || *out != tc.out || !slices.Equal(fs.Args(), tc.pos) {
			t.Errorf("%v: json %v out %q args %q", tc.args, *asJSON, *out, fs.Args())
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := parseAnywhere(fs, []string{"a.jpg", "--nope"}); err == nil {
		t.Error("an unknown flag after the arguments was accepted")
	}
}
