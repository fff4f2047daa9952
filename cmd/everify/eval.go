package main

import (
	"context"
	"fmt"
	"io"
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
