package api

import (
	"sync"
	"time"

	"github.com/everify/everify/internal/biometric"
)

// RateLimit bounds each API key's request rate with a token bucket: Burst
// requests at once, refilled at PerSecond. The limit is kept in memory, per
// process: with N replicas a key may reach N times the rate.
type RateLimit struct {
	PerSecond float64
	Burst     int
}

// limiter holds one token bucket per API key.
type limiter struct {
	rate    RateLimit
	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// newLimiter returns a limiter, or nil (no limit) for a zero RateLimit.
func newLimiter(rate RateLimit) *limiter {
	if rate.PerSecond <= 0 {
		return nil
	}
	if rate.Burst < 1 {
		rate.Burst = 1
	}
	return &limiter{rate: rate, buckets: map[string]*bucket{}}
}

// allow takes a token from key's bucket, or returns a rate_limited error
// saying when the next token will be there.
func (l *limiter) allow(key string, now time.Time) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	burst := float64(l.rate.Burst)
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: burst, last: now}
		l.buckets[key] = b
	}
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = min(burst, b.tokens+elapsed*l.rate.PerSecond)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return nil
	}
	wait := time.Duration((1 - b.tokens) / l.rate.PerSecond * float64(time.Second))
	e := biometric.Errorf(biometric.KindRateLimited, "rate_limited",
		"This API key has sent more than %g requests per second (bursts of %d); wait before retrying.", l.rate.PerSecond, l.rate.Burst)
	e.RetryAfter = wait
	return e
}

// sweep drops, once a minute, the buckets that have been full for a while,
// so that the map does not grow with every key ever seen.
func (l *limiter) sweep(now time.Time) {
	if now.Sub(l.swept) < time.Minute {
		return
	}
	l.swept = now
	full := time.Duration(float64(l.rate.Burst) / l.rate.PerSecond * float64(time.Second))
	for k, b := range l.buckets {
		if now.Sub(b.last) > full {
			delete(l.buckets, k)
		}
	}
}
