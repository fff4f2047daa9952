package vision_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/evaldata"
	"github.com/everify/everify/internal/evalmetrics"
	"github.com/everify/everify/internal/vision"
	"github.com/everify/everify/internal/vision/visiontest"
)

var (
	lfwPairs    = flag.Int("lfw.pairs", 10, "TestLFWEmbedders: pairs per fold and class (0: every pair of the file)")
	lfwDetector = flag.String("lfw.detector", "blazeface-back", "TestLFWEmbedders: the face detector model")
)

// lfwFloor is the least k-fold accuracy TestLFWEmbedders accepts from each
// embedder on its default subset (100 pairs); the full protocol measures
// well above (see the log of a -lfw.pairs=0 run).
var lfwFloor = map[string]float64{"faceres": 0.88, "mobileface": 0.85, "faceres+mobileface": 0.88}

// TestLFWEmbedders measures every embedding model on LFW with the standard
// protocol: the threshold of each fold is chosen on the other folds, and a
// pair whose face was not detected counts as an error. By default it uses
// the first 10 same-person and 10 different-person pairs of each fold; run
// it with -lfw.pairs=0 -v for the full table.
func TestLFWEmbedders(t *testing.T) {
	pairsFile := evaldata.Require(t, "lfw-dev/pairs.txt")
	root := filepath.Join(filepath.Dir(pairsFile), "images")
	fh, err := os.Open(pairsFile)
	if err != nil {
		t.Fatal(err)
	}
	folds, err := evalmetrics.ParsePairs(fh)
	fh.Close()
	if err != nil {
		t.Fatal(err)
	}
	if n := *lfwPairs; n > 0 {
		for i, f := range folds {
			half := len(f) / 2
			folds[i] = append(append([]evalmetrics.Pair{}, f[:min(n, half)]...), f[half:half+min(n, half)]...)
		}
	}
	var refs []evalmetrics.ImageRef
	seen := map[evalmetrics.ImageRef]bool{}
	for _, f := range folds {
		for _, p := range f {
			for _, r := range []evalmetrics.ImageRef{p.A, p.B} {
				if !seen[r] {
					seen[r] = true
					refs = append(refs, r)
				}
			}
		}
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].File() < refs[j].File() })

	rt := visiontest.Runtime(t, allModels...)
	p := newPipeline(t, vision.PipelineOptions{Detector: vision.DetectorOptions{Model: *lfwDetector}})
	var embedders []vision.Embedder
	for _, spec := range vision.Embedders {
		e, err := vision.NewEmbedder(rt, spec)
		if err != nil {
			t.Fatal(err)
		}
		embedders = append(embedders, e)
	}
	names := make([]string, len(embedders))
	for i, e := range embedders {
		names[i] = e.Name()
	}

	type result struct {
		vecs [][]float32
		det  time.Duration // detection + landmarks, CPU
		emb  []time.Duration
	}
	results := make(map[evalmetrics.ImageRef]*result, len(refs))
	var mu sync.Mutex
	work := make(chan evalmetrics.ImageRef)
	var wg sync.WaitGroup
	ctx := context.Background()
	start := time.Now()
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer lockThread()()
			for ref := range work {
				img := decodeFile(t, filepath.Join(root, ref.File()))
				c0 := threadCPU()
				faces, err := p.Analyze(ctx, img)
				if err != nil {
					t.Error(err)
					continue
				}
				r := &result{det: threadCPU() - c0}
				if i := nearestCentre(faces, img); i >= 0 {
					for _, e := range embedders {
						c1 := threadCPU()
						v, err := e.Embed(ctx, img, faces[i].Face)
						if err != nil {
							t.Error(err)
						}
						r.emb = append(r.emb, threadCPU()-c1)
						r.vecs = append(r.vecs, v)
					}
				}
				mu.Lock()
				results[ref] = r
				mu.Unlock()
			}
		}()
	}
	for _, r := range refs {
		work <- r
	}
	close(work)
	wg.Wait()
	if t.Failed() {
		return
	}

	misses := 0
	var det time.Duration
	emb := make([]time.Duration, len(embedders))
	for _, r := range results {
		det += r.det
		if r.vecs == nil {
			misses++
			continue
		}
		for i := range emb {
			emb[i] += r.emb[i]
		}
	}
	found := len(refs) - misses
	t.Logf("%d pairs in %d folds, %d images (%d without a face) in %s; %s + facemesh %.1f ms CPU per image",
		len(folds)*len(folds[0]), len(folds), len(refs), misses, time.Since(start).Round(time.Second), *lfwDetector, ms(det, len(refs)))
	if misses > len(refs)/100 {
		t.Errorf("no face found in %d of %d LFW images", misses, len(refs))
	}

	// Each embedder alone, and the two best fused (the mean of their
	// cosines).
	type candidate struct {
		name  string
		parts []int
	}
	var cands []candidate
	for i, n := range names {
		cands = append(cands, candidate{n, []int{i}})
	}
	cands = append(cands, candidate{"faceres+mobileface", []int{indexOf(names, "faceres"), indexOf(names, "mobileface")}})
	var table strings.Builder
	fmt.Fprintf(&table, "\n%-20s %-15s %-12s %-8s %s\n", "model", "accuracy", "TAR@FAR1e-3", "EER", "embed CPU/face")
	for _, c := range cands {
		trials := make([][]evalmetrics.Trial, len(folds))
		var cpu time.Duration
		for _, i := range c.parts {
			cpu += emb[i]
		}
		for k, f := range folds {
			for _, pr := range f {
				a, b := results[pr.A], results[pr.B]
				if a.vecs == nil || b.vecs == nil {
					trials[k] = append(trials[k], evalmetrics.Trial{Same: pr.Same, Failed: true})
					continue
				}
				var s float64
				for _, i := range c.parts {
					s += vision.Cosine(a.vecs[i], b.vecs[i]) / float64(len(c.parts))
				}
				trials[k] = append(trials[k], evalmetrics.Trial{Score: s, Same: pr.Same})
			}
		}
		_, acc, std := evalmetrics.KFold(trials)
		var all []evalmetrics.Trial
		for _, f := range trials {
			all = append(all, f...)
		}
		tar, _ := evalmetrics.TARAtFAR(all, 1e-3)
		eer, _ := evalmetrics.EER(all)
		fmt.Fprintf(&table, "%-20s %.4f±%.4f  %-12.4f %-8.4f %.1f ms\n", c.name, acc, std, tar, eer, ms(cpu, found))
		if floor, ok := lfwFloor[c.name]; ok && acc < floor {
			t.Errorf("%s: LFW accuracy %.4f, below %.2f", c.name, acc, floor)
		}
	}
	t.Log(table.String())
}

// nearestCentre returns the index of the face whose box centre is nearest
// the image centre (LFW's subject), or -1.
func nearestCentre(faces []vision.FaceAnalysis, img *vision.RGB) int {
	best, bd := -1, 0.0
	mid := biometric.Point{X: float64(img.W) / 2, Y: float64(img.H) / 2}
	for i, f := range faces {
		if d := dist(centre(f.Box), mid); best < 0 || d < bd {
			best, bd = i, d
		}
	}
	return best
}

func indexOf(names []string, n string) int {
	for i, s := range names {
		if s == n {
			return i
		}
	}
	panic("no embedder " + n)
}

func ms(d time.Duration, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(d) / float64(n) / 1e6
}
