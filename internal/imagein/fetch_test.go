package imagein

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/everify/everify/internal/biometric"
)

// imageServer is a test HTTP server that counts the requests it serves, so
// that a test can prove a refused fetch never reached it.
type imageServer struct {
	*httptest.Server
	hits atomic.Int64
	port string
}

// serve starts an imageServer on addr ("127.0.0.1:0", "[::1]:0"); it
// returns nil when this machine cannot listen there.
func serve(t *testing.T, addr string, h http.Handler) *imageServer {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Logf("cannot listen on %s (%v): its live-server checks are left out", addr, err)
		return nil
	}
	s := &imageServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h.ServeHTTP(w, r)
	}))
	s.Listener.Close()
	s.Listener = l
	s.Start()
	t.Cleanup(s.Close)
	_, s.port, _ = net.SplitHostPort(l.Addr().String())
	return s
}

// serveJPEG serves a small test JPEG at every path.
func serveJPEG(t *testing.T, addr string) *imageServer {
	jpg := encodeJPEG(t, pattern(48, 32))
	return serve(t, addr, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "image/jpeg")
		_, _ = w.Write(jpg)
	}))
}

// redirector answers /to?u=URL with a 302 to URL and /hops/N with a chain
// of N redirects ending in a JPEG.
func redirector(t *testing.T) *imageServer {
	jpg := encodeJPEG(t, pattern(48, 32))
	return serve(t, "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/to" {
			http.Redirect(w, r, r.URL.Query().Get("u"), http.StatusFound)
			return
		}
		var n int
		if _, err := fmt.Sscanf(r.URL.Path, "/hops/%d", &n); err == nil && n > 0 {
			http.Redirect(w, r, fmt.Sprintf("/hops/%d", n-1), http.StatusMovedPermanently)
			return
		}
		_, _ = w.Write(jpg)
	}))
}

