package faceapi

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/everify/everify/internal/modelpkg/tfjs"
)

// packageModelDir returns face-api's model/ directory from the node test
// packages (tools/node, installed by `make deps-test`). It fails under
// CI=true and skips otherwise when they are not installed.
func packageModelDir(tb testing.TB) string {
	tb.Helper()
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		p := filepath.Join(dir, "tools", "node", "node_modules", "@vladmandic", "face-api", "model")
		if _, err := os.Stat(filepath.Join(p, ManifestName(FaceRecognition))); err == nil {
			return p
		}
		if filepath.Dir(dir) == dir {
			break
		}
	}
	missing(tb, "@vladmandic/face-api is not installed in tools/node (run `make deps-test`)")
	return ""
}

func loadWeights(tb testing.TB, net string) map[string]*tfjs.Weight {
	tb.Helper()
	ws, err := LoadWeights(packageModelDir(tb), net)
	if err != nil {
		tb.Fatal(err)
	}
	return ws
}

func TestBuild(t *testing.T) {
	outputs := map[string][][]int64{
		SSDMobileNetV1:  {{-1, SSDAnchors, 4}, {-1, SSDAnchors}},
		FaceLandmark68:  {{-1, LandmarkOutputs}},
		FaceRecognition: {{-1, DescriptorDim}},
	}
	for _, net := range Nets() {
		t.Run(net, func(t *testing.T) {
			g, err := Build(net, loadWeights(t, net))
			if err != nil {
				t.Fatal(err)
			}
			var got [][]int64
			for _, o := range g.Outputs {
				got = append(got, o.Dims)
			}
			if !slices.EqualFunc(got, outputs[net], slices.Equal) {
				t.Errorf("output shapes %v, want %v", got, outputs[net])
			}
			if len(g.Inputs) != 1 || g.Inputs[0].Name != InputName || g.Inputs[0].Dims[3] != 3 {
				t.Errorf("inputs %+v, want one NHWC %q", g.Inputs, InputName)
			}
			if _, err := g.Marshal("everify-test"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestBuildReportsBadWeights(t *testing.T) {
	ws := loadWeights(t, FaceRecognition)
	delete(ws, "conv64_1/conv2/conv/bias")
	delete(ws, "fc")
	ws["conv32_1/conv1/scale/weights"] = &tfjs.Weight{Name: "conv32_1/conv1/scale/weights", Shape: []int64{16}, DType: "float32", Floats: make([]float32, 16)}
	ws["extra/filters"] = &tfjs.Weight{Name: "extra/filters", Shape: []int64{2, 2}, DType: "float32", Floats: make([]float32, 4)}
	ws["extra/axis"] = &tfjs.Weight{Name: "extra/axis", Shape: []int64{}, DType: "int32", Ints: []int32{1}}
	_, err := Build(FaceRecognition, ws)
	if err == nil {
		t.Fatal("Build succeeded with broken weights")
	}
	for _, want := range []string{
		"missing weights: conv64_1/conv2/conv/bias, fc",
		"conv32_1/conv1/scale/weights has shape [16], want [32]",
		"unknown weights: extra/filters",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "extra/axis") {
		t.Errorf("error %q names an int32 graph constant, which face-api ignores too", err)
	}
}

func TestBuildUnknownNet(t *testing.T) {
	if _, err := Build("tiny_face_detector", nil); err == nil || !strings.Contains(err.Error(), "tiny_face_detector") {
		t.Errorf("Build(unknown) error = %v, want one naming the net", err)
	}
}

func TestPads(t *testing.T) {
	cases := []struct {
		in, k, stride int64
		p             padding
		pad           []int64
		out           int64
	}{
		{512, 3, 2, same, []int64{0, 0, 1, 1}, 256}, // TF puts the odd pixel at the end
		{256, 3, 1, same, []int64{1, 1, 1, 1}, 256},
		{7, 1, 1, same, []int64{0, 0, 0, 0}, 7},
		{150, 7, 2, valid, []int64{0, 0, 0, 0}, 72},
		{35, 3, 2, valid, []int64{0, 0, 0, 0}, 17},
		{3, 3, 2, same, []int64{1, 1, 1, 1}, 2},
	}
	for _, c := range cases {
		pad, out := pads(c.in, c.k, c.stride, c.p)
		if !slices.Equal(pad, c.pad) || out != c.out {
			t.Errorf("pads(%d, %d, %d, %v) = %v, %d; want %v, %d", c.in, c.k, c.stride, c.p, pad, out, c.pad, c.out)
		}
	}
}
