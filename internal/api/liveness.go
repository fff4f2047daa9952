package api

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/everify/everify/client"
	"github.com/everify/everify/internal/audit"
	"github.com/everify/everify/internal/auth"
	"github.com/everify/everify/internal/biometric"
)

// SessionIDPrefix starts every liveness session ID.
const SessionIDPrefix = "liveness_session_"

// Limits of the start request's optional fields.
const (
	maxClientSessionToken = 128
	maxMetadataEntries    = 16
	maxMetadataKey        = 64
	maxMetadataValue      = 256
	maxConsentReference   = 256
	maxDeviceID           = 128
)

// startLiveness creates a session for the caller's tenant, or returns the
// tenant's session already started with the same client_session_token
// while it is open, with a new session token that replaces the previous
// one (a client that lost the first response needs one). A repeated token
// whose session has ended is a 409.
func (s *Server) startLiveness(w http.ResponseWriter, r *http.Request) error {
	var req client.StartLivenessRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	return s.start(w, r, &req)
}

// demoStart is startLiveness for the demo page, as the demo key: the page
// sends no client_session_token, so every call starts a new session.
func (s *Server) demoStart(w http.ResponseWriter, r *http.Request) error {
	var req client.StartLivenessRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.ClientSessionToken == "" {
		req.ClientSessionToken = auth.NewID("demo_")
	}
	return s.start(w, r, &req)
}

// start starts (or returns, see startLiveness) the session that req asks
// for, as the request's API key.
func (s *Server) start(w http.ResponseWriter, r *http.Request, req *client.StartLivenessRequest) error {
	requested, err := checkStartRequest(req)
	if err != nil {
		return err
	}
	key := apiKeyOf(r)
	policy, err := s.challengePolicy(r.Context(), key.Tenant)
	if err != nil {
		return err
	}
	challenge, err := policy.Challenge(requested)
	if err != nil {
		return err
	}
	if req.ScreenLight && len(challenge.LightSequence) == 0 {
		if challenge.LightSequence, err = biometric.DrawLightSequence(rand.Reader); err != nil {
			return err
		}
	}
	if err := s.checkDevice(r.Context(), key.Tenant, req.DeviceID); err != nil {
		return err
	}
	now := s.now().UTC()
	token, hash := auth.NewSessionToken()
	sess, created, err := s.store.CreateSession(r.Context(), &biometric.Session{
		ID:                 auth.NewID(SessionIDPrefix),
		Tenant:             key.Tenant,
		KeyID:              key.ID,
		ClientSessionToken: req.ClientSessionToken,
		Status:             biometric.StatusCreated,
		Challenge:          challenge,
		TokenHash:          hash,
		CreatedAt:          now,
		UpdatedAt:          now,
		ExpiresAt:          now.Add(s.sessionTTL),
		Metadata:           req.Metadata,
		ConsentReference:   req.ConsentReference,
		DeviceID:           req.DeviceID,
		CaptureParams:      s.capture,
	})
	if err != nil {
		return err
	}
	message := "Liveness session started successfully."
	if !created {
		if sess, err = s.rotateToken(r.Context(), sess, hash); err != nil {
			return err
		}
		message = "A liveness session with this client_session_token is already open; it is returned with a new session_token, and the previous one no longer works."
	}
	s.writeJSON(w, r, http.StatusOK, startResponse(requestID(r.Context()), sess, token, message))
	return nil
}

// errSessionEnded stops a token rotation on a session that has ended.
var errSessionEnded = errors.New("session ended")

// rotateToken gives an open session a new session token hash, so that the
// previous token stops working. A session that has ended (or whose
// deadline has passed) is a 409 client_session_token_used.
func (s *Server) rotateToken(ctx context.Context, sess *biometric.Session, hash []byte) (*biometric.Session, error) {
	sess, err := s.expireIfDue(ctx, sess)
	if err != nil {
		return nil, err
	}
	now := s.now()
	status := sess.Status
	rotated, err := s.store.UpdateSession(ctx, sess.ID, func(x *biometric.Session) error {
		status = x.Status
		if captureDue(x, now) {
			status = biometric.StatusExpired
		}
		if status.Terminal() {
			return errSessionEnded
		}
		x.TokenHash = hash
		return nil
	})
	if errors.Is(err, errSessionEnded) {
		return nil, biometric.Errorf(biometric.KindConflict, "client_session_token_used",
			"client_session_token %q belongs to session %s, which has ended (%s); start a new session with a new client_session_token.",
			sess.ClientSessionToken, sess.ID, status)
	}
	if err != nil {
		return nil, err
	}
	return rotated, nil
}

