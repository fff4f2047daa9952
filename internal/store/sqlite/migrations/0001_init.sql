-- everify's initial schema. Timestamps are Unix milliseconds; JSON values
-- are text.

CREATE TABLE api_keys (
	id         TEXT PRIMARY KEY,
	tenant     TEXT NOT NULL,
	mode       TEXT NOT NULL,
	prefix     TEXT NOT NULL,
	hash       BLOB NOT NULL UNIQUE,  -- SHA-256 of the key
	scopes     TEXT NOT NULL,         -- JSON array
	created_at INTEGER NOT NULL,
	revoked_at INTEGER
);

CREATE TABLE sessions (
	id                   TEXT PRIMARY KEY,
	tenant               TEXT NOT NULL,
	key_id               TEXT NOT NULL,
	client_session_token TEXT NOT NULL,
	status               TEXT NOT NULL,
	challenge            TEXT NOT NULL,         -- JSON
	token_hash           BLOB NOT NULL UNIQUE,  -- SHA-256 of the session token
	created_at           INTEGER NOT NULL,
	updated_at           INTEGER NOT NULL,
	expires_at           INTEGER NOT NULL,
	completed_at         INTEGER,
	result               TEXT,                  -- JSON
	failure              TEXT,                  -- JSON
	metadata             TEXT NOT NULL,         -- JSON
	upload               TEXT NOT NULL,         -- JSON
	-- Also the index for lookups by tenant.
	UNIQUE (tenant, client_session_token)
);

CREATE TABLE captures (
	session_id TEXT PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
	prompts    TEXT NOT NULL,  -- JSON array of ms
	client     TEXT NOT NULL,  -- JSON object
	created_at INTEGER NOT NULL
);

CREATE TABLE capture_frames (
	session_id   TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
	idx          INTEGER NOT NULL,
	at_ms        INTEGER NOT NULL,
	content_type TEXT NOT NULL,
	image        BLOB NOT NULL,  -- passed through the store's seal/open pair
	PRIMARY KEY (session_id, idx)
);
