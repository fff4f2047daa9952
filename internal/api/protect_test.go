package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/everify/everify/client"
	"github.com/everify/everify/internal/api"
	"github.com/everify/everify/internal/audit"
	"github.com/everify/everify/internal/auth"
	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/imagein"
	"github.com/everify/everify/internal/pgtest"
	"github.com/everify/everify/internal/seal"
	"github.com/everify/everify/internal/store"
	"github.com/everify/everify/internal/store/postgres"
)

// startWith starts a session with extra start fields.
func (h *harness) startWith(key, clientToken string, fields map[string]any) *response {
	h.t.Helper()
	body := map[string]any{"client_session_token": clientToken}
	for k, v := range fields {
		body[k] = v
	}
	return h.do(request{method: "POST", path: "/v1/biometrics/liveness/start", key: key, body: body})
}

// decide completes session id as the analysis would, live or not, with a
// reference face when live.
func (h *harness) decide(id string, live bool) {
	h.t.Helper()
	_, err := h.store.CompleteSession(context.Background(), id, jpegFrame(h.t, 64, 48, 1, false), func(s *biometric.Session) error {
		now := h.clock.Now()
		s.Status, s.CompletedAt = biometric.StatusCompleted, &now
		s.Result = &biometric.LivenessResult{LivenessScore: 12, IsLive: live, Checks: []biometric.Check{{Name: "challenge", Score: 20}},
			ReferenceFace: &biometric.FaceInfo{Confidence: 97, Box: biometric.Box{Width: 10, Height: 10}}}
		if live {
			s.Result.LivenessScore = 95
		}
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

func TestStartConsentAndDevice(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	key := h.key("acme")
	r := h.startWith(key, "consent-1", map[string]any{"consent_reference": "POPIA consent #77 — signed", "device_id": "dev-1.a:b_c"})
	if r.status != 200 {
		t.Fatalf("start: %d %s", r.status, r.body)
	}
	id, _ := r.json(t)["session_id"].(string)
	var res client.LivenessResultsResponse
	h.results(key, id).decode(t, &res)
	if res.ConsentReference != "POPIA consent #77 — signed" || res.DeviceID != "dev-1.a:b_c" || res.BiometricsDeletedAt != nil {
		t.Errorf("results: consent %q, device %q, deleted %v", res.ConsentReference, res.DeviceID, res.BiometricsDeletedAt)
	}
	wantError(t, h.startWith(key, "consent-2", map[string]any{"device_id": "has space"}), 400, "invalid_device_id")
	wantError(t, h.startWith(key, "consent-3", map[string]any{"device_id": strings.Repeat("d", 129)}), 400, "invalid_device_id")
	wantError(t, h.startWith(key, "consent-4", map[string]any{"consent_reference": "line\nbreak"}), 400, "invalid_consent_reference")
	wantError(t, h.startWith(key, "consent-5", map[string]any{"consent_reference": strings.Repeat("c", 257)}), 400, "invalid_consent_reference")
}

func TestDeleteBiometrics(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	key, other, matchOnly := h.key("acme"), h.key("globex"), h.key("acme", biometric.ScopeFaceMatch)
	c := h.newCapture(key, "delete-1")
	c.upload(32)
	if r := c.complete(map[string]any{"frame_count": 32}); r.status != http.StatusAccepted {
		t.Fatalf("complete: %d %s", r.status, r.body)
	}
	h.decide(c.id, true)
	del := func(k string) *response {
		return h.do(request{method: "DELETE", path: "/v1/biometrics/liveness/" + c.id, key: k})
	}
	wantError(t, del(other), 404, "session_not_found")
	wantError(t, del(matchOnly), 403, "insufficient_scope")
	if _, err := h.store.ReferenceFace(t.Context(), c.id); err != nil {
		t.Fatalf("the refused deletions deleted the face: %v", err)
	}

	h.clock.Advance(time.Minute)
	r := del(key)
	var got client.DeleteBiometricsResponse
	r.decode(t, &got)
	if r.status != 200 || got.SessionID != c.id || got.Status != "completed" || !got.BiometricsDeletedAt.Equal(h.clock.Now()) {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	if _, err := h.store.Capture(t.Context(), c.id); !biometric.IsKind(err, biometric.KindNotFound) {
		t.Errorf("the capture survived: %v", err)
	}
	if _, err := h.store.ReferenceFace(t.Context(), c.id); !biometric.IsKind(err, biometric.KindNotFound) {
		t.Errorf("the reference face survived: %v", err)
	}
	var res client.LivenessResultsResponse
	h.results(key, c.id).decode(t, &res)
	if res.Status != "completed" || res.Result == nil || !res.Result.IsLive || res.Result.ReferenceFace != nil ||
		res.BiometricsDeletedAt == nil || !res.BiometricsDeletedAt.Equal(got.BiometricsDeletedAt) {
		t.Errorf("results after deletion: %+v", res)
	}

	// Idempotent: the same answer, the first deletion time.
	h.clock.Advance(time.Hour)
	var again client.DeleteBiometricsResponse
	r = del(key)
	r.decode(t, &again)
	if r.status != 200 || !again.BiometricsDeletedAt.Equal(got.BiometricsDeletedAt) {
		t.Errorf("second DELETE: %d %s", r.status, r.body)
	}
	wantError(t, h.do(request{method: "DELETE", path: "/v1/biometrics/liveness/liveness_session_unknown", key: key}), 404, "session_not_found")

	// An open session's capture cannot continue after a deletion.
	open := h.newCapture(key, "delete-2")
	open.upload(5)
	if r := h.do(request{method: "DELETE", path: "/v1/biometrics/liveness/" + open.id, key: key}); r.status != 200 {
		t.Fatalf("DELETE of an open session: %d %s", r.status, r.body)
	}
	wantError(t, open.send(multipartBody(t, open.batchParts(3)...)), 409, "capture_already_complete")
	var st client.CaptureStatusResponse
	open.status().decode(t, &st)
	if st.Status != "failed" || st.Failure == nil || st.Failure.Code != "biometrics_deleted" {
		t.Errorf("status of the deleted open session: %+v", st)
	}
}

func TestDeviceCoolingOff(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	key, otherTenant := h.key("acme"), h.key("globex")
	start := func(k, token, device string) *response {
		return h.startWith(k, token, map[string]any{"device_id": device})
	}
	fail := func(n int, device string) {
		for i := range n {
			r := start(key, device+"-fail-"+h.clock.Now().Format("150405")+"-"+string(rune('a'+i)), device)
			if r.status != 200 {
				t.Fatalf("start %d for %s: %d %s", i, device, r.status, r.body)
			}
			id, _ := r.json(t)["session_id"].(string)
			h.clock.Advance(time.Second)
			h.decide(id, false)
		}
	}
	fail(4, "phone-1")
	if r := start(key, "phone-1-fifth", "phone-1"); r.status != 200 {
		t.Fatalf("after 4 failures: %d %s", r.status, r.body)
	}
	fail(1, "phone-1")
	r := start(key, "phone-1-sixth", "phone-1")
	wantError(t, r, 429, "device_cooling_off")
	if ra := r.header.Get("Retry-After"); ra != "1800" {
		t.Errorf("Retry-After = %q, want 1800 (30 minutes after the last failure)", ra)
	}
	// Other devices, the same device of another tenant, and starts without
	// a device are not affected.
	if r := start(key, "phone-2-first", "phone-2"); r.status != 200 {
		t.Errorf("another device: %d %s", r.status, r.body)
	}
	if r := start(otherTenant, "globex-phone-1", "phone-1"); r.status != 200 {
		t.Errorf("another tenant's device with the same id: %d %s", r.status, r.body)
	}
	if r := h.start(key, "no-device"); r.status != 200 {
		t.Errorf("a start without device_id: %d %s", r.status, r.body)
	}
	// After the cooling-off period the device may try again; a live result
	// ends the streak.
	h.clock.Advance(30 * time.Minute)
	r = start(key, "phone-1-after", "phone-1")
	if r.status != 200 {
		t.Fatalf("after the cooling-off: %d %s", r.status, r.body)
	}
	id, _ := r.json(t)["session_id"].(string)
	h.decide(id, true)
	fail(4, "phone-1")
	if r := start(key, "phone-1-streak", "phone-1"); r.status != 200 {
		t.Errorf("4 failures after a live result: %d %s", r.status, r.body)
	}
}

func TestDeviceLimitConfigurable(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *api.Config) { c.Device = api.DeviceLimit{MaxFailures: 2, CoolOff: time.Minute} })
	key := h.key("acme")
	for i := range 2 {
		r := h.startWith(key, "cfg-"+string(rune('a'+i)), map[string]any{"device_id": "d"})
		id, _ := r.json(t)["session_id"].(string)
		h.decide(id, false)
	}
	r := h.startWith(key, "cfg-c", map[string]any{"device_id": "d"})
	wantError(t, r, 429, "device_cooling_off")
	if r.header.Get("Retry-After") != "60" {
		t.Errorf("Retry-After = %q, want 60", r.header.Get("Retry-After"))
	}
	off := newHarness(t, func(c *api.Config) { c.Device = api.DeviceLimit{MaxFailures: -1} })
	key = off.key("acme")
	for i := range 6 {
		r := off.startWith(key, "off-"+string(rune('a'+i)), map[string]any{"device_id": "d"})
		if r.status != 200 {
			t.Fatalf("with the limit off, start %d: %d %s", i, r.status, r.body)
		}
		id, _ := r.json(t)["session_id"].(string)
		off.decide(id, false)
	}
}

// auditLog returns every audit record of the harness's store.
func (h *harness) auditLog() []*audit.Event {
	h.t.Helper()
	var events []*audit.Event
	if err := h.store.AuditEvents(context.Background(), store.AuditFilter{}, func(ev *audit.Event) error {
		events = append(events, ev)
		return nil
	}); err != nil {
		h.t.Fatal(err)
	}
	return events
}

// TestAuditTrail runs a session through every audited endpoint and checks
// the records: one per action, with tenant, key, session, outcome and
// decision, and nothing secret.
func TestAuditTrail(t *testing.T) {
	t.Parallel()
	m := &stubMatcher{
		match: func(context.Context, *imagein.Image, *imagein.Image, float64) (*biometric.MatchResult, error) {
			return &biometric.MatchResult{MatchScore: 91, IsMatch: true, Confidence: 90, Threshold: 80, SourceFaces: 1, TargetFaces: 1}, nil
		},
		reference: func(context.Context, *biometric.Session) (*imagein.Image, error) {
			return imagein.Decode(pngImage(t, 16, 16), imagein.Limits{})
		},
	}
	h := newHarness(t, func(c *api.Config) { c.Matcher = m; c.RateLimit = api.RateLimit{PerSecond: 1, Burst: 20} })
	key := h.key("acme")
	keyID := h.keyID(key)
	matchOnly := h.key("acme", biometric.ScopeFaceMatch)

	c := h.newCapture(key, "audit-1")
	c.upload(16)
	c.upload(16)
	if r := c.complete(map[string]any{"frame_count": 32}); r.status != http.StatusAccepted {
		t.Fatalf("complete: %d %s", r.status, r.body)
	}
	c.status()
	h.decide(c.id, true)
	h.results(key, c.id)
	h.results(key, "liveness_session_missing")
	target := pngImage(t, 16, 16)
	if r := h.do(request{method: "POST", path: faceMatchPath, key: key, body: map[string]any{
		"source_session_id": c.id, "target_image_base64": base64.StdEncoding.EncodeToString(target)}}); r.status != 200 {
		t.Fatalf("face-match: %d %s", r.status, r.body)
	}
	wantError(t, h.results(matchOnly, c.id), 403, "insufficient_scope")
	if r := h.do(request{method: "DELETE", path: "/v1/biometrics/liveness/" + c.id, key: key}); r.status != 200 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}

	type rec struct{ action, actor, session, outcome, decision string }
	var got []rec
	events := h.auditLog()
	for _, ev := range events {
		got = append(got, rec{ev.Action, string(ev.Actor), ev.SessionID, ev.Outcome, ev.Decision})
		if ev.Tenant != "acme" || ev.KeyID == "" || !strings.HasPrefix(ev.RequestID, "req_") || ev.Route == "" || ev.At.IsZero() {
			t.Errorf("record without who, what or when: %+v", ev)
		}
		if ev.Action != audit.ActionResults || ev.Outcome != "insufficient_scope" {
			if ev.KeyID != keyID {
				t.Errorf("record %s has key %s, want %s (the capture's records name the key that started it)", ev.Action, ev.KeyID, keyID)
			}
		}
	}
	want := []rec{
		{audit.ActionStart, "api_key", c.id, "ok", ""},
		{audit.ActionFrames, "session_token", c.id, "ok", ""},
		{audit.ActionFrames, "session_token", c.id, "ok", ""},
		{audit.ActionComplete, "session_token", c.id, "ok", ""},
		{audit.ActionResults, "api_key", c.id, "ok", "live"},
		{audit.ActionResults, "api_key", "liveness_session_missing", "session_not_found", ""},
		{audit.ActionFaceMatch, "api_key", c.id, "ok", "match"},
		{audit.ActionResults, "api_key", c.id, "insufficient_scope", ""},
		{audit.ActionDelete, "api_key", c.id, "ok", ""},
	}
	if !slices.Equal(got, want) {
		t.Errorf("audit records:\n got %v\nwant %v", got, want)
	}
	// Nothing secret: no API key, session token or image.
	dump, err := json.Marshal(events)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{key, matchOnly, c.token, auth.LiveKeyPrefix, auth.TestKeyPrefix, auth.SessionTokenPrefix, base64.StdEncoding.EncodeToString(target)[:24]} {
		if strings.Contains(string(dump), secret) {
			t.Errorf("the audit log contains %q", secret)
		}
	}

	// Rate-limited requests are not recorded.
	before := len(h.auditLog())
	for range 30 {
		h.results(key, c.id)
	}
	after := h.auditLog()
	limited := 0
	for _, ev := range after[before:] {
		if ev.Outcome == "rate_limited" {
			limited++
		}
	}
	if len(after)-before >= 30 || limited > 0 {
		t.Errorf("30 reads over the rate limit left %d records (%d rate_limited)", len(after)-before, limited)
	}
}

func TestSessionRateLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *api.Config) { c.SessionRateLimit = api.RateLimit{PerSecond: 1, Burst: 3} })
	key := h.key("acme")
	c := h.newCapture(key, "session-limit")
	other := h.newCapture(key, "session-limit-2")
	for i := range 3 {
		if r := c.status(); r.status != 200 {
			t.Fatalf("status %d within the burst: %d", i, r.status)
		}
	}
	r := c.status()
	wantError(t, r, 429, "rate_limited")
	if r.header.Get("Retry-After") != "1" {
		t.Errorf("Retry-After = %q, want 1", r.header.Get("Retry-After"))
	}
	if r := other.status(); r.status != 200 {
		t.Errorf("another session: %d", r.status)
	}
	h.clock.Advance(time.Second)
	if r := c.status(); r.status != 200 {
		t.Errorf("a second later: %d", r.status)
	}
}

