package api_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/everify/everify/internal/api"
	"github.com/everify/everify/internal/auth"
	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/imagein"
	"github.com/everify/everify/internal/seal"
	"github.com/everify/everify/internal/store"
	"github.com/everify/everify/internal/store/sqlite"
)

// clock is an injectable clock that tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// harness is a real Server over a real SQLite store in a temporary
// directory, behind a real HTTP listener, with a client whose every
// response is checked against docs/openapi.yaml.
type harness struct {
	t      *testing.T
	store  *store.DB
	clock  *clock
	server *api.Server
	url    string
	client *http.Client
	logs   *syncBuffer
	// onSubmit, when set, is the store's submit hook (a job queue's
	// EnqueueAnalysis); set it before the first capture is completed.
	onSubmit func(ctx context.Context, tx *sql.Tx, id string) error
}

// newHarness starts a server; edit adjusts its Config before New.
func newHarness(t *testing.T, edit ...func(*api.Config)) *harness {
	t.Helper()
	clk := &clock{t: time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)}
	h := &harness{t: t, clock: clk}
	st, err := sqlite.Open(context.Background(), t.TempDir(), store.Options{Now: clk.Now, Sealer: seal.NewSealer(seal.NewKeyring()),
		SubmitHook: func(ctx context.Context, tx *sql.Tx, id string) error {
			if h.onSubmit == nil {
				return nil
			}
			return h.onSubmit(ctx, tx, id)
		}})
	if err != nil {
		t.Fatalf("opening the SQLite store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	fetcher, err := imagein.NewFetcher(imagein.Options{Allow: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	cfg := api.Config{
		Store:  st,
		Images: fetcher,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
		Now:    clk.Now,
	}
	for _, e := range edit {
		e(&cfg)
	}
	srv, err := api.New(cfg)
	if err != nil {
		t.Fatalf("api.New: %v", err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	h.store, h.server, h.url, h.logs = st, srv, ts.URL, logs
	h.client = &http.Client{Transport: newContractTransport(t, http.DefaultTransport)}
	return h
}

// key creates an API key for tenant with the given scopes (all if none)
// and returns its secret.
func (h *harness) key(tenant string, scopes ...biometric.Scope) string {
	h.t.Helper()
	secret, k, err := auth.NewKey(tenant, biometric.KeyModeTest, scopes, h.clock.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.store.CreateKey(context.Background(), k); err != nil {
		h.t.Fatal(err)
	}
	return secret
}

// keyID returns the ID of the key with the given secret.
func (h *harness) keyID(secret string) string {
	h.t.Helper()
	k, err := h.store.KeyByHash(context.Background(), auth.Hash(secret))
	if err != nil {
		h.t.Fatal(err)
	}
	return k.ID
}

// response is a decoded HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a generic map.
func (r *response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response body is not a JSON object: %v\n%s", err, r.body)
	}
	return m
}

// decode decodes the body into v, refusing unknown fields.
func (r *response) decode(t *testing.T, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decoding %T: %v\n%s", v, err, r.body)
	}
}

// errorCode returns error.code of an error envelope.
func (r *response) errorCode(t *testing.T) string {
	t.Helper()
	e, _ := r.json(t)["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

// request describes one call.
type request struct {
	method, path string
	key          string // X-API-Key, omitted if empty
	body         any    // JSON-encoded unless it is a string (sent as is)
	contentType  string // default application/json when there is a body
	header       http.Header
}

// do sends a request and reads the whole response.
func (h *harness) do(req request) *response {
	h.t.Helper()
	var body io.Reader
	switch b := req.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		body = bytes.NewReader(data)
	}
	r, err := http.NewRequest(req.method, h.url+req.path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	for k, vs := range req.header {
		r.Header[k] = vs
	}
	if req.key != "" {
		r.Header.Set("X-API-Key", req.key)
	}
	if req.body != nil {
		ct := req.contentType
		if ct == "" {
			ct = "application/json"
		}
		r.Header.Set("Content-Type", ct)
	}
	resp, err := h.client.Do(r)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.method, req.path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: data}
}

// wantError checks an error response's status and code.
func wantError(t *testing.T, r *response, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status = %d, want %d\n%s", r.status, status, r.body)
		return
	}
	if got := r.errorCode(t); got != code {
		t.Errorf("error.code = %q, want %q\n%s", got, code, r.body)
	}
}

// start starts a liveness session for key and returns the response.
func (h *harness) start(key, clientToken string) *response {
	h.t.Helper()
	return h.do(request{method: "POST", path: "/v1/biometrics/liveness/start", key: key,
		body: map[string]any{"client_session_token": clientToken}})
}

// startOK starts a session and returns its ID and session token.
func (h *harness) startOK(key, clientToken string) (id, token string) {
	h.t.Helper()
	r := h.start(key, clientToken)
	if r.status != http.StatusOK {
		h.t.Fatalf("start: %d %s", r.status, r.body)
	}
	m := r.json(h.t)
	id, _ = m["session_id"].(string)
	token, _ = m["session_token"].(string)
	return id, token
}

// pngImage encodes a real w×h PNG (a gradient, so that it is not trivially
// compressible).
func pngImage(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8((x + y) % 256), 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// imageServer serves files at paths on 127.0.0.1 and counts the files
// it served.
type imageSrv struct {
	*httptest.Server
	served atomic.Int64
}

func imageServer(t *testing.T, files map[string][]byte) *imageSrv {
	t.Helper()
	s := &imageSrv{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		w.Write(data)
		s.served.Add(1)
	}))
	t.Cleanup(s.Close)
	return s
}
