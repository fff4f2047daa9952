// Package jobs runs everify's background work on River, in the store's own
// database: the liveness analysis of each submitted capture (queued in the
// transaction that submits it, so that no accepted capture is left without
// its analysis), the signed webhook delivery of each finished session
// (queued in the transaction that finishes it), and periodic maintenance
// (expiring sessions whose capture never came; purging biometric data,
// then decisions and audit records, after their retention). Jobs are
// durable: they survive restarts, are retried with backoff, and on
// PostgreSQL are shared by every replica; a job whose process dies while
// running it is retried elsewhere after Config.RescueAfter.
//
// Without an Analyzer (a build or deployment without the liveness engine)
// the analysis jobs are not worked but kept queued, and their sessions stay
// processing: a process with an Analyzer works them when it starts, so no
// capture is failed for want of an engine that is merely not installed yet.
package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"

	"github.com/everify/everify/internal/audit"
	"github.com/everify/everify/internal/auth"
	"github.com/everify/everify/internal/biometric"
)

// Analyzer is the liveness engine: it decides on one submitted capture.
type Analyzer interface {
	// Analyze decides whether capture c of session s shows a live person.
	// It returns the result, or a Failure when the capture cannot be
	// decided on (no usable face, too dark …), and with a result the
	// encoded image (JPEG) holding the reference face for face match, if
	// any. An error means the analysis itself broke (a model failed, ctx
	// ended): the job is retried, and after the last attempt the session
	// fails with analysis_failed.
	Analyze(ctx context.Context, s *biometric.Session, c *biometric.Capture) (*biometric.LivenessResult, *biometric.Failure, []byte, error)
}

// Store is what the workers need from the store (*store.DB).
type Store interface {
	// SessionByID returns a session whatever its tenant, or ErrNotFound.
	SessionByID(ctx context.Context, id string) (*biometric.Session, error)
	// CompleteSession is UpdateSession that also stores face (sealed) as
	// the reference face when fn leaves the session completed and live,
	// in the same transaction; a completion also enqueues the webhook.
	CompleteSession(ctx context.Context, id string, face []byte, fn func(*biometric.Session) error) (*biometric.Session, error)
	Capture(ctx context.Context, id string) (*biometric.Capture, error)
	// ExpireSessions moves the sessions still waiting for their capture
	// whose deadline is at or before now to expired.
	ExpireSessions(ctx context.Context, now time.Time) (int64, error)
	// PurgeBiometrics erases the biometric data of up to limit sessions
	// created at or before before, and returns how many it erased.
	PurgeBiometrics(ctx context.Context, before time.Time, limit int) (int, error)
	// PurgeSessions and PurgeAudit delete up to limit sessions (whose
	// biometrics are gone) and audit records from at or before before.
	PurgeSessions(ctx context.Context, before time.Time, limit int) (int64, error)
	PurgeAudit(ctx context.Context, before time.Time, limit int) (int64, error)
	// PurgeRateLimits deletes the rate limit buckets that are full at now.
	PurgeRateLimits(ctx context.Context, now time.Time) (int64, error)
	// WebhookTarget returns the tenant's webhook URL and signing secret,
	// or ErrNotFound.
	WebhookTarget(ctx context.Context, tenant string) (url string, secret []byte, err error)
	// AppendAudit records an audit event.
	AppendAudit(ctx context.Context, ev *audit.Event) error
}

// HTTPDoer sends webhook requests; *http.Client implements it. The one the
// service uses must refuse internal destinations (cmd builds it on the
// image fetcher's SSRF guard) and must not follow redirects.
type HTTPDoer interface {
	Do(*http.Request) (*http.Response, error)
}

