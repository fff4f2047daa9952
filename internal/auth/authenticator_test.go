package auth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/everify/everify/internal/auth"
	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/seal"
	"github.com/everify/everify/internal/store"
	"github.com/everify/everify/internal/store/sqlite"
)

func openStore(t *testing.T) *store.DB {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir(), store.Options{Sealer: seal.NewSealer(seal.NewKeyring())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func wantCode(t *testing.T, what string, err error, kind biometric.Kind, code string) {
	t.Helper()
	e := biometric.AsError(err)
	if err == nil || e.Kind != kind || e.Code != code {
		t.Errorf("%s: err = %v; want %s %s", what, err, kind, code)
	}
}

func TestAuthenticatorAPIKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	secret, key, err := auth.NewKey("acme", biometric.KeyModeLive, []biometric.Scope{biometric.ScopeLiveness}, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	a := &auth.Authenticator{Keys: st, Sessions: st}

	got, err := a.APIKey(ctx, secret)
	if err != nil || got.ID != key.ID || got.Tenant != "acme" {
		t.Fatalf("APIKey(valid) = %+v, %v", got, err)
	}
	if err := auth.RequireScope(got, biometric.ScopeLiveness); err != nil {
		t.Errorf("RequireScope(liveness): %v", err)
	}
	wantCode(t, "RequireScope(face_match)", auth.RequireScope(got, biometric.ScopeFaceMatch), biometric.KindForbidden, "insufficient_scope")

	_, err = a.APIKey(ctx, "")
	wantCode(t, "empty", err, biometric.KindUnauthenticated, "missing_api_key")
	_, err = a.APIKey(ctx, "sk_123")
	wantCode(t, "malformed", err, biometric.KindUnauthenticated, "malformed_api_key")
	// Same shape, one character changed.
	last := secret[len(secret)-1]
	other := secret[:len(secret)-1] + map[bool]string{true: "b", false: "a"}[last == 'a']
	_, err = a.APIKey(ctx, other)
	wantCode(t, "unknown", err, biometric.KindUnauthenticated, "invalid_api_key")
	// A test key with the same secret part is another key.
	_, err = a.APIKey(ctx, strings.Replace(secret, "ev_live_", "ev_test_", 1))
	wantCode(t, "other mode", err, biometric.KindUnauthenticated, "invalid_api_key")

	if err := st.RevokeKey(ctx, key.ID, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	_, err = a.APIKey(ctx, secret)
	wantCode(t, "revoked", err, biometric.KindUnauthenticated, "revoked_api_key")
}

func TestAuthenticatorSession(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	a := &auth.Authenticator{Keys: st, Sessions: st}

	token, hash := auth.NewSessionToken()
	s := &biometric.Session{ID: auth.NewID("liveness_session_"), Tenant: "acme", KeyID: "key_x", ClientSessionToken: "c1",
		Status: biometric.StatusCreated, TokenHash: hash, CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(10 * time.Minute),
		Challenge: biometric.Challenge{Steps: []biometric.ChallengeStep{{Type: biometric.ChallengeBlink, Instructions: "Please blink your eyes"}}}}
	if _, _, err := st.CreateSession(ctx, s); err != nil {
		t.Fatal(err)
	}

	for _, header := range []string{"Bearer " + token, "bearer " + token, "  Bearer   " + token + " "} {
		got, err := a.Session(ctx, header)
		if err != nil || got.ID != s.ID {
			t.Errorf("Session(%q) = %v, %v; want session %s", header, got, err, s.ID)
		}
	}
	other, _ := auth.NewSessionToken()
	for _, tc := range []struct {
		header, code string
	}{
		{"", "missing_session_token"},
		{token, "invalid_session_token"},
		{"Basic " + token, "invalid_session_token"},
		{"Bearer evst_short", "invalid_session_token"},
		{"Bearer " + other, "invalid_session_token"},
		{"Bearer " + token[:len(token)-1] + "!", "invalid_session_token"},
	} {
		_, err := a.Session(ctx, tc.header)
		wantCode(t, tc.header, err, biometric.KindUnauthenticated, tc.code)
	}
}
