package faceapi

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/everify/everify/internal/evaldata"
	"github.com/everify/everify/internal/vision"
	"github.com/everify/everify/internal/vision/visiontest"
)

// TestDetectorMatchesFaceAPI runs face-api's own SsdMobilenetv1.locateFaces
// (tfjs CPU backend, tools/node/faceapi-parity.mjs) and Detector on the
// same decoded pixels and requires the same faces. The two resize the image
// to 512x512 differently (tfjs: plain bilinear; Detector: bilinear over an
// image pyramid when shrinking by 2 or more), so boxes and scores agree
// closely rather than exactly.
func TestDetectorMatchesFaceAPI(t *testing.T) {
	script := nodeScript(t)
	rt := visiontest.Runtime(t, DetectorModel)
	det, err := NewDetector(rt, DetectorOptions{Zooms: []float64{1}, Fallback: []float64{}}) // face-api's single run
	if err != nil {
		t.Fatal(err)
	}
	const lfwName = "Abel_Pacheco/Abel_Pacheco_0001.jpg"
	lfwImg, err := decodeFile(filepath.Join(evaldata.Require(t, "lfw-dev/images"), lfwName))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		img      *vision.RGB
		minIoU   float64
		maxScore float64
	}{
		{lfwName, lfwImg, 0.95, 0.02},                                        // 250x250, scaled up
		{"couple.jpg", decodeEval(t, "deepface-unit/couple.jpg"), 0.85, 0.1}, // 2280x1588, scaled down
	}
	for _, c := range cases {
		want := locateFaces(t, script, c.img, 0.5)
		got, err := det.Detect(context.Background(), c.img)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 || len(want) == 0 {
			t.Fatalf("%s: Detector found %d faces, face-api %d", c.name, len(got), len(want))
		}
		for _, w := range want {
			// Faces near the score threshold may be found by one side only.
			best, iou := -1, 0.0
			for i, g := range got {
				if v := vision.RectOf(g.Box).IoU(vision.RectOf(w.Box)); v > iou {
					best, iou = i, v
				}
			}
			if best < 0 {
				if w.Score > 0.5+c.maxScore {
					t.Errorf("%s: face-api face %+v (score %.3f) not found", c.name, w.Box, w.Score)
				}
				continue
			}
			g := got[best]
			t.Logf("%s: face-api %+v score %.4f; Detector %+v score %.4f; IoU %.3f", c.name, w.Box, w.Score, g.Box, g.Score, iou)
			if iou < c.minIoU || math.Abs(g.Score-w.Score) > c.maxScore {
				t.Errorf("%s: Detector face %+v (score %.3f) differs from face-api's %+v (score %.3f): IoU %.3f",
					c.name, g.Box, g.Score, w.Box, w.Score, iou)
			}
		}
	}
}

// locateFaces runs face-api's detector on img in Node.
func locateFaces(t *testing.T, script string, img *vision.RGB, minScore float64) []vision.Face {
	t.Helper()
	in := filepath.Join(t.TempDir(), "image.f32")
	buf := make([]byte, 4*len(img.Pix))
	for i, v := range img.Pix {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(float32(v)))
	}
	if err := os.WriteFile(in, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", script, "detect", in, fmt.Sprint(img.H), fmt.Sprint(img.W), fmt.Sprint(minScore))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s detect: %v\n%s", filepath.Base(script), err, stderr.Bytes())
	}
	var dets []struct {
		Score, X, Y, Width, Height float64
	}
	if err := json.Unmarshal(out, &dets); err != nil {
		t.Fatalf("node output %q: %v", out, err)
	}
	faces := make([]vision.Face, len(dets))
	for i, d := range dets {
		faces[i].Box.X, faces[i].Box.Y, faces[i].Box.Width, faces[i].Box.Height = d.X, d.Y, d.Width, d.Height
		faces[i].Score = d.Score
	}
	return faces
}

// nodeScript returns tools/node/faceapi-parity.mjs when node and the node
// test packages (face-api, tfjs) are installed; otherwise the test fails
// under CI=true and is skipped.
func nodeScript(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		tools := filepath.Join(dir, "tools", "node")
		if _, err := os.Stat(filepath.Join(tools, "node_modules", "@vladmandic", "face-api", "package.json")); err == nil {
			if _, err := exec.LookPath("node"); err != nil {
				missing(t, "node is not installed (Node 20+)")
			}
			return filepath.Join(tools, "faceapi-parity.mjs")
		}
		if filepath.Dir(dir) == dir {
			break
		}
	}
	missing(t, "@vladmandic/face-api is not installed in tools/node (run `make deps-test`)")
	return ""
}

func missing(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
