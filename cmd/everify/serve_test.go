package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/everify/everify/client"
	"github.com/everify/everify/internal/pgtest"
	"github.com/everify/everify/internal/seal"
)

// run runs the CLI in-process and returns its exit code and output.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = realMain(t.Context(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// lockedBuffer collects a server's log output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// served is an `everify serve` running in-process.
type served struct {
	url    string
	stdout chan string // lines printed after the listening line
	logs   *lockedBuffer
	stop   context.CancelFunc
	done   chan int // the exit code, once it has stopped
}

var listening = regexp.MustCompile(`^everify listening on (http://\S+)`)

// serve starts `everify serve --addr 127.0.0.1:0 args…` and waits until it
// listens.
func serve(t *testing.T, args ...string) *served {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &served{stdout: make(chan string, 100), logs: &lockedBuffer{}, stop: cancel, done: make(chan int, 1)}
	go func() {
		code := realMain(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), pw, s.logs)
		pw.Close()
		s.done <- code
	}()
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
				continue
			}
			s.stdout <- sc.Text()
		}
		close(s.stdout)
	}()
	select {
	case s.url = <-urls:
	case code := <-s.done:
		t.Fatalf("serve exited with %d before listening:\n%s", code, s.logs)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatalf("serve did not start within 60 s:\n%s", s.logs)
	}
	t.Cleanup(func() {
		s.stop()
		<-s.done
	})
	return s
}

// shutdown stops the server and returns its exit code.
func (s *served) shutdown(t *testing.T) int {
	t.Helper()
	s.stop()
	select {
	case code := <-s.done:
		s.done <- code // for the cleanup
		return code
	case <-time.After(40 * time.Second):
		t.Fatalf("serve did not stop within 40 s")
		return -1
	}
}

type createdKey struct {
	Key    string `json:"key"`
	ID     string `json:"id"`
	Tenant string `json:"tenant"`
}

