package jobs

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/everify/everify/internal/audit"
	"github.com/everify/everify/internal/biometric"
)

// analysisArgs is the job that analyses one submitted capture.
type analysisArgs struct {
	SessionID string `json:"session_id"`
}

// Kind implements river.JobArgs.
func (analysisArgs) Kind() string { return "liveness_analysis" }

// InsertOpts puts the job on the analysis queue.
func (analysisArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: analysisQueue} }

// analysisWorker analyses a session's capture and saves the outcome. It is
// idempotent: a job for a session that is no longer processing (a retried
// job whose first run got through, or a duplicate) does nothing.
type analysisWorker struct {
	river.WorkerDefaults[analysisArgs]
	store      Store
	analyzer   Analyzer
	log        *slog.Logger
	now        func() time.Time
	timeout    time.Duration
	retryDelay time.Duration
}

// Failures that the worker records itself.
var (
	failureCaptureMissing = &biometric.Failure{Code: "capture_missing", Retryable: true,
		Message: "The capture was no longer stored when the analysis ran; start a new session and capture again."}
	failureAnalysis = &biometric.Failure{Code: "analysis_failed", Retryable: true,
		Message: "The liveness analysis failed repeatedly; start a new session and capture again."}
)

// Timeout bounds one attempt.
func (w *analysisWorker) Timeout(*river.Job[analysisArgs]) time.Duration { return w.timeout }

// NextRetry waits retryDelay before the first retry and four times longer
// before each next one, up to maxRetryDelay.
func (w *analysisWorker) NextRetry(job *river.Job[analysisArgs]) time.Time {
	d := w.retryDelay
	for i := 1; i < job.Attempt && d < maxRetryDelay; i++ {
		d *= 4
	}
	return w.now().Add(min(d, maxRetryDelay))
}

// Work analyses the session's capture.
func (w *analysisWorker) Work(ctx context.Context, job *river.Job[analysisArgs]) error {
	id := job.Args.SessionID
	s, err := w.store.SessionByID(ctx, id)
	if biometric.IsKind(err, biometric.KindNotFound) {
		w.log.Warn("analysis of a session that no longer exists", slog.String("session_id", id))
		return nil
	}
	if err != nil {
		return err
	}
	if s.Status != biometric.StatusProcessing {
		return nil // analysed already
	}
	c, err := w.store.Capture(ctx, id)
	if biometric.IsKind(err, biometric.KindNotFound) {
		return w.finish(ctx, s, nil, failureCaptureMissing, nil)
	}
	if err != nil {
		return err
	}
	result, failure, reference, err := w.analyzer.Analyze(ctx, s, c)
	if err == nil && result == nil && failure == nil {
		err = errors.New("the analyzer returned neither a result nor a failure")
	}
	if err != nil {
		w.log.Error("liveness analysis failed", slog.String("session_id", id),
			slog.Int("attempt", job.Attempt), slog.Int("max_attempts", job.MaxAttempts), slog.String("error", err.Error()))
		if job.Attempt >= job.MaxAttempts {
			if ferr := w.finish(ctx, s, nil, failureAnalysis, nil); ferr != nil {
				return errors.Join(err, ferr)
			}
		}
		return err
	}
	return w.finish(ctx, s, result, failure, reference)
}

// errAnalysed stops saving an outcome for a session that has one already.
var errAnalysed = errors.New("session analysed already")

// finish saves the outcome of session s's analysis in one transaction:
// the session, completed with result or failed with failure; the
// reference face, if the person was judged live (only a live person's face
// is kept, for face match); the liveness.analysed audit record; and the
// webhook delivery, if the tenant has a webhook. A session that is no
// longer processing (analysed already, or its biometrics deleted
// meanwhile) is left as it is.
func (w *analysisWorker) finish(ctx context.Context, s *biometric.Session, result *biometric.LivenessResult, failure *biometric.Failure, reference []byte) error {
	ctx, pending := audit.WithPending(ctx, audit.Event{Tenant: s.Tenant, KeyID: s.KeyID, Actor: audit.ActorSystem,
		Action: audit.ActionAnalysed, SessionID: s.ID}, true)
	_, err := w.store.CompleteSession(ctx, s.ID, reference, func(x *biometric.Session) error {
		if x.Status != biometric.StatusProcessing {
			return errAnalysed
		}
		now := w.now()
		x.CompletedAt = &now
		if failure != nil {
			x.Status, x.Failure = biometric.StatusFailed, failure
		} else {
			x.Status, x.Result = biometric.StatusCompleted, result
		}
		pending.Update(func(ev *audit.Event) { ev.Decision = audit.SessionDecision(x) })
		return nil
	})
	if errors.Is(err, errAnalysed) {
		return nil
	}
	return err
}

// expiryArgs is the periodic job that expires abandoned sessions.
type expiryArgs struct{}

// Kind implements river.JobArgs.
func (expiryArgs) Kind() string { return "expire_sessions" }

// expiryWorker moves sessions whose capture never came to expired, so that
// they show as such without anyone reading them first.
type expiryWorker struct {
	river.WorkerDefaults[expiryArgs]
	store Store
	log   *slog.Logger
	now   func() time.Time
}

// Work runs one sweep.
func (w *expiryWorker) Work(ctx context.Context, _ *river.Job[expiryArgs]) error {
	n, err := w.store.ExpireSessions(ctx, w.now())
	if err != nil {
		return err
	}
	if n > 0 {
		w.log.Info("expired sessions", slog.Int64("count", n))
	}
	return nil
}
