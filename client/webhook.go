package client

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Webhook headers. Everify-Signature is "t=<unix seconds>,v1=<hex>", where
// the hex is the HMAC-SHA256, keyed with the tenant's signing secret, of
// the timestamp, a dot and the raw request body.
const (
	WebhookSignatureHeader = "Everify-Signature"
	WebhookEventIDHeader   = "Everify-Event-Id"
)

// The webhook event types.
const (
	EventLivenessCompleted = "liveness.session.completed"
	EventLivenessFailed    = "liveness.session.failed"
)

// WebhookEvent is the body of a webhook delivery: everify POSTs one when a
// liveness session of the tenant completes or fails. A delivery is retried
// until it is answered with a 2xx status, so the same event (same ID) may
// arrive more than once.
type WebhookEvent struct {
	ID        string              `json:"id"`   // "evt_…", the same on every retry
	Type      string              `json:"type"` // EventLivenessCompleted or EventLivenessFailed
	CreatedAt time.Time           `json:"created_at"`
	Data      WebhookSessionEvent `json:"data"`
}

// WebhookSessionEvent is the session a webhook event is about: what
// …/results returns for it.
type WebhookSessionEvent struct {
	SessionID          string          `json:"session_id"`
	ClientSessionToken string          `json:"client_session_token"`
	Status             string          `json:"status"`
	Result             *LivenessResult `json:"result,omitempty"`
	Failure            *Failure        `json:"failure,omitempty"`
	ConsentReference   string          `json:"consent_reference,omitempty"`
	DeviceID           string          `json:"device_id,omitempty"`
	CreatedAt          time.Time       `json:"created_at"`
	CompletedAt        *time.Time      `json:"completed_at,omitempty"`
}

// SignWebhook returns the Everify-Signature header value for body sent at
// t, signed with secret.
func SignWebhook(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(webhookMAC(secret, ts, body))
}

// VerifyWebhook checks a webhook's Everify-Signature header against body
// with the tenant's signing secret, and that its timestamp is within
// tolerance of now (replayed deliveries are refused). Several v1 values
// are accepted, any of which may match.
func VerifyWebhook(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			if sig, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, sig)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return errors.New("everify webhook: the signature header has no t=… and v1=… parts")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("everify webhook: the signature's timestamp is %s away from now (tolerance %s)", d.Round(time.Second), tolerance)
	}
	want := webhookMAC(secret, ts, body)
	for _, sig := range sigs {
		if hmac.Equal(sig, want) {
			return nil
		}
	}
	return errors.New("everify webhook: the signature does not match the body")
}

// webhookMAC is HMAC-SHA256(secret, ts + "." + body).
func webhookMAC(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}
