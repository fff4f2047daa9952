package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/everify/everify/internal/evaldata"
	"github.com/everify/everify/internal/liveness/evaluate"
)

// runEvalLiveness implements `everify eval liveness`.
func runEvalLiveness(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("eval liveness", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: everify eval liveness --manifest FILE.csv [--json]
       everify eval liveness --build-dev FILE.csv [--data DIR] [--cache DIR]

Analyses every presentation of a manifest (CSV lines path,label,challenge[,fps];
label is bona_fide or an attack species; path is a video, a directory of frames
or a single image, which becomes a hand-held clip of the still photo) and prints
BPCER, APCER per attack species and every item's verdict (ISO/IEC 30107-3).
--build-dev writes the development manifest built from the evaluation data,
generating the clips it needs under --cache.

Flags:`)
		fs.PrintDefaults()
	}
	manifest := fs.String("manifest", "", "manifest to evaluate")
	asJSON := fs.Bool("json", false, "print one JSON object (bpcer, apcer, items, …)")
	build := fs.String("build-dev", "", "write the development manifest to this file and exit")
	data := fs.String("data", evaldata.Dir(), "evaluation data directory ($EVERIFY_EVAL_DATA, else ../shared/data found from the working directory)")
	cache := fs.String("cache", defaultEvalCache(), "where --build-dev writes generated clips")
	models := fs.String("models", defaultModelsDir(), "models directory (default from $EVERIFY_MODELS)")
	quiet := fs.Bool("quiet", false, "do not print progress to stderr")
	outFile := fs.String("out", "", "also write the JSON report to this file")
	from := fs.String("from", "", "print the report of an earlier run from its JSON report instead of analysing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected arguments %q", fs.Args())
	}
	if *build != "" {
		if *data == "" {
			return usageErrorf("no evaluation data: give --data or set EVERIFY_EVAL_DATA")
		}
		items, err := evaluate.BuildDev(ctx, evaluate.DevOptions{Data: *data, Cache: *cache})
		if err != nil {
			return err
		}
		f, err := os.Create(*build)
		if err != nil {
			return err
		}
		if err := evaluate.WriteManifest(f, items); err != nil {
			f.Close()
			return err
		}
		fmt.Fprintf(stderr, "wrote %d items to %s (generated clips in %s)\n", len(items), *build, *cache)
		return f.Close()
	}
	if *from != "" {
		data, err := os.ReadFile(*from)
		if err != nil {
			return err
		}
		var old evaluate.Report
		if err := json.Unmarshal(data, &old); err != nil {
			return fmt.Errorf("%s: %w", *from, err)
		}
		printReport(stdout, evaluate.Summarise(old.Items))
		return nil
	}
	if *manifest == "" {
		return usageErrorf("--manifest is required")
	}
	items, err := evaluate.ReadManifest(*manifest)
	if err != nil {
		return err
	}
	a, closeModels, err := openAnalyzer(*models)
	if err != nil {
		return err
	}
	defer closeModels()
	opts := evaluate.Options{}
	if !*quiet {
		opts.Progress = stderr
	}
	rep, err := evaluate.Run(ctx, a, items, opts)
	if err != nil {
		return err
	}
	if done, err := writeReport(stdout, *outFile, *asJSON, rep); done || err != nil {
		return err
	}
	printReport(stdout, rep)
	return nil
}

// defaultEvalCache is $XDG_CACHE_HOME/everify/liveness-dev (or the
// system's user cache directory).
func defaultEvalCache() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "everify", "liveness-dev")
	}
	return filepath.Join(os.TempDir(), "everify-liveness-dev")
}

func printReport(w io.Writer, r *evaluate.Report) {
	fmt.Fprintf(w, "BPCER %.1f%% (%d bona fide, %.1f%% of them poor-quality failures)\n",
		100*r.BPCER, r.Counts[evaluate.BonaFide], 100*r.PoorQuality[evaluate.BonaFide])
	fmt.Fprintf(w, "%-22s %5s %7s %14s %12s\n", "attack species", "items", "APCER", "spoof detected", "poor quality")
	for _, s := range r.Species() {
		fmt.Fprintf(w, "%-22s %5d %6.1f%% %13.1f%% %11.1f%%\n", s, r.Counts[s], 100*r.APCER[s], 100*r.Detected[s], 100*r.PoorQuality[s])
	}
	labels := append([]string{evaluate.BonaFide}, r.Species()...)
	checks := map[string]bool{}
	for _, byCheck := range r.Checks {
		for name := range byCheck {
			checks[name] = true
		}
	}
	names := slices.Sorted(maps.Keys(checks))
	fmt.Fprintln(w, "\nchecks: share of items with attack evidence / passed (median score)")
	fmt.Fprintf(w, "%-21s", "")
	for _, l := range labels {
		fmt.Fprintf(w, " %19s", l)
	}
	fmt.Fprintln(w)
	for _, name := range names {
		fmt.Fprintf(w, "%-21s", name)
		for _, l := range labels {
			st, ok := r.Checks[l][name]
			if !ok {
				fmt.Fprintf(w, " %19s", "-")
				continue
			}
			fmt.Fprintf(w, " %19s", fmt.Sprintf("%3.0f%% /%3.0f%% (%3.0f)", 100*st.Attack, 100*st.Passed, st.MedianScore))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "\nverdicts:")
	for _, v := range r.Items {
		verdict := "rejected"
		switch {
		case v.Error != "":
			verdict = "error: " + v.Error
		case v.Accepted:
			verdict = "ACCEPTED"
		case v.Failure != "":
			verdict = "failed " + v.Failure
		}
		spoof := ""
		if v.SpoofAttemptDetected {
			spoof = " spoof"
		}
		fmt.Fprintf(w, "%-20s %-28s %5.1f %-9s%s [%s] %s\n", v.Label, strings.Join(v.Challenge, "+"), v.LivenessScore, verdict, spoof, strings.Join(v.Reasons, ","), v.Path)
	}
}
