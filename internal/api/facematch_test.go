package api_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/everify/everify/client"
	"github.com/everify/everify/internal/api"
	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/imagein"
)

const faceMatchPath = "/v1/biometrics/face-match"

func TestFaceMatchValidation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	key := h.key("acme")
	url := "https://example.com/a.jpg"
	b64 := base64.StdEncoding.EncodeToString(pngImage(t, 8, 8))
	for _, tc := range []struct {
		name  string
		body  any
		code  string
		field string
	}{
		{"threshold below 0", map[string]any{"source_image_url": url, "target_image_url": url, "threshold": -0.5}, "invalid_threshold", "threshold"},
		{"threshold above 100", map[string]any{"source_image_url": url, "target_image_url": url, "threshold": 100.01}, "invalid_threshold", "threshold"},
		{"threshold as string", map[string]any{"source_image_url": url, "target_image_url": url, "threshold": "80"}, "invalid_field_type", "threshold"},
		{"no source", map[string]any{"target_image_url": url}, "missing_source_image", "source_image_url"},
		{"no target", map[string]any{"source_image_url": url}, "missing_target_image", "target_image_url"},
		{"empty body object", map[string]any{}, "missing_source_image", "source_image_url"},
		{"two sources", map[string]any{"source_image_url": url, "source_image_base64": b64, "target_image_url": url}, "ambiguous_source_image", "source_image_base64"},
		{"url and session", map[string]any{"source_image_url": url, "source_session_id": "liveness_session_x", "target_image_url": url}, "ambiguous_source_image", "source_session_id"},
		{"two targets", map[string]any{"source_image_url": url, "target_image_url": url, "target_image_base64": b64}, "ambiguous_target_image", "target_image_base64"},
		{"ftp url", map[string]any{"source_image_url": "ftp://example.com/a.jpg", "target_image_url": url}, "image_url_invalid", "source_image_url"},
		{"relative url", map[string]any{"source_image_url": url, "target_image_url": "id_photo.jpg"}, "image_url_invalid", "target_image_url"},
		{"url without host", map[string]any{"source_image_url": "https:///a.jpg", "target_image_url": url}, "image_url_invalid", "source_image_url"},
		{"long url", map[string]any{"source_image_url": "https://example.com/" + strings.Repeat("a", 2048), "target_image_url": url}, "image_url_invalid", "source_image_url"},
		{"url as number", map[string]any{"source_image_url": 7, "target_image_url": url}, "invalid_field_type", "source_image_url"},
		{"unknown field", map[string]any{"source_image_url": url, "target_image_url": url, "treshold": 70}, "unknown_field", "treshold"},
	} {
		r := h.do(request{method: "POST", path: faceMatchPath, key: key, body: tc.body})
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, r, 400, tc.code)
			if e, _ := r.json(t)["error"].(map[string]any); e["field"] != tc.field {
				t.Errorf("error.field = %v, want %q", e["field"], tc.field)
			}
		})
	}
}

// TestFaceMatchIntakeErrors checks that image intake errors reach the
// client with their status, code and the field of the image at fault.
func TestFaceMatchIntakeErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	key := h.key("acme")
	good := pngImage(t, 32, 32)
	imgs := imageServer(t, map[string][]byte{"/good.png": good})
	goodURL := imgs.URL + "/good.png"
	truncated := base64.StdEncoding.EncodeToString(good[:len(good)/2])
	gif := base64.StdEncoding.EncodeToString([]byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"))
	for _, tc := range []struct {
		name   string
		body   map[string]any
		status int
		code   string
		field  string
	}{
		{"truncated png", map[string]any{"source_image_base64": truncated, "target_image_url": goodURL}, 422, "image_unreadable", "source_image_base64"},
		{"gif", map[string]any{"source_image_url": goodURL, "target_image_base64": gif}, 415, "unsupported_image_type", "target_image_base64"},
		{"not base64", map[string]any{"source_image_base64": "***not base64***", "target_image_url": goodURL}, 400, "invalid_base64_image", "source_image_base64"},
		{"missing on server", map[string]any{"source_image_url": goodURL, "target_image_url": imgs.URL + "/missing.png"}, 422, "image_fetch_failed", "target_image_url"},
		{"internal address", map[string]any{"source_image_url": "http://10.1.2.3/a.png", "target_image_url": goodURL}, 400, "image_url_blocked", "source_image_url"},
	} {
		r := h.do(request{method: "POST", path: faceMatchPath, key: key, body: tc.body})
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, r, tc.status, tc.code)
			if e, _ := r.json(t)["error"].(map[string]any); e["field"] != tc.field {
				t.Errorf("error.field = %v, want %q", e["field"], tc.field)
			}
		})
	}
}

