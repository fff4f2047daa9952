package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/everify/everify/client"
	"github.com/everify/everify/internal/biometric"
)

// fuzzBodyLimit is the body limit the decoder fuzz targets read under:
// small, so that the fuzzer reaches the 413 path.
const fuzzBodyLimit = 4 << 10

// stableCode is the shape of every error code a client may branch on.
var stableCode = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// checkClientError fails t unless err is a *biometric.Error of one of the
// kinds allowed, mapped to a 4xx status, with a stable code and a message.
func checkClientError(t *testing.T, err error, kinds ...biometric.Kind) *biometric.Error {
	t.Helper()
	var e *biometric.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *biometric.Error", err, err)
	}
	if status := statusOf(e.Kind); status < 400 || status > 499 {
		t.Fatalf("error %v has kind %s, status %d: want a 4xx", err, e.Kind, status)
	}
	if len(kinds) > 0 && !containsKind(kinds, e.Kind) {
		t.Fatalf("error %v has kind %s, want one of %v", err, e.Kind, kinds)
	}
	if !stableCode.MatchString(e.Code) {
		t.Fatalf("error %v has code %q, not a snake_case code", err, e.Code)
	}
	if e.Message == "" || !utf8.ValidString(e.Message) || !utf8.ValidString(e.Field) {
		t.Fatalf("error with code %s has an empty or invalid message %q (field %q)", e.Code, e.Message, e.Field)
	}
	return e
}

func containsKind(kinds []biometric.Kind, k biometric.Kind) bool {
	for _, x := range kinds {
		if x == k {
			return true
		}
	}
	return false
}

// fuzzDecode sends body with contentType through decodeJSON into a T, as a
// route with a body limit of fuzzBodyLimit would. It checks that a refusal
// is a client error that fits the input, and that an accepted value
// encodes back to JSON that decodes to the same value. It returns the
// value, or nil when the body was refused.
func fuzzDecode[T any](t *testing.T, contentType string, body []byte) *T {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	r.Header.Del("Content-Type")
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	r.Body = http.MaxBytesReader(nil, r.Body, fuzzBodyLimit)
	var v T
	if err := decodeJSON(r, &v); err != nil {
		e := checkClientError(t, err, biometric.KindInvalid, biometric.KindTooLarge, biometric.KindUnsupportedMedia)
		switch {
		case e.Kind == biometric.KindUnsupportedMedia && contentType == "application/json":
			t.Fatalf("a body sent as application/json was refused as unsupported media: %v", err)
		case e.Kind == biometric.KindTooLarge && len(body) <= fuzzBodyLimit:
			t.Fatalf("a body of %d bytes was refused as too large (limit %d): %v", len(body), fuzzBodyLimit, err)
		}
		return nil
	}
	if len(body) > fuzzBodyLimit {
		t.Fatalf("a body of %d bytes was accepted under a limit of %d", len(body), fuzzBodyLimit)
	}
	data, err := json.Marshal(&v)
	if err != nil {
		t.Fatalf("encoding the accepted %T %+v: %v", v, v, err)
	}
	var again T
	if err := decodeStrict(bytes.NewReader(data), &again); err != nil {
		t.Fatalf("the accepted value re-encoded as %s is refused: %v", data, err)
	}
	if diff := cmp.Diff(v, again, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("the accepted value changed in a round trip through %s (-first +again):\n%s", data, diff)
	}
	return &v
}

// addDecodeSeeds adds the seeds every decoder target shares: the ways a
// body is refused before its fields matter.
func addDecodeSeeds(f *testing.F) {
	f.Add("application/json", []byte(``))
	f.Add("application/json", []byte(`[]`))
	f.Add("application/json", []byte(`null`))
	f.Add("application/json", []byte(`{"a":1}`))
	f.Add("application/json", []byte(`{} {}`))
	f.Add("application/json", []byte(`{"x`))
	f.Add("application/json; charset=latin-1", []byte(`{}`))
	f.Add("application/json; charset=UTF-8", []byte(`{}`))
	f.Add("text/plain", []byte(`{}`))
	f.Add("application/json", append([]byte(`{}`), bytes.Repeat([]byte(" "), fuzzBodyLimit)...))
}