func createKey(t *testing.T, args ...string) createdKey {
	t.Helper()
	code, out, errOut := run(t, append([]string{"keys", "create", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("keys create: exit %d: %s", code, errOut)
	}
	var k createdKey
	if err := json.Unmarshal([]byte(out), &k); err != nil || k.Key == "" || k.ID == "" {
		t.Fatalf("keys create --json printed %q (%v)", out, err)
	}
	return k
}

type listedKey struct {
	ID        string    `json:"id"`
	Tenant    string    `json:"tenant"`
	Scopes    []string  `json:"scopes"`
	CreatedAt time.Time `json:"created_at"`
	Revoked   bool      `json:"revoked"`
}

func listKeys(t *testing.T, args ...string) []listedKey {
	t.Helper()
	code, out, errOut := run(t, append([]string{"keys", "list", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("keys list: exit %d: %s", code, errOut)
	}
	var keys []listedKey
	if err := json.Unmarshal([]byte(out), &keys); err != nil {
		t.Fatalf("keys list --json printed %q: %v", out, err)
	}
	return keys
}

func wantAPIError(t *testing.T, err error, status int, code string) {
	t.Helper()
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != status || apiErr.Code != code {
		t.Errorf("err = %v; want %d %s", err, status, code)
	}
}

// TestKeysAndServeSQLite is the end-to-end path on one data directory
// shared by the CLI and a running server: create a key, use it, revoke
// it, and see the server refuse it.
func TestKeysAndServeSQLite(t *testing.T) {
	t.Setenv(databaseURLEnv, "")
	dir := t.TempDir()
	k := createKey(t, "--data-dir", dir, "--tenant", "acme")
	if !strings.HasPrefix(k.Key, "ev_live_") || !strings.HasPrefix(k.ID, "key_") || k.Tenant != "acme" {
		t.Errorf("created key %+v", k)
	}
	if raw, _ := os.ReadFile(dir + "/everify.db"); bytes.Contains(raw, []byte(k.Key)) || bytes.Contains(raw, []byte(k.Key[8:])) {
		t.Errorf("the key is stored in clear in the database file")
	}

	srv := serve(t, "--data-dir", dir)
	c := client.New(srv.url, k.Key)
	ctx := t.Context()
	started, err := c.StartLiveness(ctx, &client.StartLivenessRequest{ClientSessionToken: "e2e-1"})
	if err != nil {
		t.Fatalf("StartLiveness with the new key: %v", err)
	}
	if res, err := c.LivenessResults(ctx, started.SessionID); err != nil || res.Status != "created" {
		t.Errorf("LivenessResults: %+v, %v", res, err)
	}

	keys := listKeys(t, "--data-dir", dir)
	if len(keys) != 1 || keys[0].ID != k.ID || keys[0].Revoked || len(keys[0].Scopes) != 2 || keys[0].CreatedAt.IsZero() {
		t.Errorf("keys list: %+v", keys)
	}
	if code, out, errOut := run(t, "keys", "revoke", "--data-dir", dir, k.ID); code != 0 || !strings.Contains(out, k.ID) {
		t.Fatalf("keys revoke: exit %d: %s%s", code, out, errOut)
	}
	_, err = c.StartLiveness(ctx, &client.StartLivenessRequest{ClientSessionToken: "e2e-2"})
	wantAPIError(t, err, 401, "revoked_api_key")
	if keys := listKeys(t, "--data-dir", dir); len(keys) != 1 || !keys[0].Revoked {
		t.Errorf("keys list after revoke: %+v", keys)
	}

	// The access log is JSON and holds neither the key nor the session token.
	if code := srv.shutdown(t); code != 0 {
		t.Errorf("serve exited with %d after SIGINT-like cancel:\n%s", code, srv.logs)
	}
	logs := srv.logs.String()
	if strings.Contains(logs, k.Key) || strings.Contains(logs, started.SessionToken) {
		t.Errorf("the server log contains a secret")
	}
	if !strings.Contains(logs, `"route":"POST /v1/biometrics/liveness/start"`) || !strings.Contains(logs, `"msg":"stopped"`) {
		t.Errorf("the server log lacks the access lines or the shutdown:\n%s", logs)
	}
}

func TestKeysCLIErrors(t *testing.T) {
	t.Setenv(databaseURLEnv, "")
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"keys"}, 2, "need a subcommand"},
		{[]string{"keys", "create", "--data-dir", dir}, 2, "--tenant is required"},
		{[]string{"keys", "create", "--data-dir", dir, "--tenant", "Bad Name"}, 2, "not valid"},
		{[]string{"keys", "create", "--data-dir", dir, "--tenant", "acme", "--scopes", "admin"}, 2, "admin"},
		{[]string{"keys", "revoke", "--data-dir", dir}, 2, "exactly one key ID"},
		{[]string{"keys", "revoke", "key_nope", "--data-dir", dir}, 2, "exactly one key ID"},
		{[]string{"keys", "revoke", "--data-dir", dir, "key_nope"}, 1, "no API key"},
		{[]string{"keys", "rotate"}, 2, "unknown subcommand"},
	} {
		code, _, errOut := run(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("everify %s: exit %d, stderr %q; want %d and %q", strings.Join(tc.args, " "), code, errOut, tc.code, tc.want)
		}
	}
	// A test key with one scope, and the human-readable list.
	k := createKey(t, "--data-dir", dir, "--tenant", "globex", "--scopes", "face_match", "--test")
	if !strings.HasPrefix(k.Key, "ev_test_") {
		t.Errorf("--test key %q", k.Key)
	}
	code, out, _ := run(t, "keys", "list", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, k.ID) || !strings.Contains(out, "face_match") || strings.Contains(out, k.Key) {
		t.Errorf("keys list: exit %d:\n%s", code, out)
	}
	if keys := listKeys(t, "--data-dir", dir, "--tenant", "nobody"); keys == nil || len(keys) != 0 {
		t.Errorf("keys list for an unknown tenant: %v, want []", keys)
	}
	code, out, _ = run(t, "migrate", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "up to date") {
		t.Errorf("migrate on SQLite: exit %d: %s", code, out)
	}
}

// TestServeDemo checks that --demo prints a working key and the URLs.
func TestServeDemo(t *testing.T) {
	t.Setenv(databaseURLEnv, "")
	srv := serve(t, "--data-dir", t.TempDir(), "--demo")
	var printed []string
	var key string
	for line := range srv.stdout {
		printed = append(printed, line)
		if f := strings.TrimSpace(line); strings.HasPrefix(f, "ev_test_") {
			key = f
		}
		if strings.Contains(line, "-d '{") {
			break
		}
	}
	text := strings.Join(printed, "\n")
	for _, want := range []string{srv.url + "/docs", srv.url + "/demo/", "curl -s -X POST " + srv.url + "/v1/biometrics/liveness/start"} {
		if !strings.Contains(text, want) {
			t.Errorf("--demo output lacks %q:\n%s", want, text)
		}
	}
	if _, err := client.New(srv.url, key).StartLiveness(t.Context(), &client.StartLivenessRequest{ClientSessionToken: "demo-1"}); err != nil {
		t.Errorf("the demo key %q does not work: %v", key, err)
	}
	// The page, the SDK, and the page's own API, which needs no key.
	for path, ct := range map[string]string{"/demo/": "text/html", "/sdk/everify-capture.js": "text/javascript"} {
		resp, err := http.Get(srv.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ct) {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	var started client.StartLivenessResponse
	if code := postJSON(t, srv.url+"/demo/api/session", "", map[string]any{}, &started); code != 200 || started.SessionToken == "" {
		t.Errorf("POST /demo/api/session: %d %+v", code, started)
	}
	if strings.Contains(fmt.Sprint(started), key) {
		t.Errorf("the demo API key reached the page")
	}
}

// postJSON posts v as JSON (with a bearer token when given) and decodes
// the answer into out; it returns the status.
func postJSON(t *testing.T, url, token string, v, out any) int {
	t.Helper()
	body, _ := json.Marshal(v)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return send(t, req, out)
}

// send sends req and decodes the JSON answer into out.
func send(t *testing.T, req *http.Request, out any) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("%s %s: %d, body not JSON: %v", req.Method, req.URL.Path, resp.StatusCode, err)
	}
	return resp.StatusCode
}

// uploadFrames sends one batch of n real JPEG frames, numbered from first,
// 70 ms apart.
func uploadFrames(t *testing.T, base string, s *client.StartLivenessResponse, batch, first, n int) int {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	meta := client.FrameBatchMeta{Batch: batch}
	for i := first; i < first+n; i++ {
		meta.Frames = append(meta.Frames, client.FrameMeta{Index: i, CapturedAtMS: int64(i) * 70})
	}
	mw, _ := w.CreateFormField("meta")
	json.NewEncoder(mw).Encode(meta)
	for range n {
		fw, _ := w.CreateFormFile("frame", "frame.jpg")
		fw.Write(jpegBytes)
	}
	w.Close()
	req, _ := http.NewRequest("POST", base+s.Capture.UploadURL, &buf)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+s.SessionToken)
	var out map[string]any
	return send(t, req, &out)
}

