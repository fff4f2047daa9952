package jobs

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/everify/everify/client"
	"github.com/everify/everify/internal/audit"
	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/imagein"
	"github.com/everify/everify/internal/store"
)

// receiver is a webhook receiver: it verifies each delivery's signature
// as a tenant would, and answers with the statuses it is given in turn.
type receiver struct {
	*httptest.Server
	secret []byte

	mu         sync.Mutex
	statuses   []int // answered in turn; 200 once they run out
	deliveries []delivery
}

type delivery struct {
	eventID, attempt string
	verifyErr        error
	event            client.WebhookEvent
	decodeErr        error
}

func newReceiver(t *testing.T, secret []byte, statuses ...int) *receiver {
	t.Helper()
	r := &receiver{secret: secret, statuses: statuses}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		d := delivery{eventID: req.Header.Get(client.WebhookEventIDHeader), attempt: req.Header.Get("Everify-Delivery-Attempt")}
		d.verifyErr = client.VerifyWebhook(r.secret, req.Header.Get(client.WebhookSignatureHeader), body, time.Now(), 5*time.Minute)
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		d.decodeErr = dec.Decode(&d.event)
		r.mu.Lock()
		r.deliveries = append(r.deliveries, d)
		status := http.StatusOK
		if len(r.statuses) > 0 {
			status, r.statuses = r.statuses[0], r.statuses[1:]
		}
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) received() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.deliveries)
}

// webhookClient is the client serve builds: the image fetcher's guarded
// transport with the given allowlist.
func webhookClient(t *testing.T, allow ...string) HTTPDoer {
	t.Helper()
	f, err := imagein.NewFetcher(imagein.Options{Allow: allow})
	if err != nil {
		t.Fatal(err)
	}
	return NewWebhookClient(f.Transport())
}

