package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/everify/everify/internal/biometric"
)

// errSessionExists is CreateSession's conflict: the ID or the token hash is
// taken (a repeated client_session_token is not a conflict).
var errSessionExists = biometric.Errorf(biometric.KindConflict, "session_exists",
	"A session with this ID or session token already exists; start the session again.")

const sessionColumns = `id, tenant, key_id, client_session_token, status, challenge, token_hash,
	created_at, updated_at, expires_at, completed_at, result, failure, metadata, upload, capture_params,
	consent_reference, device_id, biometrics_deleted_at`

// CreateSession inserts s, or returns the tenant's existing session with
// the same ClientSessionToken and created=false. Concurrent calls with the
// same token create one session, which they all return. A zero CreatedAt
// is taken from the store's clock and a zero UpdatedAt from CreatedAt.
func (db *DB) CreateSession(ctx context.Context, s *biometric.Session) (*biometric.Session, bool, error) {
	row, err := encodeSession(s)
	if err != nil {
		return nil, false, err
	}
	created := s.CreatedAt
	if created.IsZero() {
		created = db.now()
	}
	if s.UpdatedAt.IsZero() {
		row.updated = millis(created)
	}

	tx, err := db.begin(ctx, false)
	if err != nil {
		return nil, false, err
	}
	defer tx.Rollback()

	// ON CONFLICT waits for a concurrent insert of the same token and
	// then skips; the SELECT below sees the winner's row.
	res, err := tx.ExecContext(ctx, db.q(`INSERT INTO sessions (`+sessionColumns+`, live)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant, client_session_token) DO NOTHING`),
		s.ID, s.Tenant, s.KeyID, s.ClientSessionToken, string(s.Status), row.challenge, s.TokenHash,
		millis(created), row.updated, millis(s.ExpiresAt), nullMillis(s.CompletedAt), row.result, row.failure, row.metadata, row.upload,
		row.captureParams, s.ConsentReference, s.DeviceID, nullMillis(s.BiometricsDeletedAt), row.live)
	if err != nil {
		return nil, false, db.dbError(err, "insert session", errSessionExists)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return nil, false, db.dbError(err, "insert session", nil)
	}
	got, err := db.findSession(ctx, tx, `tenant = ? AND client_session_token = ?`, s.Tenant, s.ClientSessionToken)
	if err != nil {
		return nil, false, err
	}
	// Only a new session is an action to audit: returning the existing
	// one wrote nothing, and what the caller does with it next will be.
	if n == 1 {
		err = db.commitAudited(ctx, tx, got.ID)
	} else {
		err = db.commit(tx)
	}
	if err != nil {
		return nil, false, err
	}
	return got, n == 1, nil
}

// Session returns the tenant's session with the given ID, or ErrNotFound
// (also for another tenant's session).
func (db *DB) Session(ctx context.Context, tenant, id string) (*biometric.Session, error) {
	return db.findSession(ctx, db.db, `id = ? AND tenant = ?`, id, tenant)
}

// SessionByTokenHash returns the session whose session token has the given
// hash, or ErrNotFound.
func (db *DB) SessionByTokenHash(ctx context.Context, hash []byte) (*biometric.Session, error) {
	return db.findSession(ctx, db.db, `token_hash = ?`, hash)
}

// SessionByID returns the session with the given ID whatever its tenant, or
// ErrNotFound. It is for the background workers, which act on behalf of
// the service; request handlers use Session, which is scoped to a tenant.
func (db *DB) SessionByID(ctx context.Context, id string) (*biometric.Session, error) {
	return db.findSession(ctx, db.db, `id = ?`, id)
}

// ExpireSessions moves every session still waiting for its capture
// (created or in_progress) whose deadline is at or before now to expired,
// and returns how many it moved. It is one indexed UPDATE.
func (db *DB) ExpireSessions(ctx context.Context, now time.Time) (int64, error) {
	res, err := db.db.ExecContext(ctx, db.q(`UPDATE sessions SET status = ?, updated_at = ?
		WHERE status IN (?, ?) AND expires_at <= ?`),
		string(biometric.StatusExpired), millis(db.now()),
		string(biometric.StatusCreated), string(biometric.StatusInProgress), millis(now))
	if err != nil {
		return 0, db.dbError(err, "expire sessions", nil)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, db.dbError(err, "expire sessions", nil)
	}
	return n, nil
}