// captureStatus reads the session's status with its token.
func captureStatus(t *testing.T, base string, s *client.StartLivenessResponse) string {
	t.Helper()
	req, _ := http.NewRequest("GET", base+s.Capture.StatusURL, nil)
	req.Header.Set("Authorization", "Bearer "+s.SessionToken)
	var out client.CaptureStatusResponse
	if code := send(t, req, &out); code != 200 {
		t.Fatalf("status: %d %+v", code, out)
	}
	return out.Status
}

// TestServeCapture captures through a running server: CORS for the
// configured origin ($EVERIFY_CORS_ORIGINS), frames, completion. The
// server runs with --liveness=false, so the analysis stays queued and the
// session processing (TestBrowserCapture covers the analysis).
func TestServeCapture(t *testing.T) {
	t.Setenv(databaseURLEnv, "")
	t.Setenv(corsOriginsEnv, "https://shop.example, https://other.example")
	dir := t.TempDir()
	k := createKey(t, "--data-dir", dir, "--tenant", "acme")
	srv := serve(t, "--data-dir", dir, "--liveness=false")
	started, err := client.New(srv.url, k.Key).StartLiveness(t.Context(), &client.StartLivenessRequest{ClientSessionToken: "cap-1"})
	if err != nil || started.Capture == nil {
		t.Fatalf("start: %+v, %v", started, err)
	}

	req, _ := http.NewRequest("OPTIONS", srv.url+started.Capture.UploadURL, nil)
	req.Header.Set("Origin", "https://other.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://other.example" {
		t.Errorf("preflight from an origin in $%s: %d %v", corsOriginsEnv, resp.StatusCode, resp.Header)
	}

	for batch := range 2 {
		if code := uploadFrames(t, srv.url, started, batch, batch*15, 15); code != 200 {
			t.Fatalf("batch %d: %d", batch, code)
		}
	}
	var done client.CaptureStatusResponse
	if code := postJSON(t, srv.url+started.Capture.CompleteURL, started.SessionToken, map[string]any{"frame_count": 30}, &done); code != 202 || done.Status != "processing" {
		t.Fatalf("complete: %d %+v", code, done)
	}
	time.Sleep(1500 * time.Millisecond) // more than a job poll interval
	if st := captureStatus(t, srv.url, started); st != "processing" {
		t.Errorf("without a liveness engine the session became %s", st)
	}
	if code := srv.shutdown(t); code != 0 {
		t.Errorf("serve exited %d:\n%s", code, srv.logs)
	}
	if !strings.Contains(srv.logs.String(), "no liveness engine") {
		t.Errorf("the log does not say that analyses stay queued")
	}
}

// TestServeCORSFlag checks that --cors-origin replaces the environment's
// origins, and that a malformed origin is a usage error.
func TestServeCORSFlag(t *testing.T) {
	t.Setenv(databaseURLEnv, "")
	t.Setenv(corsOriginsEnv, "https://env.example")
	if code, _, errOut := run(t, "serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--cors-origin", "shop.example"); code != 2 || !strings.Contains(errOut, "shop.example") {
		t.Errorf("malformed --cors-origin: exit %d, %q; want 2", code, errOut)
	}
	srv := serve(t, "--data-dir", t.TempDir(), "--cors-origin", "https://flag.example")
	for origin, want := range map[string]int{"https://flag.example": 204, "https://env.example": 403} {
		req, _ := http.NewRequest("OPTIONS", srv.url+"/v1/biometrics/liveness/x/status", nil)
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("preflight from %s: %d, want %d", origin, resp.StatusCode, want)
		}
	}
}

