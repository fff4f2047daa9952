package api_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/everify/everify/docs"
)

func TestHealthAndIndex(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, path := range []string{"/healthz", "/readyz", "/"} {
		r := h.do(request{method: "GET", path: path})
		if r.status != 200 || r.header.Get("Content-Type") != "application/json" || r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: %d %v %s", path, r.status, r.header, r.body)
		}
	}
	// HEAD answers like GET, without a body.
	r := h.do(request{method: "HEAD", path: "/healthz"})
	if r.status != 200 || len(r.body) != 0 {
		t.Errorf("HEAD /healthz: %d, %d body bytes", r.status, len(r.body))
	}
}

func TestRequestIDsAreUnique(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seen := map[string]bool{}
	for range 50 {
		id := h.do(request{method: "GET", path: "/healthz"}).header.Get("X-Request-Id")
		if seen[id] {
			t.Fatalf("request id %s repeated", id)
		}
		seen[id] = true
	}
}

func TestOpenAPIAndDocsServed(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.do(request{method: "GET", path: "/openapi.yaml"})
	if r.status != 200 || !bytes.Equal(r.body, docs.OpenAPI) || r.header.Get("Content-Type") != "application/yaml" {
		t.Errorf("/openapi.yaml: %d, %s, %d bytes (file has %d)", r.status, r.header.Get("Content-Type"), len(r.body), len(docs.OpenAPI))
	}
	r = h.do(request{method: "GET", path: "/docs"})
	page := string(r.body)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("/docs: %d %s", r.status, r.header.Get("Content-Type"))
	}
	for _, want := range []string{
		"/v1/biometrics/liveness/start", "/v1/biometrics/liveness/{session_id}/results", "/v1/biometrics/face-match",
		"client_session_token", "challenge_details.challenge_type", "result.liveness_score", "result.match_score",
		"face_match_engine_unavailable", "revoked_api_key", "X-API-Key",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("/docs does not mention %q", want)
		}
	}
	for _, external := range []string{"<script", `src="http`, `href="http`, "@import"} {
		if strings.Contains(page, external) {
			t.Errorf("/docs loads scripts or outside assets (%s)", external)
		}
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	key := h.key("acme")
	h.startOK(key, "metrics-1")
	h.startOK(key, "metrics-2")
	h.do(request{method: "GET", path: "/v1/biometrics/liveness/nope/results", key: key})
	h.do(request{method: "GET", path: "/no/such/route"})

	r := h.do(request{method: "GET", path: "/metrics"})
	if r.status != 200 {
		t.Fatalf("/metrics: %d", r.status)
	}
	text := string(r.body)
	count := func(route, code string) int {
		re := regexp.MustCompile(`everify_http_requests_total\{code="` + code + `",route="` + regexp.QuoteMeta(route) + `"\} (\d+)`)
		m := re.FindStringSubmatch(text)
		if m == nil {
			return 0
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	for _, tc := range []struct {
		route, code string
		want        int
	}{
		{"POST /v1/biometrics/liveness/start", "200", 2},
		{"GET /v1/biometrics/liveness/{session_id}/results", "404", 1},
		{"unmatched", "404", 1},
	} {
		if got := count(tc.route, tc.code); got != tc.want {
			t.Errorf("requests_total{route=%q,code=%s} = %d, want %d", tc.route, tc.code, got, tc.want)
		}
	}
	for _, want := range []string{
		`everify_http_request_duration_seconds_bucket{code="200",route="POST /v1/biometrics/liveness/start",le="0.001"}`,
		`everify_http_request_duration_seconds_count{code="200",route="POST /v1/biometrics/liveness/start"} 2`,
		"everify_http_requests_in_flight 1", // the /metrics request itself
		"go_goroutines", "process_cpu_seconds_total",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestAccessLog checks the JSON log lines: one per request, with the
// request id, route, status and key id, and never a secret or image data.
func TestAccessLog(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	key := h.key("acme")
	_, sessionToken := h.startOK(key, "log-1")
	img := base64.StdEncoding.EncodeToString(pngImage(t, 24, 24))
	fm := h.do(request{method: "POST", path: faceMatchPath + "?api_key=" + key, key: key, body: map[string]any{"source_image_base64": img, "target_image_base64": img}})
	wantError(t, fm, 503, "face_match_engine_unavailable")
	h.do(request{method: "GET", path: "/healthz"})

	logs := h.logs.String()
	for _, secret := range []string{key, key[len("ev_test_"):], sessionToken, img[:40]} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains a secret or image data (%q…)", secret[:12])
		}
	}
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, sc.Text())
		}
		if m["msg"] == "request" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 3 {
		t.Fatalf("%d access log lines, want 3:\n%s", len(lines), logs)
	}
	fmLine := lines[1]
	want := map[string]any{
		"request_id": fm.header.Get("X-Request-Id"), "method": "POST", "route": "POST /v1/biometrics/face-match",
		"path": faceMatchPath, "status": float64(503), "key_id": h.keyID(key), "tenant": "acme", "error_code": "face_match_engine_unavailable",
	}
	for k, v := range want {
		if fmLine[k] != v {
			t.Errorf("log field %s = %v, want %v", k, fmLine[k], v)
		}
	}
	if _, ok := fmLine["duration_ms"].(float64); !ok {
		t.Errorf("log line lacks duration_ms: %v", fmLine)
	}
	if _, ok := lines[2]["key_id"]; ok || lines[2]["route"] != "GET /healthz" {
		t.Errorf("healthz line: %v", lines[2])
	}
}
