package liveness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/everify/everify/internal/evaldata"
	"github.com/everify/everify/internal/imagein"
	"github.com/everify/everify/internal/vision"
)

// nuaaTexture returns the texture features of every third NUAA training
// image (live and print), with the subject of each. The face box is the
// mesh's, as in the analysis.
func nuaaTexture(t *testing.T) (xs [][]float64, live []bool, subject []string) {
	t.Helper()
	root := evaldata.Require(t, "nuaa-train")
	a := analyzer(t)
	ctx := context.Background()
	for _, kind := range []string{"live", "print_attack"} {
		files, err := filepath.Glob(filepath.Join(root, kind, "*", "*.jpg"))
		if err != nil {
			t.Fatal(err)
		}
		sort.Strings(files)
		for i, f := range files {
			if i%3 != 0 {
				continue
			}
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			img, err := imagein.Decode(data, imagein.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			rgb := vision.ToRGB(img.RGBA)
			faces, err := a.Detector.Detect(ctx, rgb)
			if err != nil {
				t.Fatal(err)
			}
			if len(faces) == 0 {
				continue
			}
			face, err := a.track(ctx, rgb, faces[0])
			if err != nil {
				t.Fatal(err)
			}
			if face == nil {
				continue
			}
			xs = append(xs, textureFeatures(rgb, *face))
			live = append(live, kind == "live")
			subject = append(subject, strings.SplitN(filepath.Base(f), "_", 2)[0])
		}
	}
	return xs, live, subject
}

// TestTextureModelFromNUAA refits the texture model on NUAA subjects
// 0001-0005, checks that the shipped one is that fit, and measures it on
// the held-out subjects 0006-0009. The fit is compared by its decisions,
// not bit for bit: ONNX Runtime's float results differ in the last bits
// between CPUs (AVX2, AVX-512), which moves face crops by fractions of a
// pixel and the fitted weights by about 1 %.
func TestTextureModelFromNUAA(t *testing.T) {
	t.Parallel()
	xs, live, subject := nuaaTexture(t)
	var trainX, testX [][]float64
	var trainY, testY []bool
	for i := range xs {
		if subject[i] <= "0005" {
			trainX, trainY = append(trainX, xs[i]), append(trainY, live[i])
		} else {
			testX, testY = append(testX, xs[i]), append(testY, live[i])
		}
	}
	m := fitTexture(trainX, trainY)
	threshold := DefaultPADThresholds().Accept[textureName]
	differ := 0
	for _, x := range append(slices.Clone(trainX), testX...) {
		if (m.score(x) >= threshold) != (defaultTexture.score(x) >= threshold) {
			differ++
		}
	}
	if n := len(trainX) + len(testX); float64(differ) > 0.01*float64(n) {
		t.Errorf("the shipped texture model decides %d of %d NUAA images differently from the fit on subjects 0001-0005 (%d images); the fit gives:\n%s",
			differ, n, len(trainX), goLiteral(m))
	}
	auc, bpcer, apcer := textureRates(defaultTexture, testX, testY, threshold)
	t.Logf("held-out NUAA subjects 0006-0009, %d images: AUC %.3f, per image BPCER %.3f APCER %.3f at %.2f; %d decisions differ from a refit",
		len(testX), auc, bpcer, apcer, threshold, differ)
	if auc < 0.93 {
		t.Errorf("held-out AUC %.3f, want at least 0.93 (measured 0.95-0.96)", auc)
	}
}

// textureRates returns the AUC and the per-image error rates at threshold.
func textureRates(m textureModel, xs [][]float64, live []bool, threshold float64) (auc, bpcer, apcer float64) {
	var pos, neg []float64
	for i, x := range xs {
		if live[i] {
			pos = append(pos, m.score(x))
		} else {
			neg = append(neg, m.score(x))
		}
	}
	sort.Float64s(neg)
	var wins float64
	rejected, accepted := 0, 0
	for _, p := range pos {
		wins += float64(sort.SearchFloat64s(neg, p))
		if p < threshold {
			rejected++
		}
	}
	for _, n := range neg {
		if n >= threshold {
			accepted++
		}
	}
	return wins / float64(len(pos)*len(neg)), float64(rejected) / float64(len(pos)), float64(accepted) / float64(len(neg))
}

func goLiteral(m textureModel) string {
	var b strings.Builder
	b.WriteString("var defaultTexture = textureModel{\n\tW: [textureLength]float64{")
	for i, w := range m.W {
		if i%6 == 0 {
			b.WriteString("\n\t\t")
		} else {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%.9g,", w)
	}
	fmt.Fprintf(&b, "\n\t},\n\tB: %.9g,\n}\n", m.B)
	return b.String()
}
