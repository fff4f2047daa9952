package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/everify/everify/client"
	"github.com/everify/everify/internal/audit"
	"github.com/everify/everify/internal/biometric"
)

// deleteBiometrics erases a session's biometric data on the tenant's
// request (a data subject exercising their rights): frames, capture and
// reference face go, the decision stays. Deleting again answers the same.
func (s *Server) deleteBiometrics(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.store.DeleteBiometrics(r.Context(), apiKeyOf(r).Tenant, r.PathValue("session_id"))
	if biometric.IsKind(err, biometric.KindNotFound) {
		return errSessionNotFound
	}
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, client.DeleteBiometricsResponse{
		RequestID:           requestID(r.Context()),
		SessionID:           sess.ID,
		Status:              string(sess.Status),
		BiometricsDeletedAt: sess.BiometricsDeletedAt.UTC(),
		Message:             "The session's biometric data (frames, reference face and facial landmarks) has been deleted; its decision is kept.",
	})
	return nil
}

// checkDevice refuses a new session for a device whose last
// device.MaxFailures decided sessions all failed the liveness check, until
// device.CoolOff after the last one: a 429 device_cooling_off.
func (s *Server) checkDevice(ctx context.Context, tenant, deviceID string) error {
	if deviceID == "" || s.device.MaxFailures < 0 {
		return nil
	}
	streak, last, err := s.store.DeviceFailures(ctx, tenant, deviceID, s.device.MaxFailures)
	if err != nil {
		return err
	}
	until := last.Add(s.device.CoolOff)
	now := s.now()
	if streak < s.device.MaxFailures || !now.Before(until) {
		return nil
	}
	s.metrics.refused.WithLabelValues("device_cooling_off").Inc()
	e := biometric.Errorf(biometric.KindRateLimited, "device_cooling_off",
		"device_id %q has failed %d liveness checks in a row; new sessions for it are refused until %s.",
		deviceID, streak, until.UTC().Format(time.RFC3339))
	e.Field = "device_id"
	e.RetryAfter = until.Sub(now)
	return e
}

// maxAuditSessionID bounds the session id an audit record takes from a
// request path.
const maxAuditSessionID = 128

// auditEvent is the audit record of a request that passed authentication:
// who (the tenant and key, or the session's, for a session token), what
// (the action, route and session) and which request.
func (s *Server) auditEvent(r *http.Request, rt route, info *requestInfo) audit.Event {
	ev := audit.Event{Action: rt.audit, Route: info.route, RequestID: info.id}
	if id := r.PathValue("session_id"); len(id) <= maxAuditSessionID {
		ev.SessionID = id
	}
	switch {
	case info.key != nil:
		ev.Actor, ev.Tenant, ev.KeyID = audit.ActorAPIKey, info.key.Tenant, info.key.ID
	case info.session != nil:
		ev.Actor, ev.Tenant, ev.KeyID = audit.ActorSessionToken, info.session.Tenant, info.session.KeyID
	}
	return ev
}

// recordAudit writes a request's audit record unless a write recorded it
// with the action: with the error code it was answered with, if any.
// Requests refused by the rate limit are not recorded, so that a flood
// does not turn into a flood of writes. A failure to record is logged and
// counted; the answer has been sent.
func (s *Server) recordAudit(r *http.Request, pending *audit.Pending, err error) {
	code := ""
	if err != nil {
		code = biometric.AsError(err).Code
		if statusOf(biometric.KindOf(err)) == http.StatusInternalServerError {
			code = "internal_error"
		}
	}
	if code == "rate_limited" {
		return
	}
	ev, ok := pending.Claim()
	if !ok {
		return
	}
	ev.At, ev.Outcome = s.now(), audit.OutcomeOK
	if code != "" {
		ev.Outcome = code
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	if err := s.store.AppendAudit(ctx, &ev); err != nil {
		s.metrics.auditFailures.Inc()
		s.log.LogAttrs(ctx, slog.LevelError, "writing an audit record",
			slog.String("request_id", ev.RequestID), slog.String("action", ev.Action), slog.String("error", err.Error()))
	}
}

// setDecision records the decision a request learnt in its audit record.
func setDecision(ctx context.Context, decision string) {
	if p := audit.PendingFrom(ctx); p != nil {
		p.Update(func(ev *audit.Event) { ev.Decision = decision })
	}
}
