package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
)

// runEval implements `everify eval`: accuracy on labelled evaluation data,
// one sub-command per engine.
func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runSubcommand(ctx, "eval", []command{
		{"faces", "face match accuracy on LFW-format pairs, or portraits found on documents", runEvalFaces},
		{"liveness", "BPCER and APCER per attack species on a manifest of captures", runEvalLiveness},
	}, args, stdout, stderr)
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
