package auth

import (
	"strings"
	"time"

	"github.com/everify/everify/internal/biometric"
)

// The API key formats: a mode prefix followed by KeySecretLen random base62
// characters (≈238 bits), e.g. "ev_live_3kT…".
const (
	LiveKeyPrefix = "ev_live_"
	TestKeyPrefix = "ev_test_"
	KeySecretLen  = 40
	// KeyIDPrefix starts every key ID ("key_…"). IDs are public: they name a
	// key in lists, logs and `everify keys revoke`.
	KeyIDPrefix = "key_"
	// displayLen is how much of a key is kept for display: the mode prefix
	// and four characters of the secret.
	displayLen = len(LiveKeyPrefix) + 4
)

// Accepted secret lengths when parsing: generated keys have KeySecretLen;
// the range leaves room for a future length without making every
// slightly-wrong string look like a real key.
const (
	minKeySecretLen = 32
	maxKeySecretLen = 128
)

// NewKey creates an API key for tenant with the given scopes (all scopes if
// none) and returns the secret, to be shown once, and the record to store.
// It returns an invalid error for a bad tenant name, scope or mode.
func NewKey(tenant string, mode biometric.KeyMode, scopes []biometric.Scope, now time.Time) (secret string, key *biometric.APIKey, err error) {
	if err := ValidateTenant(tenant); err != nil {
		return "", nil, err
	}
	var prefix string
	switch mode {
	case biometric.KeyModeLive:
		prefix = LiveKeyPrefix
	case biometric.KeyModeTest:
		prefix = TestKeyPrefix
	default:
		return "", nil, biometric.Errorf(biometric.KindInvalid, "invalid_key_mode", "Key mode %q is not known; use %q or %q.", mode, biometric.KeyModeLive, biometric.KeyModeTest)
	}
	scopes, err = normalizeScopes(scopes)
	if err != nil {
		return "", nil, err
	}
	secret = prefix + RandomString(KeySecretLen)
	return secret, &biometric.APIKey{
		ID:        NewID(KeyIDPrefix),
		Tenant:    tenant,
		Mode:      mode,
		Prefix:    secret[:displayLen],
		Hash:      Hash(secret),
		Scopes:    scopes,
		CreatedAt: now.UTC(),
	}, nil
}

// ParseScopes turns a comma-separated list ("liveness,face_match") into
// scopes. An empty string means every scope.
func ParseScopes(s string) ([]biometric.Scope, error) {
	var scopes []biometric.Scope
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			scopes = append(scopes, biometric.Scope(f))
		}
	}
	return normalizeScopes(scopes)
}

// normalizeScopes checks scopes, drops duplicates and puts them in
// AllScopes order; no scopes means all of them.
func normalizeScopes(scopes []biometric.Scope) ([]biometric.Scope, error) {
	if len(scopes) == 0 {
		return append([]biometric.Scope(nil), biometric.AllScopes...), nil
	}
	want := map[biometric.Scope]bool{}
	for _, s := range scopes {
		if !biometric.ValidScope(s) {
			return nil, biometric.Errorf(biometric.KindInvalid, "invalid_scope", "Scope %q is not known; the scopes are %s.", s, scopeList())
		}
		want[s] = true
	}
	var out []biometric.Scope
	for _, s := range biometric.AllScopes {
		if want[s] {
			out = append(out, s)
		}
	}
	return out, nil
}

func scopeList() string {
	names := make([]string, len(biometric.AllScopes))
	for i, s := range biometric.AllScopes {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// ValidateTenant checks a tenant name: 1 to 64 characters, lower-case
// letters, digits, '.', '_' and '-', starting with a letter or digit.
func ValidateTenant(name string) error {
	ok := len(name) >= 1 && len(name) <= 64
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			ok = false
		}
	}
	if !ok {
		return biometric.Errorf(biometric.KindInvalid, "invalid_tenant", "Tenant name %q is not valid: use 1-64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit.", name)
	}
	return nil
}

// ParseKey checks that s has the shape of an API key and returns its mode.
// It does not say whether the key exists.
func ParseKey(s string) (biometric.KeyMode, error) {
	var mode biometric.KeyMode
	var body string
	switch {
	case strings.HasPrefix(s, LiveKeyPrefix):
		mode, body = biometric.KeyModeLive, s[len(LiveKeyPrefix):]
	case strings.HasPrefix(s, TestKeyPrefix):
		mode, body = biometric.KeyModeTest, s[len(TestKeyPrefix):]
	default:
		return "", errMalformedKey
	}
	if len(body) < minKeySecretLen || len(body) > maxKeySecretLen || !isBase62(body) {
		return "", errMalformedKey
	}
	return mode, nil
}

var errMalformedKey = biometric.Errorf(biometric.KindUnauthenticated, "malformed_api_key",
	"The X-API-Key header does not hold an everify API key; keys look like %s… or %s… followed by %d letters and digits.", LiveKeyPrefix, TestKeyPrefix, KeySecretLen)