// checkStartRequest validates a start request and returns the challenge
// steps it asks for, if any.
func checkStartRequest(req *client.StartLivenessRequest) ([]biometric.ChallengeType, error) {
	if err := checkClientSessionToken(req.ClientSessionToken); err != nil {
		return nil, err
	}
	if req.DeviceID != "" && !identifier(req.DeviceID, maxDeviceID) {
		return nil, invalidField("device_id", "invalid_device_id",
			"device_id must be 1-%d characters of letters, digits and . _ : - (or left out).", maxDeviceID)
	}
	if len(req.ConsentReference) > maxConsentReference || !printable(req.ConsentReference) {
		return nil, invalidField("consent_reference", "invalid_consent_reference",
			"consent_reference must be at most %d bytes of printable text.", maxConsentReference)
	}
	var requested []biometric.ChallengeType
	seen := map[biometric.ChallengeType]bool{}
	for _, c := range req.ChallengeTypes {
		t := biometric.ChallengeType(c)
		if !biometric.ValidChallenge(t) {
			return nil, invalidField("challenge_types", "invalid_challenge_type",
				"Challenge type %q is not known; use any of %v.", c, biometric.AllChallenges)
		}
		if seen[t] {
			return nil, invalidField("challenge_types", "invalid_challenge_type", "Challenge type %q is listed twice.", c)
		}
		seen[t] = true
		requested = append(requested, t)
	}
	if req.ChallengeTypes != nil && len(requested) == 0 {
		return nil, invalidField("challenge_types", "invalid_challenge_type",
			"challenge_types is empty; leave it out to let the server choose, or list at least one type.")
	}
	if len(req.Metadata) > maxMetadataEntries {
		return nil, invalidField("metadata", "invalid_metadata", "metadata has %d entries; at most %d are allowed.", len(req.Metadata), maxMetadataEntries)
	}
	for k, v := range req.Metadata {
		if k == "" || len(k) > maxMetadataKey || len(v) > maxMetadataValue {
			return nil, invalidField("metadata", "invalid_metadata",
				"metadata keys must be 1-%d bytes and values at most %d bytes.", maxMetadataKey, maxMetadataValue)
		}
	}
	return requested, nil
}

// checkClientSessionToken requires 1-128 characters of [A-Za-z0-9._:-].
func checkClientSessionToken(t string) error {
	if t == "" {
		return invalidField("client_session_token", "missing_client_session_token",
			"client_session_token is required: send your own unique identifier for this session.")
	}
	if !identifier(t, maxClientSessionToken) {
		return invalidField("client_session_token", "invalid_client_session_token",
			"client_session_token must be 1-%d characters of letters, digits and . _ : -", maxClientSessionToken)
	}
	return nil
}

// identifier reports whether t is 1-max characters of [A-Za-z0-9._:-].
func identifier(t string, max int) bool {
	ok := t != "" && len(t) <= max
	for i := 0; ok && i < len(t); i++ {
		c := t[i]
		ok = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-'
	}
	return ok
}

// printable reports whether t is valid UTF-8 without control characters.
func printable(t string) bool {
	if !utf8.ValidString(t) {
		return false
	}
	for _, c := range t {
		if unicode.IsControl(c) {
			return false
		}
	}
	return true
}

// invalidField returns a 400 naming the field at fault.
func invalidField(field, code, format string, args ...any) *biometric.Error {
	e := biometric.Errorf(biometric.KindInvalid, code, format, args...)
	e.Field = field
	return e
}

func startResponse(reqID string, sess *biometric.Session, token, message string) client.StartLivenessResponse {
	resp := client.StartLivenessResponse{
		RequestID:    reqID,
		SessionID:    sess.ID,
		Status:       string(sess.Status),
		SessionToken: token,
		ExpiresAt:    sess.ExpiresAt.UTC(),
		Capture:      wireCapture(sess),
		Message:      message,
	}
	for i, st := range sess.Challenge.Steps {
		if i == 0 {
			resp.ChallengeDetails.ChallengeType = string(st.Type)
			resp.ChallengeDetails.Instructions = st.Instructions
		}
		resp.ChallengeDetails.Steps = append(resp.ChallengeDetails.Steps,
			client.ChallengeStep{ChallengeType: string(st.Type), Instructions: st.Instructions})
	}
	for _, l := range sess.Challenge.LightSequence {
		resp.ChallengeDetails.LightSequence = append(resp.ChallengeDetails.LightSequence,
			client.LightColor{Color: l.Color, DurationMS: l.DurationMS})
	}
	return resp
}

