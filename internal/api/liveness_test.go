package api_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/everify/everify/client"
	"github.com/everify/everify/internal/api"
	"github.com/everify/everify/internal/auth"
	"github.com/everify/everify/internal/biometric"
)

func TestStartLiveness(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	key := h.key("acme")
	r := h.start(key, "order-1234")
	if r.status != http.StatusOK {
		t.Fatalf("start: %d %s", r.status, r.body)
	}
	var got client.StartLivenessResponse
	r.decode(t, &got)

	if !strings.HasPrefix(got.SessionID, api.SessionIDPrefix) || got.Status != "created" || got.Message != "Liveness session started successfully." {
		t.Errorf("unexpected response %+v", got)
	}
	cd := got.ChallengeDetails
	if len(cd.Steps) != 1 || cd.ChallengeType != cd.Steps[0].ChallengeType || cd.Instructions != biometric.ChallengeInstructions[biometric.ChallengeType(cd.ChallengeType)] {
		t.Errorf("challenge_details %+v: want one step, shown as the seed's challenge_type/instructions", cd)
	}
	if want := h.clock.Now().Add(api.DefaultSessionTTL); !got.ExpiresAt.Equal(want) {
		t.Errorf("expires_at = %v, want %v (10 minutes)", got.ExpiresAt, want)
	}

	// What is stored: the tenant, the key, only the token's hash.
	s, err := h.store.Session(context.Background(), "acme", got.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	if s.KeyID != h.keyID(key) || s.ClientSessionToken != "order-1234" || string(s.TokenHash) != string(auth.Hash(got.SessionToken)) {
		t.Errorf("stored session %+v does not match the response", s)
	}
	if strings.Contains(string(s.TokenHash), got.SessionToken) {
		t.Errorf("the session token is stored in clear")
	}
	// The session token authenticates the capture client for this session.
	a := &auth.Authenticator{Keys: h.store, Sessions: h.store}
	if bySession, err := a.Session(context.Background(), "Bearer "+got.SessionToken); err != nil || bySession.ID != got.SessionID {
		t.Errorf("session token does not authenticate its session: %v", err)
	}
}

func TestStartRequestedChallenges(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	key := h.key("acme")
	r := h.do(request{method: "POST", path: "/v1/biometrics/liveness/start", key: key, body: map[string]any{
		"client_session_token": "steps-1", "challenge_types": []string{"turn_left", "blink", "smile"},
		"metadata": map[string]string{"consent_ref": "c-77"},
	}})
	var got client.StartLivenessResponse
	r.decode(t, &got)
	var types []string
	for _, s := range got.ChallengeDetails.Steps {
		types = append(types, s.ChallengeType)
	}
	if !slices.Equal(types, []string{"turn_left", "blink", "smile"}) || got.ChallengeDetails.ChallengeType != "turn_left" {
		t.Errorf("steps = %v, first %q; want the requested order", types, got.ChallengeDetails.ChallengeType)
	}
	s, err := h.store.Session(context.Background(), "acme", got.SessionID)
	if err != nil || s.Metadata["consent_ref"] != "c-77" || s.Challenge.Nonce == "" {
		t.Errorf("stored session: %+v, %v; want metadata and a nonce", s, err)
	}
}

func TestStartValidation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	key := h.key("acme")
	for _, tc := range []struct {
		name  string
		body  any
		code  string
		field string
	}{
		{"missing token", map[string]any{}, "missing_client_session_token", "client_session_token"},
		{"empty token", map[string]any{"client_session_token": ""}, "missing_client_session_token", "client_session_token"},
		{"long token", map[string]any{"client_session_token": strings.Repeat("a", 129)}, "invalid_client_session_token", "client_session_token"},
		{"token with space", map[string]any{"client_session_token": "a b"}, "invalid_client_session_token", "client_session_token"},
		{"token with slash", map[string]any{"client_session_token": "a/b"}, "invalid_client_session_token", "client_session_token"},
		{"token as number", map[string]any{"client_session_token": 12}, "invalid_field_type", "client_session_token"},
		{"unknown challenge", map[string]any{"client_session_token": "x", "challenge_types": []string{"wink"}}, "invalid_challenge_type", "challenge_types"},
		{"repeated challenge", map[string]any{"client_session_token": "x", "challenge_types": []string{"blink", "blink"}}, "invalid_challenge_type", "challenge_types"},
		{"empty challenges", map[string]any{"client_session_token": "x", "challenge_types": []string{}}, "invalid_challenge_type", "challenge_types"},
		{"long metadata value", map[string]any{"client_session_token": "x", "metadata": map[string]string{"k": strings.Repeat("v", 257)}}, "invalid_metadata", "metadata"},
		{"unknown field", map[string]any{"client_session_token": "x", "client_token": "y"}, "unknown_field", "client_token"},
	} {
		r := h.do(request{method: "POST", path: "/v1/biometrics/liveness/start", key: key, body: tc.body})
		wantError(t, r, 400, tc.code)
		if e, _ := r.json(t)["error"].(map[string]any); e["field"] != tc.field {
			t.Errorf("%s: error.field = %v, want %q", tc.name, e["field"], tc.field)
		}
	}
	// A 128-character token of every allowed character is fine.
	ok := strings.Repeat("aZ09._:-", 16)
	if r := h.start(key, ok); r.status != 200 {
		t.Errorf("128-character token: %d %s", r.status, r.body)
	}
}

