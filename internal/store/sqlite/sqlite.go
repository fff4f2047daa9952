// Package sqlite opens everify's store on SQLite, through the pure-Go driver
// modernc.org/sqlite, in a data directory that a running server and the
// command-line tools can use at the same time.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"syscall"

	"github.com/everify/everify/internal/store"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// FileName is the database file in the data directory.
const FileName = "everify.db"

// lockName is the file whose lock serialises migrations.
const lockName = "everify.db.migrate-lock"

//go:embed migrations/*.sql
var migrations embed.FS

// dialect is SQLite's store.Dialect.
var dialect = store.Dialect{
	Name:     store.SQLite,
	Classify: classify,
	River: func(db *sql.DB) riverdriver.Driver[*sql.Tx] {
		return riversqlite.New(db)
	},
}

// Open opens (creating if needed) the store in dataDir and migrates it.
// The directory is created with mode 0700 and the database file with 0600.
// The database runs in WAL mode with foreign keys on, a 15 s busy timeout
// and immediate transactions, so that several processes can share it.
func Open(ctx context.Context, dataDir string, opts store.Options) (*store.DB, error) {
	dataDir, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, notWritable(dataDir, fmt.Errorf("create data directory: %w", err))
	}
	path := filepath.Join(dataDir, FileName)
	// SQLite gives its -wal and -shm files the database file's mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, notWritable(dataDir, fmt.Errorf("create database file: %w", err))
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("create database file: %w", err)
	}

	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := migrate(ctx, db, dataDir); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	st, err := store.New(db, dialect, opts)
	if err != nil {
		db.Close()
		return nil, err
	}
	return st, nil
}

// notWritable explains err when it says that dataDir cannot be written:
// the store needs to write there, also to read (SQLite's write-ahead log).
func notWritable(dataDir string, err error) error {
	switch {
	case errors.Is(err, syscall.EROFS):
		return fmt.Errorf("the data directory %s is on a read-only file system (%w); everify writes its database there: remount it read-write or choose another data directory", dataDir, err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("the data directory %s is not writable by this user (%w); everify writes its database there: fix its owner or permissions or choose another data directory", dataDir, err)
	}
	return err
}

// dsn is the driver's data source name for the database file at path.
func dsn(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(15000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	u := url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}
	return u.String()
}

// migrate applies the migrations while holding an exclusive lock on a file
// in dataDir, so that two processes starting together do not both apply
// them.
func migrate(ctx context.Context, db *sql.DB, dataDir string) error {
	lock, err := os.OpenFile(filepath.Join(dataDir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close() // releases the lock
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	files, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	return store.Migrate(ctx, db, dialect, files)
}

// classify maps SQLite result codes to the store's conditions.
func classify(err error) store.Condition {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return store.Other
	}
	switch code := e.Code(); {
	case code == sqlite3.SQLITE_CONSTRAINT_UNIQUE, code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return store.Duplicate
	case code&0xff == sqlite3.SQLITE_BUSY, code&0xff == sqlite3.SQLITE_LOCKED:
		return store.Unavailable
	case code&0xff == sqlite3.SQLITE_FULL:
		return store.Full
	case code&0xff == sqlite3.SQLITE_READONLY:
		return store.ReadOnly
	}
	return store.Other
}

// sealingVersion is the first migration after which the database may hold
// sealed objects (0003_protection.sql).
const sealingVersion = 3

// MayHoldSealed reports whether the database in dataDir may hold objects
// sealed under a master key: it exists and has been migrated to sealing.
// A data directory for which it is false can be given a new master key
// without losing anything.
func MayHoldSealed(ctx context.Context, dataDir string) (bool, error) {
	path := filepath.Join(dataDir, FileName)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	u := url.URL{Scheme: "file", Path: path, RawQuery: url.Values{"mode": {"ro"}, "_pragma": {"busy_timeout(15000)"}}.Encode()}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return false, fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	var tables int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&tables); err != nil {
		return false, fmt.Errorf("read %s: %w", path, err)
	}
	if tables == 0 {
		return false, nil
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version >= ?`, sealingVersion).Scan(&n); err != nil {
		return false, fmt.Errorf("read %s: %w", path, err)
	}
	return n > 0, nil
}