// auditEvents returns the audit records of the given action.
func auditEvents(t *testing.T, db *store.DB, action string) []*audit.Event {
	t.Helper()
	var out []*audit.Event
	err := db.AuditEvents(t.Context(), store.AuditFilter{}, func(ev *audit.Event) error {
		if ev.Action == action {
			out = append(out, ev)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitFor polls cond until it holds, or fails the test after 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within 30 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWebhookDelivery analyses a capture of a tenant with a webhook whose
// receiver fails the first delivery: the event is delivered again, signed
// (the receiver verifies the signature), with the same event id, and the
// delivery is audited. Another tenant without a webhook gets nothing.
func TestWebhookDelivery(t *testing.T) {
	t.Parallel()
	secret := []byte("whsec_test_secret_0123456789")
	rcv := newReceiver(t, secret, http.StatusInternalServerError)
	cfg := fastConfig(newFakeAnalyzer())
	cfg.WebhookClient = webhookClient(t, "127.0.0.1")
	cfg.WebhookRetryDelay = 50 * time.Millisecond
	e := openSQLite(t, t.TempDir(), cfg)
	if err := e.db.SetWebhook(t.Context(), "acme", rcv.URL+"/everify?source=test", secret); err != nil {
		t.Fatal(err)
	}
	s := submit(t, e.db, "acme", 4)
	quiet := submit(t, e.db, "quiet", 4)
	e.start(t)

	waitFor(t, "the second delivery", func() bool { return len(rcv.received()) >= 2 })
	jobs := waitJobs(t, e.queue, webhookArgs{}.Kind(), 1)
	if jobs[0].State != rivertype.JobStateCompleted || jobs[0].Attempt != 2 {
		t.Errorf("webhook job %s after %d attempts, want completed after 2", jobs[0].State, jobs[0].Attempt)
	}
	got := rcv.received()
	if len(got) != 2 {
		t.Fatalf("%d deliveries, want 2", len(got))
	}
	for i, d := range got {
		if d.verifyErr != nil {
			t.Errorf("delivery %d: the signature does not verify: %v", i, d.verifyErr)
		}
		if d.decodeErr != nil {
			t.Errorf("delivery %d: the body is not a client.WebhookEvent: %v", i, d.decodeErr)
		}
		if d.attempt != strconv.Itoa(i+1) || d.eventID != got[0].eventID || d.event.ID != d.eventID {
			t.Errorf("delivery %d: attempt %s, event %s/%s; want attempt %d of event %s", i, d.attempt, d.eventID, d.event.ID, i+1, got[0].eventID)
		}
	}
	ev := got[1].event
	if ev.Type != client.EventLivenessCompleted || ev.Data.SessionID != s.ID || ev.Data.Status != "completed" ||
		ev.Data.Result == nil || !ev.Data.Result.IsLive || ev.Data.ClientSessionToken != s.ClientSessionToken {
		t.Errorf("event %+v", ev)
	}
	// A wrong secret does not verify the same delivery.
	if err := client.VerifyWebhook([]byte("another secret"), client.SignWebhook(secret, time.Now(), []byte("{}")), []byte("{}"), time.Now(), time.Minute); err == nil {
		t.Error("a signature verified with the wrong secret")
	}

	waitFor(t, "the webhook audit record", func() bool { return len(auditEvents(t, e.db, audit.ActionWebhook)) == 1 })
	rec := auditEvents(t, e.db, audit.ActionWebhook)[0]
	if rec.SessionID != s.ID || rec.Outcome != audit.OutcomeOK || rec.Decision != "http_200" || rec.Tenant != "acme" || rec.KeyID != "key_test" {
		t.Errorf("webhook audit record %+v", rec)
	}
	waitStatus(t, e.db, quiet.ID, biometric.StatusCompleted)
	analysed := auditEvents(t, e.db, audit.ActionAnalysed)
	if len(analysed) != 2 || !slices.ContainsFunc(analysed, func(ev *audit.Event) bool {
		return ev.SessionID == s.ID && ev.Decision == "live" && ev.Actor == audit.ActorSystem && ev.KeyID == "key_test"
	}) {
		t.Errorf("liveness.analysed records %+v", analysed)
	}
	for _, d := range rcv.received() {
		if d.event.Data.SessionID == quiet.ID {
			t.Error("a tenant without a webhook got a delivery")
		}
	}
}

// TestWebhookRefusesInternalAddress configures a webhook on a loopback
// address without allowlisting it: the SSRF guard refuses every attempt,
// the receiver is never reached, and the failure is audited.
func TestWebhookRefusesInternalAddress(t *testing.T) {
	t.Parallel()
	secret := []byte("whsec_x")
	rcv := newReceiver(t, secret)
	cfg := fastConfig(newFakeAnalyzer())
	cfg.WebhookClient = webhookClient(t) // public destinations only
	cfg.WebhookAttempts = 2
	cfg.WebhookRetryDelay = 20 * time.Millisecond
	e := openSQLite(t, t.TempDir(), cfg)
	if err := e.db.SetWebhook(t.Context(), "acme", rcv.URL+"/hook", secret); err != nil {
		t.Fatal(err)
	}
	s := submit(t, e.db, "acme", 4)
	e.start(t)

	jobs := waitJobs(t, e.queue, webhookArgs{}.Kind(), 1)
	if jobs[0].State != rivertype.JobStateDiscarded || jobs[0].Attempt != 2 {
		t.Errorf("webhook job %s after %d attempts, want discarded after 2", jobs[0].State, jobs[0].Attempt)
	}
	if n := len(rcv.received()); n != 0 {
		t.Errorf("the receiver on a loopback address was reached %d times", n)
	}
	if len(jobs[0].Errors) == 0 || !bytes.Contains([]byte(jobs[0].Errors[0].Error), []byte("internal or reserved")) {
		t.Errorf("job errors %+v, want the SSRF guard's refusal", jobs[0].Errors)
	}
	recs := auditEvents(t, e.db, audit.ActionWebhook)
	if len(recs) != 1 || recs[0].SessionID != s.ID || recs[0].Outcome != "webhook_failed" {
		t.Errorf("webhook audit records %+v, want one webhook_failed", recs)
	}
}

// TestRetentionPurge runs the periodic purge over sessions of different
// ages: biometrics older than the retention are erased with the decision
// kept, younger ones stay, and decisions and audit records older than
// their retention are deleted.
func TestRetentionPurge(t *testing.T) {
	t.Parallel()
	cfg := fastConfig(nil)
	cfg.PurgeInterval = 100 * time.Millisecond
	cfg.BiometricRetention = 24 * time.Hour
	cfg.RecordRetention = 30 * 24 * time.Hour
	e := openSQLite(t, t.TempDir(), cfg)
	ctx := t.Context()
	now := time.Now()
	decided := func(age time.Duration) *biometric.Session {
		t.Helper()
		s := submit(t, e.db, "acme", 4)
		if _, err := e.db.SQL().ExecContext(ctx, "UPDATE sessions SET created_at = ? WHERE id = ?", now.Add(-age).UnixMilli(), s.ID); err != nil {
			t.Fatal(err)
		}
		done, err := e.db.CompleteSession(ctx, s.ID, jpegBytes(32, 32, 1), func(x *biometric.Session) error {
			r := newFakeAnalyzer().result
			r.ReferenceFace = &biometric.FaceInfo{Confidence: 99}
			x.Status, x.Result, x.CompletedAt = biometric.StatusCompleted, &r, &now
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return done
	}
	old, young, ancient := decided(48*time.Hour), decided(time.Hour), decided(40*24*time.Hour)
	if err := e.db.AppendAudit(ctx, &audit.Event{At: now.Add(-40 * 24 * time.Hour), Actor: audit.ActorSystem, Action: "test.ancient"}); err != nil {
		t.Fatal(err)
	}
	e.start(t)

	// One run deletes the ancient session, then the ancient audit record.
	waitFor(t, "the purge of the ancient session and audit record", func() bool {
		_, err := e.db.SessionByID(ctx, ancient.ID)
		return biometric.IsKind(err, biometric.KindNotFound) && len(auditEvents(t, e.db, "test.ancient")) == 0
	})
	got, err := e.db.SessionByID(ctx, old.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.BiometricsDeletedAt == nil || got.Status != biometric.StatusCompleted || got.Result == nil || !got.Result.IsLive || got.Result.ReferenceFace != nil {
		t.Errorf("the day-old session after the purge: deleted %v, %s, %+v", got.BiometricsDeletedAt, got.Status, got.Result)
	}
	if _, err := e.db.Capture(ctx, old.ID); !biometric.IsKind(err, biometric.KindNotFound) {
		t.Errorf("the day-old capture survived: %v", err)
	}
	if _, err := e.db.ReferenceFace(ctx, old.ID); !biometric.IsKind(err, biometric.KindNotFound) {
		t.Errorf("the day-old reference face survived: %v", err)
	}
	if _, err := e.db.Capture(ctx, young.ID); err != nil {
		t.Errorf("the hour-old capture was purged: %v", err)
	}
	if _, err := e.db.ReferenceFace(ctx, young.ID); err != nil {
		t.Errorf("the hour-old reference face was purged: %v", err)
	}
	var purged []string
	for _, ev := range auditEvents(t, e.db, audit.ActionPurged) {
		purged = append(purged, ev.SessionID)
	}
	if !slices.Contains(purged, old.ID) || slices.Contains(purged, young.ID) {
		t.Errorf("biometrics.purged records for %v; want %s and not %s", purged, old.ID, young.ID)
	}
}

func TestRetentionConfig(t *testing.T) {
	t.Parallel()
	cfg := fastConfig(nil)
	cfg.BiometricRetention, cfg.RecordRetention = 48*time.Hour, 24*time.Hour
	cfg.Driver, cfg.Store = nil, nil
	e := openSQLite(t, t.TempDir(), fastConfig(nil))
	cfg.Driver, cfg.Store = e.queue.client.Driver(), e.db
	if _, err := New(cfg); err == nil {
		t.Error("a record retention shorter than the biometric retention was accepted")
	}
}
