package onnx_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/everify/everify/internal/evaldata"
	"github.com/everify/everify/internal/modelpkg"
	"github.com/everify/everify/internal/vision"
	"github.com/everify/everify/internal/vision/onnx"
)

// parityTolerance is the largest accepted difference between the converted
// model (ONNX Runtime) and the original (TF.js CPU backend), per output,
// relative to the output's scale: max|onnx - tfjs| / max(1, max|tfjs|).
// Both sides compute in float32 with different kernels and summation
// orders, so outputs differ by rounding; a wrong conversion (layout,
// padding, a missing bias or activation) gives errors of order 1e-1 and up.
// The measured errors are in docs/MODELS.md.
var parityTolerance = map[string]float64{
	"blazeface-back":  1e-4,
	"blazeface-front": 1e-4,
	"facemesh":        1e-4,
	"iris":            1e-4,
	"antispoof":       1e-4,
	"liveness":        1e-4,
	"faceres":         1e-4,
	"faceres-deep":    1e-4,
	"mobilefacenet":   1e-4,
	"mobileface":      1e-4,
}

// lfwFaces are real face photos used as parity inputs besides random ones.
var lfwFaces = []string{
	"lfw-dev/images/Abel_Pacheco/Abel_Pacheco_0001.jpg",
	"lfw-dev/images/Abdullah_Gul/Abdullah_Gul_0001.jpg",
	"lfw-dev/images/Aaron_Sorkin/Aaron_Sorkin_0001.jpg",
}

// modelsDir returns the installed models directory; models are required
// under CI=true.
func modelsDir(tb testing.TB) (string, *modelpkg.Manifest) {
	tb.Helper()
	dir := modelpkg.DefaultDir()
	m, err := modelpkg.ReadManifest(dir)
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%v", err)
		}
		tb.Skipf("%v", err)
	}
	return dir, m
}

// nodeTools returns the tools/node folder with its packages installed;
// required under CI=true.
func nodeTools(tb testing.TB) string {
	tb.Helper()
	wd, _ := os.Getwd()
	for d := wd; filepath.Dir(d) != d; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			tools := filepath.Join(d, "tools", "node")
			_, errNode := exec.LookPath("node")
			_, errPkg := os.Stat(filepath.Join(tools, "node_modules", "@tensorflow", "tfjs", "package.json"))
			if errNode == nil && errPkg == nil {
				return tools
			}
			msg := "node and tools/node/node_modules are needed (run 'scripts/setup.sh test')"
			if os.Getenv("CI") == "true" {
				tb.Fatal(msg)
			}
			tb.Skip(msg)
		}
	}
	tb.Fatal("repository root not found")
	return ""
}