// TestGracefulShutdown cancels the server while a face-match request is
// waiting for its image: the request still gets its answer, and serve
// exits 0.
func TestGracefulShutdown(t *testing.T) {
	t.Setenv(databaseURLEnv, "")
	dir := t.TempDir()
	k := createKey(t, "--data-dir", dir, "--tenant", "acme")
	arrived, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	images := newImageServer(t, func(w http.ResponseWriter) {
		once.Do(func() { close(arrived) })
		<-release
		w.Write(pngBytes)
	})
	srv := serve(t, "--data-dir", dir, "--image-allow", "127.0.0.1")
	type result struct{ err error }
	answered := make(chan result, 1)
	go func() {
		_, err := client.New(srv.url, k.Key).FaceMatch(context.Background(), &client.FaceMatchRequest{
			SourceImageURL: images + "/a.png", TargetImageURL: images + "/a.png"})
		answered <- result{err}
	}()
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("the face-match request never fetched its image")
	}
	srv.stop() // shutdown begins while the request is in flight
	time.Sleep(200 * time.Millisecond)
	close(release)
	select {
	case r := <-answered:
		// The engine runs on the blank image: no face.
		wantAPIError(t, r.err, 422, "no_face_detected")
	case <-time.After(30 * time.Second):
		t.Fatal("the in-flight request got no answer")
	}
	if code := srv.shutdown(t); code != 0 {
		t.Errorf("serve exited %d", code)
	}
}

