package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/everify/everify/internal/biometric"
)

// errCaptureExists is SubmitCapture's answer to a second capture.
var errCaptureExists = biometric.Errorf(biometric.KindConflict, "capture_already_submitted",
	"This session's capture has already been submitted; start a new session to capture again.")

// errDuplicateFrame is SubmitCapture's answer to two frames with one index.
var errDuplicateFrame = biometric.Errorf(biometric.KindInvalid, "duplicate_frame_index",
	"Two frames have the same index; number the frames 0, 1, 2, … and upload again.")

// AppendFrames stores a batch of frames of session id and, in the same
// transaction, calls check with the locked session and saves what check left
// in it. If check fails nothing is stored and its error is returned
// unchanged. A frame index that was stored before gives a
// duplicate_frame_index error. Unknown IDs give ErrNotFound.
func (db *DB) AppendFrames(ctx context.Context, id string, frames []biometric.Frame, check func(*biometric.Session) error) (*biometric.Session, error) {
	tx, err := db.begin(ctx, false)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	s, err := db.lockSession(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if err := check(s); err != nil {
		return nil, err
	}
	if err := db.insertFrames(ctx, tx, id, frames); err != nil {
		return nil, err
	}
	if err := db.saveSession(ctx, tx, id, s); err != nil {
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

// SubmitCapture stores the capture of session id and, in the same
// transaction, calls check with the locked session, saves what check left in
// it and runs the submit hook. If check or the hook fails nothing is stored
// and that error is returned (the hook's as Options.SubmitHook says). A
// session has at most one capture: a second one gives a
// capture_already_submitted conflict. Unknown IDs give ErrNotFound. It
// returns the session as saved.
func (db *DB) SubmitCapture(ctx context.Context, id string, c *biometric.Capture, check func(*biometric.Session) error) (*biometric.Session, error) {
	tx, err := db.begin(ctx, false)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	s, err := db.lockSession(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if err := check(s); err != nil {
		return nil, err
	}
	if err := db.insertCapture(ctx, tx, id, c); err != nil {
		return nil, err
	}
	if err := db.saveSession(ctx, tx, id, s); err != nil {
		return nil, err
	}
	if db.hook != nil {
		if err := db.hook(ctx, tx, id); err != nil {
			return nil, db.hookError(err, "submit hook")
		}
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

// Capture returns the stored capture of session id, frames in index order,
// or ErrNotFound (also once the capture was deleted).
func (db *DB) Capture(ctx context.Context, id string) (*biometric.Capture, error) {
	tx, err := db.begin(ctx, true)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	var prompts, client, light string
	err = tx.QueryRowContext(ctx, db.q(`SELECT prompts, client, light FROM captures WHERE session_id = ?`), id).Scan(&prompts, &client, &light)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, biometric.ErrNotFound
	}
	if err != nil {
		return nil, db.dbError(err, "select capture", nil)
	}
	var c biometric.Capture
	if err := json.Unmarshal([]byte(prompts), &c.PromptsMS); err != nil {
		return nil, biometric.Wrap(err, "decode capture prompts")
	}
	if err := json.Unmarshal([]byte(client), &c.Client); err != nil {
		return nil, biometric.Wrap(err, "decode capture client")
	}
	if err := json.Unmarshal([]byte(light), &c.Light); err != nil {
		return nil, biometric.Wrap(err, "decode capture light")
	}
	if len(c.Light) == 0 {
		c.Light = nil
	}
	if c.Frames, err = db.frames(ctx, tx, id); err != nil {
		return nil, err
	}
	if err := db.commit(tx); err != nil {
		return nil, err
	}
	return &c, nil
}

// DeleteCapture erases the capture of session id and its frames. Deleting
// a missing capture is not an error.
func (db *DB) DeleteCapture(ctx context.Context, id string) error {
	tx, err := db.begin(ctx, false)
	if err != nil {
		return err
	}
	defer tx.Rollback()

	if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM capture_frames WHERE session_id = ?`), id); err != nil {
		return db.dbError(err, "delete capture frames", nil)
	}
	if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM captures WHERE session_id = ?`), id); err != nil {
		return db.dbError(err, "delete capture", nil)
	}
	return db.commit(tx)
}

// insertCapture stores c as the capture of session id, unless it has one.
func (db *DB) insertCapture(ctx context.Context, tx *sql.Tx, id string, c *biometric.Capture) error {
	var n int
	if err := tx.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM captures WHERE session_id = ?`), id).Scan(&n); err != nil {
		return db.dbError(err, "select capture", nil)
	}
	if n > 0 {
		return errCaptureExists
	}
	prompts, err := json.Marshal(c.PromptsMS)
	if err != nil {
		return biometric.Wrap(err, "encode capture prompts")
	}
	client, err := json.Marshal(c.Client)
	if err != nil {
		return biometric.Wrap(err, "encode capture client")
	}
	light, err := json.Marshal(nonNil(c.Light))
	if err != nil {
		return biometric.Wrap(err, "encode capture light")
	}
	if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO captures (session_id, prompts, client, light, created_at) VALUES (?, ?, ?, ?, ?)`),
		id, string(prompts), string(client), string(light), millis(db.now())); err != nil {
		return db.dbError(err, "insert capture", errCaptureExists)
	}
	return db.insertFrames(ctx, tx, id, c.Frames)
}

// insertFrames stores frames as part of session id's capture.
func (db *DB) insertFrames(ctx context.Context, tx *sql.Tx, id string, frames []biometric.Frame) error {
	stmt, err := tx.PrepareContext(ctx, db.q(`INSERT INTO capture_frames (session_id, idx, at_ms, content_type, image_key, image) VALUES (?, ?, ?, ?, ?, ?)`))
	if err != nil {
		return db.dbError(err, "prepare frame insert", nil)
	}
	defer stmt.Close()
	for _, f := range frames {
		key, image, err := db.sealImage(f.Image, frameAAD(id, f.Index))
		if err != nil {
			return biometric.Wrap(err, "seal frame image")
		}
		if _, err := stmt.ExecContext(ctx, id, f.Index, f.AtMS, f.ContentType, key, image); err != nil {
			return db.dbError(err, fmt.Sprintf("insert frame %d", f.Index), errDuplicateFrame)
		}
	}
	return nil
}

// frames returns the frames of session id's capture in index order.
func (db *DB) frames(ctx context.Context, tx *sql.Tx, id string) ([]biometric.Frame, error) {
	rows, err := tx.QueryContext(ctx, db.q(`SELECT idx, at_ms, content_type, image_key, image FROM capture_frames WHERE session_id = ? ORDER BY idx`), id)
	if err != nil {
		return nil, db.dbError(err, "select capture frames", nil)
	}
	defer rows.Close()
	var frames []biometric.Frame
	for rows.Next() {
		var f biometric.Frame
		var key, sealed []byte
		if err := rows.Scan(&f.Index, &f.AtMS, &f.ContentType, &key, &sealed); err != nil {
			return nil, db.dbError(err, "select capture frames", nil)
		}
		if f.Image, err = db.openImage(key, sealed, frameAAD(id, f.Index)); err != nil {
			return nil, biometric.Wrap(err, "open frame image")
		}
		frames = append(frames, f)
	}
	if err := rows.Err(); err != nil {
		return nil, db.dbError(err, "select capture frames", nil)
	}
	return frames, nil
}
