package biometric

import (
	"context"
	"slices"
	"time"
)

// Scope is a permission an API key carries.
type Scope string

// The scopes. A key created without explicit scopes gets AllScopes.
const (
	ScopeLiveness  Scope = "liveness"   // start sessions, read results, delete sessions
	ScopeFaceMatch Scope = "face_match" // call face-match
)

// AllScopes lists every scope, in a stable order.
var AllScopes = []Scope{ScopeLiveness, ScopeFaceMatch}

// ValidScope reports whether s is a known scope.
func ValidScope(s Scope) bool { return slices.Contains(AllScopes, s) }

// KeyMode tells live keys (ev_live_…) from test keys (ev_test_…). Both work
// the same way; the mode is recorded so that operators can tell them apart.
type KeyMode string

// The key modes.
const (
	KeyModeLive KeyMode = "live"
	KeyModeTest KeyMode = "test"
)

// APIKey is a tenant's credential. The secret itself is never stored: only
// its SHA-256 hash, and a short display prefix.
type APIKey struct {
	ID        string // "key_…", public, used to revoke
	Tenant    string
	Mode      KeyMode
	Prefix    string // the first characters of the key, for display ("ev_live_AbCd")
	Hash      []byte // SHA-256 of the full key
	Scopes    []Scope
	CreatedAt time.Time
	RevokedAt *time.Time
}

// Revoked reports whether the key has been revoked.
func (k *APIKey) Revoked() bool { return k.RevokedAt != nil }

// HasScope reports whether the key carries s.
func (k *APIKey) HasScope(s Scope) bool { return slices.Contains(k.Scopes, s) }

// KeyStore persists API keys.
type KeyStore interface {
	// CreateKey inserts k. It returns a conflict error if the ID or hash exists.
	CreateKey(ctx context.Context, k *APIKey) error
	// KeyByHash returns the key (revoked or not) with the given hash, or
	// ErrNotFound.
	KeyByHash(ctx context.Context, hash []byte) (*APIKey, error)
	// ListKeys returns every key, oldest first.
	ListKeys(ctx context.Context) ([]*APIKey, error)
	// RevokeKey marks the key revoked at the given time. Revoking a revoked
	// key is not an error. Unknown IDs give ErrNotFound.
	RevokeKey(ctx context.Context, id string, at time.Time) error
}
