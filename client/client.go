// Package client is a small Go client for the everify API: liveness
// sessions and face match. It uses only the standard library; its wire
// types are the ones the server itself encodes.
//
//	c := client.New("http://127.0.0.1:8080", os.Getenv("EVERIFY_API_KEY"))
//	s, err := c.StartLiveness(ctx, &client.StartLivenessRequest{ClientSessionToken: "order-1234"})
//
// Errors answered by the server are *APIError values carrying the stable
// error code.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client calls one everify server with one API key. It is safe for
// concurrent use.
type Client struct {
	baseURL string
	apiKey  string
	// HTTPClient sends the requests; http.DefaultClient if nil.
	HTTPClient *http.Client
}

// New returns a client for the server at baseURL (for example
// "https://everify.example.com") that authenticates with apiKey.
func New(baseURL, apiKey string) *Client {
	return &Client{baseURL: strings.TrimRight(baseURL, "/"), apiKey: apiKey}
}

// APIError is an error response from the server.
type APIError struct {
	StatusCode int
	RequestID  string
	// Code is the stable error code (for example "revoked_api_key"); empty
	// when the response was not an everify error envelope.
	Code    string
	Message string
	Field   string
	// RetryAfter is how long the server asked the client to wait, if it did.
	RetryAfter time.Duration
}

// Error implements error.
func (e *APIError) Error() string {
	s := fmt.Sprintf("everify: %d", e.StatusCode)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RequestID != "" {
		s += " (request " + e.RequestID + ")"
	}
	return s
}

// StartLiveness starts a liveness session, or returns the open session
// already started with the same client_session_token.
func (c *Client) StartLiveness(ctx context.Context, req *StartLivenessRequest) (*StartLivenessResponse, error) {
	var out StartLivenessResponse
	if err := c.do(ctx, http.MethodPost, "/v1/biometrics/liveness/start", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// LivenessResults returns a session's status and, once completed, its result.
func (c *Client) LivenessResults(ctx context.Context, sessionID string) (*LivenessResultsResponse, error) {
	var out LivenessResultsResponse
	if err := c.do(ctx, http.MethodGet, "/v1/biometrics/liveness/"+url.PathEscape(sessionID)+"/results", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteBiometrics erases a session's biometric data (frames, reference
// face); its decision stays. Deleting again is not an error.
func (c *Client) DeleteBiometrics(ctx context.Context, sessionID string) (*DeleteBiometricsResponse, error) {
	var out DeleteBiometricsResponse
	if err := c.do(ctx, http.MethodDelete, "/v1/biometrics/liveness/"+url.PathEscape(sessionID), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// FaceMatch compares the faces of two images.
func (c *Client) FaceMatch(ctx context.Context, req *FaceMatchRequest) (*FaceMatchResponse, error) {
	var out FaceMatchResponse
	if err := c.do(ctx, http.MethodPost, "/v1/biometrics/face-match", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// do sends one request and decodes a 2xx JSON answer into out, or returns
// an *APIError.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("everify: encoding request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.baseURL+path, body)
	if err != nil {
		return fmt.Errorf("everify: %w", err)
	}
	req.Header.Set("X-API-Key", c.apiKey)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("everify: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("everify: reading response to %s %s: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return apiError(resp, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("everify: decoding response to %s %s: %w", method, path, err)
	}
	return nil
}

// apiError builds the *APIError of a non-2xx response.
func apiError(resp *http.Response, data []byte) *APIError {
	e := &APIError{StatusCode: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id")}
	var env ErrorResponse
	if json.Unmarshal(data, &env) == nil && env.Error.Code != "" {
		e.RequestID = env.RequestID
		e.Code = env.Error.Code
		e.Message = env.Error.Message
		e.Field = env.Error.Field
	} else {
		e.Message = http.StatusText(resp.StatusCode)
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}
