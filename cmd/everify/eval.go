package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// runEval implements `everify eval`: accuracy on labelled evaluation data,
// one sub-command per engine.
func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = "Usage: everify eval (faces | liveness) [flags]"
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return usageErrorf("missing sub-command")
	}
	switch args[0] {
	case "liveness":
		return runEvalLiveness(ctx, args[1:], stdout, stderr)
	case "faces":
		return runEvalFaces(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	fmt.Fprintln(stderr, usage)
	return usageErrorf("unknown sub-command %q", args[0])
}

// writeReport writes an evaluation report as indented JSON to the file
// out when out is set, and to stdout when asJSON is; done says that stdout
// got it, so the caller prints no text report.
func writeReport(stdout io.Writer, out string, asJSON bool, rep any) (done bool, err error) {
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return false, err
	}
	data = append(data, '\n')
	if out != "" {
		if err := os.WriteFile(out, data, 0o644); err != nil {
			return false, err
		}
	}
	if asJSON {
		_, err := stdout.Write(data)
		return true, err
	}
	return false, nil
}
