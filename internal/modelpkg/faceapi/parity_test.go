package faceapi

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/everify/everify/internal/evaldata"
	"github.com/everify/everify/internal/vision"
	"github.com/everify/everify/internal/vision/onnx"
	"github.com/everify/everify/internal/vision/visiontest"
)

// Parity tolerance: every converted output must satisfy
// |onnx - tfjs| <= parityAbs + parityRel*|tfjs|. Both sides compute in
// float32 from the same dequantised weights; what differs is only the order
// of floating-point operations inside ONNX Runtime's and tfjs's kernels
// (measured differences are ~1e-7 to 2e-6), so a real conversion error (a
// transposed filter, wrong padding, a swapped channel) misses it by orders
// of magnitude.
const (
	parityAbs = 2e-5
	parityRel = 1e-4
)

// TestParityWithFaceAPI runs each original face-api network in Node
// (tfjs pure-JS CPU backend, tools/node/faceapi-parity.mjs) and the
// converted ONNX graph in ONNX Runtime on the same inputs: seeded uniform
// noise and real LFW photos.
func TestParityWithFaceAPI(t *testing.T) {
	script := nodeScript(t)
	lib := ortLibrary(t)
	lfw := evaldata.Require(t, "lfw-dev/images")
	// Real faces: the first images of LFW's first genuine pairs.
	photos := []string{"Abel_Pacheco/Abel_Pacheco_0001.jpg", "Akhmed_Zakayev/Akhmed_Zakayev_0003.jpg", "Amber_Tamblyn/Amber_Tamblyn_0002.jpg"}

	cases := []struct {
		net    string
		size   int
		noise  int // seeded random inputs
		photos int // LFW photos, whole image resized to size
	}{
		{FaceLandmark68, LandmarkInputSize, 2, 3},
		{FaceRecognition, RecognitionInputSize, 2, 3},
		// The pure-JS SSD takes ~15 s per image on one core.
		{SSDMobileNetV1, SSDInputSize, 1, 1},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.net, func(t *testing.T) {
			g, err := Build(c.net, loadWeights(t, c.net))
			if err != nil {
				t.Fatal(err)
			}
			data, err := g.Marshal("everify-test")
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, c.net+".onnx"), data, 0o644); err != nil {
				t.Fatal(err)
			}
			rt, err := onnx.Open(dir, onnx.Options{LibraryPath: lib})
			if err != nil {
				t.Fatal(err)
			}
			defer rt.Close()
			model, err := rt.Load(c.net)
			if err != nil {
				t.Fatal(err)
			}

			n := c.noise + c.photos
			per := c.size * c.size * 3
			input := vision.Tensor{Shape: []int64{int64(n), int64(c.size), int64(c.size), 3}, Data: make([]float32, n*per)}
			rng := rand.New(rand.NewPCG(1, uint64(c.size)))
			for i := range c.noise * per {
				input.Data[i] = 255 * rng.Float32()
			}
			for i, p := range photos[:c.photos] {
				img := decodeJPEG(t, filepath.Join(lfw, p))
				off := (c.noise + i) * per
				vision.Warp(img, vision.ScaleXY(float64(img.W)/float64(c.size), float64(img.H)/float64(c.size)), c.size, c.size, vision.NormRaw, input.Data[off:off+per])
			}

			want := runFaceAPI(t, script, c.net, c.size, input)
			got, err := model.Run(context.Background(), input)
			if err != nil {
				t.Fatal(err)
			}
			for i, info := range model.Outputs() {
				ref, ok := want[info.Name]
				if !ok {
					t.Fatalf("face-api produced no %q", info.Name)
				}
				if !slices.Equal(got[i].Shape, ref.Shape) {
					t.Fatalf("%s: shape %v, face-api %v", info.Name, got[i].Shape, ref.Shape)
				}
				maxAbs, maxRel, worst := compare(got[i].Data, ref.Data)
				t.Logf("%s %s %v: max abs error %.3g, max rel error %.3g (of the output's largest magnitude)", c.net, info.Name, ref.Shape, maxAbs, maxRel)
				if worst >= 0 {
					t.Errorf("%s[%d] = %g, face-api %g: beyond %g + %g*|ref|", info.Name, worst, got[i].Data[worst], ref.Data[worst], parityAbs, parityRel)
				}
			}
		})
	}
}

// compare returns the largest absolute difference, that difference
// relative to the largest reference magnitude, and the first index outside
// the tolerance (-1 if none).
func compare(got, ref []float32) (maxAbs, maxRel float64, worst int) {
	worst = -1
	var peak float64
	for i := range ref {
		r := float64(ref[i])
		d := math.Abs(float64(got[i]) - r)
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		maxAbs = max(maxAbs, d)
		peak = max(peak, math.Abs(r))
		if worst < 0 && d > parityAbs+parityRel*math.Abs(r) {
			worst = i
		}
	}
	if peak > 0 {
		maxRel = maxAbs / peak
	}
	return maxAbs, maxRel, worst
}

// runFaceAPI runs the original network in Node and returns its outputs by
// name.
func runFaceAPI(t *testing.T, script, net string, size int, input vision.Tensor) map[string]vision.Tensor {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "input.f32")
	if err := os.WriteFile(in, floatBytes(input.Data), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", script, net, in, fmt.Sprint(size), dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s %s: %v\n%s", filepath.Base(script), net, err, stderr.Bytes())
	}
	var res struct {
		Outputs []struct {
			Name  string  `json:"name"`
			Shape []int64 `json:"shape"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("node output %q: %v", out, err)
	}
	outs := map[string]vision.Tensor{}
	for _, o := range res.Outputs {
		b, err := os.ReadFile(filepath.Join(dir, o.Name+".f32"))
		if err != nil {
			t.Fatal(err)
		}
		outs[o.Name] = vision.Tensor{Shape: o.Shape, Data: bytesFloat(b)}
	}
	return outs
}

func floatBytes(f []float32) []byte {
	b := make([]byte, 4*len(f))
	for i, v := range f {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

func bytesFloat(b []byte) []float32 {
	f := make([]float32, len(b)/4)
	for i := range f {
		f[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return f
}

func decodeJPEG(t *testing.T, path string) *vision.RGB {
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
	return vision.ToRGB(img)
}

// nodeScript returns tools/node/faceapi-parity.mjs once node and the node
// test packages are available; it fails under CI=true and skips otherwise.
func nodeScript(tb testing.TB) string {
	tb.Helper()
	model := packageModelDir(tb) // tools/node/node_modules/@vladmandic/face-api/model
	script := filepath.Join(model, "..", "..", "..", "..", "faceapi-parity.mjs")
	if _, err := os.Stat(script); err != nil {
		tb.Fatal(err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing(tb, "node is not installed (Node 20+)")
	}
	return filepath.Clean(script)
}

// ortLibrary returns the ONNX Runtime library that `everify models
// install` put in the models directory.
func ortLibrary(tb testing.TB) string {
	tb.Helper()
	lib := filepath.Join(visiontest.ModelsDir(), onnx.LibraryName)
	if _, err := os.Stat(lib); err != nil {
		missing(tb, fmt.Sprintf("ONNX Runtime is not installed (%v); run 'everify models install' or set EVERIFY_MODELS", err))
	}
	return lib
}

func missing(tb testing.TB, msg string) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}
