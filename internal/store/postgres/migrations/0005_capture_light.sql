-- The screen-light challenge: when each colour of the session's issued
-- light sequence was on screen, as the capture client reports it.

ALTER TABLE captures ADD COLUMN light TEXT NOT NULL DEFAULT '[]';  -- JSON array of {index, color, shown_at_ms, hidden_at_ms}
