package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/riverqueue/river"

	"github.com/everify/everify/client"
	"github.com/everify/everify/internal/audit"
	"github.com/everify/everify/internal/biometric"
)

// webhookArgs is the job that delivers one session's webhook event.
type webhookArgs struct {
	EventID   string `json:"event_id"` // the same on every attempt
	SessionID string `json:"session_id"`
	Tenant    string `json:"tenant"`
}

// Kind implements river.JobArgs.
func (webhookArgs) Kind() string { return "webhook_delivery" }

// InsertOpts puts the job on the webhook queue.
func (webhookArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: webhookQueue} }

// webhookPayload is the body of a delivery. It has the JSON shape of
// client.WebhookEvent; the domain result and failure encode as their wire
// types do (TestWireTypesMatchDomain in package api checks that).
type webhookPayload struct {
	ID        string         `json:"id"`
	Type      string         `json:"type"`
	CreatedAt time.Time      `json:"created_at"`
	Data      webhookSession `json:"data"`
}

type webhookSession struct {
	SessionID          string                    `json:"session_id"`
	ClientSessionToken string                    `json:"client_session_token"`
	Status             string                    `json:"status"`
	Result             *biometric.LivenessResult `json:"result,omitempty"`
	Failure            *biometric.Failure        `json:"failure,omitempty"`
	ConsentReference   string                    `json:"consent_reference,omitempty"`
	DeviceID           string                    `json:"device_id,omitempty"`
	CreatedAt          time.Time                 `json:"created_at"`
	CompletedAt        *time.Time                `json:"completed_at,omitempty"`
}

// maxWebhookResponse is how much of a receiver's answer is read (and
// discarded).
const maxWebhookResponse = 64 << 10

// webhookWorker delivers webhook events: a POST of the session's outcome
// to the tenant's URL, signed with the tenant's secret, retried with
// backoff until a 2xx answer or the last attempt. Every final outcome is
// audited.
type webhookWorker struct {
	river.WorkerDefaults[webhookArgs]
	store      Store
	client     HTTPDoer
	log        *slog.Logger
	now        func() time.Time
	timeout    time.Duration
	retryDelay time.Duration
}

// Timeout bounds one attempt: the request's own timeout and a little more.
func (w *webhookWorker) Timeout(*river.Job[webhookArgs]) time.Duration {
	return w.timeout + 5*time.Second
}

// NextRetry waits retryDelay before the first retry and four times longer
// before each next one, up to an hour.
func (w *webhookWorker) NextRetry(job *river.Job[webhookArgs]) time.Time {
	d := w.retryDelay
	for i := 1; i < job.Attempt && d < maxWebhookRetryDelay; i++ {
		d *= 4
	}
	return w.now().Add(min(d, maxWebhookRetryDelay))
}

// Work makes one delivery attempt.
func (w *webhookWorker) Work(ctx context.Context, job *river.Job[webhookArgs]) error {
	args := job.Args
	s, err := w.store.SessionByID(ctx, args.SessionID)
	if biometric.IsKind(err, biometric.KindNotFound) {
		return river.JobCancel(fmt.Errorf("session %s no longer exists", args.SessionID))
	}
	if err != nil {
		return err
	}
	target, secret, err := w.store.WebhookTarget(ctx, args.Tenant)
	if biometric.IsKind(err, biometric.KindNotFound) {
		w.record(ctx, s, "webhook_removed", "")
		return river.JobCancel(fmt.Errorf("tenant %s has no webhook any more", args.Tenant))
	}
	if err != nil {
		return err
	}
	body, err := json.Marshal(payload(args.EventID, job.CreatedAt, s))
	if err != nil {
		return river.JobCancel(fmt.Errorf("encoding the webhook event: %w", err))
	}
	status, err := w.post(ctx, target, secret, args.EventID, job.Attempt, body)
	if err == nil {
		w.record(ctx, s, audit.OutcomeOK, "http_"+strconv.Itoa(status))
		return nil
	}
	w.log.Warn("webhook delivery failed", slog.String("session_id", s.ID), slog.String("tenant", s.Tenant),
		slog.String("host", hostOf(target)), slog.Int("attempt", job.Attempt), slog.Int("max_attempts", job.MaxAttempts),
		slog.String("error", err.Error()))
	if job.Attempt >= job.MaxAttempts {
		decision := ""
		if status > 0 {
			decision = "http_" + strconv.Itoa(status)
		}
		w.record(ctx, s, "webhook_failed", decision)
	}
	return err
}

// post sends one signed delivery and returns the receiver's status, or an
// error unless it is 2xx.
func (w *webhookWorker) post(ctx context.Context, target string, secret []byte, eventID string, attempt int, body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, river.JobCancel(fmt.Errorf("webhook URL: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "everify-webhooks/1")
	req.Header.Set(client.WebhookEventIDHeader, eventID)
	req.Header.Set("Everify-Delivery-Attempt", strconv.Itoa(attempt))
	req.Header.Set(client.WebhookSignatureHeader, client.SignWebhook(secret, w.now(), body))
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("posting to %s: %w", hostOf(target), err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxWebhookResponse)) //nolint:errcheck // only to reuse the connection
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("%s answered HTTP %d", hostOf(target), resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// record audits a delivery's final outcome; a failure to record is logged,
// not retried (the delivery itself happened or not).
func (w *webhookWorker) record(ctx context.Context, s *biometric.Session, outcome, decision string) {
	err := w.store.AppendAudit(ctx, &audit.Event{Tenant: s.Tenant, KeyID: s.KeyID, Actor: audit.ActorSystem,
		Action: audit.ActionWebhook, SessionID: s.ID, Outcome: outcome, Decision: decision})
	if err != nil {
		w.log.Error("recording a webhook delivery in the audit log", slog.String("session_id", s.ID), slog.String("error", err.Error()))
	}
}

// payload is the event for session s.
func payload(eventID string, created time.Time, s *biometric.Session) webhookPayload {
	p := webhookPayload{ID: eventID, Type: client.EventLivenessFailed, CreatedAt: created.UTC(), Data: webhookSession{
		SessionID: s.ID, ClientSessionToken: s.ClientSessionToken, Status: string(s.Status), Failure: s.Failure,
		ConsentReference: s.ConsentReference, DeviceID: s.DeviceID, CreatedAt: s.CreatedAt.UTC(), CompletedAt: s.CompletedAt,
	}}
	if s.Status == biometric.StatusCompleted {
		p.Type, p.Data.Result = client.EventLivenessCompleted, s.Result
	}
	return p
}

// hostOf returns the host of a webhook URL, for logs (the URL's path and
// query may carry the tenant's own secrets).
func hostOf(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Host
}

// NewWebhookClient returns the HTTP client for webhook deliveries over
// transport (the image fetcher's SSRF-guarded transport): it follows no
// redirects, since a redirect could lead a delivery where the guard would
// not have let it go directly, and the receiver's address is configured.
func NewWebhookClient(transport http.RoundTripper) *http.Client {
	return &http.Client{
		Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
