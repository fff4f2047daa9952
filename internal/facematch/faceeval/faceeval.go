// Package faceeval measures the face matcher on pair lists in LFW's View-2
// format: k-fold accuracy, EER, and the true accept rate at the false match
// rates that the calibrated score states, checked against every
// cross-identity pair of the images. It also runs the same protocol with
// the first image of every pair rendered as an identity document (package
// docbench), and fits the score calibration (facematch.Calibration).
package faceeval

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"path"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/evalmetrics"
	"github.com/everify/everify/internal/facematch"
)

// Loader returns the image for a file of the pairs list (a path relative to
// the image root, Name/Name_0001.jpg).
type Loader func(file string) (image.Image, error)

// Options configures Run.
type Options struct {
	// Photo loads the images as they are (required).
	Photo Loader
	// Document, when set, loads the document version of an image: Run
	// then compares the document version of every pair's first image with
	// the photo of its second.
	Document Loader
	// PhotoPick chooses the face in a photo; facematch.PickCentre (LFW's
	// convention) if nil. Documents always use facematch.PickLargest (the
	// main portrait, not the ghost).
	PhotoPick facematch.PickFunc
	// Workers is the number of images processed at once (GOMAXPROCS if
	// zero).
	Workers int
	// Progress, when set, receives a line now and then.
	Progress io.Writer
}

// Image is the outcome of one image: its probe, or why there is none.
type Image struct {
	Probe *facematch.Probe
	// Code is the error code when no face could be compared
	// (no_face_detected, face_too_small, image_unusable, or
	// image_unreadable when the file could not be read).
	Code string
	// Grey reports a greyscale image.
	Grey bool
}

// Scores are the raw similarities behind a Report, for plots and for
// fitting a calibration.
type Scores struct {
	// Models names the fused models, in order.
	Models []string
	// Pairs are the file's trials on the fused similarity, per fold;
	// failed trials have Failed set.
	Pairs [][]evalmetrics.Trial
	// PairCosines[m] are model m's cosines for the file's pairs, in the
	// order of Pairs flattened (NaN for failed pairs).
	PairCosines [][]float64
	// Impostor holds the fused similarity of every cross-identity pair
	// of compared images; ImpostorCosines[m] model m's cosines for them.
	Impostor        []float64
	ImpostorCosines [][]float32
	// ImpostorTotal counts every cross-identity pair, including those
	// left out of Impostor because an image had no usable face: FMRs are
	// fractions of it (an unscored pair cannot match).
	ImpostorTotal int
}

// Run extracts the faces of every image of folds and scores the pairs and
// all cross-identity pairs.
func Run(ctx context.Context, eng *facematch.Engine, folds [][]evalmetrics.Pair, opts Options) (*Report, *Scores, error) {
	if opts.Photo == nil {
		return nil, nil, errors.New("faceeval: no photo loader")
	}
	if opts.PhotoPick == nil {
		opts.PhotoPick = facematch.PickCentre
	}
	photos, docs := filesOf(folds, opts.Document != nil)
	start := time.Now()
	photoImgs, err := extract(ctx, eng, photos, opts.Photo, opts.PhotoPick, facematch.Source, opts)
	if err != nil {
		return nil, nil, err
	}
	progress(opts, "%d photos in %v", len(photos), time.Since(start).Round(time.Second))
	left := photoImgs
	if opts.Document != nil {
		start = time.Now()
		if left, err = extract(ctx, eng, docs, opts.Document, facematch.PickLargest, facematch.Target, opts); err != nil {
			return nil, nil, err
		}
		progress(opts, "%d documents in %v", len(docs), time.Since(start).Round(time.Second))
	}
	sc := score(eng, folds, left, photoImgs, opts.Document != nil)
	rep := report(eng, folds, sc, left, photoImgs)
	rep.Condition = "photo"
	if opts.Document != nil {
		rep.Condition = "document"
	}
	rep.Images = len(photos) + len(docs)
	countFailures := func(m map[string]*Image) {
		for _, im := range m {
			if im.Probe == nil {
				rep.ImageFailures[im.Code]++
			}
		}
	}
	countFailures(photoImgs)
	if opts.Document != nil {
		countFailures(left)
	}
	return rep, sc, nil
}

func progress(opts Options, format string, args ...any) {
	if opts.Progress != nil {
		fmt.Fprintf(opts.Progress, format+"\n", args...)
	}
}

