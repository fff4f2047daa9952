-- Data protection: sealed images (each beside its wrapped data key),
-- erasure and retention, consent references and device ids on sessions,
-- the append-only audit log, rate limits shared by the processes on the
-- database, and tenants' webhooks. Timestamps are Unix milliseconds.

-- Images stored before sealing were plaintext at rest. They are deleted
-- rather than kept: they are at most a day's captures, which the retention
-- job would delete anyway.
DELETE FROM capture_frames;
DELETE FROM reference_faces;
ALTER TABLE capture_frames ADD COLUMN image_key BLOB NOT NULL DEFAULT x'';   -- the wrapped data key of image
ALTER TABLE reference_faces ADD COLUMN image_key BLOB NOT NULL DEFAULT x'';

ALTER TABLE sessions ADD COLUMN consent_reference TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN device_id TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN live INTEGER;                  -- 1 or 0 once completed with a result
ALTER TABLE sessions ADD COLUMN biometrics_deleted_at INTEGER;  -- erased on request or by retention

CREATE INDEX sessions_by_device ON sessions (tenant, device_id, completed_at) WHERE device_id <> '';
CREATE INDEX sessions_with_biometrics ON sessions (created_at) WHERE biometrics_deleted_at IS NULL;
CREATE INDEX sessions_by_age ON sessions (created_at);

-- AUTOINCREMENT: ids only ever grow, even when retention empties the
-- table, so that an export can resume after the last id it saw.
CREATE TABLE audit_log (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	at         INTEGER NOT NULL,
	tenant     TEXT NOT NULL,
	key_id     TEXT NOT NULL,
	actor      TEXT NOT NULL,
	action     TEXT NOT NULL,
	route      TEXT NOT NULL,
	session_id TEXT NOT NULL,
	request_id TEXT NOT NULL,
	outcome    TEXT NOT NULL,
	decision   TEXT NOT NULL
);
CREATE INDEX audit_log_by_time ON audit_log (at);
CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log
BEGIN
	SELECT RAISE(ABORT, 'audit_log is append-only');
END;

-- One token bucket per API key or session, kept as GCRA's theoretical
-- arrival time in microseconds.
CREATE TABLE rate_limits (
	bucket TEXT PRIMARY KEY,
	tat    INTEGER NOT NULL
);

CREATE TABLE tenant_webhooks (
	tenant     TEXT PRIMARY KEY,
	url        TEXT NOT NULL,
	secret_key BLOB NOT NULL,  -- the signing secret, sealed: its wrapped data key
	secret     BLOB NOT NULL,  -- and its ciphertext
	created_at INTEGER NOT NULL
);
