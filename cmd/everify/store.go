package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"

	"github.com/everify/everify/internal/store"
	"github.com/everify/everify/internal/store/postgres"
	"github.com/everify/everify/internal/store/sqlite"
)

// databaseURLEnv names the environment variable that selects PostgreSQL.
const databaseURLEnv = "DATABASE_URL"

// storeFlags adds the store selection flag shared by the key commands.
func storeFlags(fs *flag.FlagSet) *string {
	return fs.String("data-dir", defaultDataDir(), "SQLite data directory (ignored when $DATABASE_URL selects PostgreSQL)")
}

// openStore opens the store that every command shares: PostgreSQL when
// $DATABASE_URL is set, otherwise SQLite in dataDir. Unless opts has a
// Sealer, it seals with the master keyring that openSealer finds. It
// returns the store and a description of where it is, without secrets.
func openStore(ctx context.Context, dataDir string, opts store.Options) (*store.DB, string, error) {
	if opts.Sealer == nil {
		sealer, _, err := openSealer(ctx, dataDir, os.Getenv(databaseURLEnv) != "")
		if err != nil {
			return nil, "", fmt.Errorf("master key: %w", err)
		}
		opts.Sealer = sealer
	}
	if u := os.Getenv(databaseURLEnv); u != "" {
		where := "PostgreSQL at " + redactURL(u)
		db, err := postgres.Open(ctx, u, opts)
		if err != nil {
			return nil, where, fmt.Errorf("opening %s: %w", where, err)
		}
		return db, where, nil
	}
	where := "SQLite in " + dataDir
	db, err := sqlite.Open(ctx, dataDir, opts)
	if err != nil {
		return nil, where, fmt.Errorf("opening %s: %w", where, err)
	}
	return db, where, nil
}

// redactURL returns a database URL without its password.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable " + databaseURLEnv + ")"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
