package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/everify/everify/internal/store"
	"github.com/everify/everify/internal/store/postgres"
)

// runMigrate implements `everify migrate`: it brings the PostgreSQL schema
// named by $DATABASE_URL up to date. SQLite migrates itself whenever it is
// opened; for it, migrate opens (and so migrates) the data directory.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := storeFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected arguments %v", fs.Args())
	}
	if u := os.Getenv(databaseURLEnv); u != "" {
		if err := postgres.Migrate(ctx, u); err != nil {
			return fmt.Errorf("migrating PostgreSQL at %s: %w", redactURL(u), err)
		}
		fmt.Fprintf(stdout, "PostgreSQL at %s is up to date.\n", redactURL(u))
		return nil
	}
	db, where, err := openStore(ctx, *dataDir, store.Options{})
	if err != nil {
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s is up to date. (SQLite migrates itself whenever everify opens it, so this step is optional;\n"+
		"with DATABASE_URL=postgres://… this command migrates PostgreSQL before replicas start.)\n", where)
	return nil
}
