-- Capture parameters issued with each session, sessions' reference faces,
-- and an index for the sweep that expires abandoned sessions.

ALTER TABLE sessions ADD COLUMN capture_params TEXT NOT NULL DEFAULT '{}';  -- JSON

CREATE INDEX sessions_open_by_expiry ON sessions (expires_at)
	WHERE status IN ('created', 'in_progress');

CREATE TABLE reference_faces (
	session_id TEXT PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
	image      BLOB NOT NULL,  -- passed through the store's seal/open pair
	created_at INTEGER NOT NULL
);
