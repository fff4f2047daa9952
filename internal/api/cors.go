package api

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/everify/everify/internal/biometric"
)

// corsPolicy says which browser origins may call the capture endpoints
// (the routes with sessionToken access): the customer's page runs the
// capture SDK on its own origin and talks to everify with the session
// token. The other routes never answer with CORS headers, so a browser
// cannot call them cross-origin; the API key stays on servers.
type corsPolicy struct {
	any     bool
	origins []string // normalised: lower-case scheme://host[:port]
}

// newCORSPolicy checks and normalises the configured origins.
func newCORSPolicy(origins []string) (corsPolicy, error) {
	var p corsPolicy
	for _, o := range origins {
		if o == "*" {
			p.any = true
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return p, fmt.Errorf("api.New: CORS origin %q is not an origin such as https://shop.example or http://localhost:3000", o)
		}
		p.origins = append(p.origins, strings.ToLower(u.Scheme+"://"+u.Host))
	}
	return p, nil
}

// allowed reports whether a page on origin may call the capture endpoints.
func (p corsPolicy) allowed(origin string) bool {
	if origin == "" {
		return false
	}
	return p.any || slices.Contains(p.origins, strings.ToLower(origin))
}

// allow adds the CORS headers to a capture route's response when the
// request comes from an allowed origin.
func (p corsPolicy) allow(h http.Header, r *http.Request) {
	h.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	if !p.allowed(origin) {
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", "X-Request-Id, Retry-After")
}

// preflightRoutes answers the browsers' CORS preflight (OPTIONS) for every
// path that has a route with sessionToken access.
func (s *Server) preflightRoutes() []route {
	methods := map[string][]string{}
	var paths []string
	for _, rt := range s.routes {
		if rt.access != sessionToken {
			continue
		}
		if methods[rt.path] == nil {
			paths = append(paths, rt.path)
		}
		methods[rt.path] = append(methods[rt.path], rt.method)
	}
	var routes []route
	for _, p := range paths {
		routes = append(routes, route{method: http.MethodOptions, path: p, handle: s.preflight(strings.Join(methods[p], ", "))})
	}
	return routes
}

// preflight returns the handler of a preflight for a path served with
// methods: 204 with the CORS headers for an allowed origin, 403
// cors_origin_not_allowed otherwise.
func (s *Server) preflight(methods string) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		h := w.Header()
		h.Add("Vary", "Origin")
		h.Add("Vary", "Access-Control-Request-Method")
		h.Add("Vary", "Access-Control-Request-Headers")
		origin := r.Header.Get("Origin")
		if !s.cors.allowed(origin) {
			return biometric.Errorf(biometric.KindForbidden, "cors_origin_not_allowed",
				"Origin %q may not call the capture endpoints from a browser; the operator allows origins with `everify serve --cors-origin`.", origin)
		}
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Methods", methods)
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}
