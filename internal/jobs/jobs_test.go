package jobs

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"

	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/pgtest"
	"github.com/everify/everify/internal/seal"
	"github.com/everify/everify/internal/store"
	"github.com/everify/everify/internal/store/postgres"
	"github.com/everify/everify/internal/store/sqlite"
)

// fakeAnalyzer returns a fixed outcome and records its calls; fail, when
// set, decides per call (1-based) whether to return an error instead.
type fakeAnalyzer struct {
	mu      sync.Mutex
	calls   map[string]int
	frames  map[string]int
	fail    func(call int) error
	result  biometric.LivenessResult
	failure *biometric.Failure
	face    []byte
}

func newFakeAnalyzer() *fakeAnalyzer {
	return &fakeAnalyzer{
		calls: map[string]int{}, frames: map[string]int{},
		result: biometric.LivenessResult{LivenessScore: 91.5, IsLive: true, Reasons: []string{"challenge_completed"},
			Checks: []biometric.Check{{Name: "challenge", Score: 95, Passed: true}}, ModelVersion: "fake-1"},
		face: jpegBytes(48, 64, 0),
	}
}

func (a *fakeAnalyzer) Analyze(ctx context.Context, s *biometric.Session, c *biometric.Capture) (*biometric.LivenessResult, *biometric.Failure, []byte, error) {
	a.mu.Lock()
	a.calls[s.ID]++
	a.frames[s.ID] = len(c.Frames)
	call := a.calls[s.ID]
	a.mu.Unlock()
	if a.fail != nil {
		if err := a.fail(call); err != nil {
			return nil, nil, nil, err
		}
	}
	if a.failure != nil {
		return nil, a.failure, nil, nil
	}
	r := a.result
	return &r, nil, a.face, nil
}

func (a *fakeAnalyzer) callsFor(id string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[id]
}

func (a *fakeAnalyzer) framesFor(id string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.frames[id]
}

func (a *fakeAnalyzer) totalCalls() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, c := range a.calls {
		n += c
	}
	return n
}

// jpegBytes encodes a real w×h JPEG.
func jpegBytes(w, h int, seed uint8) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x*4) + seed, uint8(y * 3), seed, 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// sealer seals the tests' stores; one keyring for the whole package, so
// that a data directory reopened by a test opens.
var sealer = seal.NewSealer(seal.NewKeyring())

// env is a store with a Queue whose analyses it enqueues.
type env struct {
	db    *store.DB
	queue *Queue
}

// openSQLite opens the SQLite store in dir with a Queue built from cfg
// (Driver and Store are filled in). The queue is not started.
func openSQLite(t *testing.T, dir string, cfg Config) *env {
	t.Helper()
	e := &env{}
	db, err := sqlite.Open(t.Context(), dir, store.Options{Sealer: sealer, Now: cfg.Now,
		SubmitHook: func(ctx context.Context, tx *sql.Tx, id string) error {
			return e.queue.EnqueueAnalysis(ctx, tx, id)
		},
		WebhookHook: func(ctx context.Context, tx *sql.Tx, s *biometric.Session) error {
			return e.queue.EnqueueWebhook(ctx, tx, s)
		}})
	if err != nil {
		t.Fatal(err)
	}
	e.db = db
	cfg.Driver, cfg.Store = riversqlite.New(db.SQL()), db
	if e.queue, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	return e
}

// start starts the queue and stops it (and closes the store) when the
// test ends, unless the test did so itself.
func (e *env) start(t *testing.T) {
	t.Helper()
	if err := e.queue.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.close(t) })
}

// close stops the queue and closes the store; it may be called twice.
func (e *env) close(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.queue.Stop(ctx); err != nil {
		t.Errorf("Stop: %v", err)
	}
	e.db.Close()
}

// fastConfig shortens every wait, for tests.
func fastConfig(a Analyzer) Config {
	return Config{Analyzer: a, PollInterval: 50 * time.Millisecond, RetryDelay: 20 * time.Millisecond, AnalysisTimeout: 10 * time.Second}
}

