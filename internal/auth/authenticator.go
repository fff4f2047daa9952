package auth

import (
	"context"
	"crypto/subtle"
	"fmt"
	"strings"

	"github.com/everify/everify/internal/biometric"
)

// SessionTokenPrefix starts every session token ("evst_…").
const SessionTokenPrefix = "evst_"

// sessionTokenSecretLen is the number of random base62 characters in a
// session token (≈256 bits).
const sessionTokenSecretLen = 43

// NewSessionToken returns a new session token, to be handed to the capture
// client once, and its hash, to be stored in the session.
func NewSessionToken() (token string, hash []byte) {
	token = SessionTokenPrefix + RandomString(sessionTokenSecretLen)
	return token, Hash(token)
}

// Credential errors. They are shared values: callers must not modify them.
var (
	errMissingKey = biometric.Errorf(biometric.KindUnauthenticated, "missing_api_key",
		"This endpoint needs an API key: send it in the X-API-Key header.")
	errInvalidKey = biometric.Errorf(biometric.KindUnauthenticated, "invalid_api_key",
		"The API key is not known; check that you copied the whole key, or create one with `everify keys create`.")
	errRevokedKey = biometric.Errorf(biometric.KindUnauthenticated, "revoked_api_key",
		"The API key has been revoked; use another key or create one with `everify keys create`.")
	errMissingSessionToken = biometric.Errorf(biometric.KindUnauthenticated, "missing_session_token",
		"This endpoint needs the session token returned by liveness/start, sent as 'Authorization: Bearer evst_…'.")
	errInvalidSessionToken = biometric.Errorf(biometric.KindUnauthenticated, "invalid_session_token",
		"The session token is not valid; use the session_token returned by the latest liveness/start call for this session.")
)

// Authenticator checks credentials against the store. It does not cache:
// every request looks its key up (one indexed read by hash), so a revoked
// key is refused by every replica from the next request on.
type Authenticator struct {
	Keys     biometric.KeyStore
	Sessions biometric.SessionStore
}

// APIKey returns the key that the X-API-Key header value names. Errors are
// 401s with the codes missing_api_key, malformed_api_key, invalid_api_key
// and revoked_api_key, or an internal error if the store fails.
func (a *Authenticator) APIKey(ctx context.Context, header string) (*biometric.APIKey, error) {
	secret := strings.TrimSpace(header)
	if secret == "" {
		return nil, errMissingKey
	}
	if _, err := ParseKey(secret); err != nil {
		return nil, err
	}
	hash := Hash(secret)
	k, err := a.Keys.KeyByHash(ctx, hash)
	if biometric.IsKind(err, biometric.KindNotFound) {
		return nil, errInvalidKey
	}
	if err != nil {
		return nil, biometric.Wrap(err, "looking up API key")
	}
	// The lookup was by hash already; comparing again guards against a
	// store that matched loosely, without leaking timing.
	if subtle.ConstantTimeCompare(k.Hash, hash) != 1 {
		return nil, errInvalidKey
	}
	if k.Revoked() {
		return nil, errRevokedKey
	}
	return k, nil
}

// RequireScope returns a 403 insufficient_scope error unless k carries s.
func RequireScope(k *biometric.APIKey, s biometric.Scope) error {
	if k.HasScope(s) {
		return nil
	}
	return &biometric.Error{
		Kind: biometric.KindForbidden,
		Code: "insufficient_scope",
		Message: fmt.Sprintf("This API key does not have the %q scope needed here; create a key with it (everify keys create --scopes %s).",
			s, s),
	}
}

// Session returns the session that an "Authorization: Bearer evst_…"
// header value grants access to. Errors are 401s with
// missing_session_token and invalid_session_token, or an internal error if
// the store fails. Whether the session still accepts a request is the
// route's decision (the capture routes refuse it after the session's
// deadline; the status route answers a while longer).
func (a *Authenticator) Session(ctx context.Context, authorization string) (*biometric.Session, error) {
	authorization = strings.TrimSpace(authorization)
	if authorization == "" {
		return nil, errMissingSessionToken
	}
	scheme, token, ok := strings.Cut(authorization, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || !strings.HasPrefix(token, SessionTokenPrefix) ||
		len(token) != len(SessionTokenPrefix)+sessionTokenSecretLen || !isBase62(token[len(SessionTokenPrefix):]) {
		return nil, errInvalidSessionToken
	}
	hash := Hash(token)
	s, err := a.Sessions.SessionByTokenHash(ctx, hash)
	if biometric.IsKind(err, biometric.KindNotFound) {
		return nil, errInvalidSessionToken
	}
	if err != nil {
		return nil, biometric.Wrap(err, "looking up session token")
	}
	if subtle.ConstantTimeCompare(s.TokenHash, hash) != 1 {
		return nil, errInvalidSessionToken
	}
	return s, nil
}