func newFetcher(t *testing.T, opts Options) *Fetcher {
	t.Helper()
	f, err := NewFetcher(opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// mapResolver resolves names from a fixed table.
type mapResolver map[string][]netip.Addr

func (m mapResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := m[strings.TrimSuffix(strings.ToLower(host), ".")]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func addrs(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, a := range s {
		out[i] = netip.MustParseAddr(a)
	}
	return out
}

// internalHints are fragments of internal addresses that a client-facing
// message must never echo.
var internalHints = []string{"127.", "10.0.", "169.254", "192.168", "172.16", "::1", "fd00", "fe80", "0.0.0.0"}

func wantBlocked(t *testing.T, err error) {
	t.Helper()
	e := wantErr(t, err, biometric.KindInvalid, "image_url_blocked")
	for _, h := range internalHints {
		if strings.Contains(e.Message, h) {
			t.Fatalf("message %q echoes an internal address", e.Message)
		}
	}
	if !strings.Contains(e.Message, "allowlist") {
		t.Fatalf("message %q should tell how an operator allows a host", e.Message)
	}
}

// TestFetchRefusesInternalDestinations fetches a table of hostile URLs with
// the default guard. Where a live test server sits at the destination, the
// same URL is then fetched with that destination allowlisted, which must
// succeed: the refusal came from the guard, not from an unreachable address.
func TestFetchRefusesInternalDestinations(t *testing.T) {
	t.Parallel()
	v4 := serveJPEG(t, "127.0.0.1:0")
	v4b := serveJPEG(t, "127.0.0.2:0")
	v6 := serveJPEG(t, "[::1]:0")
	port := func(s *imageServer) string {
		if s == nil {
			return "9" // nothing listens there; the guard must refuse it all the same
		}
		return s.port
	}
	p, p2, p6 := v4.port, port(v4b), port(v6)

	guarded := newFetcher(t, Options{})
	open := newFetcher(t, Options{Allow: []string{"127.0.0.0/8", "::1"}})

	for _, tc := range []struct {
		url  string
		code string
		live *imageServer // the server the URL reaches if the guard lets it through
	}{
		{"http://127.0.0.1:" + p + "/a.jpg", "image_url_blocked", v4},
		{"https://127.0.0.1:" + p + "/a.jpg", "image_url_blocked", nil},
		{"HTTP://127.0.0.1:" + p + "/a.jpg", "image_url_blocked", v4},
		{"http://localhost:" + p + "/a.jpg", "image_url_blocked", v4},
		{"http://127.0.0.2:" + p2 + "/", "image_url_blocked", v4b},
		{"http://[::1]:" + p6 + "/", "image_url_blocked", v6},
		{"http://[0:0:0:0:0:0:0:1]:" + p6 + "/", "image_url_blocked", v6},
		{"http://[::ffff:127.0.0.1]:" + p + "/", "image_url_blocked", v4},
		{"http://[::ffff:7f00:1]:" + p + "/", "image_url_blocked", v4},
		{"http://[0:0:0:0:0:ffff:127.0.0.1]:" + p + "/", "image_url_blocked", v4},
		{"http://[::127.0.0.1]:" + p + "/", "image_url_blocked", nil},     // IPv4-compatible
		{"http://[64:ff9b::7f00:1]:" + p + "/", "image_url_blocked", nil}, // NAT64 of loopback
		{"http://[64:ff9b::a9fe:a9fe]/", "image_url_blocked", nil},        // NAT64 of metadata
		{"http://[2002:7f00:1::1]:" + p + "/", "image_url_blocked", nil},  // 6to4 of loopback
		{"http://[64:ff9b:1::a00:1]/", "image_url_blocked", nil},          // local-use NAT64
		{"http://0.0.0.0:" + p + "/", "image_url_blocked", nil},           // reaches this host on Linux
		{"http://[::]:" + p + "/", "image_url_blocked", nil},              // likewise
		{"http://10.0.0.1/", "image_url_blocked", nil},                    // 10/8
		{"http://10.255.255.254/", "image_url_blocked", nil},              // 10/8
		{"http://172.16.0.1/", "image_url_blocked", nil},                  // 172.16/12
		{"http://172.31.255.254/", "image_url_blocked", nil},              // 172.16/12
		{"http://192.168.0.1/", "image_url_blocked", nil},                 // 192.168/16
		{"http://192.168.255.254/", "image_url_blocked", nil},             // 192.168/16
		{"http://100.64.0.1/", "image_url_blocked", nil},                  // CGNAT
		{"http://169.254.169.254/latest/meta-data/", "image_url_blocked", nil},
		{"http://169.254.170.2/v2/credentials", "image_url_blocked", nil}, // ECS task metadata
		{"http://[::ffff:169.254.169.254]/latest/meta-data/", "image_url_blocked", nil},
		{"http://[::ffff:a9fe:a9fe]/latest/meta-data/", "image_url_blocked", nil},
		{"http://[fd00:ec2::254]/latest/meta-data/", "image_url_blocked", nil}, // AWS IMDS over IPv6
		{"http://[fe80::1]/", "image_url_blocked", nil},
		{"http://[fc00::1]/", "image_url_blocked", nil},
		{"http://[fec0::1]/", "image_url_blocked", nil}, // site-local
		{"http://224.0.0.1/", "image_url_blocked", nil},
		{"http://[ff02::1]/", "image_url_blocked", nil},
		{"http://255.255.255.255/", "image_url_blocked", nil},
		{"http://240.0.0.1/", "image_url_blocked", nil},
		{"http://192.0.2.10/", "image_url_blocked", nil},
		{"http://198.18.0.1/", "image_url_blocked", nil},
		{"http://[2001:db8::1]/", "image_url_blocked", nil},
		{"http://[2001::1]/", "image_url_blocked", nil}, // Teredo
		// Numeric hosts in forms only inet_aton-style parsers understand.
		{"http://2130706433:" + p + "/", "image_url_invalid", v4},   // decimal 127.0.0.1
		{"http://0177.0.0.1:" + p + "/", "image_url_invalid", v4},   // octal
		{"http://0x7f.0.0.1:" + p + "/", "image_url_invalid", v4},   // hex
		{"http://0x7f000001:" + p + "/", "image_url_invalid", v4},   // hex, one part
		{"http://0x7f.1:" + p + "/", "image_url_invalid", v4},       // hex, two parts
		{"http://127.1:" + p + "/", "image_url_invalid", v4},        // shortened
		{"http://017700000001:" + p + "/", "image_url_invalid", v4}, // octal, one part
		{"http://127.0.0.1.:" + p + "/", "image_url_invalid", v4},   // trailing dot
		{"http://3232235521/", "image_url_invalid", nil},            // 192.168.0.1
		{"http://0251.0376.0251.0376/", "image_url_invalid", nil},   // 169.254.169.254
		{"http://[fe80::1%25eth0]/", "image_url_invalid", nil},      // zone
	} {
		t.Run(tc.url, func(t *testing.T) {
			before := int64(0)
			if tc.live != nil {
				before = tc.live.hits.Load()
			}
			_, err := guarded.Fetch(t.Context(), tc.url)
			if tc.code == "image_url_blocked" {
				wantBlocked(t, err)
			} else {
				wantErr(t, err, biometric.KindInvalid, tc.code)
			}
			if tc.live == nil {
				return
			}
			if n := tc.live.hits.Load() - before; n != 0 {
				t.Fatalf("the refused fetch reached the server (%d requests)", n)
			}
			if tc.code == "image_url_blocked" {
				// Control: with the destination allowed, the URL works.
				if _, err := open.Fetch(t.Context(), tc.url); err != nil {
					t.Fatalf("allowlisted fetch failed: %v", err)
				}
			}
		})
	}
}

// TestFetchAllowlist proves the guard is not simply closed: allowing
// exactly 127.0.0.1/32 opens that address and nothing next to it, and
// redirects from the allowed server to blocked addresses are refused.
func TestFetchAllowlist(t *testing.T) {
	t.Parallel()
	a := redirector(t)
	b := serveJPEG(t, "127.0.0.2:0")
	c := serveJPEG(t, "[::1]:0")
	f := newFetcher(t, Options{Allow: []string{"127.0.0.1/32"}})

	img, err := f.Load(t.Context(), Source{URL: a.URL + "/a.jpg"})
	if err != nil {
		t.Fatalf("allowlisted server: %v", err)
	}
	checkQuadrants(t, img.RGBA, 48, 32)

	targets := []string{
		"http://169.254.169.254/latest/meta-data/",
		"http://[fd00:ec2::254]/latest/meta-data/",
		"http://10.0.0.1/",
		"http://[::ffff:127.0.0.2]:9/",
	}
	var live []*imageServer
	for _, s := range []*imageServer{b, c} {
		if s != nil {
			targets = append(targets, s.URL+"/")
			live = append(live, s)
		}
	}
	for _, target := range targets {
		t.Run("redirect to "+target, func(t *testing.T) {
			_, err := f.Fetch(t.Context(), a.URL+"/to?u="+target)
			wantBlocked(t, err)
		})
	}
	for _, target := range []string{"http://2130706434/", "file:///etc/passwd", "gopher://127.0.0.1:70/"} {
		t.Run("redirect to "+target, func(t *testing.T) {
			_, err := f.Fetch(t.Context(), a.URL+"/to?u="+target)
			wantErr(t, err, biometric.KindInvalid, "image_url_invalid")
		})
	}
	for _, s := range live {
		if n := s.hits.Load(); n != 0 {
			t.Fatalf("a refused redirect reached %s (%d requests)", s.URL, n)
		}
	}
	// Control: allowing the targets too makes the same redirects work.
	wide := newFetcher(t, Options{Allow: []string{"127.0.0.0/8", "::1/128"}})
	for _, s := range live {
		if _, err := wide.Fetch(t.Context(), a.URL+"/to?u="+s.URL+"/"); err != nil {
			t.Fatalf("redirect to allowlisted %s: %v", s.URL, err)
		}
		if s.hits.Load() != 1 {
			t.Fatalf("%s served %d requests, want 1", s.URL, s.hits.Load())
		}
	}
}

// TestFetchResolvedNames covers names that resolve to internal addresses,
// and allowlisting by host name.
func TestFetchResolvedNames(t *testing.T) {
	t.Parallel()
	s := serveJPEG(t, "127.0.0.1:0")
	res := mapResolver{
		"images.example.test":   addrs("127.0.0.1"),
		"cdn.example.test":      addrs("127.0.0.1"),
		"example.test":          addrs("127.0.0.1"),
		"evil.example.net":      addrs("127.0.0.1"),
		"metadata.example.net":  addrs("169.254.169.254"),
		"mixed.example.net":     addrs("93.184.215.14", "127.0.0.1"),
		"v6.example.net":        addrs("::1"),
		"mapped.example.net":    addrs("::ffff:10.1.2.3"),
		"zero.images.test":      addrs("0.0.0.0"),
		"broadcast.images.test": addrs("255.255.255.255"),
	}
	url := func(host string) string { return "http://" + host + ":" + s.port + "/a.jpg" }

	guarded := newFetcher(t, Options{Resolver: res})
	for _, host := range []string{"images.example.test", "evil.example.net", "metadata.example.net", "mixed.example.net", "v6.example.net", "mapped.example.net"} {
		t.Run("default/"+host, func(t *testing.T) {
			_, err := guarded.Fetch(t.Context(), url(host))
			wantBlocked(t, err)
		})
	}
	if s.hits.Load() != 0 {
		t.Fatalf("refused fetches reached the server (%d requests)", s.hits.Load())
	}

	byName := newFetcher(t, Options{Resolver: res, Allow: []string{"images.example.test", "*.images.test", "*.example.test"}})
	for _, tc := range []struct {
		host    string
		allowed bool
	}{
		{"images.example.test", true},
		{"IMAGES.Example.Test.", true},
		{"cdn.example.test", true},       // *.example.test
		{"example.test", false},          // a wildcard covers subdomains only
		{"evil.example.net", false},      // same address, name not allowed
		{"zero.images.test", false},      // no allowlist opens 0.0.0.0
		{"broadcast.images.test", false}, // nor broadcast
	} {
		t.Run("by name/"+tc.host, func(t *testing.T) {
			_, err := byName.Fetch(t.Context(), url(tc.host))
			if tc.allowed && err != nil {
				t.Fatalf("allowed host: %v", err)
			}
			if !tc.allowed {
				wantBlocked(t, err)
			}
		})
	}

	byIP := newFetcher(t, Options{Resolver: res, Allow: []string{"127.0.0.1"}})
	if _, err := byIP.Fetch(t.Context(), url("evil.example.net")); err != nil {
		t.Fatalf("name resolving to an allowlisted address: %v", err)
	}
	_, err := byIP.Fetch(t.Context(), url("nowhere.example.net"))
	e := wantErr(t, err, biometric.KindUnprocessable, "image_fetch_failed")
	if !strings.Contains(e.Message, "resolved") {
		t.Fatalf("DNS failure message %q should say the name did not resolve", e.Message)
	}
}

// rebindResolver answers with first on its first lookup and with then on
// every later one, as a DNS-rebinding attacker's name server does.
type rebindResolver struct {
	calls       atomic.Int64
	first, then netip.Addr
}

func (r *rebindResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	if r.calls.Add(1) == 1 {
		return []netip.Addr{r.first}, nil
	}
	return []netip.Addr{r.then}, nil
}

// A name that passes a check and then resolves elsewhere must not get the
// fetch to the second address: the address checked is the address dialled.
func TestFetchDNSRebinding(t *testing.T) {
	t.Parallel()
	safe := serveJPEG(t, "127.0.0.1:0")
	// The internal server shares the port, so that one URL reaches either.
	internal := serveJPEG(t, "127.0.0.2:"+safe.port)
	if internal == nil {
		t.Fatalf("this test needs to listen on 127.0.0.2:%s", safe.port)
	}
	res := &rebindResolver{first: netip.MustParseAddr("127.0.0.1"), then: netip.MustParseAddr("127.0.0.2")}
	url := "http://rebind.example.test:" + safe.port + "/a.jpg"
	opts := Options{Resolver: res, Allow: []string{"127.0.0.1/32"}}

	if _, err := newFetcher(t, opts).Fetch(t.Context(), url); err != nil {
		t.Fatalf("first resolution (allowed address): %v", err)
	}
	// A new Fetcher has no pooled connection, so it must resolve again.
	_, err := newFetcher(t, opts).Fetch(t.Context(), url)
	wantBlocked(t, err)
	if internal.hits.Load() != 0 || res.calls.Load() != 2 {
		t.Fatalf("internal server hits %d, lookups %d; want 0 and 2", internal.hits.Load(), res.calls.Load())
	}
}

// The dialer's Control hook checks the socket's real peer address, whatever
// produced it.
func TestCheckPeer(t *testing.T) {
	t.Parallel()
	f := newFetcher(t, Options{Allow: []string{"10.9.0.0/16"}})
	for _, tc := range []struct {
		addr        string
		hostAllowed bool
		ok          bool
	}{
		{"93.184.215.14:443", false, true},
		{"[2606:4700::6810:84e5]:443", false, true},
		{"127.0.0.1:80", false, false},
		{"[::ffff:10.0.0.1]:443", false, false},
		{"[::1]:80", false, false},
		{"10.9.8.7:80", false, true},          // allowlisted prefix
		{"[::ffff:10.9.8.7]:80", false, true}, // the same destination, mapped
		{"10.0.0.1:80", true, true},           // allowlisted host name
		{"0.0.0.0:80", true, false},           // never
	} {
		err := f.checkPeer(tc.addr, tc.hostAllowed)
		if tc.ok && err != nil {
			t.Errorf("%s: %v", tc.addr, err)
		}
		if !tc.ok && biometric.AsError(err).Code != "image_url_blocked" {
			t.Errorf("%s: got %v, want image_url_blocked", tc.addr, err)
		}
	}
}

func TestFetchInvalidURLs(t *testing.T) {
	t.Parallel()
	f := newFetcher(t, Options{})
	for _, u := range []string{
		"ftp://example.com/a.jpg",
		"file:///etc/passwd",
		"gopher://example.com/",
		"javascript:alert(1)",
		"data:image/png;base64,iVBORw0KGgo=",
		"//example.com/a.jpg",
		"example.com/a.jpg",
		"http://",
		"http:///a.jpg",
		"http://user:secret@example.com/a.jpg",
		"http://exa mple.com/",
		"http://[::1",
		"http://example.com:99999/",
	} {
		t.Run(u, func(t *testing.T) {
			_, err := f.Fetch(t.Context(), u)
			wantErr(t, err, biometric.KindInvalid, "image_url_invalid")
		})
	}
}

func TestFetchLimitsAndFailures(t *testing.T) {
	t.Parallel()
	big := make([]byte, 3000)
	jpg := encodeJPEG(t, pattern(48, 32))
	release := make(chan struct{})
	s := serve(t, "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			w.Header().Set("Content-Length", "3000")
			_, _ = w.Write(big)
		case "/big-chunked":
			for range 3 {
				_, _ = w.Write(big[:1000])
				w.(http.Flusher).Flush() // no Content-Length
			}
		case "/stall-headers":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		case "/stall-body":
			w.Header().Set("Content-Length", "1000")
			_, _ = w.Write(big[:10])
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
			}
		case "/missing":
			http.NotFound(w, r)
		case "/broken":
			http.Error(w, "boom", http.StatusInternalServerError)
		case "/html-as-jpeg":
			w.Header().Set("Content-Type", "image/jpeg")
			_, _ = w.Write([]byte("<!doctype html><title>Login</title>"))
		case "/jpeg-as-text":
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write(jpg)
		}
	}))
	t.Cleanup(func() { close(release) }) // runs before the server's Close
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + closed.Addr().String() + "/a.jpg"
	closed.Close()

	f := newFetcher(t, Options{Allow: []string{"127.0.0.1"}, Limits: Limits{MaxBytes: 2000, FetchTimeout: 300 * time.Millisecond}})
	for _, tc := range []struct {
		path string
		kind biometric.Kind
		code string
		says string
	}{
		{"/big", biometric.KindTooLarge, "image_too_large", "2.9 KiB"},
		{"/big-chunked", biometric.KindTooLarge, "image_too_large", "2.0 KiB limit"},
		{"/stall-headers", biometric.KindUnprocessable, "image_fetch_timeout", "300ms"},
		{"/stall-body", biometric.KindUnprocessable, "image_fetch_timeout", "300ms"},
		{"/missing", biometric.KindUnprocessable, "image_fetch_failed", "404"},
		{"/broken", biometric.KindUnprocessable, "image_fetch_failed", "500"},
		{"/html-as-jpeg", biometric.KindUnsupportedMedia, "unsupported_image_type", "text/html"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			t.Parallel()
			_, err := f.Load(t.Context(), Source{URL: s.URL + tc.path})
			e := wantErr(t, err, tc.kind, tc.code)
			if !strings.Contains(e.Message, tc.says) {
				t.Fatalf("message %q should mention %q", e.Message, tc.says)
			}
		})
	}
	t.Run("declared type ignored", func(t *testing.T) {
		t.Parallel()
		img, err := f.Load(t.Context(), Source{URL: s.URL + "/jpeg-as-text"})
		if err != nil || img.Format != "jpeg" {
			t.Fatalf("JPEG served as text/plain: %v", err)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		t.Parallel()
		_, err := f.Fetch(t.Context(), closedURL)
		wantErr(t, err, biometric.KindUnprocessable, "image_fetch_failed")
	})
}

