package store

import (
	"context"
	"fmt"
	"strings"
)

// sealedTable is a table that holds sealed objects: its primary key and
// the column with each object's wrapped data key.
type sealedTable struct {
	name   string
	pk     []string
	keyCol string
}

// sealedTables lists every place a wrapped data key is stored.
var sealedTables = []sealedTable{
	{name: "capture_frames", pk: []string{"session_id", "idx"}, keyCol: "image_key"},
	{name: "reference_faces", pk: []string{"session_id"}, keyCol: "image_key"},
	{name: "tenant_webhooks", pk: []string{"tenant"}, keyCol: "secret_key"},
}

// RewrapKeys passes every wrapped data key in the database to rewrap and
// stores what it returns in place of the key (nil leaves the key as it
// is), for a batch of rows per transaction, and returns how many keys it
// replaced. Only the small key columns are written: the sealed images stay
// as they are. A row whose key changed meanwhile (replaced by a concurrent
// write, sealed under the current primary key) is left alone, so that the
// service may keep running.
func (db *DB) RewrapKeys(ctx context.Context, rewrap func(key []byte) ([]byte, error), batch int) (int, error) {
	replaced := 0
	for _, t := range sealedTables {
		n, err := db.rewrapTable(ctx, t, rewrap, batch)
		replaced += n
		if err != nil {
			return replaced, fmt.Errorf("re-wrapping %s: %w", t.name, err)
		}
	}
	return replaced, nil
}

// sealedRow is one row's primary key and wrapped data key.
type sealedRow struct {
	pk  []any
	key []byte
}

// rewrapTable re-wraps the keys of one table, walking it in primary key
// order.
func (db *DB) rewrapTable(ctx context.Context, t sealedTable, rewrap func([]byte) ([]byte, error), batch int) (int, error) {
	cols := strings.Join(t.pk, ", ")
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(t.pk)), ", ")
	var match []string
	for _, c := range t.pk {
		match = append(match, c+" = ?")
	}
	update := db.q(`UPDATE ` + t.name + ` SET ` + t.keyCol + ` = ? WHERE ` + strings.Join(match, " AND ") + ` AND ` + t.keyCol + ` = ?`)
	replaced := 0
	var after []any
	for {
		page, err := db.sealedPage(ctx, t, cols, marks, after, batch)
		if err != nil || len(page) == 0 {
			return replaced, err
		}
		n, err := db.rewrapPage(ctx, update, page, rewrap)
		replaced += n
		if err != nil {
			return replaced, err
		}
		if len(page) < batch {
			return replaced, nil
		}
		after = page[len(page)-1].pk
	}
}

// sealedPage reads up to batch rows of t after the primary key after (from
// the start when nil).
func (db *DB) sealedPage(ctx context.Context, t sealedTable, cols, marks string, after []any, batch int) ([]sealedRow, error) {
	where := ""
	if after != nil {
		where = `WHERE (` + cols + `) > (` + marks + `)`
	}
	rows, err := db.db.QueryContext(ctx, db.q(`SELECT `+cols+`, `+t.keyCol+` FROM `+t.name+` `+where+` ORDER BY `+cols+` LIMIT ?`),
		append(after, batch)...)
	if err != nil {
		return nil, db.dbError(err, "select wrapped keys", nil)
	}
	defer rows.Close()
	var page []sealedRow
	for rows.Next() {
		r := sealedRow{pk: make([]any, len(t.pk))}
		dest := make([]any, len(t.pk)+1)
		for i := range r.pk {
			dest[i] = &r.pk[i]
		}
		dest[len(t.pk)] = &r.key
		if err := rows.Scan(dest...); err != nil {
			return nil, db.dbError(err, "select wrapped keys", nil)
		}
		page = append(page, r)
	}
	if err := rows.Err(); err != nil {
		return nil, db.dbError(err, "select wrapped keys", nil)
	}
	return page, nil
}

// rewrapPage re-wraps one page of keys in one transaction.
func (db *DB) rewrapPage(ctx context.Context, update string, page []sealedRow, rewrap func([]byte) ([]byte, error)) (int, error) {
	tx, err := db.begin(ctx, false)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	replaced := 0
	for _, r := range page {
		key, err := rewrap(r.key)
		if err != nil {
			return 0, err
		}
		if key == nil {
			continue
		}
		args := append(append([]any{key}, r.pk...), r.key)
		res, err := tx.ExecContext(ctx, update, args...)
		if err != nil {
			return 0, db.dbError(err, "replace wrapped key", nil)
		}
		if n, err := res.RowsAffected(); err == nil && n == 1 {
			replaced++
		}
	}
	if err := db.commit(tx); err != nil {
		return 0, err
	}
	return replaced, nil
}

// MasterKeyUsage counts the wrapped data keys in the database by the id of
// the master key that wrapped them (keyID reads it from a key).
func (db *DB) MasterKeyUsage(ctx context.Context, keyID func(key []byte) (string, error)) (map[string]int, error) {
	usage := map[string]int{}
	for _, t := range sealedTables {
		if err := db.countKeys(ctx, t, keyID, usage); err != nil {
			return nil, err
		}
	}
	return usage, nil
}

// countKeys adds the keys of one table to usage.
func (db *DB) countKeys(ctx context.Context, t sealedTable, keyID func([]byte) (string, error), usage map[string]int) error {
	rows, err := db.db.QueryContext(ctx, `SELECT `+t.keyCol+` FROM `+t.name)
	if err != nil {
		return db.dbError(err, "select wrapped keys", nil)
	}
	defer rows.Close()
	for rows.Next() {
		var key []byte
		if err := rows.Scan(&key); err != nil {
			return db.dbError(err, "select wrapped keys", nil)
		}
		id, err := keyID(key)
		if err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		usage[id]++
	}
	if err := rows.Err(); err != nil {
		return db.dbError(err, "select wrapped keys", nil)
	}
	return nil
}