// FuzzDecodeStartLiveness fuzzes the liveness/start body: the strict
// decoder, then the request's validation.
func FuzzDecodeStartLiveness(f *testing.F) {
	addDecodeSeeds(f)
	f.Add("application/json", []byte(`{"client_session_token":"order-1234"}`))
	f.Add("application/json", []byte(`{"client_session_token":"c:1","challenge_types":["blink","turn_left"],"metadata":{"ref":"x"},"consent_reference":"consent/7","device_id":"dev-1"}`))
	f.Add("application/json", []byte(`{"client_session_token":"c","challenge_types":[]}`))
	f.Add("application/json", []byte(`{"client_session_token":"c","challenge_types":["blink","blink"]}`))
	f.Add("application/json", []byte(`{"client_session_token":"c","metadata":{"":"v"}}`))
	f.Add("application/json", []byte(`{"client_session_token":"c","consent_reference":"\u0007"}`))
	f.Add("application/json", []byte(`{"client_session_token":17}`))
	f.Add("application/json", []byte(`{"CLIENT_SESSION_TOKEN":"case"}`))
	f.Add("application/json", []byte(`{"client_session_token":"\ud800"}`))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		req := fuzzDecode[client.StartLivenessRequest](t, contentType, body)
		if req == nil {
			return
		}
		requested, err := checkStartRequest(req)
		if err != nil {
			checkClientError(t, err, biometric.KindInvalid)
			return
		}
		if !identifier(req.ClientSessionToken, maxClientSessionToken) || len(requested) != len(req.ChallengeTypes) {
			t.Fatalf("accepted %+v as challenges %v", req, requested)
		}
	})
}

// FuzzDecodeFaceMatch fuzzes the face-match body: the strict decoder, then
// the threshold and image-source checks that run before any image is
// loaded.
func FuzzDecodeFaceMatch(f *testing.F) {
	addDecodeSeeds(f)
	f.Add("application/json", []byte(`{"source_image_url":"https://example.com/a.jpg","target_image_url":"https://example.com/b.jpg"}`))
	f.Add("application/json", []byte(`{"source_image_base64":"data:image/png;base64,iVBORw0KGgo=","target_image_url":"http://10.0.0.1/b.png","threshold":92.5}`))
	f.Add("application/json", []byte(`{"source_session_id":"liveness_session_abc","target_image_base64":"/9j/4AAQ","threshold":0}`))
	f.Add("application/json", []byte(`{"source_image_url":"ftp://x","source_image_base64":"AA==","target_image_url":"//host/p"}`))
	f.Add("application/json", []byte(`{"source_image_url":"a","target_image_url":"b","threshold":1e400}`))
	f.Add("application/json", []byte(`{"source_image_url":"a","target_image_url":"b","threshold":"80"}`))
	f.Add("application/json", []byte(`{"threshold":-0}`))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		req := fuzzDecode[client.FaceMatchRequest](t, contentType, body)
		if req == nil {
			return
		}
		if th := req.Threshold; th != nil && (*th < 0 || *th > 100) {
			return // refused with invalid_threshold before the sources are looked at
		}
		source, target, err := imageSources(req)
		if err != nil {
			checkClientError(t, err, biometric.KindInvalid)
			return
		}
		if target.Field == "" || (source.Field == "" && req.SourceSessionID == "") {
			t.Fatalf("accepted %+v with sources %+v and %+v", req, source, target)
		}
	})
}

// FuzzDecodeCompleteCapture fuzzes the …/complete body: the strict
// decoder, then the prompt and client checks against a two-step challenge.
func FuzzDecodeCompleteCapture(f *testing.F) {
	addDecodeSeeds(f)
	f.Add("application/json", []byte(`{"frame_count":45}`))
	f.Add("application/json", []byte(`{"frame_count":45,"prompts":[{"step":0,"shown_at_ms":0},{"step":1,"shown_at_ms":5000}],"client":{"sdk":"everify-web/1","ua":"Mozilla/5.0"}}`))
	f.Add("application/json", []byte(`{"frame_count":1,"prompts":[{"step":1,"shown_at_ms":10},{"step":1,"shown_at_ms":20}]}`))
	f.Add("application/json", []byte(`{"frame_count":1,"prompts":[{"step":-1,"shown_at_ms":-5}]}`))
	f.Add("application/json", []byte(`{"frame_count":1,"client":{"":""}}`))
	f.Add("application/json", []byte(`{"frame_count":9223372036854775808}`))
	f.Add("application/json", []byte(`{"frame_count":1.5}`))
	const steps, endMS = 2, 20_066
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		req := fuzzDecode[client.CompleteCaptureRequest](t, contentType, body)
		if req == nil {
			return
		}
		prompts, err := checkPrompts(req.Prompts, steps, endMS)
		if err != nil {
			checkClientError(t, err, biometric.KindInvalid)
			return
		}
		if len(req.Prompts) > 0 && len(prompts) != steps {
			t.Fatalf("prompts %v accepted as %v", req.Prompts, prompts)
		}
		for _, at := range prompts {
			if at < 0 || at > endMS {
				t.Fatalf("prompt time %d ms accepted outside 0-%d ms", at, endMS)
			}
		}
		if err := checkClientInfo(req.Client); err != nil {
			checkClientError(t, err, biometric.KindInvalid)
		}
	})
}
