package main

// Failure tests with real processes: the everify binary is built once and
// run as `everify serve` replicas, which the tests start, kill, freeze and
// stop while real frames of a real clip are captured and analysed. They
// cover issue 6's "many replicas" and "failure survival" promises:
//
//   - TestReplicasPostgres: three replicas on one PostgreSQL database share
//     sessions, captures, analyses and results; every analysis runs once.
//   - TestReplicaKilledDuringAnalysis: a replica SIGKILLed in the middle of
//     an analysis; the job is rescued and the session completes once.
//   - TestPostgresRestart: a private PostgreSQL cluster stopped and started
//     under traffic; the replicas report not-ready, answer 503 envelopes,
//     recover by themselves and lose nothing they accepted.
//   - TestSQLiteDiskFullAndReadOnly: a full and then read-only SQLite data
//     directory (a small tmpfs); clear errors, the process stays up, no
//     corruption.

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/everify/everify/client"
	"github.com/everify/everify/internal/evaldata"
	"github.com/everify/everify/internal/seal"
	"github.com/everify/everify/internal/store/sqlite"
)

// TestMain removes the everify binary that the process tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if binary.dir != "" {
		os.RemoveAll(binary.dir)
	}
	os.Exit(code)
}

// binary is the everify binary, built once per test binary.
var binary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// everifyBinary builds this package into a temporary directory (once) and
// returns the binary's path.
func everifyBinary(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		dir, err := os.MkdirTemp("", "everify-bin-")
		if err != nil {
			binary.err = err
			return
		}
		binary.dir, binary.path = dir, filepath.Join(dir, "everify")
		gobin, err := exec.LookPath("go")
		if err != nil {
			binary.err = fmt.Errorf("the go command is needed to build everify for the process tests: %w", err)
			return
		}
		out, err := exec.Command(gobin, "build", "-o", binary.path, ".").CombinedOutput()
		if err != nil {
			binary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// processEnv is this process's environment without the variables that
// choose everify's store and keys, plus kv ("NAME=value").
func processEnv(kv ...string) []string {
	var env []string
	for _, v := range os.Environ() {
		name, _, _ := strings.Cut(v, "=")
		switch name {
		case databaseURLEnv, masterKeyEnv, masterKeyFileEnv, corsOriginsEnv:
			continue
		}
		env = append(env, v)
	}
	return append(env, kv...)
}

// runEverify runs the binary to completion and returns its exit code and
// output.
func runEverify(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, everifyBinary(t), args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("everify %s: %v", strings.Join(args, " "), err)
	}
	return code, out.String(), errb.String()
}

// createKeyWith creates an API key with the binary.
func createKeyWith(t *testing.T, env []string, args ...string) createdKey {
	t.Helper()
	code, out, errOut := runEverify(t, env, append([]string{"keys", "create", "--json"}, args...)...)
	var k createdKey
	if code != 0 || json.Unmarshal([]byte(out), &k) != nil || k.Key == "" {
		t.Fatalf("keys create: exit %d: %s%s", code, out, errOut)
	}
	return k
}

// replica is an `everify serve` process.
type replica struct {
	name   string
	cmd    *exec.Cmd
	url    string
	urls   chan string
	logs   *lockedBuffer // stdout and stderr
	exited chan struct{} // closed once it has exited
	err    error         // Wait's result, once exited
}

// launch starts `everify serve --addr 127.0.0.1:0 args…` without waiting
// for it; ready waits. The process is stopped when the test ends.
func launch(t *testing.T, name string, env []string, args ...string) *replica {
	t.Helper()
	r := &replica{name: name, urls: make(chan string, 1), logs: &lockedBuffer{}, exited: make(chan struct{})}
	r.cmd = exec.Command(everifyBinary(t), append([]string{"serve", "--addr", "127.0.0.1:0", "--log-level", "warn"}, args...)...)
	r.cmd.Env = env
	r.cmd.Stderr = r.logs
	stdout, err := r.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("starting replica %s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				r.urls <- m[1]
			}
			fmt.Fprintln(r.logs, sc.Text())
		}
		r.err = r.cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() {
		r.signal(syscall.SIGCONT)
		r.stop(t)
		if t.Failed() {
			t.Logf("replica %s log:\n%s", r.name, tail(r.logs.String(), 4000))
		}
	})
	return r
}

// ready waits until the replica listens and returns it.
func (r *replica) ready(t *testing.T) *replica {
	t.Helper()
	select {
	case r.url = <-r.urls:
		return r
	case <-r.exited:
		t.Fatalf("replica %s exited (%v) before listening:\n%s", r.name, r.err, r.logs)
	case <-time.After(2 * time.Minute):
		t.Fatalf("replica %s did not listen within 2 minutes:\n%s", r.name, r.logs)
	}
	return nil
}

// signal sends sig to a replica that is still running.
func (r *replica) signal(sig syscall.Signal) {
	select {
	case <-r.exited:
	default:
		r.cmd.Process.Signal(sig)
	}
}

// kill SIGKILLs the replica and waits for it.
func (r *replica) kill(t *testing.T) {
	t.Helper()
	r.signal(syscall.SIGKILL)
	<-r.exited
}

