package store

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"time"
)

// TakeToken takes one request token from bucket, a token bucket of burst
// tokens refilled at perSecond, shared by every process on the database.
// It returns 0 when the request may go ahead, or how long to wait before
// the next token. The bucket is one row holding GCRA's theoretical arrival
// time, updated by a single conditional upsert, so that replicas on one
// PostgreSQL database (or processes on one SQLite file) enforce one limit.
func (db *DB) TakeToken(ctx context.Context, bucket string, perSecond float64, burst int, now time.Time) (time.Duration, error) {
	if perSecond <= 0 {
		return 0, nil
	}
	interval := max(int64(math.Round(1e6/perSecond)), 1) // µs per token
	tolerance := interval * int64(max(burst, 1))
	at := now.UnixMicro()
	// The new arrival time is max(tat, now) + interval; the request is
	// allowed if that is at most the burst's worth of tokens ahead of now.
	var tat int64
	err := db.db.QueryRowContext(ctx, db.q(`INSERT INTO rate_limits (bucket, tat) VALUES (?, ?)
		ON CONFLICT (bucket) DO UPDATE SET tat = CASE WHEN rate_limits.tat > ? THEN rate_limits.tat ELSE ? END + ?
		WHERE CASE WHEN rate_limits.tat > ? THEN rate_limits.tat ELSE ? END + ? - ? <= ?
		RETURNING tat`),
		bucket, at+interval,
		at, at, interval,
		at, at, interval, at, tolerance).Scan(&tat)
	if err == nil {
		return 0, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, db.dbError(err, "take rate limit token", nil)
	}
	if err := db.db.QueryRowContext(ctx, db.q(`SELECT tat FROM rate_limits WHERE bucket = ?`), bucket).Scan(&tat); err != nil {
		return 0, db.dbError(err, "read rate limit bucket", nil)
	}
	wait := max(tat, at) + interval - tolerance - at
	return max(time.Duration(wait)*time.Microsecond, time.Microsecond), nil
}

// PurgeRateLimits deletes the buckets that are full again at now (their
// arrival time has passed), so that the table holds only active buckets.
func (db *DB) PurgeRateLimits(ctx context.Context, now time.Time) (int64, error) {
	return db.execCount(ctx, "purge rate limits", `DELETE FROM rate_limits WHERE tat < ?`, now.UnixMicro())
}
