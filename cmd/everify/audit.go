package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/everify/everify/internal/audit"
	"github.com/everify/everify/internal/store"
)

// runAudit implements `everify audit export`.
func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "export" {
		return usageErrorf("need a subcommand: export")
	}
	return runAuditExport(ctx, args[1:], stdout, stderr)
}

// runAuditExport writes the audit records as JSON lines, oldest first.
func runAuditExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := storeFlags(fs)
	since := fs.String("since", "", "export records from this time on: RFC 3339 (2025-06-01T08:00:00Z), a date (2025-06-01, UTC) or an age (24h, 7d); default: all")
	until := fs.String("until", "", "export records before this time (same forms as --since); default: up to now")
	tenant := fs.String("tenant", "", "export only this tenant's records")
	output := fs.String("output", "", "write to this file (created with mode 0600) instead of standard output")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected arguments %v (flags go before arguments)", fs.Args())
	}
	now := time.Now()
	var filter store.AuditFilter
	var err error
	if filter.Since, err = parseTime(*since, now); err != nil {
		return usageErrorf("--since: %v", err)
	}
	if filter.Until, err = parseTime(*until, now); err != nil {
		return usageErrorf("--until: %v", err)
	}
	filter.Tenant = *tenant

	out := stdout
	if *output != "" {
		f, err := os.OpenFile(*output, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	db, where, err := openStore(ctx, *dataDir, store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	w := bufio.NewWriter(out)
	enc := json.NewEncoder(w)
	n := 0
	err = db.AuditEvents(ctx, filter, func(ev *audit.Event) error {
		n++
		return enc.Encode(ev)
	})
	if err != nil {
		return fmt.Errorf("exporting the audit log of %s: %w", where, err)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if *output != "" {
		fmt.Fprintf(stderr, "Exported %d audit records to %s.\n", n, *output)
	}
	return nil
}

// parseTime reads a --since or --until value: an RFC 3339 time, a date
// (midnight UTC), or an age before now ("36h", "7d"). Empty is the zero
// time.
func parseTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return now.AddDate(0, 0, -n), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time (2025-06-01T08:00:00Z), a date (2025-06-01) or an age (24h, 7d)", s)
}
