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

// errKeyExists is CreateKey's conflict.
var errKeyExists = biometric.Errorf(biometric.KindConflict, "api_key_exists",
	"An API key with this ID or hash already exists; generate a new key.")

const keyColumns = `id, tenant, mode, prefix, hash, scopes, created_at, revoked_at`

// CreateKey inserts k. A duplicate ID or hash gives an api_key_exists
// conflict.
func (db *DB) CreateKey(ctx context.Context, k *biometric.APIKey) error {
	scopes, err := json.Marshal(k.Scopes)
	if err != nil {
		return biometric.Wrap(err, "encode key scopes")
	}
	_, err = db.db.ExecContext(ctx, db.q(`INSERT INTO api_keys (`+keyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		k.ID, k.Tenant, string(k.Mode), k.Prefix, k.Hash, string(scopes), millis(k.CreatedAt), nullMillis(k.RevokedAt))
	if err != nil {
		return db.dbError(err, "insert api key", errKeyExists)
	}
	return nil
}

// KeyByHash returns the key with the given hash, revoked or not, or
// ErrNotFound.
func (db *DB) KeyByHash(ctx context.Context, hash []byte) (*biometric.APIKey, error) {
	k, err := scanKey(db.db.QueryRowContext(ctx, db.q(`SELECT `+keyColumns+` FROM api_keys WHERE hash = ?`), hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, biometric.ErrNotFound
	}
	if err != nil {
		return nil, db.dbError(err, "select api key", nil)
	}
	return k, nil
}

// ListKeys returns every key, oldest first.
func (db *DB) ListKeys(ctx context.Context) ([]*biometric.APIKey, error) {
	return queryList(ctx, db, "list api keys", `SELECT `+keyColumns+` FROM api_keys ORDER BY created_at, id`, scanKey)
}

// RevokeKey marks the key revoked at the given time. A key that is revoked
// already keeps its first revocation time. Unknown IDs give ErrNotFound.
func (db *DB) RevokeKey(ctx context.Context, id string, at time.Time) error {
	tx, err := db.begin(ctx, false)
	if err != nil {
		return err
	}
	defer tx.Rollback()

	var revoked sql.NullInt64
	err = tx.QueryRowContext(ctx, db.q(`SELECT revoked_at FROM api_keys WHERE id = ? `+db.dialect.ForUpdate), id).Scan(&revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return biometric.ErrNotFound
	}
	if err != nil {
		return db.dbError(err, "select api key", nil)
	}
	if revoked.Valid {
		return nil
	}
	if _, err := tx.ExecContext(ctx, db.q(`UPDATE api_keys SET revoked_at = ? WHERE id = ?`), millis(at), id); err != nil {
		return db.dbError(err, "revoke api key", nil)
	}
	return db.commit(tx)
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// queryList runs a query (already in the dialect's placeholders) and
// returns its rows read with scan; errors are reported as the store
// operation what.
func queryList[T any](ctx context.Context, db *DB, what, query string, scan func(scanner) (T, error), args ...any) ([]T, error) {
	rows, err := db.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, db.dbError(err, what, nil)
	}
	defer rows.Close()
	var list []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, db.dbError(err, what, nil)
		}
		list = append(list, v)
	}
	if err := rows.Err(); err != nil {
		return nil, db.dbError(err, what, nil)
	}
	return list, nil
}

// scanKey reads one api_keys row selected with keyColumns.
func scanKey(row scanner) (*biometric.APIKey, error) {
	var (
		k            biometric.APIKey
		mode, scopes string
		created      int64
		revoked      sql.NullInt64
	)
	if err := row.Scan(&k.ID, &k.Tenant, &mode, &k.Prefix, &k.Hash, &scopes, &created, &revoked); err != nil {
		return nil, err
	}
	k.Mode = biometric.KeyMode(mode)
	k.CreatedAt = fromMillis(created)
	k.RevokedAt = fromNullMillis(revoked)
	if err := json.Unmarshal([]byte(scopes), &k.Scopes); err != nil {
		return nil, fmt.Errorf("key %s: decode scopes: %w", k.ID, err)
	}
	return &k, nil
}
