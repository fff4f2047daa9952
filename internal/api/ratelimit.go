package api

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/everify/everify/internal/biometric"
)

// RateLimit is a token bucket: Burst requests at once, refilled at
// PerSecond. A zero PerSecond means no limit.
type RateLimit struct {
	PerSecond float64
	Burst     int
}

// Limiter keeps the token buckets. TakeToken takes one token from bucket
// (created full on first use) and returns 0, or how long to wait before
// the next token when there is none. The in-memory limiter
// (NewMemoryLimiter) holds one process's buckets; *store.DB keeps them in
// the database, so that replicas on one PostgreSQL database share them.
type Limiter interface {
	TakeToken(ctx context.Context, bucket string, perSecond float64, burst int, now time.Time) (time.Duration, error)
}

// memoryLimiter is a Limiter in this process's memory: the generic cell
// rate algorithm, one theoretical arrival time per bucket.
type memoryLimiter struct {
	mu    sync.Mutex
	tat   map[string]time.Time
	swept time.Time
}

// NewMemoryLimiter returns a Limiter whose buckets live in this process:
// right for one process (SQLite), wrong for several replicas, which would
// each allow the full rate.
func NewMemoryLimiter() Limiter { return &memoryLimiter{tat: map[string]time.Time{}} }

// TakeToken implements Limiter with the same arithmetic as the store's.
func (l *memoryLimiter) TakeToken(_ context.Context, bucket string, perSecond float64, burst int, now time.Time) (time.Duration, error) {
	if perSecond <= 0 {
		return 0, nil
	}
	interval := max(time.Duration(math.Round(float64(time.Second)/perSecond)), time.Microsecond)
	tolerance := interval * time.Duration(max(burst, 1))
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	tat := l.tat[bucket]
	if tat.Before(now) {
		tat = now
	}
	next := tat.Add(interval)
	if wait := next.Sub(now) - tolerance; wait > 0 {
		return wait, nil
	}
	l.tat[bucket] = next
	return 0, nil
}

// sweep drops, once a minute, the buckets that are full again, so that the
// map does not grow with every key and session ever seen.
func (l *memoryLimiter) sweep(now time.Time) {
	if now.Sub(l.swept) < time.Minute {
		return
	}
	l.swept = now
	for k, tat := range l.tat {
		if tat.Before(now) {
			delete(l.tat, k)
		}
	}
}

// takeToken applies rate to bucket, returning a rate_limited error that
// says when to retry; who names what is limited in the message.
func (s *Server) takeToken(ctx context.Context, bucket string, rate RateLimit, who string) error {
	if rate.PerSecond <= 0 {
		return nil
	}
	wait, err := s.limiter.TakeToken(ctx, bucket, rate.PerSecond, rate.Burst, s.now())
	if err != nil {
		return err
	}
	if wait <= 0 {
		return nil
	}
	s.metrics.refused.WithLabelValues("rate_limited").Inc()
	e := biometric.Errorf(biometric.KindRateLimited, "rate_limited",
		"%s has sent more than %g requests per second (bursts of %d); wait before retrying.", who, rate.PerSecond, max(rate.Burst, 1))
	e.RetryAfter = wait
	return e
}
