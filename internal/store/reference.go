package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/everify/everify/internal/biometric"
)

var _ biometric.ReferenceFaceStore = (*DB)(nil)

// SaveReferenceFace stores image as session id's reference face, sealed,
// replacing any earlier one. Unknown sessions give ErrNotFound.
func (db *DB) SaveReferenceFace(ctx context.Context, id string, image []byte) error {
	sealed, err := db.sealImage(image)
	if err != nil {
		return biometric.Wrap(err, "seal reference face")
	}
	tx, err := db.begin(ctx, false)
	if err != nil {
		return err
	}
	defer tx.Rollback()

	var n int
	if err := tx.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM sessions WHERE id = ?`), id).Scan(&n); err != nil {
		return db.dbError(err, "select session", nil)
	}
	if n == 0 {
		return biometric.ErrNotFound
	}
	if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO reference_faces (session_id, image, created_at) VALUES (?, ?, ?)
		ON CONFLICT (session_id) DO UPDATE SET image = excluded.image, created_at = excluded.created_at`),
		id, sealed, millis(db.now())); err != nil {
		return db.dbError(err, "save reference face", nil)
	}
	return db.commit(tx)
}

// ReferenceFace returns session id's reference face image, or ErrNotFound.
func (db *DB) ReferenceFace(ctx context.Context, id string) ([]byte, error) {
	var sealed []byte
	err := db.db.QueryRowContext(ctx, db.q(`SELECT image FROM reference_faces WHERE session_id = ?`), id).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, biometric.ErrNotFound
	}
	if err != nil {
		return nil, db.dbError(err, "select reference face", nil)
	}
	image, err := db.openImage(sealed)
	if err != nil {
		return nil, biometric.Wrap(err, "open reference face")
	}
	return image, nil
}