// TestStartIsIdempotent repeats a start with the same client_session_token
// through the session's life: while the session is open each repeat
// returns it with a new session token, which replaces the previous one.
func TestStartIsIdempotent(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	key := h.key("acme")
	id, token := h.startOK(key, "idem-1")
	a := &auth.Authenticator{Keys: h.store, Sessions: h.store}

	for _, status := range []biometric.SessionStatus{biometric.StatusCreated, biometric.StatusInProgress, biometric.StatusProcessing} {
		setStatus(t, h, id, status)
		r := h.start(key, "idem-1")
		var got client.StartLivenessResponse
		r.decode(t, &got)
		if r.status != 200 || got.SessionID != id || got.Status != string(status) || got.Capture == nil {
			t.Errorf("repeat while %s: %d %+v; want the same session", status, r.status, got)
		}
		if got.SessionToken == "" || got.SessionToken == token {
			t.Errorf("repeat while %s: session_token %q; want a new one", status, got.SessionToken)
			continue
		}
		if _, err := a.Session(context.Background(), "Bearer "+token); !biometric.IsKind(err, biometric.KindUnauthenticated) {
			t.Errorf("repeat while %s: the previous token still works (err %v)", status, err)
		}
		if s, err := a.Session(context.Background(), "Bearer "+got.SessionToken); err != nil || s.ID != id {
			t.Errorf("repeat while %s: the new token does not open the session: %v", status, err)
		}
		token = got.SessionToken
	}
	// Once the session has ended, the client_session_token is used up and
	// the last token is not replaced.
	for _, status := range []biometric.SessionStatus{biometric.StatusCompleted, biometric.StatusFailed, biometric.StatusExpired} {
		setStatus(t, h, id, status)
		wantError(t, h.start(key, "idem-1"), 409, "client_session_token_used")
		if _, err := a.Session(context.Background(), "Bearer "+token); err != nil {
			t.Errorf("a refused repeat (%s) changed the session token: %v", status, err)
		}
	}
}

// TestStartRepeatAfterDeadline repeats a start after the session's
// deadline: the session expires on the spot and the token is used up.
func TestStartRepeatAfterDeadline(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	key := h.key("acme")
	id, _ := h.startOK(key, "late-1")
	h.clock.Advance(api.DefaultSessionTTL)
	wantError(t, h.start(key, "late-1"), 409, "client_session_token_used")
	if s, _ := h.store.Session(context.Background(), "acme", id); s.Status != biometric.StatusExpired {
		t.Errorf("stored status %s, want expired", s.Status)
	}
}