// filesOf lists the photos every pair needs and, with documents, the first
// images of the pairs (to be rendered as documents), each sorted.
func filesOf(folds [][]evalmetrics.Pair, documents bool) (photos, docs []string) {
	ps, ds := map[string]bool{}, map[string]bool{}
	for _, f := range folds {
		for _, p := range f {
			if documents {
				ds[p.A.File()] = true
				ps[p.B.File()] = true
			} else {
				ps[p.A.File()] = true
				ps[p.B.File()] = true
			}
		}
	}
	if documents {
		// Impostors are every document against every photo, so every
		// image of the list is a photo too.
		for f := range ds {
			ps[f] = true
		}
	}
	return sortedKeys(ps), sortedKeys(ds)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// extract runs the engine on every file.
func extract(ctx context.Context, eng *facematch.Engine, files []string, load Loader, pick facematch.PickFunc, side facematch.Side, opts Options) (map[string]*Image, error) {
	out := make(map[string]*Image, len(files))
	var mu sync.Mutex
	var next, done atomic.Int64
	var firstErr error
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(files) || ctx.Err() != nil {
					return
				}
				im, err := extractOne(ctx, eng, files[i], load, pick, side)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				out[files[i]] = im
				mu.Unlock()
				if n := done.Add(1); n%500 == 0 {
					progress(opts, "  %d/%d", n, len(files))
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return out, ctx.Err()
}

// extractOne returns the outcome of one image; err is set only for
// failures that should stop the evaluation (internal errors).
func extractOne(ctx context.Context, eng *facematch.Engine, file string, load Loader, pick facematch.PickFunc, side facematch.Side) (*Image, error) {
	img, err := load(file)
	if err != nil {
		return &Image{Code: "image_unreadable"}, nil
	}
	im := &Image{Grey: isGrey(img)}
	p, err := eng.Extract(ctx, img, side, pick)
	if err != nil {
		e := biometric.AsError(err)
		if e.Kind != biometric.KindUnprocessable {
			return nil, fmt.Errorf("faceeval: %s: %w", file, err)
		}
		im.Code = e.Code
		return im, nil
	}
	im.Probe = p
	return im, nil
}

// isGrey reports whether every sampled pixel of img has equal channels (to
// within JPEG's chroma noise).
func isGrey(img image.Image) bool {
	b := img.Bounds()
	var sum float64
	n := 0
	for y := b.Min.Y; y < b.Max.Y; y += 4 {
		for x := b.Min.X; x < b.Max.X; x += 4 {
			r, g, bl, _ := img.At(x, y).RGBA()
			sum += math.Abs(float64(r>>8)-float64(g>>8)) + math.Abs(float64(g>>8)-float64(bl>>8))
			n++
		}
	}
	return n > 0 && sum/float64(n) < 3
}

// identity is the person of an LFW image file (its directory).
func identity(file string) string { return path.Dir(file) }

// score computes the trials of the file's pairs and of every
// cross-identity pair. left holds the first images of pairs (documents or
// photos), right the photos.
func score(eng *facematch.Engine, folds [][]evalmetrics.Pair, left, right map[string]*Image, documents bool) *Scores {
	cal := eng.Calibration()
	nm := len(cal.Models)
	sc := &Scores{Pairs: make([][]evalmetrics.Trial, len(folds)), PairCosines: make([][]float64, nm), ImpostorCosines: make([][]float32, nm)}
	for _, m := range cal.Models {
		sc.Models = append(sc.Models, m.Name+"/"+m.Alignment)
	}
	for k, f := range folds {
		for _, p := range f {
			a, b := left[p.A.File()], right[p.B.File()]
			t := evalmetrics.Trial{Same: p.Same}
			if a.Probe == nil || b.Probe == nil {
				t.Failed = true
				for m := range nm {
					sc.PairCosines[m] = append(sc.PairCosines[m], math.NaN())
				}
			} else {
				fused, cos := eng.Compare(a.Probe, b.Probe)
				t.Score = fused
				for m := range nm {
					sc.PairCosines[m] = append(sc.PairCosines[m], cos[m])
				}
			}
			sc.Pairs[k] = append(sc.Pairs[k], t)
		}
	}
	impostors(eng, sc, left, right, documents)
	return sc
}

// impostors fills the cross-identity scores: every pair of different
// people among the photos, or every document against every photo of
// another person.
func impostors(eng *facematch.Engine, sc *Scores, left, right map[string]*Image, documents bool) {
	type item struct {
		id  string
		emb [][]float32
	}
	items := func(m map[string]*Image) (out []item) {
		for _, f := range sortedKeys(keys(m)) {
			if p := m[f].Probe; p != nil {
				out = append(out, item{identity(f), p.Embeddings})
			}
		}
		return out
	}
	ls, rs := items(left), items(right)
	// Row i pairs ls[i] with rs[j] for j > i (photos) or every j
	// (documents); rows are scored in parallel into their own slices.
	rows := make([][][]float32, len(ls))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(ls) {
					return
				}
				j0 := 0
				if !documents {
					j0 = i + 1
				}
				row := make([][]float32, len(ls[i].emb))
				for j := j0; j < len(rs); j++ {
					if rs[j].id == ls[i].id {
						continue
					}
					for m, a := range ls[i].emb {
						row[m] = append(row[m], dot(a, rs[j].emb[m]))
					}
				}
				rows[i] = row
			}
		})
	}
	wg.Wait()
	nm := len(sc.ImpostorCosines)
	cos := make([]float64, nm)
	for _, row := range rows {
		if len(row) == 0 {
			continue
		}
		for m := range nm {
			sc.ImpostorCosines[m] = append(sc.ImpostorCosines[m], row[m]...)
		}
		for k := range row[0] {
			for m := range nm {
				cos[m] = float64(row[m][k])
			}
			sc.Impostor = append(sc.Impostor, eng.Calibration().Fuse(cos))
		}
	}
	sc.ImpostorTotal = crossPairs(left, right, documents)
}

// crossPairs counts the cross-identity pairs of all images, compared or
// not.
func crossPairs(left, right map[string]*Image, documents bool) int {
	perID := map[string]int{}
	for f := range right {
		perID[identity(f)]++
	}
	if !documents {
		n := len(right)
		total := n * (n - 1) / 2
		for _, k := range perID {
			total -= k * (k - 1) / 2
		}
		return total
	}
	total := 0
	for f := range left {
		total += len(right) - perID[identity(f)]
	}
	return total
}

func keys(m map[string]*Image) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

func dot(a, b []float32) float32 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}