func TestFetchRedirectLimit(t *testing.T) {
	t.Parallel()
	a := redirector(t)
	for _, tc := range []struct {
		max, hops int
		ok        bool
	}{
		{0, 3, true}, // default 3
		{0, 4, false},
		{1, 1, true},
		{1, 2, false},
		{-1, 0, true}, // negative: no redirects
		{-1, 1, false},
	} {
		t.Run(fmt.Sprintf("max%d/hops%d", tc.max, tc.hops), func(t *testing.T) {
			t.Parallel()
			f := newFetcher(t, Options{Allow: []string{"127.0.0.1"}, Limits: Limits{MaxRedirects: tc.max}})
			_, err := f.Fetch(t.Context(), fmt.Sprintf("%s/hops/%d", a.URL, tc.hops))
			if tc.ok && err != nil {
				t.Fatal(err)
			}
			if !tc.ok {
				e := wantErr(t, err, biometric.KindUnprocessable, "image_fetch_failed")
				if !strings.Contains(e.Message, "redirected") {
					t.Fatalf("message %q should say there were too many redirects", e.Message)
				}
			}
		})
	}
}

func TestFetchTLS(t *testing.T) {
	t.Parallel()
	jpg := encodeJPEG(t, pattern(48, 32))
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(jpg) }))
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted handshake below fails on purpose
	s.StartTLS()
	t.Cleanup(s.Close)
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())

	untrusted := newFetcher(t, Options{Allow: []string{"127.0.0.1"}})
	_, err := untrusted.Fetch(t.Context(), s.URL)
	wantErr(t, err, biometric.KindUnprocessable, "image_fetch_failed")

	trusted := newFetcher(t, Options{Allow: []string{"127.0.0.1"}, TLSConfig: &tls.Config{RootCAs: pool}})
	got, err := trusted.Fetch(t.Context(), s.URL)
	if err != nil || len(got) != len(jpg) {
		t.Fatalf("https fetch: %d bytes, %v", len(got), err)
	}
}

