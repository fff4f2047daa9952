package api_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/everify/everify/internal/api"
	"github.com/everify/everify/internal/audit"
	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/store"
)

// fakeFraming is a FramingChecker that answers verdict and records what
// it was asked.
type fakeFraming struct {
	mu      sync.Mutex
	verdict string
	err     error
	calls   int
	last    biometric.FramingRequest
}

func (f *fakeFraming) CheckFraming(_ context.Context, req biometric.FramingRequest) (*biometric.Framing, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.last = req
	if f.err != nil {
		return nil, f.err
	}
	out := &biometric.Framing{Verdict: f.verdict, Instructions: "Instructions for " + f.verdict + "."}
	if f.verdict != "no_face" {
		out.Faces = 1
		out.Face = &biometric.FaceInfo{Box: biometric.Box{X: 90, Y: 60, Width: 140, Height: 170}, Confidence: 97,
			Quality: biometric.Quality{FaceSize: 140, Sharpness: 60, Brightness: 50, Score: 80}}
	}
	return out, nil
}

func (f *fakeFraming) called() (int, biometric.FramingRequest) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, f.last
}

// precheckResponse mirrors the route's answer (decoded strictly).
type precheckResponse struct {
	RequestID    string `json:"request_id"`
	SessionID    string `json:"session_id"`
	Message      string `json:"message"`
	FaceFound    bool   `json:"face_found"`
	Faces        int    `json:"faces"`
	Framing      string `json:"framing"`
	Instructions string `json:"instructions"`
	Face         *struct {
		BoundingBox struct{ X, Y, Width, Height float64 } `json:"bounding_box"`
		Confidence  float64                               `json:"confidence"`
		Landmarks   map[string]any                        `json:"landmarks"`
		Pose        map[string]any                        `json:"pose"`
		Quality     map[string]any                        `json:"quality"`
	} `json:"face"`
}

// field is one part of a pre-check body: a frame (binary, with a file
// name) or a text field.
type field struct {
	name string
	data []byte
}

// precheckBody encodes fields as multipart/form-data and returns the
// body and its content type.
func precheckBody(t *testing.T, fields ...field) (string, string) {
	t.Helper()
	return body(t, fields...), boundaryType
}

// precheck posts a pre-check body with c's session token.
func (c *capture) precheck(body, contentType string, header ...http.Header) *response {
	c.h.t.Helper()
	hdr := http.Header{"Authorization": {"Bearer " + c.token}}
	for _, h := range header {
		for k, v := range h {
			hdr[k] = v
		}
	}
	return c.h.do(request{method: "POST", path: "/v1/biometrics/liveness/" + c.id + "/precheck", body: body, contentType: contentType, header: hdr})
}

// precheckOK sends a 320x240 preview with the given fields and decodes the
// 200 answer.
func (c *capture) precheckOK(fields ...field) precheckResponse {
	c.h.t.Helper()
	fields = append([]field{{"frame", jpegFrame(c.h.t, 320, 240, 1, false)}}, fields...)
	r := c.precheck(precheckBody(c.h.t, fields...))
	if r.status != http.StatusOK {
		c.h.t.Fatalf("precheck: %d %s", r.status, r.body)
	}
	var out precheckResponse
	r.decode(c.h.t, &out)
	return out
}

// withFraming installs checker in a harness's configuration.
func withFraming(f api.FramingChecker) func(*api.Config) {
	return func(c *api.Config) { c.Framing = f }
}

