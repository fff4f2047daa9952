package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/everify/everify/client"
	"github.com/everify/everify/internal/auth"
	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/imagein"
	"github.com/everify/everify/internal/seal"
	"github.com/everify/everify/internal/store"
	"github.com/everify/everify/internal/store/sqlite"
)

// frameCodes are the error codes the frames endpoint may answer a fresh
// session's batch with, and the status of each. A code outside this table
// is a change of the contract that the fuzzer reports.
var frameCodes = map[string]int{
	"unsupported_media_type": http.StatusUnsupportedMediaType,
	"unsupported_image_type": http.StatusUnsupportedMediaType,
	"invalid_frame_batch":    http.StatusBadRequest,
	"invalid_json":           http.StatusBadRequest,
	"invalid_field_type":     http.StatusBadRequest,
	"unknown_field":          http.StatusBadRequest,
	"invalid_frame_index":    http.StatusBadRequest,
	"invalid_frame_time":     http.StatusBadRequest,
	"capture_too_long":       http.StatusBadRequest,
	"duplicate_frame_index":  http.StatusBadRequest,
	"batch_already_received": http.StatusConflict,
	"batch_out_of_order":     http.StatusConflict,
	"batch_too_large":        http.StatusRequestEntityTooLarge,
	"too_many_frames":        http.StatusRequestEntityTooLarge,
	"frame_too_large":        http.StatusRequestEntityTooLarge,
	"image_too_many_pixels":  http.StatusRequestEntityTooLarge,
	"request_too_large":      http.StatusRequestEntityTooLarge,
	"image_unreadable":       http.StatusUnprocessableEntity,
}

// Part headers of a well-formed batch.
const (
	fuzzMetaHeader  = `Content-Disposition: form-data; name="meta"`
	fuzzFrameHeader = "Content-Disposition: form-data; name=\"frame\"; filename=\"frame.jpg\"\r\nContent-Type: image/jpeg"
	fuzzBoundary    = "everify-fuzz-boundary"
)

// fuzzImage encodes a small gradient as a real JPEG or PNG.
func fuzzImage(tb testing.TB, format string, w, h int) []byte {
	tb.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 7), uint8(y * 11), uint8(x + y), 255})
		}
	}
	var buf bytes.Buffer
	var err error
	if format == "png" {
		err = png.Encode(&buf, img)
	} else {
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80})
	}
	if err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// fuzzMeta is the meta part of batch for n frames 66 ms apart, starting at
// frame index first.
func fuzzMeta(batch, first, n int) []byte {
	meta := client.FrameBatchMeta{Batch: batch}
	for i := range n {
		meta.Frames = append(meta.Frames, client.FrameMeta{Index: first + i, CapturedAtMS: int64(first+i) * 66})
	}
	b, _ := json.Marshal(meta)
	return b
}

// frameBody assembles a multipart body by hand, so that the fuzzer
// controls its framing: the meta part, then count frame parts, each with
// the given part header.
func frameBody(boundary, metaHeader string, meta []byte, frameHeader string, frame []byte, count int) []byte {
	var b bytes.Buffer
	part := func(header string, data []byte) {
		b.WriteString("--" + boundary + "\r\n" + header + "\r\n\r\n")
		b.Write(data)
		b.WriteString("\r\n")
	}
	part(metaHeader, meta)
	for range count {
		part(frameHeader, frame)
	}
	b.WriteString("--" + boundary + "--\r\n")
	return b.Bytes()
}