func TestFetchCancelled(t *testing.T) {
	t.Parallel()
	s := serveJPEG(t, "127.0.0.1:0")
	f := newFetcher(t, Options{Allow: []string{"127.0.0.1"}})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := f.Fetch(ctx, s.URL)
	wantErr(t, err, biometric.KindUnprocessable, "image_fetch_failed")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("%v should wrap context.Canceled", err)
	}
}

// The environment's proxy settings must not apply: a proxy would make the
// connection and see only its own address.
func TestFetcherIgnoresProxyEnvironment(t *testing.T) {
	t.Parallel()
	f := newFetcher(t, Options{})
	if tr := f.client.Transport.(*http.Transport); tr.Proxy != nil {
		t.Fatal("the transport has a proxy function")
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	s := serveJPEG(t, "127.0.0.1:0")
	f := newFetcher(t, Options{Allow: []string{"127.0.0.1"}})
	jpg := encodeJPEG(t, pattern(48, 32))
	for name, src := range map[string]Source{
		"url":    {URL: s.URL + "/a.jpg"},
		"base64": {Base64: "data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(jpg)},
		"data":   {Data: jpg},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			img, err := f.Load(t.Context(), src)
			if err != nil {
				t.Fatal(err)
			}
			checkQuadrants(t, img.RGBA, 48, 32)
		})
	}
	for code, src := range map[string]Source{
		"image_missing":   {Field: "source_image"},
		"image_ambiguous": {URL: s.URL, Data: jpg, Field: "source_image"},
	} {
		t.Run(code, func(t *testing.T) {
			t.Parallel()
			_, err := f.Load(t.Context(), src)
			if e := wantErr(t, err, biometric.KindInvalid, code); e.Field != "source_image" {
				t.Fatalf("field %q, want source_image", e.Field)
			}
		})
	}
	t.Run("field on errors", func(t *testing.T) {
		t.Parallel()
		_, err := f.Load(t.Context(), Source{URL: "http://10.0.0.1/", Field: "target_image_url"})
		if e := wantErr(t, err, biometric.KindInvalid, "image_url_blocked"); e.Field != "target_image_url" {
			t.Fatalf("field %q, want target_image_url", e.Field)
		}
	})
}

func TestParseAllowlist(t *testing.T) {
	t.Parallel()
	a, err := ParseAllowlist([]string{" 10.0.0.0/8 ", "", "fd12::/16", "192.168.1.7", "images.corp.example", "*.corp.example", "10.1.2.3/8"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ip := range []string{"10.200.1.1", "fd12:3::1", "192.168.1.7", "::ffff:10.1.1.1"} {
		if !a.allowsIP(netip.MustParseAddr(ip)) {
			t.Errorf("%s should be allowed", ip)
		}
	}
	for _, ip := range []string{"192.168.1.8", "fd13::1", "127.0.0.1"} {
		if a.allowsIP(netip.MustParseAddr(ip)) {
			t.Errorf("%s should not be allowed", ip)
		}
	}
	_, err = ParseAllowlist([]string{"10.0.0.0/33", "2130706433", "exa mple.com", "-bad.example", "fe80::1%eth0"})
	if err == nil {
		t.Fatal("bad entries accepted")
	}
	for _, e := range []string{"10.0.0.0/33", "2130706433", "exa mple.com", "-bad.example", "fe80::1%eth0"} {
		if !strings.Contains(err.Error(), e) {
			t.Errorf("error %q does not name %q", err, e)
		}
	}
}