// TestKeysAndServePostgres runs two replicas on one PostgreSQL database:
// a key created and revoked with the CLI takes effect on both.
func TestKeysAndServePostgres(t *testing.T) {
	u := freshPostgres(t)
	t.Setenv(databaseURLEnv, u)
	t.Setenv(masterKeyEnv, seal.NewKey())
	if code, out, errOut := run(t, "migrate"); code != 0 || !strings.Contains(out, "PostgreSQL") {
		t.Fatalf("migrate: exit %d: %s%s", code, out, errOut)
	}
	k := createKey(t, "--tenant", "acme")
	a, b := serve(t), serve(t)
	ctx := t.Context()
	started, err := client.New(a.url, k.Key).StartLiveness(ctx, &client.StartLivenessRequest{ClientSessionToken: "pg-1"})
	if err != nil {
		t.Fatal(err)
	}
	// The other replica sees the session, and the same token is idempotent there.
	if res, err := client.New(b.url, k.Key).LivenessResults(ctx, started.SessionID); err != nil || res.Status != "created" {
		t.Errorf("replica b: %+v, %v", res, err)
	}
	again, err := client.New(b.url, k.Key).StartLiveness(ctx, &client.StartLivenessRequest{ClientSessionToken: "pg-1"})
	if err != nil || again.SessionID != started.SessionID || again.SessionToken == "" || again.SessionToken == started.SessionToken {
		t.Errorf("repeated start on replica b: %+v, %v; want the same session with a new token", again, err)
	}
	// The capture moves between replicas: frames to each, completed on b.
	if code := uploadFrames(t, a.url, again, 0, 0, 15); code != 200 {
		t.Fatalf("batch 0 on replica a: %d", code)
	}
	if code := uploadFrames(t, b.url, again, 1, 15, 15); code != 200 {
		t.Fatalf("batch 1 on replica b: %d", code)
	}
	if code := uploadFrames(t, a.url, again, 1, 15, 15); code != 409 {
		t.Errorf("batch 1 again on replica a: %d, want 409", code)
	}
	var done client.CaptureStatusResponse
	if code := postJSON(t, b.url+again.Capture.CompleteURL, again.SessionToken, map[string]any{"frame_count": 30}, &done); code != 202 {
		t.Fatalf("complete on replica b: %d %+v", code, done)
	}
	if st := captureStatus(t, a.url, again); st != "processing" {
		t.Errorf("status on replica a: %s", st)
	}
	if code, _, errOut := run(t, "keys", "revoke", k.ID); code != 0 {
		t.Fatalf("keys revoke: %s", errOut)
	}
	for _, s := range []*served{a, b} {
		_, err := client.New(s.url, k.Key).LivenessResults(ctx, started.SessionID)
		wantAPIError(t, err, 401, "revoked_api_key")
	}
}

// freshPostgres creates an empty database for one test (pgtest.Database).
func freshPostgres(t *testing.T) string {
	t.Helper()
	return pgtest.Database(t, "everify_cmd_test_")
}

func TestRedactURL(t *testing.T) {
	got := redactURL("postgres://app:hunter2@db.internal:5432/everify?sslmode=require")
	if strings.Contains(got, "hunter2") || !strings.Contains(got, "app:xxxxx@db.internal:5432/everify") {
		t.Errorf("redactURL = %q", got)
	}
}

// jpegBytes is a small real JPEG.
var jpegBytes = func() []byte {
	var buf bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 32, 24))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 13)
	}
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		panic(err)
	}
	return buf.Bytes()
}()

// pngBytes is a small real PNG.
var pngBytes = func() []byte {
	var buf bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	if err := png.Encode(&buf, img); err != nil {
		panic(err)
	}
	return buf.Bytes()
}()

// newImageServer serves every request with serve and returns its URL.
func newImageServer(t *testing.T, serve func(w http.ResponseWriter)) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		serve(w)
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}