// setStatus moves a session to status the way the capture and analysis
// code will, through the store.
func setStatus(t *testing.T, h *harness, id string, status biometric.SessionStatus) {
	t.Helper()
	_, err := h.store.UpdateSession(context.Background(), id, func(s *biometric.Session) error {
		s.Status = status
		switch status {
		case biometric.StatusCompleted:
			now := h.clock.Now()
			s.CompletedAt = &now
			s.Result = &biometric.LivenessResult{LivenessScore: 97.5, IsLive: true, Reasons: []string{"challenge_completed"},
				Checks: []biometric.Check{{Name: "challenge", Score: 99, Passed: true}, {Name: "antispoof", Score: 96, Passed: true}},
				Steps:  []biometric.StepResult{{Type: biometric.ChallengeBlink, Seen: true, PromptMS: 400, SeenMS: 1250}},
				ReferenceFace: &biometric.FaceInfo{Box: biometric.Box{X: 10, Y: 20, Width: 120, Height: 150}, Confidence: 98,
					Pose: biometric.Pose{Yaw: 3}, Quality: biometric.Quality{FaceSize: 120, Sharpness: 70, Brightness: 55, Score: 80}},
				ModelVersion: "test"}
		case biometric.StatusFailed:
			now := h.clock.Now()
			s.CompletedAt = &now
			s.Failure = &biometric.Failure{Code: "poor_quality", Message: "The face was too dark.", Retryable: true}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (h *harness) results(key, id string) *response {
	h.t.Helper()
	return h.do(request{method: "GET", path: "/v1/biometrics/liveness/" + id + "/results", key: key})
}

// TestSessionStateMachine walks the states the results endpoint reports,
// including expiry driven by the injected clock.
func TestSessionStateMachine(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *api.Config) { c.SessionTTL = 2 * time.Minute })
	key := h.key("acme")

	status := func(id string) (client.LivenessResultsResponse, *response) {
		t.Helper()
		r := h.results(key, id)
		var got client.LivenessResultsResponse
		if r.status == 200 {
			r.decode(t, &got)
		}
		return got, r
	}

	// created → expired once the deadline passes, and stored as expired.
	id, _ := h.startOK(key, "sm-created")
	if got, _ := status(id); got.Status != "created" || got.Result != nil {
		t.Errorf("new session: %+v", got)
	}
	h.clock.Advance(2*time.Minute - time.Millisecond)
	if got, _ := status(id); got.Status != "created" {
		t.Errorf("1 ms before the deadline: status %q, want created", got.Status)
	}
	h.clock.Advance(time.Millisecond)
	if got, r := status(id); got.Status != "expired" || !strings.Contains(got.Message, "expired") {
		t.Errorf("at the deadline: %d %s; want expired", r.status, r.body)
	}
	if s, _ := h.store.Session(context.Background(), "acme", id); s.Status != biometric.StatusExpired {
		t.Errorf("stored status %s, want expired", s.Status)
	}

	// in_progress expires too; processing does not (the capture is in).
	inProgress, _ := h.startOK(key, "sm-in-progress")
	setStatus(t, h, inProgress, biometric.StatusInProgress)
	processing, _ := h.startOK(key, "sm-processing")
	setStatus(t, h, processing, biometric.StatusProcessing)
	if got, _ := status(inProgress); got.Status != "in_progress" {
		t.Errorf("in_progress session reported %q", got.Status)
	}
	h.clock.Advance(3 * time.Minute)
	if got, _ := status(inProgress); got.Status != "expired" {
		t.Errorf("in_progress past its deadline: %q, want expired", got.Status)
	}
	if got, _ := status(processing); got.Status != "processing" {
		t.Errorf("processing past its deadline: %q, want processing", got.Status)
	}

	// processing → completed: the result, and no expiry afterwards.
	setStatus(t, h, processing, biometric.StatusCompleted)
	got, _ := status(processing)
	if got.Status != "completed" || got.Result == nil || got.Result.LivenessScore != 97.5 || !got.Result.IsLive ||
		got.Result.SpoofAttemptDetected || got.CompletedAt == nil || got.Message != "Liveness detection results retrieved successfully." {
		t.Errorf("completed: %+v", got)
	}
	if len(got.Result.Checks) != 2 || got.Result.ReferenceFace == nil || got.Result.ReferenceFace.Box.Width != 120 || got.Result.Steps[0].SeenMS != 1250 {
		t.Errorf("completed result lost detail: %+v", got.Result)
	}

	// failed: the failure, no result.
	failed, _ := h.startOK(key, "sm-failed")
	setStatus(t, h, failed, biometric.StatusFailed)
	if got, _ := status(failed); got.Status != "failed" || got.Result != nil || got.Failure == nil || !got.Failure.Retryable {
		t.Errorf("failed: %+v", got)
	}
}