// stop asks the replica to shut down gracefully (SIGTERM) and returns its
// exit code; it is SIGKILLed after 40 s.
func (r *replica) stop(t *testing.T) int {
	t.Helper()
	r.signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(40 * time.Second):
		t.Errorf("replica %s did not stop within 40 s of SIGTERM", r.name)
		r.kill(t)
	}
	return r.cmd.ProcessState.ExitCode()
}

// tail returns the end of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// blinkFPS and blinkPromptMS time the captures: frames at 15 fps and the
// blink prompt shown after one second of neutral face, as the capture SDK
// does; the person in the clip blinks at about 1.7 s.
const (
	blinkFPS      = 15
	blinkPromptMS = 1000
)

// blinkFrames extracts the first n frames of the blink clip as a webcam
// would deliver them: 15 fps, 640x480 (a 4:3 crop of the portrait clip),
// JPEG. They are written to a temporary directory only.
func blinkFrames(t *testing.T, n int) [][]byte {
	t.Helper()
	clip := evaldata.Require(t, "video/live/blink-selfie-portrait.mp4")
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatalf("ffmpeg is needed to extract the test frames (make deps-test installs it): %v", err)
	}
	dir := t.TempDir()
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", clip,
		"-vf", fmt.Sprintf("fps=%d,crop=480:360,scale=640:480", blinkFPS),
		"-frames:v", strconv.Itoa(n), "-q:v", "4", filepath.Join(dir, "frame%03d.jpg")).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	names, err := filepath.Glob(filepath.Join(dir, "frame*.jpg"))
	if err != nil || len(names) != n {
		t.Fatalf("ffmpeg wrote %d frames, want %d (%v)", len(names), n, err)
	}
	sort.Strings(names)
	frames := make([][]byte, n)
	for i, name := range names {
		if frames[i], err = os.ReadFile(name); err != nil {
			t.Fatal(err)
		}
	}
	return frames
}

// reply is an HTTP answer: its status, body and, for errors, the decoded
// error envelope.
type reply struct {
	status int
	header http.Header
	body   []byte
	env    client.ErrorResponse
}

// String describes the reply for failure messages.
func (r reply) String() string {
	return fmt.Sprintf("%d %s", r.status, tail(string(r.body), 400))
}

// enveloped reports whether r is an error in everify's envelope: a code,
// a message and the request id.
func (r reply) enveloped() bool {
	return r.env.Error.Code != "" && r.env.Message != "" && strings.HasPrefix(r.env.RequestID, "req_") &&
		r.env.RequestID == r.header.Get("X-Request-Id")
}

// httpClient bounds every request of the process tests: a request that
// hangs fails.
var httpClient = &http.Client{Timeout: 20 * time.Second}

// call sends a request and reads the answer.
func call(req *http.Request) (reply, error) {
	resp, err := httpClient.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	r := reply{status: resp.StatusCode, header: resp.Header, body: body}
	if r.status >= 400 {
		json.Unmarshal(body, &r.env)
	}
	return r, nil
}

// get sends a GET with the API key (if any).
func get(url, key string) (reply, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return reply{}, err
	}
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	return call(req)
}

// startSession starts a blink session with the key.
func startSession(base, key, token string) (*client.StartLivenessResponse, reply, error) {
	body, _ := json.Marshal(client.StartLivenessRequest{ClientSessionToken: token, ChallengeTypes: []string{"blink"}})
	req, err := http.NewRequest("POST", base+"/v1/biometrics/liveness/start", bytes.NewReader(body))
	if err != nil {
		return nil, reply{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", key)
	r, err := call(req)
	if err != nil || r.status != 200 {
		return nil, r, err
	}
	var s client.StartLivenessResponse
	if err := json.Unmarshal(r.body, &s); err != nil {
		return nil, r, err
	}
	if s.Capture == nil || s.SessionToken == "" {
		return nil, r, fmt.Errorf("start answered without capture settings: %s", r)
	}
	return &s, r, nil
}

// mustStart starts a blink session or fails the test.
func mustStart(t *testing.T, base, key, token string) *client.StartLivenessResponse {
	t.Helper()
	s, r, err := startSession(base, key, token)
	if err != nil || s == nil {
		t.Fatalf("start on %s: %v %s", base, err, r)
	}
	return s
}

// sendBatch uploads frames as batch number batch, the first one having
// index first, timed at 15 fps.
func sendBatch(base string, s *client.StartLivenessResponse, batch, first int, frames [][]byte) (reply, error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	meta := client.FrameBatchMeta{Batch: batch}
	for i := range frames {
		at := math.Round(float64(first+i) * 1000 / blinkFPS)
		meta.Frames = append(meta.Frames, client.FrameMeta{Index: first + i, CapturedAtMS: int64(at)})
	}
	mw, err := w.CreateFormField("meta")
	if err != nil {
		return reply{}, err
	}
	if err := json.NewEncoder(mw).Encode(meta); err != nil {
		return reply{}, err
	}
	for _, f := range frames {
		fw, err := w.CreateFormFile("frame", "frame.jpg")
		if err != nil {
			return reply{}, err
		}
		fw.Write(f)
	}
	w.Close()
	req, err := http.NewRequest("POST", base+s.Capture.UploadURL, &buf)
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+s.SessionToken)
	return call(req)
}

// batches splits frames into upload batches of the session's size.
func batches(s *client.StartLivenessResponse, frames [][]byte) [][][]byte {
	size := max(s.Capture.MaxBatchFrames, 1)
	var out [][][]byte
	for first := 0; first < len(frames); first += size {
		out = append(out, frames[first:min(first+size, len(frames))])
	}
	return out
}

// uploadAll uploads every frame in batches, in order, to base.
func uploadAll(base string, s *client.StartLivenessResponse, frames [][]byte) error {
	first := 0
	for i, b := range batches(s, frames) {
		r, err := sendBatch(base, s, i, first, b)
		if err != nil {
			return err
		}
		if r.status != 200 {
			return fmt.Errorf("batch %d: %s", i, r)
		}
		first += len(b)
	}
	return nil
}

// complete completes the capture of n frames, the blink prompt shown at
// blinkPromptMS.
func complete(base string, s *client.StartLivenessResponse, n int) (reply, error) {
	body, _ := json.Marshal(client.CompleteCaptureRequest{FrameCount: n,
		Prompts: []client.PromptShown{{Step: 0, ShownAtMS: blinkPromptMS}}})
	req, err := http.NewRequest("POST", base+s.Capture.CompleteURL, bytes.NewReader(body))
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.SessionToken)
	return call(req)
}