// TestPrecheck sends preview frames and checks what the checker is asked
// and what the client is told, and that nothing is stored or audited.
func TestPrecheck(t *testing.T) {
	t.Parallel()
	fake := &fakeFraming{verdict: "too_far"}
	h := newHarness(t, withFraming(fake))
	c := h.newCapture(h.key("acme"), "pre-1")

	got := c.precheckOK(field{"oval", []byte("160, 111.5, 60, 81")}, field{"frame_size", []byte("640x480")})
	if got.SessionID != c.id || got.Framing != "too_far" || got.Instructions != "Instructions for too_far." ||
		!got.FaceFound || got.Faces != 1 || got.Face == nil || got.Face.BoundingBox.Width != 140 || got.Message == "" {
		t.Errorf("answer %+v", got)
	}
	n, req := fake.called()
	if n != 1 || req.Oval == nil || *req.Oval != (biometric.Oval{CX: 160, CY: 111.5, RX: 60, RY: 81}) || req.Scale != 2 {
		t.Errorf("checker called %d times with oval %v, scale %g", n, req.Oval, req.Scale)
	}
	if b := req.Image.Bounds(); b.Dx() != 320 || b.Dy() != 240 {
		t.Errorf("checker got a %v image", b)
	}

	// Without frame_size the session's capture size (640x480) sets the
	// scale; a larger capture frame scales more.
	c.precheckOK()
	if _, req := fake.called(); req.Oval != nil || req.Scale != 2 {
		t.Errorf("without oval and frame_size: oval %v, scale %g", req.Oval, req.Scale)
	}
	c.precheckOK(field{"frame_size", []byte("720x1280")})
	if _, req := fake.called(); req.Scale != 4 {
		t.Errorf("frame_size 720x1280 with a 320-pixel preview: scale %g, want 4", req.Scale)
	}

	fake.mu.Lock()
	fake.verdict = "no_face"
	fake.mu.Unlock()
	if got := c.precheckOK(); got.FaceFound || got.Faces != 0 || got.Face != nil || got.Framing != "no_face" {
		t.Errorf("no face: %+v", got)
	}

	// The session is untouched: still created, no frames; nothing of the
	// pre-checks is in the audit log.
	sess, err := h.store.Session(t.Context(), "acme", c.id)
	if err != nil {
		t.Fatal(err)
	}
	if sess.Status != biometric.StatusCreated || sess.Upload.Frames != 0 || sess.Upload.Bytes != 0 {
		t.Errorf("after pre-checks the session is %s with %d frames", sess.Status, sess.Upload.Frames)
	}
	if err := h.store.AuditEvents(t.Context(), store.AuditFilter{}, func(ev *audit.Event) error {
		if strings.Contains(ev.Route, "precheck") {
			t.Errorf("pre-check audited: %+v", ev)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// Pre-checks go on while frames are uploaded, and end with completion.
	c.upload(32)
	c.precheckOK()
	if r := c.complete(map[string]any{"frame_count": 32}); r.status != http.StatusAccepted {
		t.Fatalf("complete: %d %s", r.status, r.body)
	}
	before, _ := fake.called()
	wantError(t, c.precheck(precheckBody(t, field{"frame", jpegFrame(t, 320, 240, 1, false)})), 409, "capture_already_complete")
	if after, _ := fake.called(); after != before {
		t.Errorf("a refused pre-check reached the checker")
	}
}

// pngOf encodes a w x h PNG of one colour (small however large it is).
func pngOf(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 200
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestPrecheckErrors sends every kind of bad pre-check; none reaches the
// checker.
func TestPrecheckErrors(t *testing.T) {
	t.Parallel()
	fake := &fakeFraming{verdict: "ok"}
	h := newHarness(t, withFraming(fake))
	c := h.newCapture(h.key("acme"), "pre-err")
	frame := field{"frame", jpegFrame(t, 320, 240, 1, false)}
	big := jpegFrame(t, 640, 480, 1, true)
	if len(big) <= 256<<10 {
		t.Fatalf("the noisy frame is only %d bytes", len(big))
	}

	cases := []struct {
		name   string
		body   string
		ct     string
		status int
		code   string
	}{
		{"json body", `{"frame": "x"}`, "application/json", 415, "unsupported_media_type"},
		{"no frame", body(t, field{"oval", []byte("1,2,3,4")}), "", 400, "invalid_precheck"},
		{"empty body", body(t), "", 400, "invalid_precheck"},
		{"unknown part", body(t, frame, field{"meta", []byte("{}")}), "", 400, "invalid_precheck"},
		{"two frames", body(t, frame, frame), "", 400, "invalid_precheck"},
		{"oval of three numbers", body(t, frame, field{"oval", []byte("1,2,3")}), "", 400, "invalid_precheck"},
		{"oval not numbers", body(t, frame, field{"oval", []byte("a,b,c,d")}), "", 400, "invalid_precheck"},
		{"oval with zero radius", body(t, frame, field{"oval", []byte("160,120,0,80")}), "", 400, "invalid_precheck"},
		{"oval not finite", body(t, frame, field{"oval", []byte("NaN,120,60,80")}), "", 400, "invalid_precheck"},
		{"oval outside the frame", body(t, frame, field{"oval", []byte("640,120,60,80")}), "", 400, "invalid_precheck"},
		{"long oval", body(t, frame, field{"oval", []byte(strings.Repeat("1", 200))}), "", 400, "invalid_precheck"},
		{"bad frame_size", body(t, frame, field{"frame_size", []byte("640by480")}), "", 400, "invalid_precheck"},
		{"huge frame_size", body(t, frame, field{"frame_size", []byte("10000x10000")}), "", 400, "invalid_precheck"},
		{"truncated body", strings.TrimSuffix(body(t, frame), "--\r\n")[:2000], "", 400, "invalid_precheck"},
		{"frame over 256 KiB", body(t, field{"frame", big[:256<<10+1]}), "", 413, "frame_too_large"},
		{"body over the limit", body(t, field{"frame", big[:200<<10]}, field{"frame_size", []byte("640x480")}, field{"x", big[:100<<10]}), "", 413, "request_too_large"},
		{"not an image", body(t, field{"frame", []byte("GIF89a not really")}), "", 415, "unsupported_image_type"},
		{"truncated JPEG", body(t, field{"frame", jpegFrame(t, 320, 240, 1, false)[:600]}), "", 422, "image_unreadable"},
		{"too many pixels", body(t, field{"frame", pngOf(t, 1200, 1000)}), "", 413, "image_too_many_pixels"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ct := tc.ct
			if ct == "" {
				ct = boundaryType
			}
			wantError(t, c.precheck(tc.body, ct), tc.status, tc.code)
		})
	}
	if n, _ := fake.called(); n != 0 {
		t.Errorf("bad pre-checks reached the checker %d times", n)
	}
	// A failing checker is an internal error, logged, with no detail shown.
	fake.mu.Lock()
	fake.err = errors.New("model exploded")
	fake.mu.Unlock()
	r := c.precheck(precheckBody(t, frame))
	wantError(t, r, 500, "internal_error")
	if strings.Contains(string(r.body), "exploded") || !strings.Contains(h.logs.String(), "model exploded") {
		t.Errorf("a checker failure: body %s", r.body)
	}
}

// boundaryType is the content type of the bodies body makes.
const boundaryType = "multipart/form-data; boundary=precheck-test-boundary"

// body encodes fields as multipart/form-data with boundaryType's boundary.
func body(t *testing.T, fields ...field) string {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	if err := w.SetBoundary("precheck-test-boundary"); err != nil {
		t.Fatal(err)
	}
	for _, f := range fields {
		var pw interface{ Write([]byte) (int, error) }
		var err error
		if f.name == "frame" {
			pw, err = w.CreateFormFile("frame", "preview.jpg")
		} else {
			pw, err = w.CreateFormField(f.name)
		}
		if err != nil {
			t.Fatal(err)
		}
		pw.Write(f.data)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestPrecheckAccess checks the session token, the session's state and a
// server without a face engine.
func TestPrecheckAccess(t *testing.T) {
	t.Parallel()
	fake := &fakeFraming{verdict: "ok"}
	h := newHarness(t, withFraming(fake))
	key := h.key("acme")
	a, b := h.newCapture(key, "pre-a"), h.newCapture(key, "pre-b")
	body, contentType := precheckBody(t, field{"frame", jpegFrame(t, 320, 240, 1, false)})
	post := func(id string, header http.Header) *response {
		return h.do(request{method: "POST", path: "/v1/biometrics/liveness/" + id + "/precheck", body: body, contentType: contentType, header: header})
	}
	wantError(t, post(a.id, nil), 401, "missing_session_token")
	wantError(t, post(a.id, http.Header{"X-Api-Key": {key}}), 401, "missing_session_token")
	wantError(t, post(b.id, http.Header{"Authorization": {"Bearer " + a.token}}), 404, "session_not_found")
	wantError(t, h.do(request{method: "GET", path: "/v1/biometrics/liveness/" + a.id + "/precheck",
		header: http.Header{"Authorization": {"Bearer " + a.token}}}), 405, "method_not_allowed")

	setStatus(t, h, b.id, biometric.StatusFailed)
	wantError(t, b.precheck(body, contentType), 409, "capture_already_complete")
	h.clock.Advance(api.DefaultSessionTTL)
	wantError(t, a.precheck(body, contentType), 410, "session_expired")
	if n, _ := fake.called(); n != 0 {
		t.Errorf("refused pre-checks reached the checker %d times", n)
	}

	// Without a face engine: 503, which the SDK takes as "no pre-check".
	bare := newHarness(t)
	c := bare.newCapture(bare.key("acme"), "pre-bare")
	wantError(t, c.precheck(body, contentType), 503, "framing_check_unavailable")
}

// TestPrecheckLimit: a session runs half its pre-checks at once, then one
// every 2·TTL/120, never more than 120 in its lifetime; other sessions
// keep their own.
func TestPrecheckLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withFraming(&fakeFraming{verdict: "ok"}))
	key := h.key("acme")
	c := h.newCapture(key, "limit-1")
	body, ct := precheckBody(t, field{"frame", jpegFrame(t, 80, 60, 1, false)})
	for i := range 60 {
		if r := c.precheck(body, ct); r.status != http.StatusOK {
			t.Fatalf("pre-check %d: %d %s", i+1, r.status, r.body)
		}
	}
	r := c.precheck(body, ct)
	wantError(t, r, 429, "precheck_limit_reached")
	if after, _ := strconv.Atoi(r.header.Get("Retry-After")); after < 1 || after > 10 {
		t.Errorf("Retry-After %q, want 1-10 s (one pre-check every 10 s)", r.header.Get("Retry-After"))
	}
	other := h.newCapture(key, "limit-2")
	if r := other.precheck(body, ct); r.status != http.StatusOK {
		t.Errorf("another session's pre-check: %d %s", r.status, r.body)
	}

	// Over the rest of the session's ten minutes, one more every 10 s.
	total := 60
	for range 120 {
		h.clock.Advance(5 * time.Second)
		r := c.precheck(body, ct)
		switch {
		case r.status == http.StatusOK:
			total++
		case r.status == http.StatusGone:
		default:
			wantError(t, r, 429, "precheck_limit_reached")
		}
	}
	if total > 120 || total < 110 {
		t.Errorf("%d pre-checks in the session's lifetime, want 110-120", total)
	}
}

// TestPrecheckCORS: the pre-check answers browsers on allowed origins like
// the other capture endpoints.
func TestPrecheckCORS(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withFraming(&fakeFraming{verdict: "ok"}), func(c *api.Config) { c.CORSOrigins = []string{"https://shop.example"} })
	c := h.newCapture(h.key("acme"), "pre-cors")
	path := "/v1/biometrics/liveness/" + c.id + "/precheck"
	r := h.do(request{method: "OPTIONS", path: path, header: http.Header{"Origin": {"https://shop.example"},
		"Access-Control-Request-Method": {"POST"}, "Access-Control-Request-Headers": {"authorization,content-type"}}})
	if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != "https://shop.example" ||
		r.header.Get("Access-Control-Allow-Methods") != "POST" || !strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "Content-Type") {
		t.Errorf("preflight: %d %v", r.status, r.header)
	}
	wantError(t, h.do(request{method: "OPTIONS", path: path, header: http.Header{"Origin": {"https://evil.example"}}}), 403, "cors_origin_not_allowed")
	body, ct := precheckBody(t, field{"frame", jpegFrame(t, 320, 240, 1, false)})
	r = c.precheck(body, ct, http.Header{"Origin": {"https://shop.example"}})
	if r.status != http.StatusOK || r.header.Get("Access-Control-Allow-Origin") != "https://shop.example" {
		t.Errorf("cross-origin pre-check: %d %v", r.status, r.header)
	}
}
