package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/everify/everify/docs"
)

// spec is docs/openapi.yaml, loaded and validated once.
var spec = sync.OnceValues(func() (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(docs.OpenAPI)
	if err != nil {
		return nil, err
	}
	return doc, doc.Validate(context.Background())
})

// errorCodes returns the x-error-codes catalogue: code → status.
func errorCodes(t *testing.T, doc *openapi3.T) map[string]int {
	t.Helper()
	raw, err := json.Marshal(doc.Extensions["x-error-codes"])
	if err != nil {
		t.Fatal(err)
	}
	var list []struct {
		Code   string `json:"code"`
		Status int    `json:"status"`
	}
	if err := json.Unmarshal(raw, &list); err != nil || len(list) == 0 {
		t.Fatalf("openapi.yaml x-error-codes: %v (%d entries)", err, len(list))
	}
	codes := map[string]int{}
	for _, c := range list {
		if _, dup := codes[c.Code]; dup {
			t.Errorf("x-error-codes lists %q twice", c.Code)
		}
		codes[c.Code] = c.Status
	}
	return codes
}

var requestIDPattern = regexp.MustCompile(`^req_[0-9A-Za-z]{24}$`)

// contractTransport checks every response a test receives against
// docs/openapi.yaml: the route and status must be documented, the body must
// match the documented schema, every JSON body must carry the request_id
// of the X-Request-Id header, and every error code must be in the
// x-error-codes catalogue with the status it was sent with.
type contractTransport struct {
	errorf func(format string, args ...any)
	base   http.RoundTripper
	doc    *openapi3.T
	router routers.Router
	codes  map[string]int
}

func newContractTransport(t *testing.T, base http.RoundTripper) *contractTransport {
	t.Helper()
	doc, err := spec()
	if err != nil {
		t.Fatalf("docs/openapi.yaml: %v", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &contractTransport{errorf: t.Errorf, base: base, doc: doc, router: router, codes: errorCodes(t, doc)}
}

func (c *contractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	c.check(req, resp, body)
	return resp, nil
}

func (c *contractTransport) check(req *http.Request, resp *http.Response, body []byte) {
	where := req.Method + " " + req.URL.Path
	id := resp.Header.Get("X-Request-Id")
	if !requestIDPattern.MatchString(id) {
		c.errorf("%s: X-Request-Id = %q, want req_ + 24 characters", where, id)
	}
	if req.Method == http.MethodHead {
		return
	}
	if resp.Header.Get("Content-Type") == "application/json" {
		var env struct {
			RequestID string  `json:"request_id"`
			Message   *string `json:"message"`
			Error     *struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		if err := json.Unmarshal(body, &env); err != nil {
			c.errorf("%s: JSON body does not decode: %v", where, err)
			return
		}
		if env.RequestID != id || env.Message == nil || *env.Message == "" {
			c.errorf("%s: body request_id %q (header %q) and message %v: every JSON response needs both", where, env.RequestID, id, env.Message)
		}
		if env.Error != nil {
			if want, ok := c.codes[env.Error.Code]; !ok {
				c.errorf("%s: error code %q is not in openapi.yaml x-error-codes", where, env.Error.Code)
			} else if want != resp.StatusCode {
				c.errorf("%s: error code %q sent with %d; x-error-codes says %d", where, env.Error.Code, resp.StatusCode, want)
			}
		}
	}

	route, params, err := c.router.FindRoute(req)
	if errors.Is(err, routers.ErrPathNotFound) || errors.Is(err, routers.ErrMethodNotAllowed) {
		// Unknown paths and methods answer with the error envelope.
		want := http.StatusNotFound
		if errors.Is(err, routers.ErrMethodNotAllowed) {
			want = http.StatusMethodNotAllowed
		}
		if resp.StatusCode != want {
			c.errorf("%s is not in openapi.yaml, and answered %d instead of %d", where, resp.StatusCode, want)
		}
		c.checkSchema(where, "ErrorResponse", body)
		return
	}
	if err != nil {
		c.errorf("%s: finding the route in openapi.yaml: %v", where, err)
		return
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts},
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Options:                opts,
	}
	input.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
		c.errorf("%s answered %d, which does not match openapi.yaml: %v\n%s", where, resp.StatusCode, err, body)
	}
}

// checkSchema validates a JSON body against a named component schema.
func (c *contractTransport) checkSchema(where, name string, body []byte) {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		c.errorf("%s: body is not JSON: %v", where, err)
		return
	}
	if err := c.doc.Components.Schemas[name].Value.VisitJSON(v); err != nil {
		c.errorf("%s: body does not match %s: %v\n%s", where, name, err, body)
	}
}

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestContractCheckerCatchesMismatches feeds the checker responses that
// break the contract in different ways, so that a checker that silently
// accepts everything cannot pass for a working one.
func TestContractCheckerCatchesMismatches(t *testing.T) {
	t.Parallel()
	const id = "req_abcdefghijklmnopqrstuvwx"
	for _, tc := range []struct {
		name, method, path string
		status             int
		body               string
	}{
		{"missing field", "GET", "/healthz", 200, `{"request_id":"` + id + `","message":"ok"}`},
		{"extra field", "GET", "/healthz", 200, `{"request_id":"` + id + `","message":"ok","status":"ok","debug":1}`},
		{"undocumented status", "GET", "/healthz", 418, `{"request_id":"` + id + `","message":"x","error":{"code":"internal_error","message":"x"}}`},
		{"unknown error code", "POST", "/v1/biometrics/face-match", 400, `{"request_id":"` + id + `","message":"x","error":{"code":"made_up","message":"x"}}`},
		{"code with wrong status", "POST", "/v1/biometrics/face-match", 400, `{"request_id":"` + id + `","message":"x","error":{"code":"revoked_api_key","message":"x"}}`},
		{"request id mismatch", "GET", "/healthz", 200, `{"request_id":"req_000000000000000000000000","message":"ok","status":"ok"}`},
		{"unknown path not 404", "GET", "/nope", 200, `{"request_id":"` + id + `","message":"ok","status":"ok"}`},
		{"wrong score range", "POST", "/v1/biometrics/face-match", 200, `{"request_id":"` + id + `","message":"m","status":"completed","result":{"match_score":120,"is_match":true,"confidence":1,"threshold":80,"source_faces_found":1,"target_faces_found":1}}`},
	} {
		var reported []string
		ct := newContractTransport(t, roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: tc.status, Request: r, Body: io.NopCloser(bytes.NewReader([]byte(tc.body))),
				Header: http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {id}}}, nil
		}))
		ct.errorf = func(format string, args ...any) { reported = append(reported, format) }
		req, _ := http.NewRequest(tc.method, "http://127.0.0.1:1"+tc.path, nil)
		if _, err := ct.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
		if len(reported) == 0 {
			t.Errorf("%s: the contract checker accepted a response that breaks the contract", tc.name)
		}
	}
	// And it accepts a conforming one.
	var reported []string
	ct := newContractTransport(t, roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Request: r, Body: io.NopCloser(bytes.NewReader([]byte(`{"request_id":"` + id + `","message":"ok","status":"ok"}`))),
			Header: http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {id}}}, nil
	}))
	ct.errorf = func(format string, args ...any) { reported = append(reported, format) }
	req, _ := http.NewRequest("GET", "http://127.0.0.1:1/healthz", nil)
	ct.RoundTrip(req)
	if len(reported) > 0 {
		t.Errorf("the contract checker rejected a conforming response: %v", reported)
	}
}
