package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/facematch"
	"github.com/everify/everify/internal/imagein"
	"github.com/everify/everify/internal/vision/onnx"
)

// runMatch implements `everify match`: the face-match pipeline of the API
// on two local files or URLs.
func runMatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("match", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: everify match [flags] SOURCE TARGET

Compares the face in SOURCE (e.g. a selfie) with the face in TARGET (e.g. an
identity document), files or http(s) URLs, exactly as POST
/v1/biometrics/face-match does, and prints the calibrated match score (0-100;
a threshold t accepts impostors at a rate of 10^(-t/20)), the decision, the
confidence and both faces. Exit status 1 when no comparison is possible.

Flags:`)
		fs.PrintDefaults()
	}
	threshold := fs.Float64("threshold", 80, "match threshold, 0-100 (80: false match rate 1e-4)")
	asJSON := fs.Bool("json", false, "print the result as the API's JSON result object")
	allow := fs.String("image-allow", "", "comma-separated internal hosts, IPs or CIDRs that URLs may reach (default: public addresses only)")
	models := fs.String("models", defaultModelsDir(), "models directory ($EVERIFY_MODELS sets the default)")
	profile := fs.String("profile", facematch.DefaultProfile, "model profile: "+strings.Join(facematch.Profiles, " or ")+" (see docs/FACEMATCH.md)")
	if err := parseAnywhere(fs, args); err != nil {
		return err
	}
	cal, err := facematch.ProfileCalibration(*profile)
	if err != nil {
		return usageErrorf("--profile: %v", err)
	}
	if fs.NArg() != 2 {
		return usageErrorf("need SOURCE and TARGET")
	}
	if *threshold < 0 || *threshold > 100 {
		return usageErrorf("--threshold must be between 0 and 100")
	}
	fetch, err := imagein.NewFetcher(imagein.Options{Limits: cliImageLimits, Allow: splitList(*allow)})
	if err != nil {
		return usageErrorf("--image-allow: %v", err)
	}
	var imgs [2]*imagein.Image
	for i, name := range fs.Args() {
		if imgs[i], err = loadMatchImage(ctx, fetch, name); err != nil {
			return err
		}
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
	res, err := eng.Match(ctx, imgs[0].RGBA, imgs[1].RGBA, *threshold)
	if err != nil {
		if e := biometric.AsError(err); e.Field != "" {
			return fmt.Errorf("%s (%s): %s", e.Code, fs.Arg(map[string]int{"source": 0, "target": 1}[e.Field]), e.Message)
		}
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	verdict := "no match"
	if res.IsMatch {
		verdict = "match"
	}
	fmr := fmt.Sprintf("%.1e", facematch.FMRAtScore(res.MatchScore))
	if res.MatchScore >= 100 {
		fmr = "at most " + fmr
	}
	fmt.Fprintf(stdout, "%s at threshold %g: score %.1f (false match rate at this score: %s), confidence %.1f\n",
		verdict, *threshold, res.MatchScore, fmr, res.Confidence)
	for i, f := range []*biometric.FaceInfo{res.SourceFace, res.TargetFace} {
		n := []int{res.SourceFaces, res.TargetFaces}[i]
		fmt.Fprintf(stdout, "%s: %s: %d face(s); compared: box x=%.0f y=%.0f w=%.0f h=%.0f, detector %.0f%%, quality %.0f/100 (%.0f px, sharpness %.0f, brightness %.0f), yaw %.0f° pitch %.0f° roll %.0f°\n",
			[]string{"source", "target"}[i], fs.Arg(i), n, f.Box.X, f.Box.Y, f.Box.Width, f.Box.Height, f.Confidence,
			f.Quality.Score, f.Quality.FaceSize, f.Quality.Sharpness, f.Quality.Brightness, f.Pose.Yaw, f.Pose.Pitch, f.Pose.Roll)
	}
	if len(res.Warnings) > 0 {
		fmt.Fprintf(stdout, "warnings: %s\n", strings.Join(res.Warnings, ", "))
	}
	fmt.Fprintf(stdout, "model: %s\n", res.ModelVersion)
	return nil
}

// loadMatchImage reads a file, or fetches an http(s) URL through the same
// guarded fetcher as the API.
func loadMatchImage(ctx context.Context, fetch *imagein.Fetcher, name string) (*imagein.Image, error) {
	if strings.HasPrefix(name, "http://") || strings.HasPrefix(name, "https://") {
		img, err := fetch.Load(ctx, imagein.Source{URL: name})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return img, nil
	}
	return readImage(name)
}