// Defaults for the zero fields of Config.
const (
	DefaultWorkers         = 1
	DefaultAnalysisTimeout = 2 * time.Minute
	DefaultMaxAttempts     = 5
	DefaultRetryDelay      = 5 * time.Second
	DefaultExpiryInterval  = time.Minute
	// DefaultBiometricRetention is how long frames and reference faces
	// are kept (measured from the session's start).
	DefaultBiometricRetention = 24 * time.Hour
	// DefaultRecordRetention is how long decisions and audit records are
	// kept.
	DefaultRecordRetention = 365 * 24 * time.Hour
	DefaultPurgeInterval   = 10 * time.Minute
	DefaultWebhookAttempts = 10
	DefaultWebhookDelay    = 10 * time.Second
	DefaultWebhookTimeout  = 10 * time.Second
	// RescueFactor sets the default RescueAfter: this many times
	// AnalysisTimeout (6 minutes with the default timeout).
	RescueFactor         = 3
	defaultPollInterval  = time.Second
	maxRetryDelay        = 5 * time.Minute
	maxWebhookRetryDelay = time.Hour
	webhookWorkers       = 4
)

// Config holds a Queue's collaborators and settings.
type Config struct {
	// Driver is River's driver over the store's database (required):
	// riversqlite.New(db) for SQLite, riverdatabasesql.NewWithPgxListener
	// for PostgreSQL. Its *sql.Tx is the store's, so that the submit hook
	// can enqueue inside SubmitCapture's transaction.
	Driver riverdriver.Driver[*sql.Tx]
	// Store is the store the workers read and update (required).
	Store Store
	// Analyzer is the liveness engine; nil keeps analysis jobs queued.
	Analyzer Analyzer
	// Logger receives the workers' and River's logs; nothing is logged if
	// nil.
	Logger *slog.Logger
	// Workers is how many analyses this process runs at once;
	// DefaultWorkers if zero.
	Workers int
	// AnalysisTimeout bounds one analysis attempt; DefaultAnalysisTimeout
	// if zero.
	AnalysisTimeout time.Duration
	// MaxAttempts is how often an analysis is tried before its session
	// fails; DefaultMaxAttempts if zero.
	MaxAttempts int
	// RetryDelay is the wait before the first retry; each further retry
	// waits four times longer, up to 5 minutes. DefaultRetryDelay if zero.
	RetryDelay time.Duration
	// ExpiryInterval is how often sessions past their deadline are
	// expired; DefaultExpiryInterval if zero.
	ExpiryInterval time.Duration
	// RescueAfter is how long a job may stay running before it is taken
	// for lost (its process was killed, ran out of memory or lost its
	// machine) and retried by any process that works its queue. It must
	// be longer than AnalysisTimeout, so that no analysis is started
	// again while it may still be running (a webhook delivery also waits
	// for its WebhookTimeout); RescueFactor times AnalysisTimeout if not
	// positive. The check runs every 30 s on one process (River's
	// leader), so a lost job is retried between RescueAfter and
	// RescueAfter + 30 s after it started, plus its retry delay.
	RescueAfter time.Duration
	// PollInterval is how often idle workers look for jobs they were not
	// notified of (SQLite has no notifications); 1 s if zero.
	PollInterval time.Duration
	// Now is the clock of completion times, expiry and retention;
	// time.Now if nil.
	Now func() time.Time

	// BiometricRetention is how long a session's frames and reference
	// face are kept after it started; DefaultBiometricRetention if zero.
	BiometricRetention time.Duration
	// RecordRetention is how long decisions (sessions without their
	// biometrics) and audit records are kept; DefaultRecordRetention if
	// zero. It may not be shorter than BiometricRetention.
	RecordRetention time.Duration
	// PurgeInterval is how often the retention purge runs;
	// DefaultPurgeInterval if zero.
	PurgeInterval time.Duration

	// WebhookClient delivers webhooks; nil keeps deliveries queued (a
	// process with one delivers them).
	WebhookClient HTTPDoer
	// WebhookAttempts is how often a delivery is tried;
	// DefaultWebhookAttempts if zero.
	WebhookAttempts int
	// WebhookRetryDelay is the wait before a delivery's first retry; each
	// next one waits four times longer, up to an hour.
	// DefaultWebhookDelay if zero.
	WebhookRetryDelay time.Duration
	// WebhookTimeout bounds one delivery attempt; DefaultWebhookTimeout if
	// zero.
	WebhookTimeout time.Duration
}

