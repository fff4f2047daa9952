// Package lfw runs a face matcher over the pairs of LFW's View-2 protocol
// and reports the standard numbers with internal/evalmetrics: accuracy as
// the mean over folds with the threshold chosen on the other folds, EER,
// and TAR at fixed FAR, both against the file's impostor pairs and against
// every cross-identity pair of its images. It knows nothing about the
// matcher: callers give an embedding (or a failure) per image.
package lfw

import (
	"context"
	"path"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/everify/everify/internal/evalmetrics"
	"github.com/everify/everify/internal/vision"
)

// Images returns the distinct image files (paths relative to the image
// root) that the folds use, sorted.
func Images(folds [][]evalmetrics.Pair) []string {
	var out []string
	for _, f := range folds {
		for _, p := range f {
			out = append(out, p.A.File(), p.B.File())
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// EmbedAll calls embed for every image on up to GOMAXPROCS goroutines and
// returns the embeddings by image; an image whose embed fails maps to nil
// (a failure to enrol, e.g. no face found). Only a cancelled ctx stops it.
func EmbedAll(ctx context.Context, images []string, embed func(ctx context.Context, image string) ([]float32, error)) (map[string][]float32, error) {
	out := make(map[string][]float32, len(images))
	var mu sync.Mutex
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(images) || ctx.Err() != nil {
					return
				}
				v, err := embed(ctx, images[i])
				if err != nil {
					v = nil
				}
				mu.Lock()
				out[images[i]] = v
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out, ctx.Err()
}

// Report is the outcome of the protocol. Scores are cosine similarities.
type Report struct {
	Pairs, Failed int // failed: pairs with an image that could not be embedded
	// Accuracy is the mean over folds of the accuracy on the fold at the
	// threshold that is best on the other folds; failed pairs count as
	// errors. AccuracyStd is the standard deviation over folds.
	Accuracy, AccuracyStd float64
	// EER is the equal error rate over all pairs (failed pairs rejected).
	EER, EERThreshold float64
	// TARPairs is the TAR at FAR 1e-3 against the impostor pairs of the
	// file (1e-3 of 1500 allows one false accept, so this is coarse).
	TARPairs Operating
	// TARAll is the TAR of the genuine pairs at FAR 1e-3 and 1e-4 against
	// every cross-identity pair of the embedded images.
	TARAll []Operating
	// Impostors is the number of cross-identity image pairs behind TARAll.
	Impostors int
}

// Operating is a point on the ROC: accepting scores at or above Threshold
// gives TAR with a false accept rate of at most FAR.
type Operating struct {
	FAR, TAR, Threshold float64
}

// Evaluate applies the protocol to the embeddings of the folds' images
// (nil for an image that failed).
func Evaluate(folds [][]evalmetrics.Pair, emb map[string][]float32) Report {
	var r Report
	trials := make([][]evalmetrics.Trial, len(folds))
	var all, genuine []evalmetrics.Trial
	for k, f := range folds {
		for _, p := range f {
			a, b := emb[p.A.File()], emb[p.B.File()]
			t := evalmetrics.Trial{Same: p.Same, Failed: a == nil || b == nil}
			if t.Failed {
				r.Failed++
			} else {
				t.Score = vision.Cosine(a, b)
			}
			trials[k] = append(trials[k], t)
			all = append(all, t)
			if p.Same {
				genuine = append(genuine, t)
			}
		}
	}
	r.Pairs = len(all)
	_, r.Accuracy, r.AccuracyStd = evalmetrics.KFold(trials)
	r.EER, r.EERThreshold = evalmetrics.EER(all)
	r.TARPairs = operating(all, 1e-3)
	impostors := crossIdentity(emb)
	r.Impostors = len(impostors)
	wide := append(genuine, impostors...)
	for _, far := range []float64{1e-3, 1e-4} {
		r.TARAll = append(r.TARAll, operating(wide, far))
	}
	return r
}

func operating(trials []evalmetrics.Trial, far float64) Operating {
	tar, thr := evalmetrics.TARAtFAR(trials, far)
	return Operating{FAR: far, TAR: tar, Threshold: thr}
}

// crossIdentity returns a trial for every pair of embedded images of
// different people (an image's person is its directory).
func crossIdentity(emb map[string][]float32) []evalmetrics.Trial {
	type item struct {
		id string
		v  []float32
	}
	var items []item
	for file, v := range emb {
		if v != nil {
			items = append(items, item{path.Dir(file), v})
		}
	}
	out := make([]evalmetrics.Trial, 0, len(items)*(len(items)-1)/2)
	for i := range items {
		for j := i + 1; j < len(items); j++ {
			if items[i].id != items[j].id {
				out = append(out, evalmetrics.Trial{Score: vision.Cosine(items[i].v, items[j].v)})
			}
		}
	}
	return out
}
