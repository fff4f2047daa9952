package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"image"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/evalmetrics"
	"github.com/everify/everify/internal/facematch"
	"github.com/everify/everify/internal/facematch/docbench"
	"github.com/everify/everify/internal/facematch/faceeval"
	"github.com/everify/everify/internal/imagein"
	"github.com/everify/everify/internal/vision/onnx"
)

// runEvalFaces implements `everify eval faces`.
func runEvalFaces(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("eval faces", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: everify eval faces --pairs PAIRS.txt --images DIR [flags]
       everify eval faces --specimens DIR [--json]

Runs the face matcher on an LFW View-2 pairs list (header "FOLDS N", then per
fold N same-person lines "Name i j" and N different-person lines
"Name1 i Name2 j"; images DIR/Name/Name_%04d.jpg) and prints the accuracy
(mean over folds, each fold's threshold chosen on the other folds), the EER,
the TAR at the scores the calibration states for FAR 1e-3 and 1e-4 (60 and
80), the FMR measured at each score over every cross-identity pair of the
images, and the pairs with an image in which no comparable face was found
(counted as errors). --documents renders the first image of every pair as an
identity document first. --specimens only reports which images of DIR hold a
comparable face (document portraits).

Flags:`)
		fs.PrintDefaults()
	}
	pairsFile := fs.String("pairs", "", "pairs list in LFW View-2 format")
	images := fs.String("images", "", "image root: DIR/Name/Name_0001.jpg")
	asJSON := fs.Bool("json", false, "print one JSON object (accuracy, tar_at_far_1e3, eer, pairs, failures_to_detect, …)")
	documents := fs.Bool("documents", false, "compare a synthetic ID-document version of every pair's first image with the photo of its second")
	saveDocs := fs.String("save-documents", "", "also write the rendered documents into this directory (never into the repository)")
	pick := fs.String("pick", "centre", "the face compared in a photo: centre (LFW's labelled face is the centred one) or largest (the service's rule)")
	limit := fs.Int("limit", 0, "use only the first N same-person and N different-person pairs of each fold (0: all)")
	plots := fs.String("plots", "", "write roc.png, det.png and scores.png into this directory")
	out := fs.String("out", "", "also write the JSON report to this file")
	fit := fs.String("fit-calibration", "", "fit the score calibration on this run (photo condition) and write it to this file")
	version := fs.String("calibration-version", "", "version name of the fitted calibration (default: the date)")
	fuse := fs.String("fuse", "", "models to fit with --fit-calibration, comma-separated NAME/ALIGNMENT[+flip]:WEIGHT (default: the current calibration's)")
	profile := fs.String("profile", facematch.DefaultProfile, "model profile whose built-in calibration is used: "+strings.Join(facematch.Profiles, " or "))
	calFile := fs.String("calibration", "", "use this calibration file instead of the profile's")
	specimens := fs.String("specimens", "", "report the faces found in every image under this directory")
	models := fs.String("models", defaultModelsDir(), "models directory ($EVERIFY_MODELS sets the default)")
	quiet := fs.Bool("quiet", false, "do not print progress to stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected arguments %q", fs.Args())
	}
	var pickFn facematch.PickFunc
	switch *pick {
	case "centre", "center":
		pickFn = facematch.PickCentre
	case "largest":
		pickFn = facematch.PickLargest
	default:
		return usageErrorf("--pick must be centre or largest, not %q", *pick)
	}
	if *specimens == "" && (*pairsFile == "" || *images == "") {
		return usageErrorf("give --pairs and --images (or --specimens)")
	}
	if *fit != "" && *documents {
		return usageErrorf("--fit-calibration fits on photos; leave out --documents")
	}
	cal, err := loadCalibration(*profile, *calFile, *fuse)
	if err != nil {
		return err
	}
	rt, err := onnx.Open(*models, onnx.Options{})
	if err != nil {
		return err
	}
	defer rt.Close()
	eng, err := facematch.New(rt, facematch.Options{Calibration: cal})
	if err != nil {
		return err
	}
	var progress io.Writer = stderr
	if *quiet {
		progress = nil
	}
	if *specimens != "" {
		return evalSpecimens(ctx, eng, *specimens, *asJSON, stdout, progress)
	}

	folds, err := readPairsFile(*pairsFile, *limit)
	if err != nil {
		return err
	}
	opts := faceeval.Options{Photo: fileLoader(*images), PhotoPick: pickFn, Progress: progress}
	if *documents {
		if *saveDocs != "" {
			if err := os.MkdirAll(*saveDocs, 0o755); err != nil {
				return err
			}
		}
		opts.Document = documentLoader(*images, *saveDocs)
	}
	start := time.Now()
	rep, scores, err := faceeval.Run(ctx, eng, folds, opts)
	if err != nil {
		return err
	}
	if progress != nil {
		fmt.Fprintf(progress, "evaluated in %v\n", time.Since(start).Round(time.Second))
	}
	if *plots != "" {
		if err := os.MkdirAll(*plots, 0o755); err != nil {
			return err
		}
		label := strings.Join(scores.Models, " + ") + ", " + rep.Condition + "s"
		if _, err := faceeval.WritePlots(*plots, faceeval.Curves(scores, label), scores, eng.Calibration()); err != nil {
			return err
		}
	}
	if *fit != "" {
		name := *version
		if name == "" {
			name = time.Now().UTC().Format("2006-01-02")
		}
		info := facematch.FitInfo{
			Data:         fmt.Sprintf("%s (%d images)", filepath.Base(filepath.Dir(filepath.Clean(*pairsFile))), rep.Images),
			GenuinePairs: rep.Pairs / 2,
			Date:         time.Now().UTC().Format("2006-01-02"),
			Command:      "everify eval faces " + strings.Join(args, " "),
		}
		c, err := faceeval.Fit(eng.Calibration(), scores, name, info)
		if err != nil {
			return err
		}
		data, err := c.MarshalIndent()
		if err != nil {
			return err
		}
		if err := os.WriteFile(*fit, data, 0o644); err != nil {
			return err
		}
		if progress != nil {
			fmt.Fprintf(progress, "calibration %s written to %s (%d impostor pairs); re-run without --fit-calibration to evaluate with it\n", name, *fit, c.Fitted.ImpostorPairs)
		}
	}
	if done, err := writeReport(stdout, *out, *asJSON, rep); done || err != nil {
		return err
	}
	printFaceReport(stdout, *pairsFile, len(folds), rep)
	return nil
}

// loadCalibration reads file (the profile's built-in calibration when
// empty) and, with fuse, replaces its models for a fit.
func loadCalibration(profile, file, fuse string) (*facematch.Calibration, error) {
	var cal *facematch.Calibration
	var err error
	if file == "" {
		if cal, err = facematch.ProfileCalibration(profile); err != nil {
			return nil, usageErrorf("--profile: %v", err)
		}
	} else {
		var data []byte
		if data, err = os.ReadFile(file); err == nil {
			cal, err = facematch.ParseCalibration(data)
		}
	}
	if err != nil || fuse == "" {
		return cal, err
	}
	var ms []facematch.Model
	for _, part := range strings.Split(fuse, ",") {
		spec, w, ok := strings.Cut(strings.TrimSpace(part), ":")
		weight, err := strconv.ParseFloat(w, 64)
		name, align, _ := strings.Cut(spec, "/")
		if !ok || err != nil || !(weight > 0) || align == "" {
			return nil, usageErrorf("--fuse: %q is not NAME/ALIGNMENT[+flip]:WEIGHT", part)
		}
		align, flip := strings.CutSuffix(align, "+flip")
		// Mean 0 and deviation 1 until the fit measures them.
		ms = append(ms, facematch.Model{Name: name, Alignment: align, Flip: flip, Weight: weight, ImpostorStd: 1})
	}
	cal.Models = ms
	cal.Version = "unfitted"
	return cal, nil
}

// readPairsFile parses a pairs list, keeping the first limit pairs of each
// class per fold when limit > 0.
func readPairsFile(path string, limit int) ([][]evalmetrics.Pair, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	folds, err := evalmetrics.ParsePairs(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(folds) < 2 {
		return nil, fmt.Errorf("%s: %d fold; the protocol needs at least two", path, len(folds))
	}
	if limit > 0 {
		for i, fold := range folds {
			var same, diff []evalmetrics.Pair
			for _, p := range fold {
				if p.Same && len(same) < limit {
					same = append(same, p)
				} else if !p.Same && len(diff) < limit {
					diff = append(diff, p)
				}
			}
			folds[i] = append(same, diff...)
		}
	}
	return folds, nil
}

// fileLoader reads images under root through imagein (EXIF orientation
// applied), as the service would receive them.
func fileLoader(root string) faceeval.Loader {
	return func(file string) (image.Image, error) {
		img, err := readImage(filepath.Join(root, filepath.FromSlash(file)))
		if err != nil {
			return nil, err
		}
		return img.RGBA, nil
	}
}

// documentLoader renders the photo file as a scanned identity document
// (seeded by the file name, so runs repeat), optionally saving it under
// save, and decodes the JPEG as the service would.
func documentLoader(root, save string) faceeval.Loader {
	return func(file string) (image.Image, error) {
		photo, err := readImage(filepath.Join(root, filepath.FromSlash(file)))
		if err != nil {
			return nil, err
		}
		h := fnv.New64a()
		h.Write([]byte(file))
		data, _, err := docbench.Render(photo.RGBA, h.Sum64())
		if err != nil {
			return nil, err
		}
		if save != "" {
			name := strings.ReplaceAll(strings.TrimSuffix(file, filepath.Ext(file)), "/", "_") + "_doc.jpg"
			if err := os.WriteFile(filepath.Join(save, name), data, 0o644); err != nil {
				return nil, err
			}
		}
		img, err := imagein.Decode(data, cliImageLimits)
		if err != nil {
			return nil, err
		}
		return img.RGBA, nil
	}
}

// printFaceReport prints rep for people.
func printFaceReport(w io.Writer, pairsFile string, folds int, r *faceeval.Report) {
	pct := func(v float64) string { return strconv.FormatFloat(100*v, 'f', 2, 64) + "%" }
	fmt.Fprintf(w, "%s: %d folds, %d pairs, %s condition\n", pairsFile, folds, r.Pairs, r.Condition)
	fmt.Fprintf(w, "models: %s; calibration %s\n", strings.Join(r.Models, " + "), r.Calibration)
	fmt.Fprintf(w, "failures to detect: %d pairs (images without a comparable face: %v), counted as errors\n", r.FailuresToDetect, r.ImageFailures)
	fmt.Fprintf(w, "accuracy: %s ± %s (fold thresholds, as scores: %v)\n", pct(r.Accuracy), pct(r.AccuracyStd), r.FoldThresholds)
	fmt.Fprintf(w, "EER: %s\n", pct(r.EER))
	fmt.Fprintf(w, "TAR at FAR 1e-3 (score >= 60): %s\n", pct(r.TARAtFAR1e3))
	fmt.Fprintf(w, "TAR at FAR 1e-4 (score >= 80): %s\n", pct(r.TARAtFAR1e4))
	fmt.Fprintf(w, "\ncalibration check over %d cross-identity pairs:\n", r.ImpostorPairs)
	fmt.Fprintf(w, "  %5s  %10s  %12s  %10s  %7s\n", "score", "stated FMR", "measured FMR", "list FMR", "TAR")
	for _, t := range r.Thresholds {
		fmt.Fprintf(w, "  %5.0f  %10.0e  %12.2e  %10.4f  %7s\n", t.Score, t.StatedFMR, t.MeasuredFMR, t.ListFMR, pct(t.TAR))
	}
	fmt.Fprintf(w, "TAR at FAR 1e-3 on the list's own different-person pairs (LFW papers' convention): %s (score %.2f)\n", pct(r.ListTAR.TAR), r.ListTAR.Threshold)
	fmt.Fprintln(w, "\nTAR at thresholds set on these cross-identity pairs:")
	for _, o := range r.Empirical {
		fmt.Fprintf(w, "  FAR %.0e: TAR %s (score %.2f)\n", o.FAR, pct(o.TAR), o.Threshold)
	}
	if len(r.PerModel) > 0 {
		fmt.Fprintln(w, "\neach model alone:")
		for _, m := range r.PerModel {
			fmt.Fprintf(w, "  %-32s accuracy %s  EER %s  TAR@1e-3 %s  TAR@1e-4 %s\n", m.Model, pct(m.Accuracy), pct(m.EER), pct(m.TAR[0].TAR), pct(m.TAR[1].TAR))
		}
	}
	fmt.Fprintln(w, "\nby group (accuracy at the fold thresholds; FNMR/FMR at scores 60 and 80):")
	for _, g := range r.Groups {
		fmt.Fprintf(w, "  %-40s %4d+%-4d accuracy %s  FNMR@60 %s  FNMR@80 %s  FMR@60 %s\n", g.Name, g.GenuinePairs, g.ImpostorPairs,
			pct(g.Accuracy), pct(g.FNMRAtScore60), pct(g.FNMRAtDefault), pct(g.FMRAtScore60))
	}
}

// specimen is one image of --specimens.
type specimen struct {
	File  string              `json:"file"`
	Faces int                 `json:"faces"`
	Face  *biometric.FaceInfo `json:"face,omitempty"`
	Code  string              `json:"error,omitempty"`
}

// evalSpecimens runs face finding on every image under dir, as the target
// of a match, and reports how many hold a comparable face.
func evalSpecimens(ctx context.Context, eng *facematch.Engine, dir string, asJSON bool, stdout, progress io.Writer) error {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".jpg", ".jpeg", ".png", ".webp":
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var out []specimen
	found := 0
	for _, f := range files {
		rel, _ := filepath.Rel(dir, f)
		s := specimen{File: rel}
		img, err := readImage(f)
		if err != nil {
			s.Code = biometric.AsError(err).Code
			out = append(out, s)
			continue
		}
		p, err := eng.Extract(ctx, img.RGBA, facematch.Target, facematch.PickLargest)
		if err != nil {
			e := biometric.AsError(err)
			if e.Kind != biometric.KindUnprocessable {
				return err
			}
			s.Code = e.Code
		} else {
			found++
			info := roundInfo(p.Face.Info())
			s.Faces, s.Face = p.Found, &info
		}
		out = append(out, s)
		if progress != nil {
			fmt.Fprintf(progress, "  %s: %d face(s) %s\n", rel, s.Faces, s.Code)
		}
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Images  int        `json:"images"`
			Found   int        `json:"portraits_found"`
			Results []specimen `json:"results"`
		}{len(files), found, out})
	}
	fmt.Fprintf(stdout, "%s: a comparable face in %d of %d images\n", dir, found, len(files))
	for _, s := range out {
		if s.Face != nil {
			fmt.Fprintf(stdout, "  %-50s %d face(s); compared: %.0f px, detector %.0f%%, quality %.0f\n", s.File, s.Faces, s.Face.Quality.FaceSize, s.Face.Confidence, s.Face.Quality.Score)
		} else {
			fmt.Fprintf(stdout, "  %-50s %s\n", s.File, s.Code)
		}
	}
	return nil
}