// TestFaceMatchEngineUnavailable: a valid request whose images load gets
// the 503 that says the engine is missing — after both images were
// fetched and decoded.
func TestFaceMatchEngineUnavailable(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	key := h.key("acme")
	img := pngImage(t, 40, 30)
	srv := imageServer(t, map[string][]byte{"/selfie.png": img})
	countingURL := srv.URL + "/selfie.png"
	for i, body := range []map[string]any{
		{"source_image_url": countingURL, "target_image_base64": base64.StdEncoding.EncodeToString(img)},
		{"source_image_base64": "data:image/png;base64," + base64.StdEncoding.EncodeToString(img), "target_image_url": countingURL, "threshold": 0},
		{"source_image_url": countingURL, "target_image_url": countingURL, "threshold": 100},
	} {
		r := h.do(request{method: "POST", path: faceMatchPath, key: key, body: body})
		wantError(t, r, 503, "face_match_engine_unavailable")
		if m := r.json(t); !strings.Contains(fmt.Sprint(m["message"]), "not installed") {
			t.Errorf("case %d: message %q should say the engine is not installed", i, m["message"])
		}
	}
	// Four URL images in three requests: all of them were fetched.
	if n := srv.served.Load(); n != 4 {
		t.Errorf("the image server served %d images, want 4", n)
	}
	// A broken image still gets its own error first: intake runs before
	// the engine check.
	r := h.do(request{method: "POST", path: faceMatchPath, key: key, body: map[string]any{
		"source_image_url": countingURL, "target_image_base64": base64.StdEncoding.EncodeToString(img[:20])}})
	wantError(t, r, 422, "image_unreadable")
}

// stubMatcher is a function-field FaceMatcher for transport tests: the
// real engine comes with the face-match package.
type stubMatcher struct {
	match     func(ctx context.Context, source, target *imagein.Image, threshold float64) (*biometric.MatchResult, error)
	reference func(ctx context.Context, s *biometric.Session) (*imagein.Image, error)
}

func (m *stubMatcher) Match(ctx context.Context, source, target *imagein.Image, threshold float64) (*biometric.MatchResult, error) {
	return m.match(ctx, source, target, threshold)
}

func (m *stubMatcher) ReferenceImage(ctx context.Context, s *biometric.Session) (*imagein.Image, error) {
	return m.reference(ctx, s)
}

// TestFaceMatchWithEngine checks the wiring around an installed engine:
// the decoded images and the threshold reach it, and its result is
// rendered in the seed's shape.
func TestFaceMatchWithEngine(t *testing.T) {
	t.Parallel()
	var (
		gotThreshold       float64
		gotSource, gotTarg image2
		gotSession         string
	)
	m := &stubMatcher{
		match: func(_ context.Context, source, target *imagein.Image, threshold float64) (*biometric.MatchResult, error) {
			gotThreshold = threshold
			gotSource = image2{source.RGBA.Bounds().Dx(), source.RGBA.Bounds().Dy()}
			gotTarg = image2{target.RGBA.Bounds().Dx(), target.RGBA.Bounds().Dy()}
			return &biometric.MatchResult{MatchScore: 92.1, IsMatch: threshold <= 92.1, Confidence: 95, Threshold: threshold,
				SourceFaces: 1, TargetFaces: 2, Warnings: []string{"multiple_faces_in_target"}}, nil
		},
		reference: func(_ context.Context, s *biometric.Session) (*imagein.Image, error) {
			gotSession = s.ID
			return imagein.Decode(pngImage(t, 12, 14), imagein.Limits{})
		},
	}
	h := newHarness(t, func(c *api.Config) { c.Matcher = m })
	key := h.key("acme")
	srv := imageServer(t, map[string][]byte{"/selfie.png": pngImage(t, 40, 30), "/id.png": pngImage(t, 20, 25)})

	r := h.do(request{method: "POST", path: faceMatchPath, key: key, body: map[string]any{
		"source_image_url": srv.URL + "/selfie.png", "target_image_url": srv.URL + "/id.png"}})
	var got client.FaceMatchResponse
	r.decode(t, &got)
	if r.status != 200 || got.Status != "completed" || got.Message != "Face matching completed successfully." ||
		got.Result.MatchScore != 92.1 || !got.Result.IsMatch || got.Result.Confidence != 95 || got.Result.TargetFaces != 2 {
		t.Errorf("face-match: %d %s", r.status, r.body)
	}
	if gotThreshold != api.DefaultThreshold || gotSource != (image2{40, 30}) || gotTarg != (image2{20, 25}) {
		t.Errorf("engine got threshold %g, source %v, target %v; want 80, 40x30, 20x25", gotThreshold, gotSource, gotTarg)
	}

	// A completed, live session as the source.
	id, _ := h.startOK(key, "fm-session")
	setStatus(t, h, id, biometric.StatusCompleted)
	r = h.do(request{method: "POST", path: faceMatchPath, key: key, body: map[string]any{
		"source_session_id": id, "target_image_url": srv.URL + "/id.png", "threshold": 95}})
	r.decode(t, &got)
	if r.status != 200 || gotSession != id || gotSource != (image2{12, 14}) || gotThreshold != 95 || got.Result.IsMatch {
		t.Errorf("session source: %d %s (engine saw session %q, source %v)", r.status, r.body, gotSession, gotSource)
	}
}

