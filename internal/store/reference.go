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
	if err := db.saveReferenceFace(ctx, tx, id, image); err != nil {
		return err
	}
	return db.commit(tx)
}

// saveReferenceFace seals image and stores it as session id's reference
// face within tx.
func (db *DB) saveReferenceFace(ctx context.Context, tx *sql.Tx, id string, image []byte) error {
	key, sealed, err := db.sealImage(image, referenceAAD(id))
	if err != nil {
		return biometric.Wrap(err, "seal reference face")
	}
	if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO reference_faces (session_id, image_key, image, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (session_id) DO UPDATE SET image_key = excluded.image_key, image = excluded.image, created_at = excluded.created_at`),
		id, key, sealed, millis(db.now())); err != nil {
		return db.dbError(err, "save reference face", nil)
	}
	return nil
}

// ReferenceFace returns session id's reference face image, or ErrNotFound.
// A stored face that does not open (tampered with, or moved from another
// session's row) is an internal error.
func (db *DB) ReferenceFace(ctx context.Context, id string) ([]byte, error) {
	var key, sealed []byte
	err := db.db.QueryRowContext(ctx, db.q(`SELECT image_key, image FROM reference_faces WHERE session_id = ?`), id).Scan(&key, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, biometric.ErrNotFound
	}
	if err != nil {
		return nil, db.dbError(err, "select reference face", nil)
	}
	image, err := db.openImage(key, sealed, referenceAAD(id))
	if err != nil {
		return nil, biometric.Wrap(err, "open reference face")
	}
	return image, nil
}
