package store

import (
	"cmp"
	"context"
	"database/sql"
	"time"

	"github.com/everify/everify/internal/audit"
)

// execer is a *sql.DB or *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// AppendAudit records ev on its own (an action that wrote nothing, or one
// refused before it did). A zero At is taken from the store's clock and an
// empty Outcome is OutcomeOK. Audit records are only ever inserted.
func (db *DB) AppendAudit(ctx context.Context, ev *audit.Event) error {
	return db.insertAudit(ctx, db.db, ev)
}

// insertAudit inserts ev through q.
func (db *DB) insertAudit(ctx context.Context, q execer, ev *audit.Event) error {
	at := ev.At
	if at.IsZero() {
		at = db.now()
	}
	_, err := q.ExecContext(ctx, db.q(`INSERT INTO audit_log (at, tenant, key_id, actor, action, route, session_id, request_id, outcome, decision)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		millis(at), ev.Tenant, ev.KeyID, string(ev.Actor), ev.Action, ev.Route, ev.SessionID, ev.RequestID,
		cmp.Or(ev.Outcome, audit.OutcomeOK), ev.Decision)
	if err != nil {
		return db.dbError(err, "insert audit record", nil)
	}
	return nil
}

// AuditFilter selects audit records.
type AuditFilter struct {
	Since time.Time // records at or after (zero: from the first)
	Until time.Time // records before (zero: to the last)
	// Tenant, when set, selects one tenant's records.
	Tenant string
}

// auditPage is how many records AuditEvents reads per query.
const auditPage = 1000

// AuditEvents calls fn with every record that f selects, in insertion
// order, reading them a page at a time. An error from fn stops the walk and
// is returned.
func (db *DB) AuditEvents(ctx context.Context, f AuditFilter, fn func(*audit.Event) error) error {
	until := int64(1<<63 - 1)
	if !f.Until.IsZero() {
		until = millis(f.Until)
	}
	after := int64(0)
	for {
		rows, err := db.db.QueryContext(ctx, db.q(`SELECT id, at, tenant, key_id, actor, action, route, session_id, request_id, outcome, decision
			FROM audit_log WHERE id > ? AND at >= ? AND at < ? AND (? = '' OR tenant = ?) ORDER BY id LIMIT ?`),
			after, millis(f.Since), until, f.Tenant, f.Tenant, auditPage)
		if err != nil {
			return db.dbError(err, "select audit records", nil)
		}
		var page []*audit.Event
		for rows.Next() {
			var (
				ev    audit.Event
				at    int64
				actor string
			)
			if err := rows.Scan(&ev.ID, &at, &ev.Tenant, &ev.KeyID, &actor, &ev.Action, &ev.Route, &ev.SessionID,
				&ev.RequestID, &ev.Outcome, &ev.Decision); err != nil {
				rows.Close()
				return db.dbError(err, "select audit records", nil)
			}
			ev.At, ev.Actor = fromMillis(at), audit.Actor(actor)
			page = append(page, &ev)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return db.dbError(err, "select audit records", nil)
		}
		for _, ev := range page {
			if err := fn(ev); err != nil {
				return err
			}
		}
		if len(page) < auditPage {
			return nil
		}
		after = page[len(page)-1].ID
	}
}
