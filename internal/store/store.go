// Package store implements biometric.Store once, over database/sql, for
// SQLite and PostgreSQL. The subpackages sqlite and postgres open the
// database, describe its Dialect and apply the migrations; everything else —
// the queries, the transactions and the mapping of driver errors to error
// kinds — lives here.
//
// Each public method is one transaction; the private helpers take the
// transaction. Queries are written with ? placeholders and rebound for
// PostgreSQL. Timestamps are stored as Unix milliseconds and JSON values as
// text, so that both databases hold the same values.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/everify/everify/internal/audit"
	"github.com/everify/everify/internal/biometric"
	"github.com/riverqueue/river/riverdriver"
)

// The dialect names that DB.Dialect returns.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Dialect describes what differs between the databases the store runs on.
type Dialect struct {
	// Name is SQLite or Postgres.
	Name string
	// NumberedParams is true when bind parameters are written $1, $2, …
	// instead of ?.
	NumberedParams bool
	// ForUpdate is appended to a SELECT that reads a row to rewrite it
	// ("FOR UPDATE" on PostgreSQL; empty for SQLite, whose immediate
	// transactions already hold the database's write lock).
	ForUpdate string
	// Classify says what a driver error means (see Condition).
	Classify func(error) Condition
	// River returns River's driver over the database, for its migrations.
	River func(*sql.DB) riverdriver.Driver[*sql.Tx]
}

// Condition is what a Dialect makes of a driver error.
type Condition int

// The conditions the store reports to clients in their own terms.
const (
	// Other is any error not listed below: an internal error.
	Other Condition = iota
	// Duplicate is a unique-constraint violation.
	Duplicate
	// Unavailable: the database is busy, refuses connections, or lost
	// the connection (it is restarting or shutting down, the network
	// broke).
	Unavailable
	// Full: the database's storage has no space left.
	Full
	// ReadOnly: the database, or the storage under it, takes no writes.
	ReadOnly
)

// Sealer encrypts what the store keeps of people's faces, and the secrets
// it keeps for tenants, with envelope encryption: Seal returns the object's
// wrapped data key and its ciphertext, bound to aad, and Open reverses it,
// failing for anything altered or moved to another row (another aad).
// *seal.Sealer implements it.
type Sealer interface {
	Seal(plaintext, aad []byte) (key, data []byte, err error)
	Open(key, data, aad []byte) ([]byte, error)
}

// Options tune a DB.
type Options struct {
	// Sealer seals every stored image (frames, reference faces) and every
	// webhook signing secret. It is required: New refuses a store without
	// one, so that nothing biometric is ever written in the clear.
	Sealer Sealer
	// Now is the clock used for the timestamps the store sets itself
	// (UpdatedAt, a missing CreatedAt, a capture's creation time, audit
	// times, erasure times). Default time.Now.
	Now func() time.Time
	// SubmitHook, when set, is called inside SubmitCapture's transaction
	// after the capture is stored and the session saved; the analysis job
	// is enqueued here (River's InsertTx takes tx). An error rolls
	// everything back and is returned by SubmitCapture unchanged, unless
	// it is an internal error that the database caused (a lost
	// connection, a full disk), which is reported as such. The hook
	// may use things built on the opened DB (a River client over SQL()),
	// since it is only called once Open has returned.
	SubmitHook func(ctx context.Context, tx *sql.Tx, sessionID string) error
	// WebhookHook, when set, is called inside the transaction that moves a
	// session to completed or failed (UpdateSession, CompleteSession) when
	// the session's tenant has a webhook, with the session as it will be
	// saved; the delivery job is enqueued here. An error rolls everything
	// back and is returned as SubmitHook's is.
	WebhookHook func(ctx context.Context, tx *sql.Tx, s *biometric.Session) error
}

// DB is a biometric.Store over a database/sql connection pool. It is safe
// for concurrent use.
type DB struct {
	db      *sql.DB
	dialect Dialect
	sealer  Sealer
	now     func() time.Time
	hook    func(ctx context.Context, tx *sql.Tx, sessionID string) error
	webhook func(ctx context.Context, tx *sql.Tx, s *biometric.Session) error
}

var _ biometric.Store = (*DB)(nil)

// New returns a store over db, whose schema must be migrated (see Migrate).
// The store owns db: Close closes it. It fails without opts.Sealer.
func New(db *sql.DB, d Dialect, opts Options) (*DB, error) {
	if opts.Sealer == nil {
		return nil, errors.New("store: no Sealer: images are only stored sealed (configure a master key)")
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &DB{db: db, dialect: d, sealer: opts.Sealer, now: now, hook: opts.SubmitHook, webhook: opts.WebhookHook}, nil
}

// SQL returns the underlying connection pool, for River's driver.
func (db *DB) SQL() *sql.DB { return db.db }

// Dialect returns SQLite or Postgres.
func (db *DB) Dialect() string { return db.dialect.Name }

// Ping reports whether the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.db.PingContext(ctx); err != nil {
		return db.dbError(err, "ping", nil)
	}
	return nil
}

// Close closes the connection pool.
func (db *DB) Close() error { return db.db.Close() }