// fuzzSession is a fresh session, as liveness/start creates it, with the
// given upload so far.
func fuzzSession(tb testing.TB, up biometric.Upload) *biometric.Session {
	tb.Helper()
	p, err := captureParams(biometric.CaptureParams{})
	if err != nil {
		tb.Fatal(err)
	}
	status := biometric.StatusCreated
	if up.Batches > 0 {
		status = biometric.StatusInProgress
	}
	return &biometric.Session{ID: "liveness_session_fuzz", Status: status, Upload: up, CaptureParams: p,
		ExpiresAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// FuzzFrameBatch feeds arbitrary multipart bodies to the frames
// endpoint's parsing and checks (readBatchMeta, checkBatch, readFrames,
// acceptBatch) against a session with an arbitrary upload so far. Refusals
// must be client errors with a known code; an accepted batch must hold
// exactly the frames its meta describes, and count them in the session.
func FuzzFrameBatch(f *testing.F) {
	jpg, pngFrame := fuzzImage(f, "jpeg", 32, 24), fuzzImage(f, "png", 16, 16)
	f.Add(fuzzBoundary, frameBody(fuzzBoundary, fuzzMetaHeader, fuzzMeta(0, 0, 2), fuzzFrameHeader, jpg, 2), uint8(0), uint16(0), int64(0))
	f.Add(fuzzBoundary, frameBody(fuzzBoundary, fuzzMetaHeader, fuzzMeta(3, 45, 1), fuzzFrameHeader, pngFrame, 1), uint8(3), uint16(45), int64(2904))
	f.Add(fuzzBoundary, frameBody(fuzzBoundary, fuzzMetaHeader, fuzzMeta(0, 0, 2), fuzzFrameHeader, jpg, 3), uint8(0), uint16(0), int64(0))
	f.Add(fuzzBoundary, frameBody(fuzzBoundary, fuzzMetaHeader, fuzzMeta(0, 0, 2), fuzzFrameHeader, jpg[:len(jpg)/2], 2), uint8(0), uint16(0), int64(0))
	f.Add(fuzzBoundary, frameBody(fuzzBoundary, fuzzMetaHeader, fuzzMeta(1, 0, 1), fuzzFrameHeader, jpg, 1), uint8(0), uint16(0), int64(0))
	f.Add(fuzzBoundary, frameBody(fuzzBoundary, `Content-Disposition: form-data; name="frame"`, fuzzMeta(0, 0, 1), fuzzFrameHeader, jpg, 1), uint8(0), uint16(0), int64(0))
	f.Add(fuzzBoundary, frameBody(fuzzBoundary, fuzzMetaHeader, []byte(`{"batch":0,"frames":[]}`), fuzzFrameHeader, jpg, 0), uint8(0), uint16(0), int64(0))
	f.Add(fuzzBoundary, frameBody(fuzzBoundary, fuzzMetaHeader, fuzzMeta(0, 0, 1), fuzzFrameHeader, []byte("GIF89a"), 1), uint8(0), uint16(0), int64(0))
	f.Add("b", []byte("--b\r\nContent-Disposition: form-data; name=\"meta\"\r\n\r\n{\"batch\":0,\"frames\":[{\"index\":0,\"captured_at_ms\":0}]}\r\n--b"), uint8(0), uint16(0), int64(0))
	f.Fuzz(func(t *testing.T, boundary string, body []byte, batches uint8, frames uint16, lastAtMS int64) {
		sess := fuzzSession(t, biometric.Upload{Batches: int(batches), Frames: int(frames), LastAtMS: lastAtMS})
		parts := multipart.NewReader(bytes.NewReader(body), boundary)
		refused := func(err error) {
			t.Helper()
			e := checkClientError(t, err)
			if status, ok := frameCodes[e.Code]; !ok || status != statusOf(e.Kind) {
				t.Fatalf("refusal %v: code %s with status %d is not in the frames endpoint's table", err, e.Code, statusOf(e.Kind))
			}
		}
		meta, err := readBatchMeta(parts)
		if err != nil {
			refused(err)
			return
		}
		last, err := checkBatch(sess, meta)
		if err != nil {
			refused(err)
			return
		}
		got, err := readFrames(parts, meta, sess.CaptureParams.MaxFrameBytes)
		if err != nil {
			refused(err)
			return
		}
		if len(got) != len(meta.Frames) || len(got) > maxBatchFrames {
			t.Fatalf("accepted %d frames for a meta of %d", len(got), len(meta.Frames))
		}
		for i, fr := range got {
			m := meta.Frames[i]
			if fr.Index != m.Index || fr.AtMS != m.CapturedAtMS || int64(len(fr.Image)) > sess.CaptureParams.MaxFrameBytes ||
				(fr.ContentType != "image/jpeg" && fr.ContentType != "image/png" && fr.ContentType != "image/webp") {
				t.Fatalf("frame %d: index %d at %d ms, %d bytes of %s; meta said %+v", i, fr.Index, fr.AtMS, len(fr.Image), fr.ContentType, m)
			}
		}
		x := *sess
		if err := acceptBatch(meta, got, time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC))(&x); err != nil {
			t.Fatalf("a batch that passed checkBatch fails under the session lock: %v", err)
		}
		up := x.Upload
		if up.Batches != sess.Upload.Batches+1 || up.Frames != sess.Upload.Frames+len(got) || up.LastAtMS != last ||
			up.Frames > x.CaptureParams.MaxFrames || last > captureEndMS(x.CaptureParams) || x.Status != biometric.StatusInProgress {
			t.Fatalf("upload %+v (status %s) after accepting %d frames onto %+v", up, x.Status, len(got), sess.Upload)
		}
	})
}

// uploadHarness is a real Server over a real SQLite store, behind a real
// HTTP listener, with one API key.
type uploadHarness struct {
	store  *store.DB
	url    string
	key    string
	client *http.Client
	n      int // sessions started
}

func newUploadHarness(f *testing.F) *uploadHarness {
	f.Helper()
	now := func() time.Time { return time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC) }
	st, err := sqlite.Open(context.Background(), f.TempDir(), store.Options{Now: now, Sealer: seal.NewSealer(seal.NewKeyring())})
	if err != nil {
		f.Fatalf("opening the SQLite store: %v", err)
	}
	f.Cleanup(func() { st.Close() })
	fetcher, err := imagein.NewFetcher(imagein.Options{})
	if err != nil {
		f.Fatal(err)
	}
	srv, err := New(Config{Store: st, Images: fetcher, Now: now,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		f.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	f.Cleanup(ts.Close)
	secret, k, err := auth.NewKey("fuzz", biometric.KeyModeTest, nil, now())
	if err != nil {
		f.Fatal(err)
	}
	if err := st.CreateKey(context.Background(), k); err != nil {
		f.Fatal(err)
	}
	return &uploadHarness{store: st, url: ts.URL, key: secret, client: ts.Client()}
}

// post sends a request and returns its status and body.
func (h *uploadHarness) post(t *testing.T, path, contentType string, header http.Header, body []byte) (int, []byte) {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, h.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header = header
	r.Header.Set("Content-Type", contentType)
	resp, err := h.client.Do(r)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data
}

// start starts a new session and returns its ID and session token.
func (h *uploadHarness) start(t *testing.T) (id, token string) {
	t.Helper()
	h.n++
	status, body := h.post(t, "/v1/biometrics/liveness/start", "application/json", http.Header{"X-Api-Key": {h.key}},
		fmt.Appendf(nil, `{"client_session_token":"fuzz-%d"}`, h.n))
	var resp client.StartLivenessResponse
	if err := json.Unmarshal(body, &resp); status != http.StatusOK || err != nil {
		t.Fatalf("start: %d %s", status, body)
	}
	return resp.SessionID, resp.SessionToken
}

// stored returns the session's upload, status and number of stored frames.
func (h *uploadHarness) stored(t *testing.T, id string) (biometric.Upload, biometric.SessionStatus, int) {
	t.Helper()
	sess, err := h.store.Session(context.Background(), "fuzz", id)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := h.store.SQL().QueryRow(`SELECT count(*) FROM capture_frames WHERE session_id = ?`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return sess.Upload, sess.Status, n
}

// validHeaderValue reports whether an HTTP client can send v as a header
// value: no control characters but tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// FuzzUploadFrames sends fuzzed batches (content type and boundary, part
// headers, meta, frame bytes and frame count) to the real frames endpoint
// of a fresh session. No batch may get a 5xx; every refusal carries a
// known code in the error envelope and leaves the session and its stored
// frames untouched; an accepted batch stores exactly the frames it
// described.
func FuzzUploadFrames(f *testing.F) {
	h := newUploadHarness(f)
	ct := "multipart/form-data; boundary=" + fuzzBoundary
	jpg, pngFrame := fuzzImage(f, "jpeg", 32, 24), fuzzImage(f, "png", 16, 16)
	f.Add(ct, fuzzMetaHeader, fuzzMeta(0, 0, 2), fuzzFrameHeader, jpg, uint8(2))
	f.Add(ct, fuzzMetaHeader, fuzzMeta(0, 0, 3), "Content-Disposition: form-data; name=\"frame\"\r\nContent-Type: image/png", pngFrame, uint8(3))
	f.Add(`multipart/form-data; boundary="a:b c"`, fuzzMetaHeader, fuzzMeta(0, 0, 1), fuzzFrameHeader, jpg, uint8(1))
	f.Add(ct, fuzzMetaHeader, fuzzMeta(0, 0, 2), fuzzFrameHeader, jpg, uint8(1))
	f.Add(ct, fuzzMetaHeader, fuzzMeta(1, 0, 1), fuzzFrameHeader, jpg, uint8(1))
	f.Add(ct, fuzzMetaHeader, fuzzMeta(0, 5, 1), fuzzFrameHeader, jpg, uint8(1))
	f.Add(ct, fuzzMetaHeader, []byte(`{"batch":0,"frames":[{"index":0,"captured_at_ms":99999999}]}`), fuzzFrameHeader, jpg, uint8(1))
	f.Add(ct, fuzzMetaHeader, []byte(`{"batch":0,"frames":[{"index":0,"captured_at_ms":0}],"extra":1}`), fuzzFrameHeader, jpg, uint8(1))
	f.Add(ct, fuzzMetaHeader, fuzzMeta(0, 0, 1), fuzzFrameHeader, jpg[:100], uint8(1))
	f.Add(ct, fuzzMetaHeader, fuzzMeta(0, 0, 1), fuzzFrameHeader, []byte("RIFF\x00\x00\x00\x00WEBPVP8 "), uint8(1))
	f.Add(ct, `Content-Disposition: form-data; name="frame"`, fuzzMeta(0, 0, 1), fuzzFrameHeader, jpg, uint8(1))
	f.Add(ct, fuzzMetaHeader, fuzzMeta(0, 0, 1), `Content-Disposition: form-data; name="other"`, jpg, uint8(1))
	f.Add("multipart/form-data", fuzzMetaHeader, fuzzMeta(0, 0, 1), fuzzFrameHeader, jpg, uint8(1))
	f.Add("application/json", fuzzMetaHeader, fuzzMeta(0, 0, 1), fuzzFrameHeader, jpg, uint8(1))
	var id, token string
	f.Fuzz(func(t *testing.T, contentType, metaHeader string, meta []byte, frameHeader string, frame []byte, count uint8) {
		if !validHeaderValue(contentType) {
			return // the HTTP client refuses to send it
		}
		if id == "" {
			id, token = h.start(t)
		}
		boundary := fuzzBoundary
		if _, params, err := mime.ParseMediaType(contentType); err == nil && params["boundary"] != "" {
			boundary = params["boundary"]
		}
		body := frameBody(boundary, metaHeader, meta, frameHeader, frame, int(count%9))
		status, resp := h.post(t, "/v1/biometrics/liveness/"+id+"/frames", contentType,
			http.Header{"Authorization": {"Bearer " + token}}, body)
		up, st, stored := h.stored(t, id)
		if status == http.StatusOK {
			var ok client.FrameBatchResponse
			if err := json.Unmarshal(resp, &ok); err != nil || ok.Batch != 0 || ok.FramesReceived == 0 {
				t.Fatalf("accepted batch answered %s (%v)", resp, err)
			}
			if stored != ok.FramesReceived || up.Frames != stored || up.Batches != 1 || st != biometric.StatusInProgress {
				t.Fatalf("accepted %d frames; the store holds %d, upload %+v, status %s", ok.FramesReceived, stored, up, st)
			}
			id, token = "", "" // the next input gets a fresh session
			return
		}
		var env client.ErrorResponse
		if err := json.Unmarshal(resp, &env); err != nil {
			t.Fatalf("status %d with a body that is not the error envelope: %v\n%s", status, err, resp)
		}
		code := env.Error.Code
		if want, ok := frameCodes[code]; !ok || want != status || env.Error.Message == "" || !strings.HasPrefix(env.RequestID, "req_") {
			t.Fatalf("refusal with status %d and code %q is not in the frames endpoint's table (or lacks a message or request_id):\n%s", status, code, resp)
		}
		if up != (biometric.Upload{}) || st != biometric.StatusCreated || stored != 0 {
			t.Fatalf("a refused batch (%d %s) changed the session: upload %+v, status %s, %d frames stored", status, code, up, st, stored)
		}
	})
}