// Queue is the River client: it enqueues analyses and, once started, works
// the jobs.
type Queue struct {
	client          *river.Client[*sql.Tx]
	maxAttempts     int
	webhookAttempts int
	log             *slog.Logger
}

// The River queues: analyses and webhook deliveries have their own, the
// maintenance jobs use River's default queue.
const (
	analysisQueue = "liveness"
	webhookQueue  = "webhooks"
)

// New returns a Queue, which can enqueue at once; Start starts its workers.
func New(cfg Config) (*Queue, error) {
	if cfg.Driver == nil || cfg.Store == nil {
		return nil, errors.New("jobs.New: Driver and Store are required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	timeout := durationOr(cfg.AnalysisTimeout, DefaultAnalysisTimeout)
	q := &Queue{maxAttempts: cfg.MaxAttempts, webhookAttempts: cfg.WebhookAttempts, log: log}
	if q.maxAttempts <= 0 {
		q.maxAttempts = DefaultMaxAttempts
	}
	if q.webhookAttempts <= 0 {
		q.webhookAttempts = DefaultWebhookAttempts
	}
	retention := retention{
		biometrics: durationOr(cfg.BiometricRetention, DefaultBiometricRetention),
		records:    durationOr(cfg.RecordRetention, DefaultRecordRetention),
	}
	if retention.records < retention.biometrics {
		return nil, fmt.Errorf("jobs.New: the record retention (%s) is shorter than the biometric retention (%s)", retention.records, retention.biometrics)
	}
	webhookTimeout := durationOr(cfg.WebhookTimeout, DefaultWebhookTimeout)
	rescueAfter, err := rescueDelay(cfg.RescueAfter, timeout)
	if err != nil {
		return nil, err
	}

	workers := river.NewWorkers()
	// The analysis worker is registered even without an Analyzer, so that
	// River knows the kind (a job left running by a crashed process is
	// rescued, not discarded); its queue is then simply not worked.
	river.AddWorker(workers, &analysisWorker{
		store: cfg.Store, analyzer: cfg.Analyzer, log: log, now: now, timeout: timeout,
		retryDelay: durationOr(cfg.RetryDelay, DefaultRetryDelay),
	})
	river.AddWorker(workers, &expiryWorker{store: cfg.Store, log: log, now: now})
	river.AddWorker(workers, &purgeWorker{store: cfg.Store, log: log, now: now, retention: retention})
	river.AddWorker(workers, &webhookWorker{
		store: cfg.Store, client: cfg.WebhookClient, log: log, now: now, timeout: webhookTimeout,
		retryDelay: durationOr(cfg.WebhookRetryDelay, DefaultWebhookDelay),
	})
	queues := map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 1}}
	if cfg.Analyzer != nil {
		queues[analysisQueue] = river.QueueConfig{MaxWorkers: max(cfg.Workers, DefaultWorkers)}
	} else {
		log.Warn("no liveness engine: submitted captures stay queued for analysis until a process with one starts")
	}
	if cfg.WebhookClient != nil {
		queues[webhookQueue] = river.QueueConfig{MaxWorkers: webhookWorkers}
	} else {
		log.Warn("no webhook client: webhook deliveries stay queued until a process with one starts")
	}
	poll := durationOr(cfg.PollInterval, defaultPollInterval)
	client, err := river.NewClient(cfg.Driver, &river.Config{
		Logger:               riverLogger(log),
		Workers:              workers,
		Queues:               queues,
		JobTimeout:           timeout,
		RescueStuckJobsAfter: rescueAfter,
		FetchPollInterval:    poll,
		FetchCooldown:        min(poll, 100*time.Millisecond), // River's default, unless polling is faster
		PeriodicJobs: []*river.PeriodicJob{
			river.NewPeriodicJob(river.PeriodicInterval(durationOr(cfg.ExpiryInterval, DefaultExpiryInterval)),
				func() (river.JobArgs, *river.InsertOpts) { return expiryArgs{}, nil },
				&river.PeriodicJobOpts{ID: expiryArgs{}.Kind(), RunOnStart: true}),
			river.NewPeriodicJob(river.PeriodicInterval(durationOr(cfg.PurgeInterval, DefaultPurgeInterval)),
				func() (river.JobArgs, *river.InsertOpts) { return purgeArgs{}, nil },
				&river.PeriodicJobOpts{ID: purgeArgs{}.Kind(), RunOnStart: true}),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("jobs.New: %w", err)
	}
	q.client = client
	return q, nil
}

// rescueDelay returns the RescueAfter to use: d, or RescueFactor times
// the analysis timeout when d is not positive. A d that is not longer than
// the analysis timeout is refused: an analysis still running would be
// started again.
func rescueDelay(d, analysis time.Duration) (time.Duration, error) {
	if d <= 0 {
		return RescueFactor * analysis, nil
	}
	if d <= analysis {
		return 0, fmt.Errorf("jobs.New: the rescue delay (%s) must be longer than the analysis timeout (%s), or an analysis still running would be started again", d, analysis)
	}
	return d, nil
}

// durationOr returns d, or def when d is not positive.
func durationOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// EnqueueAnalysis queues the analysis of session id in tx, the transaction
// that submits its capture; it has the signature of the store's
// SubmitHook.
func (q *Queue) EnqueueAnalysis(ctx context.Context, tx *sql.Tx, id string) error {
	_, err := q.client.InsertTx(ctx, tx, analysisArgs{SessionID: id}, &river.InsertOpts{MaxAttempts: q.maxAttempts})
	if err != nil {
		return biometric.Wrap(err, "enqueue liveness analysis")
	}
	return nil
}

// EnqueueWebhook queues the webhook delivery of session s in tx, the
// transaction that finishes it; it has the signature of the store's
// WebhookHook.
func (q *Queue) EnqueueWebhook(ctx context.Context, tx *sql.Tx, s *biometric.Session) error {
	args := webhookArgs{EventID: auth.NewID("evt_"), SessionID: s.ID, Tenant: s.Tenant}
	if _, err := q.client.InsertTx(ctx, tx, args, &river.InsertOpts{MaxAttempts: q.webhookAttempts}); err != nil {
		return biometric.Wrap(err, "enqueue webhook delivery")
	}
	return nil
}

// Start starts the workers and the periodic jobs; they run until Stop.
// Cancelling ctx stops them abruptly, cancelling running jobs (which are
// retried later): pass a context that outlives the graceful Stop.
func (q *Queue) Start(ctx context.Context) error {
	if err := q.client.Start(ctx); err != nil {
		return fmt.Errorf("starting the job workers: %w", err)
	}
	return nil
}

// Stop stops fetching jobs and waits for the running ones; if ctx ends
// first, it cancels them (they are retried later, here or elsewhere).
func (q *Queue) Stop(ctx context.Context) error {
	err := q.client.Stop(ctx)
	if err == nil || !errors.Is(err, ctx.Err()) {
		return err
	}
	q.log.Warn("jobs still running at shutdown are cancelled; they will be retried")
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return q.client.StopAndCancel(cctx)
}

// riverLogger is the logger River gets: River logs routine progress (job
// counts every few seconds, leader elections) at info level, which would
// drown the service's own info logs, so only its warnings and errors pass
// unless log is at debug level.
func riverLogger(log *slog.Logger) *slog.Logger {
	if log.Handler().Enabled(context.Background(), slog.LevelDebug) {
		return log
	}
	return slog.New(levelFloor{Handler: log.Handler(), min: slog.LevelWarn})
}

// levelFloor drops records below min.
type levelFloor struct {
	slog.Handler
	min slog.Level
}

func (h levelFloor) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h levelFloor) WithAttrs(attrs []slog.Attr) slog.Handler {
	return levelFloor{Handler: h.Handler.WithAttrs(attrs), min: h.min}
}

func (h levelFloor) WithGroup(name string) slog.Handler {
	return levelFloor{Handler: h.Handler.WithGroup(name), min: h.min}
}
