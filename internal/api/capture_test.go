package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/everify/everify/client"
	"github.com/everify/everify/internal/api"
	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/imagein"
	"github.com/everify/everify/internal/jobs"
)

// jpegFrame encodes a real w×h JPEG: a gradient shifted by seed, or noise
// (which compresses badly) when noisy.
func jpegFrame(t *testing.T, w, h, seed int, noisy bool) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	for y := range h {
		for x := range w {
			c := color.RGBA{uint8(x + seed), uint8(y * 2), uint8(x + y + 3*seed), 255}
			if noisy {
				c = color.RGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// part is one part of a multipart body.
type part struct {
	name string
	data []byte
}

// metaPart is the meta part of a batch.
func metaPart(t testing.TB, meta any) part {
	t.Helper()
	b, err := json.Marshal(meta)
	if err != nil {
		t.Fatal(err)
	}
	return part{"meta", b}
}

// multipartBody encodes parts as multipart/form-data and returns the body
// and its content type.
func multipartBody(t testing.TB, parts ...part) (string, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for i, p := range parts {
		hdr := textproto.MIMEHeader{}
		if p.name == "meta" {
			hdr.Set("Content-Disposition", `form-data; name="meta"`)
		} else {
			hdr.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename="frame-%05d.jpg"`, p.name, i))
			hdr.Set("Content-Type", "image/jpeg")
		}
		pw, err := w.CreatePart(hdr)
		if err != nil {
			t.Fatal(err)
		}
		pw.Write(p.data)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String(), w.FormDataContentType()
}

// capture is a capture client for one session.
type capture struct {
	h         *harness
	id, token string
	frames    int   // frames sent so far
	at        int64 // capture time of the next frame
	batch     int
}

// newCapture starts a session for key and returns its capture client.
func (h *harness) newCapture(key, clientToken string) *capture {
	h.t.Helper()
	id, token := h.startOK(key, clientToken)
	return &capture{h: h, id: id, token: token}
}

// send posts a raw frames body.
func (c *capture) send(body, contentType string) *response {
	c.h.t.Helper()
	return c.h.do(request{method: "POST", path: "/v1/biometrics/liveness/" + c.id + "/frames", body: body, contentType: contentType,
		header: http.Header{"Authorization": {"Bearer " + c.token}}})
}

// batchParts returns the parts of the next batch of n real frames 66 ms
// apart, without counting them as sent.
func (c *capture) batchParts(n int) []part {
	c.h.t.Helper()
	meta := client.FrameBatchMeta{Batch: c.batch}
	var frames []part
	for i := range n {
		meta.Frames = append(meta.Frames, client.FrameMeta{Index: c.frames + i, CapturedAtMS: c.at + int64(i)*66})
		frames = append(frames, part{"frame", jpegFrame(c.h.t, 64, 48, c.frames+i, false)})
	}
	return append([]part{metaPart(c.h.t, meta)}, frames...)
}

// upload sends the next batch of n frames and requires it accepted.
func (c *capture) upload(n int) *response {
	c.h.t.Helper()
	r := c.send(multipartBody(c.h.t, c.batchParts(n)...))
	if r.status != http.StatusOK {
		c.h.t.Fatalf("batch %d: %d %s", c.batch, r.status, r.body)
	}
	c.batch++
	c.frames += n
	c.at += int64(n) * 66
	return r
}

// complete posts body to …/complete.
func (c *capture) complete(body any) *response {
	c.h.t.Helper()
	return c.h.do(request{method: "POST", path: "/v1/biometrics/liveness/" + c.id + "/complete", body: body,
		header: http.Header{"Authorization": {"Bearer " + c.token}}})
}

// status gets …/status.
func (c *capture) status() *response {
	c.h.t.Helper()
	return c.h.do(request{method: "GET", path: "/v1/biometrics/liveness/" + c.id + "/status",
		header: http.Header{"Authorization": {"Bearer " + c.token}}})
}

// fakeAnalyzer returns a fixed live result and a reference face.
type fakeAnalyzer struct {
	mu     sync.Mutex
	frames int
	face   []byte
}

func (a *fakeAnalyzer) Analyze(ctx context.Context, s *biometric.Session, c *biometric.Capture) (*biometric.LivenessResult, *biometric.Failure, []byte, error) {
	a.mu.Lock()
	a.frames = len(c.Frames)
	a.mu.Unlock()
	return &biometric.LivenessResult{LivenessScore: 93, IsLive: true, Reasons: []string{"challenge_completed"},
		Checks: []biometric.Check{{Name: "challenge", Score: 96, Passed: true}}, ModelVersion: "fake"}, nil, c.Frames[len(c.Frames)/2].Image, nil
}

// TestCaptureFlow is the whole capture with a real job queue: start, three
// batches of real JPEGs, status, complete, the analysis job (a fake
// analyzer), and the results.
func TestCaptureFlow(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	analyzer := &fakeAnalyzer{}
	queue, err := jobs.New(jobs.Config{Driver: riversqlite.New(h.store.SQL()), Store: h.store, Analyzer: analyzer,
		Now: h.clock.Now, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	h.onSubmit = queue.EnqueueAnalysis
	key := h.key("acme")

	r := h.start(key, "flow-1")
	var started client.StartLivenessResponse
	r.decode(t, &started)
	base := "/v1/biometrics/liveness/" + started.SessionID
	want := &client.CaptureSettings{FPS: 15, Width: 640, Height: 480, MinFrames: 15, MaxFrames: 300, MinDurationMS: 2000,
		MaxDurationMS: 20000, MaxFrameBytes: 300 << 10, StepWindowMS: 5000, MaxBatchFrames: 60,
		UploadURL: base + "/frames", CompleteURL: base + "/complete", StatusURL: base + "/status"}
	if diff := cmp.Diff(want, started.Capture); diff != "" {
		t.Errorf("start response's capture object (-want +got):\n%s", diff)
	}
	c := &capture{h: h, id: started.SessionID, token: started.SessionToken}

	var batch client.FrameBatchResponse
	c.upload(12).decode(t, &batch)
	if batch.Status != "in_progress" || batch.Batch != 0 || batch.FramesReceived != 12 || batch.BytesReceived <= 0 {
		t.Errorf("first batch answer %+v; want in_progress with 12 frames", batch)
	}
	c.upload(12)
	c.upload(12)
	var st client.CaptureStatusResponse
	c.status().decode(t, &st)
	if st.Status != "in_progress" || st.FramesReceived != 36 {
		t.Errorf("status during upload %+v", st)
	}

	r = c.complete(map[string]any{"frame_count": 36, "prompts": []map[string]any{{"step": 0, "shown_at_ms": 1000}},
		"client": map[string]string{"sdk": "test/1", "user_agent": "Go"}})
	if r.status != http.StatusAccepted {
		t.Fatalf("complete: %d %s", r.status, r.body)
	}
	r.decode(t, &st)
	if st.Status != "processing" {
		t.Errorf("complete answered %+v, want processing", st)
	}
	// What the analysis gets: every frame of the three batches, in order.
	stored, err := h.store.Capture(t.Context(), c.id)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored.Frames) != 36 || stored.Frames[35].Index != 35 || stored.Frames[35].AtMS != 35*66 ||
		stored.Frames[0].ContentType != "image/jpeg" || !bytes.Equal(stored.Frames[7].Image, jpegFrame(t, 64, 48, 7, false)) ||
		!cmp.Equal(stored.PromptsMS, []int64{1000}) || stored.Client["sdk"] != "test/1" {
		t.Errorf("stored capture: %d frames, prompts %v, client %v", len(stored.Frames), stored.PromptsMS, stored.Client)
	}

	if err := queue.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { queue.Stop(context.Background()) })
	deadline := time.Now().Add(30 * time.Second)
	for st.Status == "processing" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		c.status().decode(t, &st)
	}
	if st.Status != "completed" {
		t.Fatalf("status after the analysis: %+v", st)
	}
	var res client.LivenessResultsResponse
	h.do(request{method: "GET", path: base + "/results", key: key}).decode(t, &res)
	if res.Status != "completed" || res.Result == nil || res.Result.LivenessScore != 93 || !res.Result.IsLive || res.CompletedAt == nil {
		t.Errorf("results %+v", res)
	}
	face, err := h.store.ReferenceFace(t.Context(), c.id)
	if err != nil || !bytes.Equal(face, jpegFrame(t, 64, 48, 18, false)) {
		t.Errorf("reference face: %d bytes, %v; want frame 18", len(face), err)
	}
	analyzer.mu.Lock()
	if analyzer.frames != 36 {
		t.Errorf("the analyzer got %d frames, want 36", analyzer.frames)
	}
	analyzer.mu.Unlock()
}

// TestCaptureAuth checks the session token: another session's token is
// answered like an unknown session, and API keys do not work here.
func TestCaptureAuth(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	key := h.key("acme")
	a := h.newCapture(key, "a")
	b := h.newCapture(key, "b")
	body, ct := multipartBody(t, a.batchParts(1)...)
	post := func(id string, header http.Header) *response {
		return h.do(request{method: "POST", path: "/v1/biometrics/liveness/" + id + "/frames", body: body, contentType: ct, header: header})
	}
	bearer := func(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }
	wantError(t, post(b.id, bearer(a.token)), 404, "session_not_found")
	wantError(t, post("liveness_session_000000000000000000000000", bearer(a.token)), 404, "session_not_found")
	wantError(t, post(a.id, nil), 401, "missing_session_token")
	wantError(t, post(a.id, http.Header{"X-Api-Key": {key}}), 401, "missing_session_token")
	wantError(t, post(a.id, bearer("evst_"+strings.Repeat("x", 43))), 401, "invalid_session_token")
	wantError(t, post(a.id, http.Header{"Authorization": {"Basic " + a.token}}), 401, "invalid_session_token")
	wantError(t, h.do(request{method: "GET", path: "/v1/biometrics/liveness/" + b.id + "/status", header: bearer(a.token)}), 404, "session_not_found")
	if r := post(a.id, bearer(a.token)); r.status != 200 {
		t.Errorf("own token: %d %s", r.status, r.body)
	}
	// A repeated start rotates the token: the old one stops working.
	_, newToken := h.startOK(key, "a")
	wantError(t, a.status(), 401, "invalid_session_token")
	a.token = newToken
	if r := a.status(); r.status != 200 {
		t.Errorf("status with the rotated token: %d %s", r.status, r.body)
	}
}

// TestFrameErrors sends every kind of bad batch and checks that none of
// them stores anything.
func TestFrameErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *api.Config) {
		c.Capture = biometric.CaptureParams{MaxFrames: 20, MaxFrameBytes: 16 << 10, MaxDurationMS: 5000}
	})
	key := h.key("acme")
	c := h.newCapture(key, "errors-1")
	good := jpegFrame(t, 64, 48, 1, false)
	meta := func(batch int, frames ...client.FrameMeta) part {
		return metaPart(t, client.FrameBatchMeta{Batch: batch, Frames: frames})
	}
	f := func(index int, at int64) client.FrameMeta { return client.FrameMeta{Index: index, CapturedAtMS: at} }
	frame := func(data []byte) part { return part{"frame", data} }
	truncated := good[:len(good)/2]
	many := make([]client.FrameMeta, 61)
	for i := range many {
		many[i] = f(i, int64(i))
	}

	for _, tc := range []struct {
		name   string
		parts  []part
		status int
		code   string
	}{
		{"gap", []part{meta(1, f(0, 0)), frame(good)}, 409, "batch_out_of_order"},
		{"index not continuing", []part{meta(0, f(1, 0)), frame(good)}, 400, "invalid_frame_index"},
		{"time going backwards", []part{meta(0, f(0, 100), f(1, 50)), frame(good), frame(good)}, 400, "invalid_frame_time"},
		{"time repeated", []part{meta(0, f(0, 100), f(1, 100)), frame(good), frame(good)}, 400, "invalid_frame_time"},
		{"beyond max duration", []part{meta(0, f(0, 0), f(1, 5067)), frame(good), frame(good)}, 400, "capture_too_long"}, // 5000 ms + 66 ms slack at 15 fps
		{"too many frames", []part{metaPart(t, client.FrameBatchMeta{Frames: many[:21]})}, 413, "too_many_frames"},
		{"batch too large", []part{metaPart(t, client.FrameBatchMeta{Frames: many})}, 413, "batch_too_large"},
		{"frame too large", []part{meta(0, f(0, 0)), frame(jpegFrame(t, 160, 160, 1, true))}, 413, "frame_too_large"},
		{"not an image", []part{meta(0, f(0, 0)), frame([]byte("GIF89a this is not a JPEG at all"))}, 415, "unsupported_image_type"},
		{"truncated image", []part{meta(0, f(0, 0)), frame(truncated)}, 422, "image_unreadable"},
		{"bad one among good", []part{meta(0, f(0, 0), f(1, 66)), frame(good), frame([]byte("%PDF-1.7"))}, 415, "unsupported_image_type"},
		{"fewer frames than meta", []part{meta(0, f(0, 0), f(1, 66)), frame(good)}, 400, "invalid_frame_batch"},
		{"more frames than meta", []part{meta(0, f(0, 0)), frame(good), frame(good)}, 400, "invalid_frame_batch"},
		{"meta not first", []part{frame(good), meta(0, f(0, 0))}, 400, "invalid_frame_batch"},
		{"meta not JSON", []part{{"meta", []byte("{batch: 0")}, frame(good)}, 400, "invalid_json"},
		{"meta unknown field", []part{{"meta", []byte(`{"batch": 0, "frames": [], "fps": 30}`)}}, 400, "unknown_field"},
		{"meta empty", []part{meta(0), frame(good)}, 400, "invalid_frame_batch"},
		{"negative batch", []part{meta(-1, f(0, 0)), frame(good)}, 400, "invalid_frame_batch"},
		{"unknown part", []part{meta(0, f(0, 0)), {"picture", good}}, 400, "invalid_frame_batch"},
		{"no parts", nil, 400, "invalid_frame_batch"},
	} {
		r := c.send(multipartBody(t, tc.parts...))
		if r.status != tc.status || r.errorCode(t) != tc.code {
			t.Errorf("%s: %d %s; want %d %s", tc.name, r.status, r.body, tc.status, tc.code)
		}
	}
	wantError(t, c.send(`{"batch": 0}`, "application/json"), 415, "unsupported_media_type")
	wantError(t, c.send(strings.Repeat("x", 2<<20), "multipart/form-data; boundary=x"), 413, "request_too_large")
	s, err := h.store.Session(t.Context(), "acme", c.id)
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != biometric.StatusCreated || s.Upload != (biometric.Upload{}) {
		t.Fatalf("refused batches changed the session: %s, %+v", s.Status, s.Upload)
	}

	// After an accepted batch: the same batch again, one that goes over
	// max_frames, and one whose time does not continue the first's.
	c.upload(15)
	r := c.send(multipartBody(t, meta(0, f(0, 0)), frame(good)))
	wantError(t, r, 409, "batch_already_received")
	r = c.send(multipartBody(t, meta(1, f(15, 2000), f(16, 2066), f(17, 2132), f(18, 2198), f(19, 2264), f(20, 2330)),
		frame(good), frame(good), frame(good), frame(good), frame(good), frame(good)))
	wantError(t, r, 413, "too_many_frames")
	r = c.send(multipartBody(t, meta(1, f(15, 14*66)), frame(good)))
	wantError(t, r, 400, "invalid_frame_time")
	if s, _ := h.store.Session(t.Context(), "acme", c.id); s.Upload.Frames != 15 || s.Upload.Batches != 1 || s.Upload.LastAtMS != 14*66 {
		t.Errorf("upload after the accepted batch: %+v", s.Upload)
	}
}

// TestConcurrentBatches sends the same batch twice at once: one is stored,
// the other is told it was received.
func TestConcurrentBatches(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.newCapture(h.key("acme"), "concurrent-1")
	body, ct := multipartBody(t, c.batchParts(10)...)
	var wg sync.WaitGroup
	results := make([]*response, 2)
	for i := range results {
		wg.Go(func() { results[i] = c.send(body, ct) })
	}
	wg.Wait()
	codes := []int{results[0].status, results[1].status}
	if !(codes[0] == 200 && codes[1] == 409 || codes[0] == 409 && codes[1] == 200) {
		t.Fatalf("statuses %v; want one 200 and one 409", codes)
	}
	for _, r := range results {
		if r.status == 409 {
			wantError(t, r, 409, "batch_already_received")
		}
	}
	if s, _ := h.store.Session(t.Context(), "acme", c.id); s.Upload.Frames != 10 || s.Upload.Batches != 1 {
		t.Errorf("upload %+v; want the batch stored once", s.Upload)
	}
}

func TestCompleteErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	key := h.key("acme")
	c := h.newCapture(key, "complete-1")
	wantError(t, c.complete(map[string]any{"frame_count": 0}), 422, "capture_too_short")
	c.upload(10)
	wantError(t, c.complete(map[string]any{"frame_count": 11}), 409, "frame_count_mismatch")
	wantError(t, c.complete(map[string]any{"frame_count": 10}), 422, "capture_too_short") // 10 frames < 15
	c.upload(20)                                                                          // 30 frames over 1914 ms < 2000 ms
	wantError(t, c.complete(map[string]any{"frame_count": 30}), 422, "capture_too_short")
	c.upload(2) // 32 frames, the last at 2046 ms
	for _, tc := range []struct {
		name string
		body any
		code string
	}{
		{"unknown step", map[string]any{"frame_count": 32, "prompts": []map[string]any{{"step": 1, "shown_at_ms": 10}}}, "invalid_prompts"},
		{"repeated step", map[string]any{"frame_count": 32, "prompts": []map[string]any{{"step": 0, "shown_at_ms": 10}, {"step": 0, "shown_at_ms": 20}}}, "invalid_prompts"},
		{"prompt outside", map[string]any{"frame_count": 32, "prompts": []map[string]any{{"step": 0, "shown_at_ms": 20067}}}, "invalid_prompts"},
		{"prompt before", map[string]any{"frame_count": 32, "prompts": []map[string]any{{"step": 0, "shown_at_ms": -1}}}, "invalid_prompts"},
		{"long client value", map[string]any{"frame_count": 32, "client": map[string]string{"ua": strings.Repeat("x", 513)}}, "invalid_client_info"},
		{"unknown field", map[string]any{"frame_count": 32, "lights": []any{}}, "unknown_field"},
	} {
		r := c.complete(tc.body)
		if r.status != 400 || r.errorCode(t) != tc.code {
			t.Errorf("%s: %d %s; want 400 %s", tc.name, r.status, r.body, tc.code)
		}
	}
	if r := c.complete(map[string]any{"frame_count": 32}); r.status != http.StatusAccepted {
		t.Fatalf("complete: %d %s", r.status, r.body)
	}
	wantError(t, c.complete(map[string]any{"frame_count": 32}), 409, "capture_already_complete")
	wantError(t, c.send(multipartBody(t, c.batchParts(1)...)), 409, "capture_already_complete")
	if _, err := h.store.Capture(t.Context(), c.id); err != nil {
		t.Errorf("the completed capture is not stored: %v", err)
	}
}

// TestCaptureExpiry checks the deadline: after it, uploads and completion
// are 410, the status says expired for an hour, and then the token is
// refused.
func TestCaptureExpiry(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.newCapture(h.key("acme"), "late-1")
	c.upload(20)
	h.clock.Advance(api.DefaultSessionTTL)
	wantError(t, c.send(multipartBody(t, c.batchParts(1)...)), 410, "session_expired")
	wantError(t, c.complete(map[string]any{"frame_count": 20}), 410, "session_expired")
	var st client.CaptureStatusResponse
	c.status().decode(t, &st)
	if st.Status != "expired" {
		t.Errorf("status after the deadline: %+v", st)
	}
	// Once marked expired, the session stays so.
	wantError(t, c.send(multipartBody(t, c.batchParts(1)...)), 410, "session_expired")
	h.clock.Advance(time.Hour)
	wantError(t, c.status(), 401, "expired_session_token")
}

// TestCaptureStatusFailure shows a failed session's failure to its capture
// client, and a completed one's status without the decision.
func TestCaptureStatusFailure(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.newCapture(h.key("acme"), "status-1")
	setStatus(t, h, c.id, biometric.StatusFailed)
	var st client.CaptureStatusResponse
	c.status().decode(t, &st)
	if st.Status != "failed" || st.Failure == nil || st.Failure.Code != "poor_quality" || !st.Failure.Retryable {
		t.Errorf("failed status %+v", st)
	}
	setStatus(t, h, c.id, biometric.StatusCompleted)
	r := c.status()
	var done client.CaptureStatusResponse
	r.decode(t, &done)
	if done.Status != "completed" || done.Failure != nil || strings.Contains(string(r.body), "liveness_score") {
		t.Errorf("completed status %s; want the status only", r.body)
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *api.Config) { c.CORSOrigins = []string{"https://Shop.example", "http://localhost:3000/"} })
	key := h.key("acme")
	c := h.newCapture(key, "cors-1")
	framesPath := "/v1/biometrics/liveness/" + c.id + "/frames"
	preflight := func(path, origin string) *response {
		return h.do(request{method: "OPTIONS", path: path, header: http.Header{"Origin": {origin},
			"Access-Control-Request-Method": {"POST"}, "Access-Control-Request-Headers": {"authorization"}}})
	}

	r := preflight(framesPath, "https://shop.example")
	if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != "https://shop.example" ||
		r.header.Get("Access-Control-Allow-Methods") != "POST" || !strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("allowed preflight: %d %v", r.status, r.header)
	}
	if r := preflight("/v1/biometrics/liveness/"+c.id+"/status", "http://localhost:3000"); r.status != 204 ||
		r.header.Get("Access-Control-Allow-Methods") != "GET" {
		t.Errorf("status preflight: %d %v", r.status, r.header)
	}
	r = preflight(framesPath, "https://evil.example")
	wantError(t, r, 403, "cors_origin_not_allowed")
	if r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("a refused preflight carries Access-Control-Allow-Origin")
	}

	// Capture responses carry the header for allowed origins, errors too.
	origin := http.Header{"Origin": {"https://shop.example"}, "Authorization": {"Bearer " + c.token}}
	body, ct := multipartBody(t, c.batchParts(2)...)
	r = h.do(request{method: "POST", path: framesPath, body: body, contentType: ct, header: origin})
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "https://shop.example" ||
		!strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "X-Request-Id") {
		t.Errorf("cross-origin upload: %d %v", r.status, r.header)
	}
	r = h.do(request{method: "GET", path: "/v1/biometrics/liveness/" + c.id + "/status", header: http.Header{"Origin": {"https://shop.example"}}})
	if r.status != 401 || r.header.Get("Access-Control-Allow-Origin") != "https://shop.example" {
		t.Errorf("cross-origin 401: %d %v", r.status, r.header)
	}
	r = h.do(request{method: "GET", path: "/v1/biometrics/liveness/" + c.id + "/status",
		header: http.Header{"Origin": {"https://evil.example"}, "Authorization": {"Bearer " + c.token}}})
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("status from a foreign origin: %d %v; want no CORS header", r.status, r.header)
	}

	// API-key routes never answer CORS, not even to an allowed origin.
	r = h.do(request{method: "POST", path: "/v1/biometrics/liveness/start", key: key,
		body: map[string]any{"client_session_token": "cors-2"}, header: http.Header{"Origin": {"https://shop.example"}}})
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("start from a browser origin: %d %v", r.status, r.header)
	}
	wantError(t, preflight("/v1/biometrics/liveness/start", "https://shop.example"), 405, "method_not_allowed")
	wantError(t, preflight("/v1/biometrics/liveness/"+c.id+"/results", "https://shop.example"), 405, "method_not_allowed")
}

func TestCORSAnyOrigin(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *api.Config) { c.CORSOrigins = []string{"*"} })
	c := h.newCapture(h.key("acme"), "cors-any")
	r := h.do(request{method: "OPTIONS", path: "/v1/biometrics/liveness/" + c.id + "/complete",
		header: http.Header{"Origin": {"https://anyone.example"}, "Access-Control-Request-Method": {"POST"}}})
	if r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != "https://anyone.example" {
		t.Errorf("preflight with *: %d %v", r.status, r.header)
	}
	// Without any origin configured, every preflight is refused.
	h2 := newHarness(t)
	r = h2.do(request{method: "OPTIONS", path: "/v1/biometrics/liveness/" + c.id + "/complete",
		header: http.Header{"Origin": {"https://anyone.example"}}})
	wantError(t, r, 403, "cors_origin_not_allowed")
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	images, err := imagein.NewFetcher(imagein.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []api.Config{
		{CORSOrigins: []string{"shop.example"}},
		{CORSOrigins: []string{"https://shop.example/path"}},
		{CORSOrigins: []string{"ftp://shop.example"}},
		{Capture: biometric.CaptureParams{MinFrames: 400}},
		{Capture: biometric.CaptureParams{FPS: 200}},
		{Capture: biometric.CaptureParams{MaxFrameBytes: 64 << 20}},
		{Capture: biometric.CaptureParams{MinDurationMS: 30000}},
	} {
		cfg.Store, cfg.Images = h.store, images
		if _, err := api.New(cfg); err == nil {
			t.Errorf("api.New accepted %+v / %v", cfg.Capture, cfg.CORSOrigins)
		}
	}
}

func TestDemoRoutes(t *testing.T) {
	t.Parallel()
	demoKey := &biometric.APIKey{ID: "key_demo", Tenant: "demo", Scopes: biometric.AllScopes}
	h := newHarness(t, func(c *api.Config) { c.DemoKey = demoKey })
	r := h.do(request{method: "POST", path: "/demo/api/session", body: map[string]any{"challenge_types": []string{"smile"}}})
	var started client.StartLivenessResponse
	r.decode(t, &started)
	if r.status != 200 || started.SessionToken == "" || started.Capture == nil || started.ChallengeDetails.ChallengeType != "smile" {
		t.Fatalf("demo start: %d %s", r.status, r.body)
	}
	s, err := h.store.Session(t.Context(), "demo", started.SessionID)
	if err != nil || s.KeyID != "key_demo" || !strings.HasPrefix(s.ClientSessionToken, "demo_") {
		t.Errorf("demo session %+v, %v", s, err)
	}
	var res client.LivenessResultsResponse
	h.do(request{method: "GET", path: "/demo/api/session/" + started.SessionID}).decode(t, &res)
	if res.SessionID != started.SessionID || res.Status != "created" {
		t.Errorf("demo results %+v", res)
	}
	// Another tenant's session is not the demo's.
	other := h.newCapture(h.key("acme"), "acme-1")
	wantError(t, h.do(request{method: "GET", path: "/demo/api/session/" + other.id}), 404, "session_not_found")
	// The page and the SDK.
	for path, ct := range map[string]string{"/demo/": "text/html", "/demo/demo.js": "text/javascript", "/sdk/everify-capture.js": "text/javascript"} {
		if r := h.do(request{method: "GET", path: path}); r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), ct) {
			t.Errorf("GET %s: %d %s", path, r.status, r.header.Get("Content-Type"))
		}
	}

	// Without a demo key there is no demo, but the SDK is served.
	plain := newHarness(t)
	wantError(t, plain.do(request{method: "POST", path: "/demo/api/session", body: map[string]any{}}), 404, "route_not_found")
	wantError(t, plain.do(request{method: "GET", path: "/demo/"}), 404, "route_not_found")
	if r := plain.do(request{method: "GET", path: "/sdk/everify-capture.js"}); r.status != 200 {
		t.Errorf("SDK without --demo: %d", r.status)
	}
}
