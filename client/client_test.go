package client_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"image"
	"image/png"
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

// server starts a real API server over a real SQLite store and returns its
// URL, the store and a fresh API key.
func server(t *testing.T, cfg api.Config) (string, *store.DB, string) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir(), store.Options{Sealer: seal.NewSealer(seal.NewKeyring())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	images, err := imagein.NewFetcher(imagein.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store, cfg.Images = st, images
	srv, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	secret, k, err := auth.NewKey("acme", biometric.KeyModeTest, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	return ts.URL, st, secret
}

func TestClientAgainstServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, st, key := server(t, api.Config{})
	c := client.New(url+"/", key)

	started, err := c.StartLiveness(ctx, &client.StartLivenessRequest{ClientSessionToken: "client-1", ChallengeTypes: []string{"smile"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(started.RequestID, "req_") || started.ChallengeDetails.ChallengeType != "smile" ||
		!strings.HasPrefix(started.SessionToken, "evst_") || started.Status != "created" {
		t.Errorf("StartLiveness = %+v", started)
	}
	res, err := c.LivenessResults(ctx, started.SessionID)
	if err != nil || res.SessionID != started.SessionID || res.Status != "created" || res.Result != nil {
		t.Errorf("LivenessResults = %+v, %v", res, err)
	}

	// Errors come back as *APIError with the server's code.
	_, err = c.LivenessResults(ctx, "liveness_session_unknown")
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "session_not_found" || !strings.HasPrefix(apiErr.RequestID, "req_") {
		t.Errorf("unknown session: %v", err)
	}

	var buf bytes.Buffer
	png.Encode(&buf, image.NewGray(image.Rect(0, 0, 8, 8)))
	img := base64.StdEncoding.EncodeToString(buf.Bytes())
	threshold := 85.0
	_, err = c.FaceMatch(ctx, &client.FaceMatchRequest{SourceImageBase64: img, TargetImageBase64: img, Threshold: &threshold})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 503 || apiErr.Code != "face_match_engine_unavailable" {
		t.Errorf("FaceMatch without engine: %v", err)
	}
	bad := 101.0
	_, err = c.FaceMatch(ctx, &client.FaceMatchRequest{SourceImageBase64: img, TargetImageBase64: img, Threshold: &bad})
	if !errors.As(err, &apiErr) || apiErr.Code != "invalid_threshold" || apiErr.Field != "threshold" {
		t.Errorf("FaceMatch with threshold 101: %v", err)
	}

	// A revoked key.
	k, err := st.KeyByHash(ctx, auth.Hash(key))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RevokeKey(ctx, k.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	_, err = c.StartLiveness(ctx, &client.StartLivenessRequest{ClientSessionToken: "client-2"})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 || apiErr.Code != "revoked_api_key" {
		t.Errorf("revoked key: %v", err)
	}
	if !strings.Contains(err.Error(), "revoked_api_key") || !strings.Contains(err.Error(), apiErr.RequestID) {
		t.Errorf("APIError text %q should name the code and the request", err)
	}
}

func TestClientRetryAfter(t *testing.T) {
	t.Parallel()
	url, _, key := server(t, api.Config{RateLimit: api.RateLimit{PerSecond: 0.25, Burst: 1}})
	c := client.New(url, key)
	ctx := context.Background()
	if _, err := c.StartLiveness(ctx, &client.StartLivenessRequest{ClientSessionToken: "rl-1"}); err != nil {
		t.Fatal(err)
	}
	_, err := c.StartLiveness(ctx, &client.StartLivenessRequest{ClientSessionToken: "rl-2"})
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Code != "rate_limited" || apiErr.RetryAfter < 3*time.Second || apiErr.RetryAfter > 4*time.Second {
		t.Errorf("over the limit: %#v", err)
	}
}

// TestClientNonEnvelopeError: an answer that is not an everify envelope
// (a proxy's HTML page) still becomes an *APIError.
func TestClientNonEnvelopeError(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-API-Key") != "ev_test_k" {
			t.Errorf("X-API-Key header = %q", r.Header.Get("X-API-Key"))
		}
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		w.Write([]byte("<html>bad gateway</html>"))
	}))
	defer ts.Close()
	_, err := client.New(ts.URL, "ev_test_k").LivenessResults(context.Background(), "x")
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 502 || apiErr.Code != "" || apiErr.Message != "Bad Gateway" {
		t.Errorf("non-envelope error: %#v", err)
	}
}