func TestRequestTimeout(t *testing.T) {
	t.Parallel()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)
	h := newHarness(t, func(c *api.Config) { c.RequestTimeout = 100 * time.Millisecond })
	key := h.key("acme")
	began := time.Now()
	r := h.do(request{method: "POST", path: faceMatchPath, key: key, body: map[string]any{
		"source_image_url": slow.URL + "/a.jpg", "target_image_url": slow.URL + "/b.jpg"}})
	wantError(t, r, 503, "request_timeout")
	if d := time.Since(began); d > 3*time.Second {
		t.Errorf("the request took %v; the deadline is 200 ms for face-match", d)
	}
}

// TestRateLimitSharedAcrossReplicasPostgres runs two API servers on one
// PostgreSQL database with the store as their limiter: a key's requests
// to both count against one bucket.
func TestRateLimitSharedAcrossReplicasPostgres(t *testing.T) {
	t.Parallel()
	u := freshPostgres(t)
	sealer := seal.NewSealer(seal.NewKeyring())
	clk := &clock{t: time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)}
	images, err := imagein.NewFetcher(imagein.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var urls []string
	var st *store.DB
	for range 2 {
		db, err := postgres.Open(t.Context(), u, store.Options{Sealer: sealer, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		srv, err := api.New(api.Config{Store: db, Images: images, Now: clk.Now, Limiter: db,
			RateLimit: api.RateLimit{PerSecond: 0.5, Burst: 4}})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(srv)
		t.Cleanup(ts.Close)
		urls, st = append(urls, ts.URL), db
	}
	secret, k, err := auth.NewKey("acme", biometric.KeyModeTest, nil, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateKey(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: newContractTransport(t, http.DefaultTransport)}
	get := func(i int) *response {
		req, _ := http.NewRequest("GET", urls[i%2]+"/v1/biometrics/liveness/liveness_session_none/results", nil)
		req.Header.Set("X-API-Key", secret)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body json.RawMessage
		json.NewDecoder(resp.Body).Decode(&body)
		return &response{status: resp.StatusCode, header: resp.Header, body: body}
	}
	for i := range 4 {
		if r := get(i); r.status != 404 {
			t.Fatalf("request %d (replica %d) within the burst: %d %s", i, i%2, r.status, r.body)
		}
	}
	for i := range 2 {
		r := get(i)
		wantError(t, r, 429, "rate_limited")
		if r.header.Get("Retry-After") != "2" {
			t.Errorf("replica %d: Retry-After = %q, want 2", i, r.header.Get("Retry-After"))
		}
	}
	clk.Advance(2 * time.Second)
	if r := get(1); r.status != 404 {
		t.Errorf("2 s later on replica 1: %d", r.status)
	}
	wantError(t, get(0), 429, "rate_limited")
}

// freshPostgres creates an empty database for one test (pgtest.Database).
func freshPostgres(t *testing.T) string {
	t.Helper()
	return pgtest.Database(t, "everify_api_test_")
}

func TestFaceMatchAfterDeletion(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	key := h.key("acme")
	id, _ := h.startOK(key, "deleted-source")
	h.decide(id, true)
	if r := h.do(request{method: "DELETE", path: "/v1/biometrics/liveness/" + id, key: key}); r.status != 200 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	r := h.do(request{method: "POST", path: faceMatchPath, key: key, body: map[string]any{
		"source_session_id": id, "target_image_base64": base64.StdEncoding.EncodeToString(pngImage(t, 16, 16))}})
	wantError(t, r, 410, "session_biometrics_deleted")
}