// capture uploads frames to base and completes the capture there.
func capture(base string, s *client.StartLivenessResponse, frames [][]byte) error {
	if err := uploadAll(base, s, frames); err != nil {
		return err
	}
	r, err := complete(base, s, len(frames))
	if err != nil {
		return err
	}
	if r.status != 202 {
		return fmt.Errorf("complete: %s", r)
	}
	return nil
}

// results reads a session's results with the API key.
func results(base, key, id string) (*client.LivenessResultsResponse, error) {
	r, err := get(base+"/v1/biometrics/liveness/"+id+"/results", key)
	if err != nil {
		return nil, err
	}
	if r.status != 200 {
		return nil, fmt.Errorf("results of %s on %s: %s", id, base, r)
	}
	var out client.LivenessResultsResponse
	return &out, json.Unmarshal(r.body, &out)
}

// waitDecided polls the results on base until the session is completed
// or failed, and returns them.
func waitDecided(t *testing.T, base, key, id string, within time.Duration) *client.LivenessResultsResponse {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		res, err := results(base, key, id)
		if err == nil && (res.Status == "completed" || res.Status == "failed") {
			return res
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %s not decided within %s: %+v, %v", id, within, res, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// wantLive stops the test unless res is a completed, live decision.
func wantLive(t *testing.T, res *client.LivenessResultsResponse) {
	t.Helper()
	if res.Status != "completed" || res.Result == nil || res.CompletedAt == nil || !res.Result.IsLive || res.Result.SpoofAttemptDetected {
		t.Fatalf("session %s: status %s, failure %+v, result %+v; want completed and live (a real person blinking)",
			res.SessionID, res.Status, res.Failure, res.Result)
	}
}

// analysisJob is the River job of a session's liveness analysis.
type analysisJob struct {
	ID          int64
	State       string
	Attempt     int
	Errors      []string
	AttemptedBy []string
	RunningFor  time.Duration // since its attempt started, by the database's clock
}

// analysisJobs returns the analysis jobs of session id.
func analysisJobs(t *testing.T, conn *pgx.Conn, id string) []analysisJob {
	t.Helper()
	rows, err := conn.Query(t.Context(), `SELECT id, state, attempt,
			coalesce((SELECT array_agg(e->>'error') FROM unnest(errors) AS e), '{}'),
			coalesce(attempted_by, '{}'),
			coalesce(extract(epoch FROM now() - attempted_at), 0)
		FROM river_job WHERE kind = 'liveness_analysis' AND args->>'session_id' = $1 ORDER BY id`, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var jobs []analysisJob
	for rows.Next() {
		var j analysisJob
		var secs float64
		if err := rows.Scan(&j.ID, &j.State, &j.Attempt, &j.Errors, &j.AttemptedBy, &secs); err != nil {
			t.Fatal(err)
		}
		j.RunningFor = time.Duration(secs * float64(time.Second))
		jobs = append(jobs, j)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return jobs
}

// finishedJobs waits until every analysis job of session id is finalised
// (River records a job's end just after the work, which saved the
// decision, returned) and returns them.
func finishedJobs(t *testing.T, conn *pgx.Conn, id string) []analysisJob {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		jobs := analysisJobs(t, conn, id)
		if !slices.ContainsFunc(jobs, func(j analysisJob) bool {
			return slices.Contains([]string{"available", "pending", "retryable", "running", "scheduled"}, j.State)
		}) || time.Now().After(deadline) {
			return jobs
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// analysedRecords counts the liveness.analysed audit records of session
// id: one per decision saved.
func analysedRecords(t *testing.T, conn *pgx.Conn, id string) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(t.Context(), `SELECT COUNT(*) FROM audit_log WHERE action = 'liveness.analysed' AND session_id = $1`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// connect opens a connection to the database for the test's own queries.
func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// postgresReplicaEnv prepares a PostgreSQL database for replicas: it
// migrates it with the CLI and creates an API key. It returns the
// replicas' environment and the key.
func postgresReplicaEnv(t *testing.T, url string) ([]string, createdKey) {
	t.Helper()
	env := processEnv(databaseURLEnv+"="+url, masterKeyEnv+"="+seal.NewKey())
	if code, out, errOut := runEverify(t, env, "migrate"); code != 0 {
		t.Fatalf("migrate: exit %d: %s%s", code, out, errOut)
	}
	return env, createKeyWith(t, env, "--tenant", "acme")
}

// replicaFlags are the flags every replica in these tests runs with: no
// face-match engine (not used here) and no rate limits (the tests send
// bursts).
var replicaFlags = []string{"--face-match=false", "--rate-limit", "0", "--session-rate-limit", "0"}

// captureFrames is how many frames each capture sends: 6 s at 15 fps,
// one second before the prompt and the 5 s window after it.
const captureFrames = 90

// TestReplicasPostgres runs three replicas on one PostgreSQL database:
// sessions are started on A, captured through B (which has no liveness
// engine, so that another process must analyse them), analysed by
// whichever of A and C takes the job, and read from C; all three replicas
// give the same decision, and each analysis job ran once.
func TestReplicasPostgres(t *testing.T) {
	frames := blinkFrames(t, captureFrames)
	env, key := postgresReplicaEnv(t, freshPostgres(t))
	a := launch(t, "a", env, replicaFlags...)
	b := launch(t, "b", env, append(slices.Clone(replicaFlags), "--liveness=false")...)
	c := launch(t, "c", env, replicaFlags...)
	begin := time.Now()
	a.ready(t)
	b.ready(t)
	c.ready(t)
	t.Logf("three replicas ready in %.1f s", time.Since(begin).Seconds())

	const sessions = 3
	started := make([]*client.StartLivenessResponse, sessions)
	for i := range sessions {
		started[i] = mustStart(t, a.url, key.Key, fmt.Sprintf("replicas-%d", i))
	}
	var wg sync.WaitGroup
	for _, s := range started {
		wg.Go(func() {
			if err := capture(b.url, s, frames); err != nil {
				t.Errorf("capture of %s through replica b: %v", s.SessionID, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	t.Logf("%d captures sent in %.1f s", sessions, time.Since(begin).Seconds())
	conn := connect(t, env2url(env))
	for _, s := range started {
		decided := waitDecided(t, c.url, key.Key, s.SessionID, 2*time.Minute)
		wantLive(t, decided)
		t.Logf("%s decided at %.1f s: liveness_score %.1f", s.SessionID, time.Since(begin).Seconds(), decided.Result.LivenessScore)
		for _, r := range []*replica{a, b, c} {
			res, err := results(r.url, key.Key, s.SessionID)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != decided.Status || !jsonEqual(res.Result, decided.Result) || res.CompletedAt == nil || !res.CompletedAt.Equal(*decided.CompletedAt) {
				t.Errorf("replica %s answers %s for %s, replica c %s: the replicas disagree", r.name, res.Status, s.SessionID, decided.Status)
			}
		}
		jobs := finishedJobs(t, conn, s.SessionID)
		if len(jobs) != 1 || jobs[0].State != "completed" || jobs[0].Attempt != 1 || len(jobs[0].AttemptedBy) != 1 || len(jobs[0].Errors) != 0 {
			t.Errorf("analysis jobs of %s: %+v; want one, completed at its first attempt", s.SessionID, jobs)
		}
		if n := analysedRecords(t, conn, s.SessionID); n != 1 {
			t.Errorf("%d liveness.analysed audit records for %s, want 1", n, s.SessionID)
		}
	}
}

// env2url returns the DATABASE_URL of a replica environment.
func env2url(env []string) string {
	for _, v := range env {
		if u, ok := strings.CutPrefix(v, databaseURLEnv+"="); ok {
			return u
		}
	}
	return ""
}

// jsonEqual reports whether a and b encode to the same JSON.
func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// TestReplicaKilledDuringAnalysis SIGKILLs the replica that is analysing
// a capture. The job stays running in the database; once it has run
// longer than --job-rescue-after, River's rescuer (which runs on the
// leader) puts it back, a fresh replica analyses it, and the session
// completes once, at the job's second attempt.
func TestReplicaKilledDuringAnalysis(t *testing.T) {
	// The analysis timeout leaves a loaded machine room for the analysis
	// of 90 frames (about 1 s on an idle one); the rescue delay must be
	// longer.
	const analysisTimeout, rescueAfter = 10 * time.Second, 12 * time.Second
	frames := blinkFrames(t, captureFrames)
	url := freshPostgres(t)
	env, key := postgresReplicaEnv(t, url)
	conn := connect(t, url)
	flags := append(slices.Clone(replicaFlags), "--analysis-timeout", analysisTimeout.String(), "--job-rescue-after", rescueAfter.String())

	// B has no liveness engine; it starts first, so that it leads (the
	// leader runs the rescuer) and A, which is killed, does not.
	b := launch(t, "b", env, append(slices.Clone(flags), "--liveness=false")...).ready(t)
	waitFor(t, 30*time.Second, "replica b to lead", func() bool {
		var n int
		return conn.QueryRow(t.Context(), "SELECT COUNT(*) FROM river_leader").Scan(&n) == nil && n == 1
	})
	a := launch(t, "a", env, flags...).ready(t)

	s := mustStart(t, b.url, key.Key, "killed-1")
	if err := capture(b.url, s, frames); err != nil {
		t.Fatal(err)
	}
	// Freeze A as soon as its worker has taken the job, check that the
	// analysis is still under way, and kill it.
	waitFor(t, time.Minute, "replica a to start the analysis", func() bool {
		jobs := analysisJobs(t, conn, s.SessionID)
		if len(jobs) == 1 && jobs[0].State != "available" && jobs[0].State != "running" {
			t.Fatalf("the analysis ended (%+v) before replica a could be killed", jobs[0])
		}
		return len(jobs) == 1 && jobs[0].State == "running"
	})
	a.signal(syscall.SIGSTOP)
	if jobs := analysisJobs(t, conn, s.SessionID); jobs[0].State != "running" {
		t.Fatalf("the analysis ended (%+v) before replica a could be killed", jobs[0])
	}
	a.kill(t)
	killedAt := time.Now()

	// Nobody works the job while it may still be running.
	if res, err := results(b.url, key.Key, s.SessionID); err != nil || res.Status != "processing" {
		t.Errorf("results on replica b with replica a dead: %+v, %v; want processing", res, err)
	}
	job := analysisJobs(t, conn, s.SessionID)[0]
	if job.State != "running" || job.Attempt != 1 {
		t.Fatalf("the killed analysis: %+v; want running at attempt 1", job)
	}
	time.Sleep(rescueAfter - job.RunningFor + 500*time.Millisecond)

	// B leaves gracefully, which hands the leadership over at once: the
	// fresh replica C leads and rescues the job on its first look, rather
	// than at B's next look up to 30 s later.
	if code := b.stop(t); code != 0 {
		t.Errorf("replica b exited %d after SIGTERM", code)
	}
	c := launch(t, "c", env, flags...).ready(t)
	res := waitDecided(t, c.url, key.Key, s.SessionID, time.Minute)
	wantLive(t, res)
	t.Logf("decided %.1f s after replica a was killed", time.Since(killedAt).Seconds())

	job = finishedJobs(t, conn, s.SessionID)[0]
	if job.State != "completed" || job.Attempt != 2 || len(job.AttemptedBy) != 2 || len(job.Errors) != 1 ||
		!strings.Contains(job.Errors[0], "Stuck job rescued") {
		t.Errorf("the rescued job: %+v; want completed at attempt 2, after one rescue", job)
	}
	if n := analysedRecords(t, conn, s.SessionID); n != 1 {
		t.Errorf("%d liveness.analysed audit records, want 1: the session was decided more than once", n)
	}
}

// waitFor polls cond every 5 ms until it holds, or fails the test.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// privatePostgres is a PostgreSQL cluster of the test's own, which it may
// stop and start without disturbing the shared server.
type privatePostgres struct {
	bin  string // PostgreSQL's bin directory
	dir  string // the cluster's data directory
	log  string // its server log
	port int
	url  string
}

// startPrivatePostgres creates a cluster in a temporary directory with
// initdb, as the postgres user (initdb refuses root), listening on a free
// port of 127.0.0.1 and on a socket in that directory, and starts it; it is
// stopped and removed when the test ends.
func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	_, runuserErr := exec.LookPath("runuser")
	if len(bins) == 0 || os.Geteuid() != 0 || runuserErr != nil {
		msg := fmt.Sprintf("a private PostgreSQL cluster needs root, runuser and Debian's PostgreSQL server (/usr/lib/postgresql/*/bin; found %v)", bins)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	sort.Strings(bins)
	root, err := os.MkdirTemp("", "everify-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	pg := &privatePostgres{bin: filepath.Dir(bins[len(bins)-1]), dir: filepath.Join(root, "data"), log: filepath.Join(root, "server.log"), port: freePort(t)}
	pg.url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", pg.port)
	if out, err := exec.Command("chown", "postgres:", root).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v %s", err, out)
	}
	pg.run(t, "initdb", "-D", pg.dir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	conf := fmt.Sprintf("\nport = %d\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\n", pg.port, root)
	f, err := os.OpenFile(filepath.Join(pg.dir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(conf); err != nil {
		t.Fatal(err)
	}
	f.Close()
	pg.start(t)
	t.Cleanup(func() {
		// Errors are ignored: a test that failed during the outage leaves
		// the cluster stopped.
		pg.command(context.Background(), "pg_ctl", "-D", pg.dir, "-w", "stop", "-m", "immediate").Run()
	})
	return pg
}

// command returns the command that runs one of PostgreSQL's programs as
// the postgres user.
func (pg *privatePostgres) command(ctx context.Context, program string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "runuser", append([]string{"-u", "postgres", "--", filepath.Join(pg.bin, program)}, args...)...)
}

// run runs one of PostgreSQL's programs as the postgres user, or fails
// the test.
func (pg *privatePostgres) run(t *testing.T, program string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := pg.command(ctx, program, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(pg.log)
		t.Fatalf("%s %s: %v\n%s\nserver log:\n%s", program, strings.Join(args, " "), err, out, tail(string(log), 2000))
	}
}

// pgctl runs pg_ctl on the cluster and waits for it to finish.
func (pg *privatePostgres) pgctl(t *testing.T, args ...string) {
	t.Helper()
	pg.run(t, "pg_ctl", append([]string{"-D", pg.dir, "-l", pg.log, "-w"}, args...)...)
}

func (pg *privatePostgres) start(t *testing.T) { t.Helper(); pg.pgctl(t, "start") }

// stop shuts the cluster down as an operator restarting it would: fast
// mode disconnects every client and aborts their transactions.
func (pg *privatePostgres) stop(t *testing.T) { t.Helper(); pg.pgctl(t, "stop", "-m", "fast") }

// freePort returns a TCP port of 127.0.0.1 that nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// traffic sends a steady flow of session starts and results reads to a
// replica, in the background, and records every answer by phase.
type traffic struct {
	base, key string
	mu        sync.Mutex
	phase     int
	counts    [3]map[string]int // phase → "200", "503 store_unavailable" …
	accepted  []string          // sessions whose start got a 2xx
	problems  []string          // answers that are neither 2xx nor a 503 envelope
	recent    []string          // the outcome of the latest requests
	stop      chan struct{}
	done      chan struct{}
}

// The phases of TestPostgresRestart, by when a request was sent: before
// the database had stopped (its fast shutdown included), while it was
// down, and once it was being started again.
const (
	beforeOutage = iota
	duringOutage
	afterOutage
)

func startTraffic(base, key string) *traffic {
	tr := &traffic{base: base, key: key, stop: make(chan struct{}), done: make(chan struct{})}
	for i := range tr.counts {
		tr.counts[i] = map[string]int{}
	}
	go tr.run()
	return tr
}

func (tr *traffic) run() {
	defer close(tr.done)
	for i := 0; ; i++ {
		select {
		case <-tr.stop:
			return
		case <-time.After(20 * time.Millisecond):
		}
		phase := tr.currentPhase()
		s, r, err := startSession(tr.base, tr.key, fmt.Sprintf("flow-%d", i))
		tr.record(phase, "start", r, err)
		if s != nil {
			tr.mu.Lock()
			tr.accepted = append(tr.accepted, s.SessionID)
			tr.mu.Unlock()
		}
		if id := tr.lastAccepted(); id != "" {
			r, err := get(tr.base+"/v1/biometrics/liveness/"+id+"/results", tr.key)
			tr.record(phase, "results", r, err)
		}
	}
}

func (tr *traffic) currentPhase() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.phase
}

func (tr *traffic) setPhase(p int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.phase = p
}

func (tr *traffic) lastAccepted() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.accepted) == 0 {
		return ""
	}
	return tr.accepted[len(tr.accepted)-1]
}

// record counts one answer; anything but a 2xx or a 503 in the error
// envelope is a problem (a 500, a hang, a dropped connection).
func (tr *traffic) record(phase int, what string, r reply, err error) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	outcome := strconv.Itoa(r.status)
	switch {
	case err != nil:
		outcome = "error"
		tr.problems = append(tr.problems, fmt.Sprintf("%s: %v", what, err))
	case r.status >= 200 && r.status < 300:
	case r.status == 503 && r.enveloped():
		outcome += " " + r.env.Error.Code
	default:
		tr.problems = append(tr.problems, fmt.Sprintf("%s: %s", what, r))
	}
	tr.counts[phase][outcome]++
	tr.recent = append(tr.recent, outcome)
}

// finish stops the flow and waits for its last request.
func (tr *traffic) finish() {
	close(tr.stop)
	<-tr.done
}

// waitReady polls GET /readyz until it answers want, and returns how long
// that took.
func waitReady(t *testing.T, r *replica, want int, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last reply
	var err error
	for time.Since(start) < within {
		if last, err = get(r.url+"/readyz", ""); err == nil && last.status == want {
			if want != 200 && (!last.enveloped() || last.env.Error.Code != "store_unavailable") {
				t.Errorf("readyz of replica %s: %s; want the store_unavailable envelope", r.name, last)
			}
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("readyz of replica %s did not answer %d within %s: %s, %v", r.name, want, within, last, err)
	return 0
}

// TestPostgresRestart stops and starts a private PostgreSQL cluster while
// requests flow to a replica without a liveness engine (F) and a worker
// replica with one (W). During the outage both report not-ready and every
// request gets a 503 in the error envelope, quickly; afterwards they are
// ready again by themselves, every session that got a 2xx is there, a
// capture refused during the outage goes through, and an analysis that
// was queued before the outage is done. W is frozen (SIGSTOP) from before
// that capture is completed until the database is down, so that its
// analysis waits in the queue through the outage.
func TestPostgresRestart(t *testing.T) {
	pg := startPrivatePostgres(t)
	frames := blinkFrames(t, captureFrames)
	env, key := postgresReplicaEnv(t, pg.url)
	flags := append(slices.Clone(replicaFlags), "--rate-limit", "1000", "--rate-burst", "1000") // the shared limiter stays in play
	f := launch(t, "f", env, append(slices.Clone(flags), "--liveness=false")...)
	w := launch(t, "w", env, flags...)
	f.ready(t)
	w.ready(t)

	queued := mustStart(t, f.url, key.Key, "queued-before-outage")
	if err := uploadAll(f.url, queued, frames); err != nil {
		t.Fatal(err)
	}
	split := batches(queued, frames)
	interrupted := mustStart(t, f.url, key.Key, "captured-across-outage")
	if r, err := sendBatch(f.url, interrupted, 0, 0, split[0]); err != nil || r.status != 200 {
		t.Fatalf("batch 0 before the outage: %s, %v", r, err)
	}
	w.signal(syscall.SIGSTOP)
	if r, err := complete(f.url, queued, len(frames)); err != nil || r.status != 202 {
		t.Fatalf("complete before the outage: %s, %v", r, err)
	}
	tr := startTraffic(f.url, key.Key)
	time.Sleep(time.Second)

	pg.stop(t)
	tr.setPhase(duringOutage)
	w.signal(syscall.SIGCONT)
	waitReady(t, f, 503, 10*time.Second)
	waitReady(t, w, 503, 10*time.Second)
	r, err := sendBatch(f.url, interrupted, 1, len(split[0]), split[1])
	if err != nil || r.status != 503 || !r.enveloped() || r.env.Error.Code != "store_unavailable" {
		t.Errorf("a frame batch during the outage: %s, %v; want 503 store_unavailable in the error envelope", r, err)
	}
	time.Sleep(2 * time.Second)

	tr.setPhase(afterOutage)
	pg.start(t)
	ready := waitReady(t, f, 200, 30*time.Second)
	waitReady(t, w, 200, 30*time.Second)
	t.Logf("replica f ready %.2f s after PostgreSQL started", ready.Seconds())
	time.Sleep(2 * time.Second)
	tr.finish()

	// The flow: 2xx before, 503 envelopes during, 2xx after, nothing else.
	t.Logf("answers before, during and after the outage: %v", tr.counts)
	for _, p := range tr.problems {
		t.Errorf("not a 2xx nor a 503 envelope: %s", p)
	}
	if tr.counts[beforeOutage]["200"] == 0 || tr.counts[afterOutage]["200"] == 0 {
		t.Errorf("too few successful requests before or after the outage: %v", tr.counts)
	}
	for outcome, n := range tr.counts[duringOutage] {
		if !strings.HasPrefix(outcome, "503 ") {
			t.Errorf("%d answers %q while the database was down", n, outcome)
		}
	}
	if last := tr.recent[max(len(tr.recent)-10, 0):]; len(last) < 10 || slices.ContainsFunc(last, func(o string) bool { return o != "200" }) {
		t.Errorf("the last requests after the outage: %v; want all 200", last)
	}

	// Nothing accepted is lost; the capture goes on where it stopped.
	for _, id := range tr.accepted {
		if res, err := results(f.url, key.Key, id); err != nil || res.Status != "created" {
			t.Errorf("session %s, started with a 2xx: %+v, %v", id, res, err)
		}
	}
	rest := frames[len(split[0]):]
	if err := uploadAllFrom(f.url, interrupted, rest, 1, len(split[0])); err != nil {
		t.Fatalf("the capture refused during the outage, sent again: %v", err)
	}
	if r, err := complete(f.url, interrupted, len(frames)); err != nil || r.status != 202 {
		t.Fatalf("complete after the outage: %s, %v", r, err)
	}
	for _, s := range []*client.StartLivenessResponse{queued, interrupted} {
		wantLive(t, waitDecided(t, f.url, key.Key, s.SessionID, time.Minute))
	}
	conn := connect(t, pg.url)
	if n := analysedRecords(t, conn, queued.SessionID); n != 1 {
		t.Errorf("%d liveness.analysed audit records for the queued capture, want 1", n)
	}
}

// uploadAllFrom uploads frames in batches numbered from batch, the first
// frame having index first.
func uploadAllFrom(base string, s *client.StartLivenessResponse, frames [][]byte, batch, first int) error {
	for _, b := range batches(s, frames) {
		r, err := sendBatch(base, s, batch, first, b)
		if err != nil {
			return err
		}
		if r.status != 200 {
			return fmt.Errorf("batch %d: %s", batch, r)
		}
		batch++
		first += len(b)
	}
	return nil
}

// mountTmpfs mounts a tmpfs of size bytes on a new temporary directory
// and unmounts it when the test ends. Mounting needs root; under CI=true
// not being able to is a failure.
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", size), "tmpfs", dir).CombinedOutput(); err != nil {
		msg := fmt.Sprintf("mounting a tmpfs (needs root): %v %s", err, out)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// remount changes the options of the file system mounted on dir.
func remount(t *testing.T, dir, opts string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,"+opts, dir).CombinedOutput(); err != nil {
		t.Fatalf("mount -o remount,%s %s: %v %s", opts, dir, err, out)
	}
}

// fill writes a file in dir that leaves about keep bytes free.
func fill(t *testing.T, dir string, keep int64) string {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * st.Bsize
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for n := int64(0); n < free-keep; n += int64(len(chunk)) {
		if _, err := f.Write(chunk); err != nil {
			t.Fatalf("filling %s: %v", dir, err)
		}
	}
	return path
}

// integrityCheck runs PRAGMA integrity_check on the SQLite database in
// dataDir, read-only, and fails the test unless it says ok.
func integrityCheck(t *testing.T, dataDir string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, sqlite.FileName)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var verdict string
	if err := db.QueryRowContext(t.Context(), "PRAGMA integrity_check").Scan(&verdict); err != nil || verdict != "ok" {
		t.Errorf("PRAGMA integrity_check: %q, %v; want ok", verdict, err)
	}
}

// TestSQLiteDiskFullAndReadOnly runs a replica on a SQLite data directory
// in a small tmpfs. Filled up, uploads fail with 503 storage_full in the
// error envelope while reads go on and the process stays up; with space
// freed the refused upload goes through; the database is intact. Made
// read-only, the data directory stops serve at start with a message that
// says so, and nothing is lost.
func TestSQLiteDiskFullAndReadOnly(t *testing.T) {
	if !docsErrorCode(t, "storage_full", 503) || !docsErrorCode(t, "storage_read_only", 503) {
		t.Error("docs/openapi.yaml does not list storage_full and storage_read_only as 503s")
	}
	frames := blinkFrames(t, captureFrames)
	mnt := mountTmpfs(t, 16<<20)
	dataDir := filepath.Join(mnt, "data")
	env := processEnv()
	key := createKeyWith(t, env, "--data-dir", dataDir, "--tenant", "acme")
	flags := append(slices.Clone(replicaFlags), "--data-dir", dataDir, "--liveness=false")
	srv := launch(t, "sqlite", env, flags...).ready(t)

	accepted := []string{mustStart(t, srv.url, key.Key, "before-full").SessionID}
	filler := fill(t, mnt, 512<<10)
	// Upload captures until the file system is full.
	var s *client.StartLivenessResponse
	var failed reply
	var split [][][]byte
	batch, first, sent := 0, 0, 0
	for {
		if s == nil || batch == len(split) {
			s = mustStart(t, srv.url, key.Key, fmt.Sprintf("filling-%d", len(accepted)))
			accepted = append(accepted, s.SessionID)
			split, batch, first = batches(s, frames), 0, 0
		}
		r, err := sendBatch(srv.url, s, batch, first, split[batch])
		if err != nil {
			t.Fatalf("batch %d: %v", batch, err)
		}
		if r.status != 200 {
			failed = r
			break
		}
		first += len(split[batch])
		batch++
		if sent += len(split[batch-1]); sent > 20*captureFrames {
			t.Fatal("the uploads never filled the file system")
		}
	}
	if failed.status != 503 || !failed.enveloped() || failed.env.Error.Code != "storage_full" || !strings.Contains(failed.env.Message, "storage is full") {
		t.Fatalf("an upload on a full disk: %s; want 503 storage_full in the error envelope", failed)
	}
	if res, err := results(srv.url, key.Key, accepted[0]); err != nil || res.Status != "created" {
		t.Errorf("reading a session on a full disk: %+v, %v", res, err)
	}
	if r, err := get(srv.url+"/healthz", ""); err != nil || r.status != 200 {
		t.Errorf("healthz on a full disk: %s, %v", r, err)
	}

	// With space freed, the refused batch and the rest go through.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := uploadAllFrom(srv.url, s, frames[first:], batch, first); err != nil {
		t.Fatalf("the refused upload, sent again with space freed: %v", err)
	}
	if r, err := complete(srv.url, s, len(frames)); err != nil || r.status != 202 {
		t.Fatalf("complete with space freed: %s, %v", r, err)
	}
	accepted = append(accepted, mustStart(t, srv.url, key.Key, "after-full").SessionID)
	integrityCheck(t, dataDir)
	if code := srv.stop(t); code != 0 {
		t.Errorf("serve exited %d after SIGTERM", code)
	}

	// A read-only data directory: serve refuses to start, and says why.
	remount(t, mnt, "ro")
	ro := launch(t, "read-only", env, flags...)
	select {
	case <-ro.exited:
	case url := <-ro.urls:
		t.Fatalf("serve started on a read-only data directory (%s)", url)
	case <-time.After(time.Minute):
		t.Fatal("serve on a read-only data directory neither started nor exited within a minute")
	}
	if msg := ro.logs.String(); ro.cmd.ProcessState.ExitCode() == 0 || !strings.Contains(msg, "read-only") || !strings.Contains(msg, dataDir) {
		t.Errorf("serve on a read-only data directory: exit %d, %q; want a failure that names the directory and says it is read-only",
			ro.cmd.ProcessState.ExitCode(), msg)
	}
	remount(t, mnt, "rw")
	integrityCheck(t, dataDir)
	if n := countSessions(t, dataDir, accepted); n != len(accepted) {
		t.Errorf("%d of the %d sessions started with a 2xx are stored", n, len(accepted))
	}
}

// countSessions counts how many of ids the SQLite database in dataDir
// holds.
func countSessions(t *testing.T, dataDir string, ids []string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, sqlite.FileName)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := 0
	for _, id := range ids {
		var found int
		if err := db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM sessions WHERE id = ?", id).Scan(&found); err != nil {
			t.Fatal(err)
		}
		n += found
	}
	return n
}

// docsErrorCode reports whether docs/openapi.yaml lists code with status.
func docsErrorCode(t *testing.T, code string, status int) bool {
	t.Helper()
	doc, err := os.ReadFile("../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Contains(doc, fmt.Appendf(nil, "{code: %s, status: %d,", code, status))
}
