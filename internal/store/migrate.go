package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river/rivermigrate"
)

// migration is one numbered schema change.
type migration struct {
	version int
	name    string // the file name
	sql     string
}

// Migrate brings db's schema up to date: first the numbered migrations in
// files (NNNN_description.sql at its root) that schema_migrations does not
// record yet, each in its own transaction together with its record, then
// River's own migrations. Applied migrations are skipped, so Migrate is
// idempotent. It does not guard against a concurrent migrator: the caller
// holds a lock (an advisory lock on PostgreSQL, a lock file beside the SQLite
// database).
func Migrate(ctx context.Context, db *sql.DB, d Dialect, files fs.FS) error {
	migrations, err := readMigrations(files)
	if err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY,
		name TEXT NOT NULL,
		applied_at BIGINT NOT NULL
	)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	for _, m := range migrations {
		if err := applyMigration(ctx, db, d, m); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}

	migrator, err := rivermigrate.New(d.River(db), &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	return nil
}

// applyMigration runs m unless schema_migrations records it already.
func applyMigration(ctx context.Context, db *sql.DB, d Dialect, m migration) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()

	var n int
	if err := tx.QueryRowContext(ctx, d.rebind(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`), m.version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, d.rebind(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`),
		m.version, m.name, time.Now().UnixMilli()); err != nil {
		return err
	}
	return tx.Commit()
}

// readMigrations returns the migrations in files, in version order.
func readMigrations(files fs.FS) ([]migration, error) {
	names, err := fs.Glob(files, "*.sql")
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, errors.New("no migrations found")
	}
	var migrations []migration
	for _, name := range names {
		prefix, _, _ := strings.Cut(name, "_")
		version, err := strconv.Atoi(prefix)
		if err != nil || version < 1 {
			return nil, fmt.Errorf("migration %s: the name must start with a positive number and an underscore (0001_init.sql)", name)
		}
		if i := slices.IndexFunc(migrations, func(m migration) bool { return m.version == version }); i >= 0 {
			return nil, fmt.Errorf("migrations %s and %s have the same number", migrations[i].name, name)
		}
		body, err := fs.ReadFile(files, name)
		if err != nil {
			return nil, err
		}
		migrations = append(migrations, migration{version: version, name: name, sql: string(body)})
	}
	slices.SortFunc(migrations, func(a, b migration) int { return a.version - b.version })
	return migrations, nil
}