// begin starts a transaction. A read-only one reads one snapshot
// (repeatable read on PostgreSQL; SQLite's read transactions always do, and
// its driver ignores the level) and does not take SQLite's write lock.
func (db *DB) begin(ctx context.Context, readOnly bool) (*sql.Tx, error) {
	opts := &sql.TxOptions{}
	if readOnly {
		opts = &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead}
	}
	tx, err := db.db.BeginTx(ctx, opts)
	if err != nil {
		return nil, db.dbError(err, "begin transaction", nil)
	}
	return tx, nil
}

// commit commits tx.
func (db *DB) commit(tx *sql.Tx) error {
	if err := tx.Commit(); err != nil {
		return db.dbError(err, "commit", nil)
	}
	return nil
}

// commitAudited commits tx and, in it, the audit event pending in ctx (see
// audit.Pending) if it waits for a transaction, so that an action and its
// audit record commit together or not at all. sessionID is the session the
// transaction wrote, recorded when the event names none.
func (db *DB) commitAudited(ctx context.Context, tx *sql.Tx, sessionID string) error {
	p := audit.PendingFrom(ctx)
	if p == nil {
		return db.commit(tx)
	}
	ev, ok := p.ClaimForTx()
	if !ok {
		return db.commit(tx)
	}
	if ev.SessionID == "" {
		ev.SessionID = sessionID
	}
	if err := db.insertAudit(ctx, tx, &ev); err != nil {
		p.Unclaim()
		return err
	}
	if err := db.commit(tx); err != nil {
		p.Unclaim()
		return err
	}
	return nil
}

// q rewrites a query written with ? placeholders for the dialect.
func (db *DB) q(query string) string { return db.dialect.rebind(query) }

// rebind replaces each ? with $1, $2, … in order when the dialect numbers
// its parameters. The store's queries contain no ? inside string literals.
func (d Dialect) rebind(query string) string {
	if !d.NumberedParams {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r != '?' {
			b.WriteRune(r)
			continue
		}
		n++
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}

// The errors of the conditions that are not the client's fault. Full and
// ReadOnly do not pass by themselves: they carry no Retry-After.
var (
	errBusy = biometric.Errorf(biometric.KindUnavailable, "store_unavailable",
		"The database is busy or unreachable; retry in a moment.")
	errFull = biometric.Errorf(biometric.KindUnavailable, "storage_full",
		"The server's storage is full, so nothing was saved; retry later (the operator must free disk space).")
	errReadOnly = biometric.Errorf(biometric.KindUnavailable, "storage_read_only",
		"The server's storage is read-only, so nothing was saved; retry later (the operator must make it writable).")
)

// dbError turns an error from the database into a domain error: a
// unique-constraint violation becomes unique (when given), a busy or
// unreachable database store_unavailable, a full or read-only one
// storage_full or storage_read_only, and anything else an internal error
// whose cause names op. This is the only place that looks at driver
// errors.
func (db *DB) dbError(err error, op string, unique *biometric.Error) error {
	cause := fmt.Errorf("%s: %w", op, err)
	var e biometric.Error
	switch db.dialect.Classify(err) {
	case Duplicate:
		if unique == nil {
			return biometric.Wrap(err, op)
		}
		e = *unique
	case Unavailable:
		e = *errBusy
		e.RetryAfter = time.Second
	case Full:
		e = *errFull
	case ReadOnly:
		e = *errReadOnly
	default:
		return biometric.Wrap(err, op)
	}
	e.Err = cause
	return &e
}

// hookError returns the error of a hook (SubmitHook, WebhookHook): as it
// is, unless it is an internal error caused by the database, which
// dbError classifies (a connection lost while the hook enqueued a job is
// store_unavailable, not a 500).
func (db *DB) hookError(err error, op string) error {
	if biometric.KindOf(err) != biometric.KindInternal {
		return err
	}
	if c := db.dialect.Classify(err); c == Other || c == Duplicate {
		return err
	}
	return db.dbError(err, op, nil)
}

// millis converts t to the stored form, Unix milliseconds.
func millis(t time.Time) int64 { return t.UnixMilli() }

// fromMillis converts a stored timestamp back, in UTC.
func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// nullMillis stores an optional time; nil becomes NULL.
func nullMillis(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: millis(*t), Valid: true}
}

// fromNullMillis reads an optional time back.
func fromNullMillis(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMillis(v.Int64)
	return &t
}

// sealImage encrypts image for storage, bound to aad (see the *AAD
// functions), and returns its wrapped data key and its ciphertext. Every
// stored image and secret goes through this pair.
func (db *DB) sealImage(image, aad []byte) (key, data []byte, err error) {
	return db.sealer.Seal(image, aad)
}

// openImage reverses sealImage.
func (db *DB) openImage(key, data, aad []byte) ([]byte, error) {
	return db.sealer.Open(key, data, aad)
}

// The additional authenticated data that binds each sealed object to its
// row: a sealed object copied to another row does not open.

func frameAAD(sessionID string, idx int) []byte {
	return fmt.Appendf(nil, "capture_frame\x00%s\x00%d", sessionID, idx)
}

func referenceAAD(sessionID string) []byte {
	return []byte("reference_face\x00" + sessionID)
}

func webhookSecretAAD(tenant string) []byte {
	return []byte("webhook_secret\x00" + tenant)
}
