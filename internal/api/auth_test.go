package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/everify/everify/internal/biometric"
)

// TestAuthMatrix sends each protected endpoint every kind of credential
// problem and checks the status and code.
func TestAuthMatrix(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	good := h.key("acme")
	revoked := h.key("acme")
	if err := h.store.RevokeKey(context.Background(), h.keyID(revoked), h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	// A well-formed key that was never issued.
	unknown := "ev_live_" + strings.Repeat("Zz9", 14)[:40]
	sessionID, _ := h.startOK(good, "matrix-1")

	endpoints := []struct {
		name  string
		req   request
		scope biometric.Scope
	}{
		{"start", request{method: "POST", path: "/v1/biometrics/liveness/start", body: map[string]any{"client_session_token": "matrix-2"}}, biometric.ScopeLiveness},
		{"results", request{method: "GET", path: "/v1/biometrics/liveness/" + sessionID + "/results"}, biometric.ScopeLiveness},
		{"face-match", request{method: "POST", path: "/v1/biometrics/face-match", body: map[string]any{
			"source_image_url": "https://example.com/a.jpg", "target_image_url": "https://example.com/b.jpg", "threshold": 500}}, biometric.ScopeFaceMatch},
	}
	for _, ep := range endpoints {
		// A key with every scope but the one the endpoint needs.
		var others []biometric.Scope
		for _, s := range biometric.AllScopes {
			if s != ep.scope {
				others = append(others, s)
			}
		}
		wrongScope := h.key("acme", others...)
		for _, tc := range []struct {
			name   string
			key    string
			header http.Header
			status int
			code   string
		}{
			{"no key", "", nil, 401, "missing_api_key"},
			{"blank key", "", http.Header{"X-Api-Key": {"   "}}, 401, "missing_api_key"},
			{"malformed key", "hunter2", nil, 401, "malformed_api_key"},
			{"key in Authorization only", "", http.Header{"Authorization": {"Bearer " + good}}, 401, "missing_api_key"},
			{"unknown key", unknown, nil, 401, "invalid_api_key"},
			{"revoked key", revoked, nil, 401, "revoked_api_key"},
			{"wrong scope", wrongScope, nil, 403, "insufficient_scope"},
		} {
			req := ep.req
			req.key, req.header = tc.key, tc.header
			r := h.do(req)
			t.Run(ep.name+"/"+tc.name, func(t *testing.T) { wantError(t, r, tc.status, tc.code) })
		}
	}
	// Scope is checked before the body: the face-match request above has
	// an invalid threshold, so a good key gets 400 and a wrong-scope key 403.
	r := h.do(request{method: "POST", path: "/v1/biometrics/face-match", key: good, body: endpoints[2].req.body})
	wantError(t, r, 400, "invalid_threshold")
}

// TestOtherTenantsSession checks that a session of another tenant is
// answered exactly like a missing one.
func TestOtherTenantsSession(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	acme, globex := h.key("acme"), h.key("globex")
	id, _ := h.startOK(acme, "tenant-1")

	mine := h.do(request{method: "GET", path: "/v1/biometrics/liveness/" + id + "/results", key: acme})
	if mine.status != 200 {
		t.Fatalf("own session: %d %s", mine.status, mine.body)
	}
	theirs := h.do(request{method: "GET", path: "/v1/biometrics/liveness/" + id + "/results", key: globex})
	missing := h.do(request{method: "GET", path: "/v1/biometrics/liveness/liveness_session_000000000000000000000000/results", key: globex})
	wantError(t, theirs, 404, "session_not_found")
	wantError(t, missing, 404, "session_not_found")
	if a, b := theirs.json(t), missing.json(t); a["message"] != b["message"] || a["error"].(map[string]any)["message"] != b["error"].(map[string]any)["message"] {
		t.Errorf("another tenant's session is distinguishable from a missing one:\n%s\n%s", theirs.body, missing.body)
	}

	// The same client_session_token in another tenant is another session.
	otherID, _ := h.startOK(globex, "tenant-1")
	if otherID == id {
		t.Errorf("two tenants with the same client_session_token share session %s", id)
	}
}

// TestRevocationIsImmediate revokes a key between two requests.
func TestRevocationIsImmediate(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	key := h.key("acme")
	if r := h.start(key, "rev-1"); r.status != 200 {
		t.Fatalf("before revocation: %d %s", r.status, r.body)
	}
	if err := h.store.RevokeKey(context.Background(), h.keyID(key), h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	wantError(t, h.start(key, "rev-2"), 401, "revoked_api_key")
}