type image2 struct{ w, h int }

func TestFaceMatchSourceSession(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	acme, globex := h.key("acme"), h.key("globex")
	target := base64.StdEncoding.EncodeToString(pngImage(t, 16, 16))
	match := func(key, id string) *response {
		return h.do(request{method: "POST", path: faceMatchPath, key: key, body: map[string]any{"source_session_id": id, "target_image_base64": target}})
	}
	open, _ := h.startOK(acme, "src-open")
	notLive, _ := h.startOK(acme, "src-not-live")
	setStatus(t, h, notLive, biometric.StatusCompleted)
	if _, err := h.store.UpdateSession(context.Background(), notLive, func(s *biometric.Session) error {
		s.Result.IsLive, s.Result.SpoofAttemptDetected = false, true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	live, _ := h.startOK(acme, "src-live")
	setStatus(t, h, live, biometric.StatusCompleted)

	wantError(t, match(acme, "liveness_session_nope"), 404, "session_not_found")
	wantError(t, match(globex, live), 404, "session_not_found")
	wantError(t, match(acme, open), 409, "session_not_completed")
	wantError(t, match(acme, notLive), 409, "session_not_live")
	wantError(t, match(acme, live), 503, "face_match_engine_unavailable")
	if e, _ := match(acme, open).json(t)["error"].(map[string]any); e["field"] != "source_session_id" {
		t.Errorf("error.field = %v, want source_session_id", e["field"])
	}
}

// TestInternalErrorsAreMasked: a panic and an unexpected error inside the
// engine become a 500 that shows nothing internal; the log has the detail.
func TestInternalErrorsAreMasked(t *testing.T) {
	t.Parallel()
	m := &stubMatcher{match: func(_ context.Context, _, target *imagein.Image, _ float64) (*biometric.MatchResult, error) {
		if target.RGBA.Bounds().Dx() == 9 {
			panic("secret-panic-detail at matcher.go:42")
		}
		return nil, errors.New("secret-cause: onnx session exploded")
	}}
	h := newHarness(t, func(c *api.Config) { c.Matcher = m })
	key := h.key("acme")
	for _, width := range []int{9, 10} {
		img := base64.StdEncoding.EncodeToString(pngImage(t, width, 9))
		r := h.do(request{method: "POST", path: faceMatchPath, key: key, body: map[string]any{"source_image_base64": img, "target_image_base64": img}})
		wantError(t, r, 500, "internal_error")
		if body := string(r.body); strings.Contains(body, "secret") || strings.Contains(body, ".go") || strings.Contains(body, "goroutine") {
			t.Errorf("500 body leaks internals: %s", body)
		}
		id := r.header.Get("X-Request-Id")
		if logs := h.logs.String(); !strings.Contains(logs, id) || !strings.Contains(logs, "secret-") {
			t.Errorf("the log lacks the request id or the cause of the 500")
		}
	}
	if logs := h.logs.String(); !strings.Contains(logs, `"msg":"panic"`) || !strings.Contains(logs, "goroutine") {
		t.Errorf("the panic's stack is not in the log")
	}
}

func TestFaceMatchBodyLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *api.Config) { c.FaceMatchBodyLimit = 4 << 10 })
	key := h.key("acme")
	big := map[string]any{"source_image_base64": strings.Repeat("A", 8<<10), "target_image_url": "https://example.com/a.jpg"}
	wantError(t, h.do(request{method: "POST", path: faceMatchPath, key: key, body: big}), 413, "request_too_large")

	// Without a Content-Length (chunked), the limit is enforced while reading.
	r, err := http.NewRequest("POST", h.url+faceMatchPath, &chunkedReader{data: []byte(`{"source_image_base64":"` + strings.Repeat("A", 8<<10) + `"}`)})
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("X-API-Key", key)
	r.Header.Set("Content-Type", "application/json")
	resp, err := h.client.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("chunked oversized body: status %d, want 413", resp.StatusCode)
	}
}

// chunkedReader hides its length from net/http, forcing a chunked body.
type chunkedReader struct{ data []byte }

func (c *chunkedReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.data)
	c.data = c.data[n:]
	return n, nil
}