// TestParity runs every converted graph model in ONNX Runtime and the
// original in TF.js (CPU backend) on the same inputs, random and real
// faces, and requires the outputs to agree within parityTolerance.
func TestParity(t *testing.T) {
	dir, m := modelsDir(t)
	tools := nodeTools(t)
	var faces []image.Image
	for _, rel := range lfwFaces {
		faces = append(faces, loadJPEG(t, evaldata.Require(t, rel)))
	}
	rt, err := onnx.Open(dir, onnx.Options{PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	checked := 0
	for _, e := range m.Models {
		spec, ok := modelpkg.Lookup(e.Name)
		if !ok || spec.FaceAPINet != "" {
			continue // face-api nets have no TF.js graph; see internal/modelpkg/faceapi
		}
		checked++
		t.Run(e.Name, func(t *testing.T) {
			tol, ok := parityTolerance[e.Name]
			if !ok {
				t.Fatalf("no parity tolerance documented for %s", e.Name)
			}
			model, err := rt.Load(e.Name)
			if err != nil {
				t.Fatal(err)
			}
			src := filepath.Join(dir, filepath.FromSlash(modelpkg.SourceDir(spec.Package)), filepath.FromSlash(e.Source))
			cases := parityInputs(model, spec, faces)
			ref := runTFJS(t, tools, src, model, cases)
			var worstAbs, worstRel float64
			for i, in := range cases {
				got, err := model.Run(context.Background(), in.tensors...)
				if err != nil {
					t.Fatalf("%s: %v", in.label, err)
				}
				for k, out := range model.Outputs() {
					abs, scale := maxDiff(got[k].Data, ref[i][k].Data)
					if fmt.Sprint(got[k].Shape) != fmt.Sprint(ref[i][k].Shape) {
						t.Errorf("%s output %s: shape %v, TF.js %v", in.label, out.Name, got[k].Shape, ref[i][k].Shape)
					}
					rel := abs / max(1, scale)
					worstAbs, worstRel = max(worstAbs, abs), max(worstRel, rel)
					if rel > tol || math.IsNaN(rel) {
						t.Errorf("%s output %s: max abs error %.3g (scale %.3g, relative %.3g) exceeds %.0e", in.label, out.Name, abs, scale, rel, tol)
					}
				}
			}
			t.Logf("PARITY %s: %d inputs, max abs error %.2e, max relative error %.2e (tolerance %.0e)", e.Name, len(cases), worstAbs, worstRel, tol)
		})
	}
	if checked == 0 {
		t.Fatal("no graph models in the manifest")
	}
}

type parityCase struct {
	label   string
	tensors []vision.Tensor
}

// parityInputs returns seeded random inputs in the model's input range (a
// batch of 2 where the batch is free) and the real faces resized to the
// input size.
func parityInputs(m vision.Model, spec modelpkg.Spec, faces []image.Image) []parityCase {
	lo, hi := spec.InputRange[0], spec.InputRange[1]
	var cases []parityCase
	for seed := range uint64(2) {
		r := rand.New(rand.NewPCG(seed, 42))
		var ts []vision.Tensor
		for _, in := range m.Inputs() {
			shape := append([]int64(nil), in.Shape...)
			if shape[0] < 0 {
				shape[0] = 2
			}
			n := int64(1)
			for _, d := range shape {
				n *= d
			}
			data := make([]float32, n)
			for i := range data {
				data[i] = lo + (hi-lo)*r.Float32()
			}
			ts = append(ts, vision.Tensor{Shape: shape, Data: data})
		}
		cases = append(cases, parityCase{label: fmt.Sprintf("random seed %d", seed), tensors: ts})
	}
	in := m.Inputs()[0]
	h, w := int(in.Shape[1]), int(in.Shape[2])
	for i, img := range faces {
		data := resizeRGB(img, w, h, lo, hi)
		cases = append(cases, parityCase{label: "face " + lfwFaces[i], tensors: []vision.Tensor{{Shape: []int64{1, int64(h), int64(w), 3}, Data: data}}})
	}
	return cases
}

// runTFJS runs the original model in Node and returns its outputs per case,
// in the order of m.Outputs().
func runTFJS(t *testing.T, tools, modelJSON string, m vision.Model, cases []parityCase) [][]vision.Tensor {
	t.Helper()
	tmp := t.TempDir()
	type input struct {
		Name  string  `json:"name"`
		Shape []int64 `json:"shape"`
		File  string  `json:"file"`
	}
	type run struct {
		Inputs []input `json:"inputs"`
		OutDir string  `json:"outDir"`
	}
	job := struct {
		Model   string   `json:"model"`
		Outputs []string `json:"outputs"`
		Runs    []run    `json:"runs"`
	}{Model: modelJSON}
	for _, o := range m.Outputs() {
		job.Outputs = append(job.Outputs, o.Name)
	}
	for i, c := range cases {
		r := run{OutDir: filepath.Join(tmp, fmt.Sprintf("out%d", i))}
		for k, ts := range c.tensors {
			f := filepath.Join(tmp, fmt.Sprintf("in%d_%d.f32", i, k))
			writeF32(t, f, ts.Data)
			r.Inputs = append(r.Inputs, input{Name: m.Inputs()[k].Name, Shape: ts.Shape, File: f})
		}
		job.Runs = append(job.Runs, r)
	}
	jobFile := filepath.Join(tmp, "job.json")
	data, _ := json.Marshal(job)
	if err := os.WriteFile(jobFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(tools, "tfjs-run.mjs"), jobFile)
	cmd.Dir = tools
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("TF.js reference run: %v\n%s", err, out)
	}
	res := make([][]vision.Tensor, len(cases))
	for i, r := range job.Runs {
		var index []struct {
			Shape []int64 `json:"shape"`
			File  string  `json:"file"`
		}
		data, err := os.ReadFile(filepath.Join(r.OutDir, "outputs.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &index); err != nil {
			t.Fatal(err)
		}
		for _, o := range index {
			res[i] = append(res[i], vision.Tensor{Shape: o.Shape, Data: readF32(t, o.File)})
		}
	}
	return res
}

// maxDiff returns max|a-b| and max|b| (the reference's scale); a length
// mismatch counts as an infinite error.
func maxDiff(a, b []float32) (diff, scale float64) {
	if len(a) != len(b) {
		return math.Inf(1), 0
	}
	for i := range a {
		diff = max(diff, math.Abs(float64(a[i])-float64(b[i])))
		scale = max(scale, math.Abs(float64(b[i])))
		if math.IsNaN(float64(a[i])) != math.IsNaN(float64(b[i])) {
			return math.NaN(), scale
		}
	}
	return diff, scale
}

func writeF32(t *testing.T, path string, data []float32) {
	t.Helper()
	b := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readF32(t *testing.T, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func loadJPEG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := jpeg.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

// resizeRGB crops the central 60% of img (the face in an LFW photo),
// resizes it bilinearly to w x h and maps 0..255 to lo..hi, as NHWC RGB.
func resizeRGB(img image.Image, w, h int, lo, hi float32) []float32 {
	b := img.Bounds()
	cw, ch := 0.6*float64(b.Dx()), 0.6*float64(b.Dy())
	x0, y0 := float64(b.Min.X)+0.2*float64(b.Dx()), float64(b.Min.Y)+0.2*float64(b.Dy())
	at := func(x, y int) [3]float64 {
		x = min(max(x, b.Min.X), b.Max.X-1)
		y = min(max(y, b.Min.Y), b.Max.Y-1)
		r, g, bl, _ := img.At(x, y).RGBA()
		return [3]float64{float64(r >> 8), float64(g >> 8), float64(bl >> 8)}
	}
	out := make([]float32, 0, w*h*3)
	for j := range h {
		sy := y0 + (float64(j)+0.5)*ch/float64(h) - 0.5
		for i := range w {
			sx := x0 + (float64(i)+0.5)*cw/float64(w) - 0.5
			fx, fy := math.Floor(sx), math.Floor(sy)
			ax, ay := sx-fx, sy-fy
			p00, p10 := at(int(fx), int(fy)), at(int(fx)+1, int(fy))
			p01, p11 := at(int(fx), int(fy)+1), at(int(fx)+1, int(fy)+1)
			for c := range 3 {
				v := (p00[c]*(1-ax)+p10[c]*ax)*(1-ay) + (p01[c]*(1-ax)+p11[c]*ax)*ay
				out = append(out, lo+(hi-lo)*float32(v/255))
			}
		}
	}
	return out
}
