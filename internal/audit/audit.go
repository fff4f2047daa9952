// Package audit defines everify's audit trail: append-only records of who
// (tenant, API key) did what (action, endpoint, session, outcome, decision)
// and when. A record holds identifiers and short codes only — never an
// image, an embedding, landmarks, an API key, a session token or a signing
// secret — so that the trail can be exported and kept long after the
// biometric data it speaks of has been deleted.
//
// Records are written by the store, in the transaction of the action they
// record where there is one (see Pending), and are never updated; only the
// retention job deletes them, once they are older than the record
// retention.
package audit

import (
	"context"
	"sync"
	"time"

	"github.com/everify/everify/internal/biometric"
)

// Actor says on whose authority an action was taken.
type Actor string

// The actors.
const (
	ActorAPIKey       Actor = "api_key"       // a tenant's backend, with its API key
	ActorSessionToken Actor = "session_token" // a capture client, with a session token (KeyID is the key that started the session)
	ActorSystem       Actor = "system"        // the service itself: analysis, retention, webhooks
	ActorOperator     Actor = "operator"      // the command line: keys, tenants, master key rotation
)

// The actions.
const (
	ActionStart          = "liveness.start"
	ActionResults        = "liveness.results"
	ActionDelete         = "liveness.delete"
	ActionFrames         = "capture.frames"
	ActionComplete       = "capture.complete"
	ActionFaceMatch      = "face_match"
	ActionAnalysed       = "liveness.analysed"
	ActionPurged         = "biometrics.purged"
	ActionWebhook        = "webhook.delivery"
	ActionKeyCreate      = "api_key.create"
	ActionKeyRevoke      = "api_key.revoke"
	ActionWebhookSet     = "tenant.webhook_set"
	ActionWebhookRemove  = "tenant.webhook_remove"
	ActionChallengeSet   = "tenant.challenge_set"
	ActionChallengeClear = "tenant.challenge_clear"
	ActionMasterRotation = "master_key.rotate"
)

// OutcomeOK is the outcome of an action that succeeded; a failed one has
// the error code it was answered with.
const OutcomeOK = "ok"

// Event is one audit record.
type Event struct {
	ID        int64     `json:"id"` // increasing in insertion order; set by the store
	At        time.Time `json:"at"`
	Tenant    string    `json:"tenant,omitempty"`
	KeyID     string    `json:"key_id,omitempty"`
	Actor     Actor     `json:"actor"`
	Action    string    `json:"action"`
	Route     string    `json:"route,omitempty"` // the endpoint, e.g. "POST /v1/biometrics/liveness/start"
	SessionID string    `json:"session_id,omitempty"`
	RequestID string    `json:"request_id,omitempty"`
	Outcome   string    `json:"outcome"`            // OutcomeOK or an error code
	Decision  string    `json:"decision,omitempty"` // e.g. "live", "not_live", "spoof", "match", "no_match", "failed:poor_quality"
}

// Pending is an event waiting to be recorded: a request handler (or a
// worker) puts one in its context, and the store records it in the
// transaction of the first write that the context's holder commits, so that
// the action and its record commit together. An event that no write claims
// (a read, or a request refused before it wrote anything) is recorded by
// its owner afterwards, with AppendAudit. It is safe for concurrent use.
type Pending struct {
	mu            sync.Mutex
	ev            Event
	transactional bool
	claimed       bool
}

type pendingKey struct{}

// WithPending returns a context carrying ev, pending. When transactional,
// the store records ev with the first write committed under the context;
// otherwise the owner records it.
func WithPending(ctx context.Context, ev Event, transactional bool) (context.Context, *Pending) {
	p := &Pending{ev: ev, transactional: transactional}
	return context.WithValue(ctx, pendingKey{}, p), p
}

// PendingFrom returns the context's pending event, or nil.
func PendingFrom(ctx context.Context) *Pending {
	p, _ := ctx.Value(pendingKey{}).(*Pending)
	return p
}

// Update changes the pending event (to add a session id or a decision
// learnt while handling the request).
func (p *Pending) Update(fn func(*Event)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fn(&p.ev)
}

// ClaimForTx returns the event for a transaction to record, and marks it
// claimed, if it is transactional and not claimed yet. A transaction that
// then fails to commit calls Unclaim.
func (p *Pending) ClaimForTx() (Event, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.transactional || p.claimed {
		return Event{}, false
	}
	p.claimed = true
	return p.ev, true
}

// Claim returns the event for its owner to record, and marks it claimed,
// unless a transaction has recorded it already.
func (p *Pending) Claim() (Event, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.claimed {
		return Event{}, false
	}
	p.claimed = true
	return p.ev, true
}

// Unclaim undoes a claim whose transaction did not commit.
func (p *Pending) Unclaim() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.claimed = false
}

// SessionDecision is the decision of an audit record about session s: for
// a completed session "live", "not_live" or "spoof" (not live, with
// positive evidence of an attack), for a failed one "failed:" and its
// failure code, otherwise its status.
func SessionDecision(s *biometric.Session) string {
	switch {
	case s.Status == biometric.StatusCompleted && s.Result != nil:
		switch {
		case s.Result.IsLive:
			return "live"
		case s.Result.SpoofAttemptDetected:
			return "spoof"
		}
		return "not_live"
	case s.Status == biometric.StatusFailed && s.Failure != nil:
		return "failed:" + s.Failure.Code
	}
	return string(s.Status)
}
