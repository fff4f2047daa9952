package web

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, target string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestHandler(t *testing.T) {
	t.Parallel()
	h := Handler()
	cases := []struct {
		name, method, path string
		status             int
		contentType        string
		header             map[string]string // headers that must have these values
		body               string            // the body must contain this
	}{
		{name: "SDK", method: "GET", path: "/sdk/everify-capture.js", status: 200, contentType: "text/javascript",
			header: map[string]string{"Access-Control-Allow-Origin": "*", "X-Content-Type-Options": "nosniff"},
			body:   "export function createCapture"},
		{name: "Stylesheet", method: "GET", path: "/sdk/everify-capture.css", status: 200, contentType: "text/css",
			body: ".ev-oval"},
		{name: "DemoPage", method: "GET", path: "/demo/", status: 200, contentType: "text/html",
			header: map[string]string{"Content-Security-Policy": demoCSP, "Permissions-Policy": "camera=(self), microphone=(), geolocation=()"},
			body:   "Start liveness check"},
		{name: "DemoScript", method: "GET", path: "/demo/demo.js", status: 200, contentType: "text/javascript"},
		{name: "Head", method: "HEAD", path: "/sdk/everify-capture.js", status: 200, contentType: "text/javascript"},
		{name: "DemoWithoutSlash", method: "GET", path: "/demo", status: http.StatusMovedPermanently},
		{name: "NoListing", method: "GET", path: "/sdk/", status: 404},
		{name: "Missing", method: "GET", path: "/sdk/nothing.js", status: 404},
		{name: "OutsideTheTree", method: "GET", path: "/web.go", status: 404},
		{name: "Post", method: "POST", path: "/sdk/everify-capture.js", status: 405, header: map[string]string{"Allow": "GET, HEAD"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := get(t, h, tc.method, tc.path, nil)
			if w.Code != tc.status {
				t.Fatalf("%s %s: status %d, want %d (body %q)", tc.method, tc.path, w.Code, tc.status, w.Body.String())
			}
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, tc.contentType) {
				t.Errorf("Content-Type %q, want %q…", ct, tc.contentType)
			}
			for k, v := range tc.header {
				if got := w.Header().Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if !strings.Contains(w.Body.String(), tc.body) {
				t.Errorf("body does not contain %q", tc.body)
			}
		})
	}
}

func TestHandlerRevalidates(t *testing.T) {
	t.Parallel()
	h := Handler()
	first := get(t, h, "GET", "/sdk/everify-capture.js", nil)
	tag := first.Header().Get("ETag")
	if tag == "" || first.Header().Get("Cache-Control") != "no-cache" {
		t.Fatalf("ETag %q, Cache-Control %q: want a tag and no-cache", tag, first.Header().Get("Cache-Control"))
	}
	again := get(t, h, "GET", "/sdk/everify-capture.js", http.Header{"If-None-Match": {tag}})
	if again.Code != http.StatusNotModified || again.Body.Len() != 0 {
		t.Errorf("with the same ETag: status %d, %d bytes; want 304 and no body", again.Code, again.Body.Len())
	}
	stale := get(t, h, "GET", "/sdk/everify-capture.js", http.Header{"If-None-Match": {`"stale"`}})
	if stale.Code != http.StatusOK || stale.Body.Len() != first.Body.Len() {
		t.Errorf("with another ETag: status %d, %d bytes; want 200 and the file", stale.Code, stale.Body.Len())
	}
	if other := get(t, h, "GET", "/demo/demo.js", nil).Header().Get("ETag"); other == tag {
		t.Errorf("two different files share the ETag %s", tag)
	}
}

// TestDemoLinksResolve checks that every file the demo page and its scripts
// load (src, href and import specifiers, relative or absolute) is embedded.
func TestDemoLinksResolve(t *testing.T) {
	t.Parallel()
	refs := regexp.MustCompile(`(?m)(?:src|href)="([^"#?]+)"|^import [^\n]*from '([^']+)'|new URL\('([^']+)', import\.meta\.url\)`)
	checked := 0
	err := fs.WalkDir(FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(name, ".html") || strings.HasSuffix(name, ".js")) {
			return err
		}
		b, err := fs.ReadFile(FS(), name)
		if err != nil {
			return err
		}
		for _, m := range refs.FindAllStringSubmatch(string(b), -1) {
			ref := m[1] + m[2] + m[3]
			if strings.HasPrefix(ref, "data:") {
				continue
			}
			if strings.Contains(ref, "://") {
				t.Errorf("%s loads %s from another site; everything must be served by everify", name, ref)
				continue
			}
			target := path.Join(path.Dir(name), ref)
			if strings.HasPrefix(ref, "/") {
				target = strings.TrimPrefix(ref, "/")
			}
			if _, err := fs.Stat(FS(), target); err != nil {
				t.Errorf("%s refers to %s, which is not embedded (%v)", name, ref, err)
			}
			checked++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 4 {
		t.Errorf("found only %d references; the pattern no longer matches the files", checked)
	}
}
