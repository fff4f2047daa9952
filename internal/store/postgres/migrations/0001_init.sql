-- everify's initial schema. Timestamps are Unix milliseconds; JSON values
-- are jsonb.

CREATE TABLE api_keys (
	id         TEXT PRIMARY KEY,
	tenant     TEXT NOT NULL,
	mode       TEXT NOT NULL,
	prefix     TEXT NOT NULL,
	hash       BYTEA NOT NULL UNIQUE,  -- SHA-256 of the key
	scopes     JSONB NOT NULL,
	created_at BIGINT NOT NULL,
	revoked_at BIGINT
);

CREATE TABLE sessions (
	id                   TEXT PRIMARY KEY,
	tenant               TEXT NOT NULL,
	key_id               TEXT NOT NULL,
	client_session_token TEXT NOT NULL,
	status               TEXT NOT NULL,
	challenge            JSONB NOT NULL,
	token_hash           BYTEA NOT NULL UNIQUE,  -- SHA-256 of the session token
	created_at           BIGINT NOT NULL,
	updated_at           BIGINT NOT NULL,
	expires_at           BIGINT NOT NULL,
	completed_at         BIGINT,
	result               JSONB,
	failure              JSONB,
	metadata             JSONB NOT NULL,
	upload               JSONB NOT NULL,
	-- Also the index for lookups by tenant.
	UNIQUE (tenant, client_session_token)
);

CREATE TABLE captures (
	session_id TEXT PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
	prompts    JSONB NOT NULL,  -- array of ms
	client     JSONB NOT NULL,
	created_at BIGINT NOT NULL
);

CREATE TABLE capture_frames (
	session_id   TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
	idx          INTEGER NOT NULL,
	at_ms        BIGINT NOT NULL,
	content_type TEXT NOT NULL,
	image        BYTEA NOT NULL,  -- passed through the store's seal/open pair
	PRIMARY KEY (session_id, idx)
);
