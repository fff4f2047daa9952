package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/everify/everify/client"
	"github.com/everify/everify/internal/api"
	"github.com/everify/everify/internal/auth"
	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/imagein"
	"github.com/everify/everify/internal/seal"
	"github.com/everify/everify/internal/store"
	"github.com/everify/everify/internal/store/sqlite"
)

// cameraFrame encodes a 640x480 JPEG with a camera's texture (a gradient
// with sensor noise) at the SDK's first quality, 0.85.
func cameraFrame(b *testing.B) []byte {
	b.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 640, 480))
	rng := rand.New(rand.NewPCG(1, 7))
	for y := range 480 {
		for x := range 640 {
			n := rng.IntN(12)
			img.Set(x, y, color.RGBA{uint8(x/3 + n), uint8(y/2 + n), uint8((x+y)/5 + n), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkUploadBatch uploads batches of 15 camera-sized JPEG frames (one
// second at the default 15 fps) through the frames endpoint of a real
// server on SQLite: multipart parsing, decoding every frame, and storing
// the batch in one transaction.
func BenchmarkUploadBatch(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, b.TempDir(), store.Options{Sealer: seal.NewSealer(seal.NewKeyring())})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	images, err := imagein.NewFetcher(imagein.Options{})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := api.New(api.Config{Store: st, Images: images})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	secret, key, err := auth.NewKey("acme", biometric.KeyModeTest, nil, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	if err := st.CreateKey(ctx, key); err != nil {
		b.Fatal(err)
	}
	start := func(i int) client.StartLivenessResponse {
		req, _ := http.NewRequest("POST", ts.URL+"/v1/biometrics/liveness/start",
			strings.NewReader(fmt.Sprintf(`{"client_session_token": "bench-%d"}`, i)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-API-Key", secret)
		var s client.StartLivenessResponse
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || resp.StatusCode != 200 {
			b.Fatalf("start: %d %v", resp.StatusCode, err)
		}
		return s
	}
	frame := cameraFrame(b)
	var s client.StartLivenessResponse
	var size int
	b.ResetTimer()
	for i := range b.N {
		batch := i % 20 // 20 batches of 15 frames fill a session
		if batch == 0 {
			b.StopTimer()
			s = start(i)
			b.StartTimer()
		}
		meta := client.FrameBatchMeta{Batch: batch}
		parts := []part{{}}
		for j := range 15 {
			meta.Frames = append(meta.Frames, client.FrameMeta{Index: batch*15 + j, CapturedAtMS: int64(batch*15+j) * 66})
			parts = append(parts, part{"frame", frame})
		}
		parts[0] = metaPart(b, meta)
		body, ct := multipartBody(b, parts...)
		size = len(body)
		req, _ := http.NewRequest("POST", ts.URL+s.Capture.UploadURL, strings.NewReader(body))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Authorization", "Bearer "+s.SessionToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("batch %d: %d", batch, resp.StatusCode)
		}
	}
	b.SetBytes(int64(size))
	b.ReportMetric(float64(b.N*15)/b.Elapsed().Seconds(), "frames/s")
	b.ReportMetric(float64(len(frame)), "bytes/frame")
}

// BenchmarkDecodeFrame is the part of an upload spent checking one frame.
func BenchmarkDecodeFrame(b *testing.B) {
	frame := cameraFrame(b)
	for b.Loop() {
		if _, err := imagein.Decode(frame, imagein.Limits{MaxBytes: 300 << 10, MaxPixels: 4_000_000}); err != nil {
			b.Fatal(err)
		}
	}
}