// UpdateSession loads the session under a write lock, calls fn with it and
// saves what fn left in it, all in one transaction, and returns the session
// as saved. UpdatedAt is set from the store's clock. fn may rotate the
// session token (TokenHash; a hash that another session has gives a
// session_exists conflict) but cannot change the session's identity (ID,
// tenant, key, client session token, CreatedAt), its consent reference and
// device id, or when its biometrics were deleted (DeleteBiometrics and
// PurgeBiometrics set that). When fn moves the session to completed or
// failed, the webhook hook runs in the same transaction. If fn returns an
// error nothing is saved and that error is returned unchanged. Unknown IDs
// give ErrNotFound.
func (db *DB) UpdateSession(ctx context.Context, id string, fn func(*biometric.Session) error) (*biometric.Session, error) {
	return db.CompleteSession(ctx, id, nil, fn)
}

// CompleteSession is UpdateSession for the end of an analysis: when fn
// leaves the session completed and judged live and face is not empty, face
// is stored (sealed) as the session's reference face in the same
// transaction, replacing any earlier one. Storing the face and the decision
// together means that a session whose biometrics were deleted meanwhile
// (and so is no longer processing, which fn checks) never gets a face
// again.
func (db *DB) CompleteSession(ctx context.Context, id string, face []byte, fn func(*biometric.Session) error) (*biometric.Session, error) {
	tx, err := db.begin(ctx, false)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	s, err := db.lockSession(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	before := s.Status
	if err := fn(s); err != nil {
		return nil, err
	}
	if err := db.saveSession(ctx, tx, id, s); err != nil {
		return nil, err
	}
	if len(face) > 0 && s.Status == biometric.StatusCompleted && s.Result != nil && s.Result.IsLive {
		if err := db.saveReferenceFace(ctx, tx, id, face); err != nil {
			return nil, err
		}
	}
	saved, err := db.findSession(ctx, tx, `id = ?`, id)
	if err != nil {
		return nil, err
	}
	if err := db.ended(ctx, tx, before, saved); err != nil {
		return nil, err
	}
	if err := db.commitAudited(ctx, tx, id); err != nil {
		return nil, err
	}
	return saved, nil
}

// ended runs the webhook hook in tx when s has just moved from before to
// completed or failed and its tenant has a webhook.
func (db *DB) ended(ctx context.Context, tx *sql.Tx, before biometric.SessionStatus, s *biometric.Session) error {
	if db.webhook == nil || before.Terminal() || (s.Status != biometric.StatusCompleted && s.Status != biometric.StatusFailed) {
		return nil
	}
	var n int
	if err := tx.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM tenant_webhooks WHERE tenant = ?`), s.Tenant).Scan(&n); err != nil {
		return db.dbError(err, "select tenant webhook", nil)
	}
	if n == 0 {
		return nil
	}
	return db.hookError(db.webhook(ctx, tx, s), "webhook hook")
}

// querier is a *sql.DB or *sql.Tx.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// findSession returns the one session matching where, or ErrNotFound.
func (db *DB) findSession(ctx context.Context, q querier, where string, args ...any) (*biometric.Session, error) {
	s, err := scanSession(q.QueryRowContext(ctx, db.q(`SELECT `+sessionColumns+` FROM sessions WHERE `+where), args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, biometric.ErrNotFound
	}
	if err != nil {
		return nil, db.dbError(err, "select session", nil)
	}
	return s, nil
}

// lockSession reads session id for rewriting within tx, or ErrNotFound.
func (db *DB) lockSession(ctx context.Context, tx *sql.Tx, id string) (*biometric.Session, error) {
	return db.findSession(ctx, tx, `id = ? `+db.dialect.ForUpdate, id)
}

// saveSession writes the mutable fields of s to session id, with
// UpdatedAt from the store's clock.
func (db *DB) saveSession(ctx context.Context, tx *sql.Tx, id string, s *biometric.Session) error {
	row, err := encodeSession(s)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, db.q(`UPDATE sessions SET status = ?, challenge = ?, token_hash = ?, updated_at = ?, expires_at = ?,
		completed_at = ?, result = ?, failure = ?, metadata = ?, upload = ?, capture_params = ?, live = ? WHERE id = ?`),
		string(s.Status), row.challenge, s.TokenHash, millis(db.now()), millis(s.ExpiresAt),
		nullMillis(s.CompletedAt), row.result, row.failure, row.metadata, row.upload, row.captureParams, row.live, id)
	if err != nil {
		return db.dbError(err, "update session", errSessionExists)
	}
	return nil
}

// sessionRow holds the encoded columns of a session that need encoding.
type sessionRow struct {
	challenge, metadata, upload, captureParams string
	result, failure                            sql.NullString
	updated                                    int64
	live                                       sql.NullInt64 // the decision, kept apart for the device failure count
}

// encodeSession encodes the JSON columns of s.
func encodeSession(s *biometric.Session) (sessionRow, error) {
	row := sessionRow{updated: millis(s.UpdatedAt)}
	if s.Status == biometric.StatusCompleted && s.Result != nil {
		row.live = sql.NullInt64{Valid: true}
		if s.Result.IsLive {
			row.live.Int64 = 1
		}
	}
	challenge, err := json.Marshal(s.Challenge)
	if err != nil {
		return row, biometric.Wrap(err, "encode session challenge")
	}
	metadata, err := json.Marshal(s.Metadata)
	if err != nil {
		return row, biometric.Wrap(err, "encode session metadata")
	}
	upload, err := json.Marshal(s.Upload)
	if err != nil {
		return row, biometric.Wrap(err, "encode session upload")
	}
	captureParams, err := json.Marshal(s.CaptureParams)
	if err != nil {
		return row, biometric.Wrap(err, "encode session capture parameters")
	}
	row.challenge, row.metadata, row.upload = string(challenge), string(metadata), string(upload)
	row.captureParams = string(captureParams)
	if row.result, err = nullJSON(s.Result); err != nil {
		return row, biometric.Wrap(err, "encode session result")
	}
	if row.failure, err = nullJSON(s.Failure); err != nil {
		return row, biometric.Wrap(err, "encode session failure")
	}
	return row, nil
}

// nullJSON encodes an optional value; nil becomes NULL.
func nullJSON[T any](v *T) (sql.NullString, error) {
	if v == nil {
		return sql.NullString{}, nil
	}
	b, err := json.Marshal(v)
	return sql.NullString{String: string(b), Valid: true}, err
}

// scanSession reads one sessions row selected with sessionColumns.
func scanSession(row scanner) (*biometric.Session, error) {
	var (
		s                           biometric.Session
		status, challenge, metadata string
		upload, captureParams       string
		result, failure             sql.NullString
		created, updated, expires   int64
		completed, deleted          sql.NullInt64
	)
	if err := row.Scan(&s.ID, &s.Tenant, &s.KeyID, &s.ClientSessionToken, &status, &challenge, &s.TokenHash,
		&created, &updated, &expires, &completed, &result, &failure, &metadata, &upload, &captureParams,
		&s.ConsentReference, &s.DeviceID, &deleted); err != nil {
		return nil, err
	}
	s.Status = biometric.SessionStatus(status)
	s.CreatedAt, s.UpdatedAt, s.ExpiresAt = fromMillis(created), fromMillis(updated), fromMillis(expires)
	s.CompletedAt = fromNullMillis(completed)
	s.BiometricsDeletedAt = fromNullMillis(deleted)
	if err := json.Unmarshal([]byte(challenge), &s.Challenge); err != nil {
		return nil, fmt.Errorf("session %s: decode challenge: %w", s.ID, err)
	}
	if err := json.Unmarshal([]byte(metadata), &s.Metadata); err != nil {
		return nil, fmt.Errorf("session %s: decode metadata: %w", s.ID, err)
	}
	if err := json.Unmarshal([]byte(upload), &s.Upload); err != nil {
		return nil, fmt.Errorf("session %s: decode upload: %w", s.ID, err)
	}
	if err := json.Unmarshal([]byte(captureParams), &s.CaptureParams); err != nil {
		return nil, fmt.Errorf("session %s: decode capture parameters: %w", s.ID, err)
	}
	if result.Valid {
		if err := json.Unmarshal([]byte(result.String), &s.Result); err != nil {
			return nil, fmt.Errorf("session %s: decode result: %w", s.ID, err)
		}
	}
	if failure.Valid {
		if err := json.Unmarshal([]byte(failure.String), &s.Failure); err != nil {
			return nil, fmt.Errorf("session %s: decode failure: %w", s.ID, err)
		}
	}
	return &s, nil
}