// submit creates a session in tenant and submits a capture of n frames in
// two batches, as the capture endpoints do; it returns the session.
func submit(t *testing.T, db *store.DB, tenant string, n int) *biometric.Session {
	t.Helper()
	ctx := t.Context()
	now := time.Now().UTC()
	id := "liveness_session_" + randomHex(12)
	_, _, err := db.CreateSession(ctx, &biometric.Session{
		ID: id, Tenant: tenant, KeyID: "key_test", ClientSessionToken: "cst-" + id, Status: biometric.StatusCreated,
		Challenge: biometric.Challenge{Steps: []biometric.ChallengeStep{{Type: biometric.ChallengeBlink, Instructions: "Blink"}}},
		TokenHash: []byte(randomHex(32)), CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute),
	})
	if err != nil {
		t.Fatal(err)
	}
	var frames []biometric.Frame
	for i := range n {
		frames = append(frames, biometric.Frame{Index: i, AtMS: int64(i) * 66, Image: jpegBytes(32, 24, uint8(i)), ContentType: "image/jpeg"})
	}
	half := n / 2
	if _, err := db.AppendFrames(ctx, id, frames[:half], func(s *biometric.Session) error {
		s.Status = biometric.StatusInProgress
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s, err := db.SubmitCapture(ctx, id, &biometric.Capture{Frames: frames[half:], PromptsMS: []int64{500}}, func(s *biometric.Session) error {
		s.Status = biometric.StatusProcessing
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func randomHex(n int) string {
	b := make([]byte, n/2)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// waitStatus polls the session until it has status, or fails the test.
func waitStatus(t *testing.T, db *store.DB, id string, status biometric.SessionStatus) *biometric.Session {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := db.SessionByID(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if s.Status == status {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %s is %s after 30 s, want %s", id, s.Status, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitJobs polls until every job of kind has reached a final state and
// returns them.
func waitJobs(t *testing.T, q *Queue, kind string, want int) []*rivertype.JobRow {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := q.client.JobList(t.Context(), river.NewJobListParams().Kinds(kind).First(1000))
		if err != nil {
			t.Fatal(err)
		}
		final := 0
		for _, j := range res.Jobs {
			if j.FinalizedAt != nil {
				final++
			}
		}
		if final == want && len(res.Jobs) == want {
			return res.Jobs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d %s jobs finalised after 30 s, want %d", final, len(res.Jobs), kind, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAnalysisCompletesSession(t *testing.T) {
	t.Parallel()
	a := newFakeAnalyzer()
	e := openSQLite(t, t.TempDir(), fastConfig(a))
	s := submit(t, e.db, "acme", 8)
	e.start(t)

	got := waitStatus(t, e.db, s.ID, biometric.StatusCompleted)
	if diff := cmp.Diff(&a.result, got.Result); diff != "" {
		t.Errorf("stored result (-want +got):\n%s", diff)
	}
	if got.CompletedAt == nil || got.Failure != nil {
		t.Errorf("completed session: CompletedAt %v, Failure %+v", got.CompletedAt, got.Failure)
	}
	face, err := e.db.ReferenceFace(t.Context(), s.ID)
	if err != nil || !bytes.Equal(face, a.face) {
		t.Errorf("reference face: %d bytes, %v; want the analyzer's %d bytes", len(face), err, len(a.face))
	}
	if a.callsFor(s.ID) != 1 || a.framesFor(s.ID) != 8 {
		t.Errorf("analyzer called %d times with %d frames; want once with 8 (both batches)", a.callsFor(s.ID), a.framesFor(s.ID))
	}

	// A duplicate job for the analysed session does nothing.
	tx, err := e.db.SQL().BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.queue.EnqueueAnalysis(t.Context(), tx, s.ID); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	for _, j := range waitJobs(t, e.queue, analysisArgs{}.Kind(), 2) {
		if j.State != rivertype.JobStateCompleted {
			t.Errorf("job %d is %s, want completed", j.ID, j.State)
		}
	}
	again, err := e.db.SessionByID(t.Context(), s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if a.callsFor(s.ID) != 1 || !again.CompletedAt.Equal(*got.CompletedAt) {
		t.Errorf("the duplicate job analysed again (%d calls) or changed the session (completed %v, was %v)",
			a.callsFor(s.ID), again.CompletedAt, got.CompletedAt)
	}
}

// TestAnalysisSurvivesRestart submits a capture to a process without a
// liveness engine, stops it, and starts another on the same data
// directory with one: the queued job is worked there.
func TestAnalysisSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := openSQLite(t, dir, fastConfig(nil))
	first.start(t)
	s := submit(t, first.db, "acme", 6)
	time.Sleep(300 * time.Millisecond) // several poll intervals: nothing may work the job
	if got, _ := first.db.SessionByID(t.Context(), s.ID); got.Status != biometric.StatusProcessing {
		t.Fatalf("without an analyzer the session became %s", got.Status)
	}
	first.close(t)

	a := newFakeAnalyzer()
	second := openSQLite(t, dir, fastConfig(a))
	second.start(t)
	waitStatus(t, second.db, s.ID, biometric.StatusCompleted)
	if a.callsFor(s.ID) != 1 {
		t.Errorf("analyzer called %d times, want 1", a.callsFor(s.ID))
	}
}

func TestAnalysisRetries(t *testing.T) {
	t.Parallel()
	t.Run("ThenSucceeds", func(t *testing.T) {
		t.Parallel()
		a := newFakeAnalyzer()
		a.fail = func(call int) error {
			if call == 1 {
				return errors.New("model crashed")
			}
			return nil
		}
		e := openSQLite(t, t.TempDir(), fastConfig(a))
		s := submit(t, e.db, "acme", 4)
		e.start(t)
		waitStatus(t, e.db, s.ID, biometric.StatusCompleted)
		if n := a.callsFor(s.ID); n != 2 {
			t.Errorf("analyzer called %d times, want 2 (a failure, then the retry)", n)
		}
	})
	t.Run("UntilFailed", func(t *testing.T) {
		t.Parallel()
		a := newFakeAnalyzer()
		a.fail = func(int) error { return errors.New("model crashed") }
		cfg := fastConfig(a)
		cfg.MaxAttempts = 3
		e := openSQLite(t, t.TempDir(), cfg)
		s := submit(t, e.db, "acme", 4)
		e.start(t)
		got := waitStatus(t, e.db, s.ID, biometric.StatusFailed)
		if got.Failure == nil || got.Failure.Code != "analysis_failed" || !got.Failure.Retryable || got.CompletedAt == nil {
			t.Errorf("failed session: %+v at %v; want a retryable analysis_failed", got.Failure, got.CompletedAt)
		}
		if n := a.callsFor(s.ID); n != 3 {
			t.Errorf("analyzer called %d times, want MaxAttempts = 3", n)
		}
		if _, err := e.db.ReferenceFace(t.Context(), s.ID); !biometric.IsKind(err, biometric.KindNotFound) {
			t.Errorf("a failed session has a reference face (err %v)", err)
		}
	})
}

func TestAnalysisOutcomes(t *testing.T) {
	t.Parallel()
	t.Run("Failure", func(t *testing.T) {
		t.Parallel()
		a := newFakeAnalyzer()
		a.failure = &biometric.Failure{Code: "no_face", Message: "No face was found in the capture.", Retryable: true}
		e := openSQLite(t, t.TempDir(), fastConfig(a))
		s := submit(t, e.db, "acme", 4)
		e.start(t)
		got := waitStatus(t, e.db, s.ID, biometric.StatusFailed)
		if diff := cmp.Diff(a.failure, got.Failure); diff != "" || got.Result != nil {
			t.Errorf("stored failure (-want +got):\n%s; result %+v", diff, got.Result)
		}
	})
	t.Run("NotLiveKeepsNoFace", func(t *testing.T) {
		t.Parallel()
		a := newFakeAnalyzer()
		a.result.IsLive, a.result.SpoofAttemptDetected, a.result.LivenessScore = false, true, 4
		e := openSQLite(t, t.TempDir(), fastConfig(a))
		s := submit(t, e.db, "acme", 4)
		e.start(t)
		got := waitStatus(t, e.db, s.ID, biometric.StatusCompleted)
		if got.Result == nil || got.Result.IsLive {
			t.Errorf("result %+v, want not live", got.Result)
		}
		if _, err := e.db.ReferenceFace(t.Context(), s.ID); !biometric.IsKind(err, biometric.KindNotFound) {
			t.Errorf("the face of a spoof attempt was kept (err %v)", err)
		}
	})
	t.Run("CaptureMissing", func(t *testing.T) {
		t.Parallel()
		a := newFakeAnalyzer()
		e := openSQLite(t, t.TempDir(), fastConfig(a))
		s := submit(t, e.db, "acme", 4)
		if err := e.db.DeleteCapture(t.Context(), s.ID); err != nil {
			t.Fatal(err)
		}
		e.start(t)
		got := waitStatus(t, e.db, s.ID, biometric.StatusFailed)
		if got.Failure == nil || got.Failure.Code != "capture_missing" || a.callsFor(s.ID) != 0 {
			t.Errorf("failure %+v after %d analyses; want capture_missing without analysing", got.Failure, a.callsFor(s.ID))
		}
	})
}

// TestExpirySweep checks that the periodic job expires sessions whose
// deadline passed without anyone reading them.
func TestExpirySweep(t *testing.T) {
	t.Parallel()
	cfg := fastConfig(nil)
	cfg.ExpiryInterval = 100 * time.Millisecond
	e := openSQLite(t, t.TempDir(), cfg)
	ctx := t.Context()
	now := time.Now().UTC()
	create := func(id string, expires time.Time) {
		_, _, err := e.db.CreateSession(ctx, &biometric.Session{ID: id, Tenant: "acme", KeyID: "key_test",
			ClientSessionToken: id, Status: biometric.StatusCreated, TokenHash: []byte(id),
			CreatedAt: now.Add(-time.Hour), ExpiresAt: expires})
		if err != nil {
			t.Fatal(err)
		}
	}
	create("liveness_session_due", now.Add(-time.Minute))
	create("liveness_session_open", now.Add(time.Hour))
	e.start(t)
	waitStatus(t, e.db, "liveness_session_due", biometric.StatusExpired)
	if s, _ := e.db.SessionByID(ctx, "liveness_session_open"); s.Status != biometric.StatusCreated {
		t.Errorf("a session before its deadline became %s", s.Status)
	}
}

// TestReplicasPostgres runs two processes' queues on one PostgreSQL
// database, with LISTEN/NOTIFY: every capture is analysed exactly once.
func TestReplicasPostgres(t *testing.T) {
	t.Parallel()
	u := freshPostgres(t)
	a := newFakeAnalyzer()
	var replicas []*env
	for range 2 {
		e := &env{}
		db, err := postgres.Open(t.Context(), u, store.Options{Sealer: sealer, SubmitHook: func(ctx context.Context, tx *sql.Tx, id string) error {
			return e.queue.EnqueueAnalysis(ctx, tx, id)
		}})
		if err != nil {
			t.Fatal(err)
		}
		pool, err := pgxpool.New(t.Context(), u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		cfg := fastConfig(a)
		cfg.PollInterval = 5 * time.Second // jobs must be picked up by notification
		cfg.Workers = 2
		cfg.Driver, cfg.Store = riverdatabasesql.NewWithPgxListener(db.SQL(), pool), db
		if e.queue, err = New(cfg); err != nil {
			t.Fatal(err)
		}
		e.db = db
		e.start(t)
		replicas = append(replicas, e)
	}
	var ids []string
	for i := range 6 {
		ids = append(ids, submit(t, replicas[i%2].db, "acme", 4).ID)
	}
	for _, id := range ids {
		waitStatus(t, replicas[1].db, id, biometric.StatusCompleted)
	}
	if n := a.totalCalls(); n != len(ids) {
		t.Errorf("%d analyses for %d sessions, want exactly one each", n, len(ids))
	}
	for _, id := range ids {
		if a.callsFor(id) != 1 {
			t.Errorf("session %s analysed %d times", id, a.callsFor(id))
		}
	}
}

// freshPostgres creates an empty database for one test (pgtest.Database).
func freshPostgres(t *testing.T) string {
	t.Helper()
	return pgtest.Database(t, "everify_jobs_test_")
}

// TestRescueLostAnalysis leaves an analysis job running as a process that
// died mid-analysis would (state running, attempt 1, started a minute
// ago) and starts a queue with a short RescueAfter: its leader rescues the
// job, which runs a second time and completes the session once.
func TestRescueLostAnalysis(t *testing.T) {
	t.Parallel()
	a := newFakeAnalyzer()
	cfg := fastConfig(a)
	cfg.AnalysisTimeout, cfg.RescueAfter = time.Second, 2*time.Second
	e := openSQLite(t, t.TempDir(), cfg)
	s := submit(t, e.db, "acme", 6)
	lost := time.Now().Add(-time.Minute).UTC().Format("2006-01-02 15:04:05.000")
	res, err := e.db.SQL().ExecContext(t.Context(), `UPDATE river_job SET state = 'running', attempt = 1,
		attempted_at = ?, attempted_by = json_array('killed-process') WHERE kind = ?`, lost, analysisArgs{}.Kind())
	if n, _ := res.RowsAffected(); err != nil || n != 1 {
		t.Fatalf("marking the job running: %d rows, %v", n, err)
	}
	e.start(t)
	waitStatus(t, e.db, s.ID, biometric.StatusCompleted)
	jobs := waitJobs(t, e.queue, analysisArgs{}.Kind(), 1)
	if j := jobs[0]; j.State != rivertype.JobStateCompleted || j.Attempt != 2 || len(j.Errors) != 1 {
		t.Errorf("rescued job: state %s, attempt %d, errors %+v; want completed at attempt 2 after one rescue", j.State, j.Attempt, j.Errors)
	}
	if a.callsFor(s.ID) != 1 {
		t.Errorf("analyzer called %d times, want 1", a.callsFor(s.ID))
	}
}

func TestRescueDelay(t *testing.T) {
	for _, tc := range []struct {
		give, analysis, want time.Duration
		fails                bool
	}{
		{0, DefaultAnalysisTimeout, 6 * time.Minute, false},
		{0, time.Second, 3 * time.Second, false},
		{5 * time.Second, 4 * time.Second, 5 * time.Second, false},
		{4 * time.Second, 4 * time.Second, 0, true},
	} {
		got, err := rescueDelay(tc.give, tc.analysis)
		if got != tc.want || (err != nil) != tc.fails {
			t.Errorf("rescueDelay(%s, %s) = %s, %v; want %s (error: %v)", tc.give, tc.analysis, got, err, tc.want, tc.fails)
		}
	}
	cfg := fastConfig(nil)
	cfg.AnalysisTimeout, cfg.RescueAfter = 10*time.Second, 5*time.Second
	e := openSQLite(t, t.TempDir(), fastConfig(nil))
	cfg.Driver, cfg.Store = e.queue.client.Driver(), e.db
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "rescue delay") {
		t.Errorf("a RescueAfter shorter than the analysis timeout: %v", err)
	}
}

// TestRiverLogger checks that River's routine info logs are dropped at the
// service's info level and kept at debug level, and its warnings always.
func TestRiverLogger(t *testing.T) {
	for _, tc := range []struct {
		level    slog.Level
		wantInfo bool
	}{{slog.LevelInfo, false}, {slog.LevelDebug, true}} {
		var buf bytes.Buffer
		log := riverLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tc.level})))
		log.With("k", "v").Info("routine")
		log.WithGroup("g").Warn("trouble")
		if got := strings.Contains(buf.String(), "routine"); got != tc.wantInfo {
			t.Errorf("level %v: info record kept %v:\n%s", tc.level, got, buf.String())
		}
		if !strings.Contains(buf.String(), "trouble") {
			t.Errorf("level %v: warning dropped:\n%s", tc.level, buf.String())
		}
	}
}
