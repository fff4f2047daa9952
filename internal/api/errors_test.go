package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/everify/everify/internal/api"
)

func TestUnknownRouteAndMethod(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	key := h.key("acme")
	wantError(t, h.do(request{method: "GET", path: "/v1/biometrics/nothing", key: key}), 404, "route_not_found")
	wantError(t, h.do(request{method: "GET", path: "/v1/biometrics/liveness/x/y/z"}), 404, "route_not_found")

	for _, tc := range []struct {
		method, path, allow string
	}{
		{"GET", "/v1/biometrics/liveness/start", "POST"},
		{"DELETE", "/v1/biometrics/face-match", "POST"},
		{"POST", "/v1/biometrics/liveness/abc/results", "GET, HEAD"},
		{"PUT", "/healthz", "GET, HEAD"},
	} {
		r := h.do(request{method: tc.method, path: tc.path, key: key})
		wantError(t, r, 405, "method_not_allowed")
		if got := r.header.Get("Allow"); got != tc.allow {
			t.Errorf("%s %s: Allow = %q, want %q", tc.method, tc.path, got, tc.allow)
		}
	}
}

func TestStrictJSON(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	key := h.key("acme")
	start := func(body, contentType string) *response {
		return h.do(request{method: "POST", path: "/v1/biometrics/liveness/start", key: key, body: body, contentType: contentType})
	}
	for _, tc := range []struct {
		name, body, contentType string
		status                  int
		code                    string
	}{
		{"malformed", `{"client_session_token": "a",}`, "", 400, "invalid_json"},
		{"truncated", `{"client_session_token": "a"`, "", 400, "invalid_json"},
		{"empty", ``, "", 400, "invalid_json"},
		{"array", `[{"client_session_token": "a"}]`, "", 400, "invalid_json"},
		{"null", `null`, "", 400, "missing_client_session_token"},
		{"two objects", `{"client_session_token": "a"}{"client_session_token": "b"}`, "", 400, "invalid_json"},
		{"trailing garbage", `{"client_session_token": "a"} x`, "", 400, "invalid_json"},
		{"unknown field", `{"client_session_token": "a", "extra": true}`, "", 400, "unknown_field"},
		{"text/plain", `{"client_session_token": "a"}`, "text/plain", 415, "unsupported_media_type"},
		{"form", `client_session_token=a`, "application/x-www-form-urlencoded", 415, "unsupported_media_type"},
		{"latin1", `{"client_session_token": "a"}`, "application/json; charset=latin1", 415, "unsupported_media_type"},
		{"bad media type", `{"client_session_token": "a"}`, "application/json; ===", 415, "unsupported_media_type"},
	} {
		r := start(tc.body, tc.contentType)
		t.Run(tc.name, func(t *testing.T) { wantError(t, r, tc.status, tc.code) })
	}
	// Missing Content-Type entirely.
	r, _ := http.NewRequest("POST", h.url+"/v1/biometrics/liveness/start", strings.NewReader(`{"client_session_token":"a"}`))
	r.Header.Set("X-API-Key", key)
	resp, err := h.client.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 415 {
		t.Errorf("no Content-Type: %d, want 415", resp.StatusCode)
	}
	// Allowed variants.
	for _, ct := range []string{"application/json; charset=utf-8", "Application/JSON"} {
		if r := start(`{"client_session_token": "ok-`+strings.ToLower(ct[:4])+`"}`, ct); r.status != 200 {
			t.Errorf("Content-Type %q: %d %s", ct, r.status, r.body)
		}
	}
	// A start body over 64 KiB.
	wantError(t, start(`{"client_session_token": "a", "metadata": {"k": "`+strings.Repeat("v", 70<<10)+`"}}`, ""), 413, "request_too_large")
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *api.Config) { c.RateLimit = api.RateLimit{PerSecond: 0.5, Burst: 2} })
	key, other := h.key("acme"), h.key("acme")
	results := func(k string) *response {
		return h.do(request{method: "GET", path: "/v1/biometrics/liveness/liveness_session_none/results", key: k})
	}
	for i := range 2 {
		if r := results(key); r.status != 404 {
			t.Fatalf("request %d within the burst: %d %s", i, r.status, r.body)
		}
	}
	r := results(key)
	wantError(t, r, 429, "rate_limited")
	if r.header.Get("Retry-After") != "2" {
		t.Errorf("Retry-After = %q, want 2 (one token at 0.5/s)", r.header.Get("Retry-After"))
	}
	if e, _ := r.json(t)["error"].(map[string]any); e["retry_after_seconds"] != float64(2) {
		t.Errorf("error.retry_after_seconds = %v, want 2", e["retry_after_seconds"])
	}
	// Another key has its own bucket.
	if r := results(other); r.status != 404 {
		t.Errorf("another key: %d, want 404", r.status)
	}
	// A token comes back after 2 s.
	h.clock.Advance(2 * time.Second)
	if r := results(key); r.status != 404 {
		t.Errorf("after 2 s: %d, want 404", r.status)
	}
	wantError(t, results(key), 429, "rate_limited")
	// Unauthenticated requests do not consume the key's tokens.
	h.clock.Advance(2 * time.Second)
	wantError(t, h.do(request{method: "GET", path: "/v1/biometrics/liveness/x/results"}), 401, "missing_api_key")
	if r := results(key); r.status != 404 {
		t.Errorf("after 2 more s: %d, want 404", r.status)
	}
}

// TestStoreFailure closes the store under a running server: the API
// answers a masked 500, and readiness reports 503.
func TestStoreFailure(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	key := h.key("acme")
	if r := h.do(request{method: "GET", path: "/readyz"}); r.status != 200 {
		t.Fatalf("readyz with a working store: %d %s", r.status, r.body)
	}
	h.store.Close()
	r := h.start(key, "closed-1")
	wantError(t, r, 500, "internal_error")
	if strings.Contains(string(r.body), "sql") || strings.Contains(string(r.body), "closed") {
		t.Errorf("500 body leaks the store error: %s", r.body)
	}
	r = h.do(request{method: "GET", path: "/readyz"})
	wantError(t, r, 503, "store_unavailable")
	if r.header.Get("Retry-After") == "" {
		t.Errorf("readyz 503 without Retry-After")
	}
	if r := h.do(request{method: "GET", path: "/healthz"}); r.status != 200 {
		t.Errorf("healthz must not depend on the store: %d", r.status)
	}
}
