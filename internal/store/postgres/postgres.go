// Package postgres opens everify's store on PostgreSQL, through pgx's
// database/sql adapter, for deployments with several replicas.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strings"
	"syscall"

	"github.com/everify/everify/internal/store"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the key of the advisory lock held while migrating
// ("everify" in ASCII).
const migrationLock = 0x65766572696679

// dialect is PostgreSQL's store.Dialect.
var dialect = store.Dialect{
	Name:           store.Postgres,
	NumberedParams: true,
	ForUpdate:      "FOR UPDATE",
	Classify:       classify,
	River: func(db *sql.DB) riverdriver.Driver[*sql.Tx] {
		return riverdatabasesql.New(db)
	},
}

// Open connects to the database at databaseURL and migrates it (several
// replicas may do this at once: they take turns under an advisory lock).
func Open(ctx context.Context, databaseURL string, opts store.Options) (*store.DB, error) {
	db, err := open(ctx, databaseURL)
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, db, databaseURL); err != nil {
		db.Close()
		return nil, err
	}
	st, err := store.New(db, dialect, opts)
	if err != nil {
		db.Close()
		return nil, err
	}
	return st, nil
}

// Migrate brings the database at databaseURL up to date and returns; it is
// what `everify migrate` runs. Open does the same, so running it is
// optional.
func Migrate(ctx context.Context, databaseURL string) error {
	db, err := open(ctx, databaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	return migrate(ctx, db, databaseURL)
}

// open returns a connection pool that has answered a ping.
func open(ctx context.Context, databaseURL string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s: %w", describe(cfg), err)
	}
	return db, nil
}

// migrate applies the migrations while holding the advisory lock on a
// connection of its own, which closing releases whatever happens.
func migrate(ctx context.Context, db *sql.DB, databaseURL string) error {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return fmt.Errorf("connect for migration: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(migrationLock)); err != nil {
		return fmt.Errorf("take the migration lock: %w", err)
	}
	files, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	if err := store.Migrate(ctx, db, dialect, files); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// describe names the server and database of cfg, without the password.
func describe(cfg *pgx.ConnConfig) string {
	return fmt.Sprintf("postgres://%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}

// classify maps PostgreSQL errors to the store's conditions.
func classify(err error) store.Condition {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		switch {
		case e.Code == "23505": // unique_violation
			return store.Duplicate
		case strings.HasPrefix(e.Code, "08"), // connection exceptions
			e.Code == "53300",                // too_many_connections
			strings.HasPrefix(e.Code, "57P"): // admin_shutdown, crash_shutdown, cannot_connect_now…
			return store.Unavailable
		case e.Code == "53100": // disk_full
			return store.Full
		case e.Code == "25006": // read_only_sql_transaction: a standby, or default_transaction_read_only
			return store.ReadOnly
		}
		return store.Other
	}
	if connectionLost(err) {
		return store.Unavailable
	}
	return store.Other
}

// connectionLost reports whether err says that the connection to the
// server could not be made or broke (the server stopped, restarted, or the
// network failed). A cancelled or timed-out context is not counted: the
// request ended, not the database.
func connectionLost(err error) bool {
	var connect *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case errors.As(err, &connect), errors.As(err, &netErr),
		errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, driver.ErrBadConn),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EPIPE):
		return true
	}
	return false
}
