package auth_test

import (
	"bytes"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/everify/everify/internal/auth"
	"github.com/everify/everify/internal/biometric"
)

func TestNewKey(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		mode   biometric.KeyMode
		prefix string
	}{
		{biometric.KeyModeLive, "ev_live_"},
		{biometric.KeyModeTest, "ev_test_"},
	} {
		secret, k, err := auth.NewKey("acme", tc.mode, nil, now)
		if err != nil {
			t.Fatalf("NewKey(%s): %v", tc.mode, err)
		}
		if !strings.HasPrefix(secret, tc.prefix) || len(secret) != len(tc.prefix)+auth.KeySecretLen {
			t.Errorf("secret %q: want %s + %d characters", secret, tc.prefix, auth.KeySecretLen)
		}
		mode, err := auth.ParseKey(secret)
		if err != nil || mode != tc.mode {
			t.Errorf("ParseKey(new key) = %q, %v; want %q", mode, err, tc.mode)
		}
		sum := sha256.Sum256([]byte(secret))
		if !bytes.Equal(k.Hash, sum[:]) {
			t.Errorf("Hash is not the SHA-256 of the secret")
		}
		if strings.Contains(string(k.Hash), secret) || !strings.HasPrefix(secret, k.Prefix) || len(k.Prefix) != len(tc.prefix)+4 {
			t.Errorf("Prefix %q: want the first %d characters of the secret", k.Prefix, len(tc.prefix)+4)
		}
		if !strings.HasPrefix(k.ID, "key_") || k.Tenant != "acme" || k.Mode != tc.mode || !k.CreatedAt.Equal(now) || k.Revoked() {
			t.Errorf("unexpected key record %+v", k)
		}
		if len(k.Scopes) != len(biometric.AllScopes) {
			t.Errorf("Scopes = %v; want all scopes by default", k.Scopes)
		}
	}
}

func TestNewKeyIsRandom(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 200 {
		secret, k, err := auth.NewKey("acme", biometric.KeyModeLive, nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if seen[secret] || seen[k.ID] {
			t.Fatalf("repeated secret or ID after %d keys", len(seen)/2)
		}
		seen[secret], seen[k.ID] = true, true
	}
}

func TestNewKeyRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		tenant string
		mode   biometric.KeyMode
		scopes []biometric.Scope
		code   string
	}{
		{"empty tenant", "", biometric.KeyModeLive, nil, "invalid_tenant"},
		{"upper-case tenant", "Acme", biometric.KeyModeLive, nil, "invalid_tenant"},
		{"tenant with space", "acme corp", biometric.KeyModeLive, nil, "invalid_tenant"},
		{"tenant starting with dash", "-acme", biometric.KeyModeLive, nil, "invalid_tenant"},
		{"long tenant", strings.Repeat("a", 65), biometric.KeyModeLive, nil, "invalid_tenant"},
		{"bad mode", "acme", "prod", nil, "invalid_key_mode"},
		{"bad scope", "acme", biometric.KeyModeLive, []biometric.Scope{"admin"}, "invalid_scope"},
	} {
		_, _, err := auth.NewKey(tc.tenant, tc.mode, tc.scopes, time.Now())
		if e := biometric.AsError(err); err == nil || e.Kind != biometric.KindInvalid || e.Code != tc.code {
			t.Errorf("%s: err = %v; want invalid %s", tc.name, err, tc.code)
		}
	}
}

func TestParseScopes(t *testing.T) {
	t.Parallel()
	got, err := auth.ParseScopes(" face_match , liveness,face_match")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != biometric.ScopeLiveness || got[1] != biometric.ScopeFaceMatch {
		t.Errorf("ParseScopes = %v; want [liveness face_match] (deduplicated, canonical order)", got)
	}
	if got, err := auth.ParseScopes(""); err != nil || len(got) != len(biometric.AllScopes) {
		t.Errorf("ParseScopes(\"\") = %v, %v; want all scopes", got, err)
	}
	if _, err := auth.ParseScopes("liveness,admin"); biometric.AsError(err).Code != "invalid_scope" {
		t.Errorf("ParseScopes with unknown scope: err = %v; want invalid_scope", err)
	}
}

func TestParseKeyMalformed(t *testing.T) {
	t.Parallel()
	good := "ev_live_" + strings.Repeat("a1B", 14)[:auth.KeySecretLen]
	if _, err := auth.ParseKey(good); err != nil {
		t.Fatalf("ParseKey(%q): %v", good, err)
	}
	for _, s := range []string{
		"ev_prod_" + good[8:],
		"ev_live_",
		"ev_live_short",
		good[:len(good)-1] + "!",
		good + strings.Repeat("x", 100),
		"Bearer " + good,
		"sk_live_" + good[8:],
	} {
		_, err := auth.ParseKey(s)
		if e := biometric.AsError(err); err == nil || e.Kind != biometric.KindUnauthenticated || e.Code != "malformed_api_key" {
			t.Errorf("ParseKey(%q) = %v; want malformed_api_key", s, err)
		}
	}
}

func TestNewSessionToken(t *testing.T) {
	t.Parallel()
	tok, hash := auth.NewSessionToken()
	tok2, _ := auth.NewSessionToken()
	if !strings.HasPrefix(tok, auth.SessionTokenPrefix) || len(tok) < 40 || tok == tok2 {
		t.Errorf("tokens %q, %q: want distinct evst_ tokens", tok, tok2)
	}
	if !bytes.Equal(hash, auth.Hash(tok)) {
		t.Errorf("hash is not Hash(token)")
	}
}

func TestRandomStringAlphabet(t *testing.T) {
	t.Parallel()
	s := auth.RandomString(10000)
	counts := map[rune]int{}
	for _, r := range s {
		if !strings.ContainsRune("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", r) {
			t.Fatalf("character %q outside base62", r)
		}
		counts[r]++
	}
	// 10000 draws over 62 symbols: every symbol appears (expected ≈161 each).
	if len(counts) != 62 {
		t.Errorf("%d distinct characters in 10000; want all 62", len(counts))
	}
}
