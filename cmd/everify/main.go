// Command everify is the everify service and its tools: one binary with
// subcommands (serve, keys, models, detect, embed, match, liveness, eval,
// bench, migrate). This package is the only place that wires adapters
// (stores, ONNX Runtime, HTTP) to the use cases.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// command is one subcommand. run gets the arguments after the subcommand
// name and writes its normal output to stdout.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands is the subcommand table, in the order `everify help` lists them.
// Each entry's run function lives in the file named after it.
var commands = []command{
	{"serve", "run the HTTP API (SQLite in --data-dir, or PostgreSQL via $DATABASE_URL)", runServe},
	{"keys", "create, list or revoke tenants' API keys; rotate the master key that seals stored images", runKeys},
	{"tenants", "set or remove a tenant's signed webhook or challenge policy; list tenants", runTenants},
	{"audit", "export the audit log as JSON lines (audit export --since 24h)", runAudit},
	{"migrate", "bring the database schema up to date ($DATABASE_URL for PostgreSQL)", runMigrate},
	{"models", "install (fetch, verify, convert) or verify the ONNX models", runModels},
	{"detect", "find the faces in an image: boxes, landmarks, pose, quality", runDetect},
	{"embed", "print the identity embedding of the largest face in an image", runEmbed},
	{"match", "compare the faces of two images (files or URLs) as the face-match API does", runMatch},
	{"liveness", "analyse a liveness capture offline (video or frames) against a challenge", runLiveness},
	{"eval", "measure accuracy on labelled data (eval liveness; eval faces)", runEval},
	{"bench", "load-test running servers (bench facematch; bench mixed)", runBench},
}

// errUsage marks an error caused by bad command-line usage (exit status 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := realMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func realMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintf(stderr, "everify %s: %v\n", c.name, err)
			return 2
		default:
			fmt.Fprintf(stderr, "everify %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "everify: unknown command %q; run 'everify help' for the list\n", args[0])
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "everify — self-hosted selfie liveness and face match\n\nUsage: everify COMMAND [flags] [args]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'everify COMMAND -h' for a command's flags.")
}

// usageErrorf returns an error that makes the command exit with status 2.
func usageErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, args...)...)
}

// parseAnywhere parses args with fs allowing flags after the positional
// arguments too (`everify detect IMAGE --json`), as the file-taking tools
// document; "--" ends the flags. Afterwards fs.Args() holds the positional
// arguments in order.
func parseAnywhere(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	return fs.Parse(append([]string{"--"}, pos...))
}

// runSubcommand runs the sub-command of `everify GROUP` that args[0]
// names; `everify GROUP help` lists them.
func runSubcommand(ctx context.Context, group string, subs []command, args []string, stdout, stderr io.Writer) error {
	names := make([]string, len(subs))
	for i, c := range subs {
		names[i] = c.name
	}
	list := strings.Join(names, ", ")
	if len(args) == 0 {
		return usageErrorf("need a subcommand: %s (everify %s help)", list, group)
	}
	switch args[0] {
	case "help", "-h", "--help":
		fmt.Fprintf(stdout, "Usage: everify %s SUBCOMMAND [flags] [args]\n\nSubcommands:\n", group)
		for _, c := range subs {
			fmt.Fprintf(stdout, "  %-16s %s\n", c.name, c.summary)
		}
		fmt.Fprintf(stdout, "\nRun 'everify %s SUBCOMMAND -h' for its flags.\n", group)
		return nil
	}
	for _, c := range subs {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	return usageErrorf("unknown subcommand %q (want %s)", args[0], list)
}