var errSessionNotFound = biometric.Errorf(biometric.KindNotFound, "session_not_found",
	"No liveness session with this ID exists for your tenant; use the session_id returned by liveness/start.")

// livenessResults reports a session's status and, once completed, its
// result. Another tenant's session is indistinguishable from a missing one.
func (s *Server) livenessResults(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.tenantSession(r.Context(), apiKeyOf(r).Tenant, r.PathValue("session_id"))
	if err != nil {
		return err
	}
	setDecision(r.Context(), audit.SessionDecision(sess))
	resp := client.LivenessResultsResponse{
		RequestID:           requestID(r.Context()),
		SessionID:           sess.ID,
		Status:              string(sess.Status),
		CreatedAt:           sess.CreatedAt.UTC(),
		ExpiresAt:           sess.ExpiresAt.UTC(),
		CompletedAt:         sess.CompletedAt,
		ConsentReference:    sess.ConsentReference,
		DeviceID:            sess.DeviceID,
		BiometricsDeletedAt: sess.BiometricsDeletedAt,
		Message:             statusMessage(sess),
	}
	if sess.Status == biometric.StatusCompleted {
		resp.Result = wireLivenessResult(sess.Result)
	}
	if sess.Status == biometric.StatusFailed && sess.Failure != nil {
		resp.Failure = &client.Failure{Code: sess.Failure.Code, Message: sess.Failure.Message, Retryable: sess.Failure.Retryable}
	}
	s.writeJSON(w, r, http.StatusOK, resp)
	return nil
}

// tenantSession returns the tenant's session, expired first if its
// deadline has passed, or a 404.
func (s *Server) tenantSession(ctx context.Context, tenant, id string) (*biometric.Session, error) {
	sess, err := s.store.Session(ctx, tenant, id)
	if biometric.IsKind(err, biometric.KindNotFound) {
		return nil, errSessionNotFound
	}
	if err != nil {
		return nil, err
	}
	return s.expireIfDue(ctx, sess)
}

// errNotDue stops an expiry transaction that found nothing to do.
var errNotDue = errors.New("session not due for expiry")

// expireIfDue moves a session that is still waiting for its capture
// (created or in_progress) to expired once its deadline has passed, and
// returns the session as stored. Sessions whose capture was submitted do
// not expire.
func (s *Server) expireIfDue(ctx context.Context, sess *biometric.Session) (*biometric.Session, error) {
	now := s.now()
	if !captureDue(sess, now) {
		return sess, nil
	}
	updated, err := s.store.UpdateSession(ctx, sess.ID, func(x *biometric.Session) error {
		if !captureDue(x, now) {
			return errNotDue
		}
		x.Status = biometric.StatusExpired
		return nil
	})
	if errors.Is(err, errNotDue) {
		// Another request moved it on meanwhile; report what is stored.
		return s.store.Session(ctx, sess.Tenant, sess.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("expiring session %s: %w", sess.ID, err)
	}
	return updated, nil
}

// captureDue reports whether x is still waiting for its capture (created
// or in_progress) although its deadline has passed at now.
func captureDue(x *biometric.Session, now time.Time) bool {
	return (x.Status == biometric.StatusCreated || x.Status == biometric.StatusInProgress) && !now.Before(x.ExpiresAt)
}

// statusMessage is the results message for each status.
func statusMessage(sess *biometric.Session) string {
	switch sess.Status {
	case biometric.StatusCreated:
		return "The liveness session is waiting for its capture."
	case biometric.StatusInProgress:
		return "The capture is in progress."
	case biometric.StatusProcessing:
		return "The capture is being analysed; poll again in a moment."
	case biometric.StatusCompleted:
		return "Liveness detection results retrieved successfully."
	case biometric.StatusFailed:
		return "The liveness analysis could not reach a decision; see failure."
	case biometric.StatusExpired:
		return fmt.Sprintf("The session expired at %s before a capture was submitted; start a new session.",
			sess.ExpiresAt.UTC().Format(time.RFC3339))
	default:
		return "Liveness session status retrieved."
	}
}
