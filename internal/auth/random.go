// Package auth issues and checks everify's credentials: tenants' API keys
// (ev_live_… / ev_test_…, shown once, stored only as SHA-256 hashes) and the
// short-lived session tokens (evst_…) that a capture client uses instead of
// an API key for one liveness session. It turns every credential problem
// into a *biometric.Error with a stable code: 401 missing_api_key,
// malformed_api_key, invalid_api_key, revoked_api_key, missing_session_token,
// invalid_session_token, expired_session_token, and 403 insufficient_scope.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
)

// base62 is the alphabet of every random identifier and secret.
const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// RandomString returns n characters drawn uniformly from [0-9A-Za-z] with
// crypto/rand (about 5.95 bits each).
func RandomString(n int) string {
	out := make([]byte, 0, n)
	var buf [64]byte
	for len(out) < n {
		rand.Read(buf[:]) // never fails (Go 1.24+: it crashes the program instead)
		for _, b := range buf {
			// 248 = 4*62: rejecting the top 8 values keeps the draw unbiased.
			if b >= 248 {
				continue
			}
			out = append(out, base62[b%62])
			if len(out) == n {
				break
			}
		}
	}
	return string(out)
}

// NewID returns prefix followed by 24 random base62 characters (≈143 bits),
// e.g. NewID("key_") or NewID("liveness_session_").
func NewID(prefix string) string { return prefix + RandomString(24) }

// isBase62 reports whether s is non-empty and only [0-9A-Za-z].
func isBase62(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}

// Hash returns the SHA-256 of a secret (API key or session token): the only
// form in which secrets are stored.
func Hash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}
