package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/everify/everify/internal/audit"
	"github.com/everify/everify/internal/biometric"
)

// failureDeleted ends a session whose biometrics were deleted before its
// analysis decided.
var failureDeleted = &biometric.Failure{Code: "biometrics_deleted", Retryable: true,
	Message: "The session's biometric data was deleted before it was analysed; start a new session to capture again."}

// DeleteBiometrics erases the biometric data of the tenant's session id —
// its frames, its capture, its reference face and the face's landmarks in
// its result — and records the erasure time (the first one: deleting again
// changes nothing and is not an error). The decision stays. A session whose
// capture was not analysed yet ends failed with biometrics_deleted, so that
// nothing is captured or analysed for it afterwards. It returns the session
// as saved; a missing session, or another tenant's, gives ErrNotFound.
func (db *DB) DeleteBiometrics(ctx context.Context, tenant, id string) (*biometric.Session, error) {
	tx, err := db.begin(ctx, false)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	s, err := db.findSession(ctx, tx, `id = ? AND tenant = ? `+db.dialect.ForUpdate, id, tenant)
	if err != nil {
		return nil, err
	}
	if err := db.erase(ctx, tx, s); err != nil {
		return nil, err
	}
	saved, err := db.findSession(ctx, tx, `id = ?`, id)
	if err != nil {
		return nil, err
	}
	if err := db.commitAudited(ctx, tx, id); err != nil {
		return nil, err
	}
	return saved, nil
}

// PurgeBiometrics erases, as DeleteBiometrics does, the biometric data of
// up to limit sessions created at or before before whose biometrics are
// still kept, oldest first, in one transaction that also writes a
// biometrics.purged audit record for each. It returns how many sessions it
// purged: fewer than limit means there are no more.
func (db *DB) PurgeBiometrics(ctx context.Context, before time.Time, limit int) (int, error) {
	tx, err := db.begin(ctx, false)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()

	rows, err := tx.QueryContext(ctx, db.q(`SELECT `+sessionColumns+` FROM sessions
		WHERE biometrics_deleted_at IS NULL AND created_at <= ? ORDER BY created_at LIMIT ? `+db.dialect.ForUpdate),
		millis(before), limit)
	if err != nil {
		return 0, db.dbError(err, "select sessions to purge", nil)
	}
	var due []*biometric.Session
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			rows.Close()
			return 0, db.dbError(err, "select sessions to purge", nil)
		}
		due = append(due, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, db.dbError(err, "select sessions to purge", nil)
	}
	for _, s := range due {
		if err := db.erase(ctx, tx, s); err != nil {
			return 0, err
		}
		if err := db.insertAudit(ctx, tx, &audit.Event{Tenant: s.Tenant, KeyID: s.KeyID, Actor: audit.ActorSystem,
			Action: audit.ActionPurged, SessionID: s.ID, Outcome: audit.OutcomeOK}); err != nil {
			return 0, err
		}
	}
	if err := db.commit(tx); err != nil {
		return 0, err
	}
	return len(due), nil
}

// erase deletes session s's biometric data within tx and saves s without
// it: the result keeps its decision but loses the reference face's
// description (landmarks are facial geometry), and an undecided session
// ends failed.
func (db *DB) erase(ctx context.Context, tx *sql.Tx, s *biometric.Session) error {
	for _, table := range []string{"capture_frames", "captures", "reference_faces"} {
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM `+table+` WHERE session_id = ?`), s.ID); err != nil {
			return db.dbError(err, "delete "+table, nil)
		}
	}
	now := db.now()
	if s.Result != nil {
		s.Result.ReferenceFace = nil
	}
	if !s.Status.Terminal() {
		s.Status, s.Failure, s.CompletedAt = biometric.StatusFailed, failureDeleted, &now
	}
	if err := db.saveSession(ctx, tx, s.ID, s); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, db.q(`UPDATE sessions SET biometrics_deleted_at = ? WHERE id = ? AND biometrics_deleted_at IS NULL`),
		millis(now), s.ID); err != nil {
		return db.dbError(err, "mark biometrics deleted", nil)
	}
	return nil
}

// PurgeSessions deletes up to limit sessions (decisions) created at or
// before before, oldest first, whose biometrics were erased already, and
// returns how many it deleted.
func (db *DB) PurgeSessions(ctx context.Context, before time.Time, limit int) (int64, error) {
	return db.execCount(ctx, "purge sessions", `DELETE FROM sessions WHERE id IN (
		SELECT id FROM sessions WHERE created_at <= ? AND biometrics_deleted_at IS NOT NULL ORDER BY created_at LIMIT ?)`,
		millis(before), limit)
}

// PurgeAudit deletes up to limit audit records from at or before before,
// oldest first, and returns how many it deleted. It is the only statement
// that removes audit records.
func (db *DB) PurgeAudit(ctx context.Context, before time.Time, limit int) (int64, error) {
	return db.execCount(ctx, "purge audit log", `DELETE FROM audit_log WHERE id IN (
		SELECT id FROM audit_log WHERE at <= ? ORDER BY id LIMIT ?)`, millis(before), limit)
}

// execCount runs one statement and returns the rows it affected.
func (db *DB) execCount(ctx context.Context, op, query string, args ...any) (int64, error) {
	res, err := db.db.ExecContext(ctx, db.q(query), args...)
	if err != nil {
		return 0, db.dbError(err, op, nil)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, db.dbError(err, op, nil)
	}
	return n, nil
}

// DeviceFailures returns how many of the latest decided sessions of the
// tenant's device (looking at no more than max) failed the liveness check
// in a row, most recent first, and when the most recent of them was
// decided. A live decision ends the streak.
func (db *DB) DeviceFailures(ctx context.Context, tenant, deviceID string, max int) (streak int, last time.Time, err error) {
	if deviceID == "" {
		return 0, time.Time{}, nil
	}
	rows, err := db.db.QueryContext(ctx, db.q(`SELECT live, COALESCE(completed_at, updated_at) FROM sessions
		WHERE tenant = ? AND device_id = ? AND device_id <> '' AND live IS NOT NULL
		ORDER BY completed_at DESC LIMIT ?`), tenant, deviceID, max)
	if err != nil {
		return 0, time.Time{}, db.dbError(err, "select device decisions", nil)
	}
	defer rows.Close()
	for rows.Next() {
		var live, at int64
		if err := rows.Scan(&live, &at); err != nil {
			return 0, time.Time{}, db.dbError(err, "select device decisions", nil)
		}
		if live != 0 {
			break
		}
		if streak == 0 {
			last = fromMillis(at)
		}
		streak++
	}
	if err := rows.Err(); err != nil {
		return 0, time.Time{}, db.dbError(err, "select device decisions", nil)
	}
	return streak, last, nil
}
