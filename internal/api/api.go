// Package api is everify's HTTP transport: the routes of the public API,
// the middleware every request passes through (request id, panic recovery,
// access log, Prometheus metrics, API-key and session-token
// authentication, CORS for the capture endpoints, rate limits, body
// limits, request deadlines, the audit record) and the one place where
// error kinds become HTTP status codes (errors.go). Handlers decode a request, call the store or a use case
// through an interface, and either render a response or return an error.
// The capture endpoints implement docs/DESIGN.md, "Capture protocol"
// (capture.go).
package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/everify/everify/docs"
	"github.com/everify/everify/internal/audit"
	"github.com/everify/everify/internal/auth"
	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/imagein"
)

// ImageLoader fetches or decodes one request image; *imagein.Fetcher
// implements it. Errors are *biometric.Error values naming src.Field.
type ImageLoader interface {
	Load(ctx context.Context, src imagein.Source) (*imagein.Image, error)
}

// FaceMatcher is the face-match engine. A Server without one validates
// face-match requests, loads both images and then answers 503
// face_match_engine_unavailable.
type FaceMatcher interface {
	// Match compares the most prominent face of source with that of
	// target. threshold (0-100) decides IsMatch. A missing or unusable
	// face is an unprocessable error whose Field is "source" or "target";
	// the server replaces it with the request field that held the image.
	Match(ctx context.Context, source, target *imagein.Image, threshold float64) (*biometric.MatchResult, error)
	// ReferenceImage returns the image holding the reference face of a
	// completed, live session, for matches whose source is a session. The
	// analysis stores that image; an engine reads it from a
	// biometric.ReferenceFaceStore (the store) and decodes it.
	ReferenceImage(ctx context.Context, s *biometric.Session) (*imagein.Image, error)
}

// Store is what the API keeps its state in: the domain store, plus
// erasure, device failure counts, the audit log and tenants' challenge
// rules. *store.DB implements it.
type Store interface {
	biometric.Store
	// DeleteBiometrics erases the biometric data of the tenant's session
	// and returns it as saved; ErrNotFound for a missing or other tenant's
	// session. Deleting again is not an error.
	DeleteBiometrics(ctx context.Context, tenant, id string) (*biometric.Session, error)
	// DeviceFailures returns how many of the device's latest decided
	// sessions (at most max) failed the liveness check in a row, and when
	// the latest of them was decided.
	DeviceFailures(ctx context.Context, tenant, deviceID string, max int) (streak int, last time.Time, err error)
	// AppendAudit records an audit event that no write recorded.
	AppendAudit(ctx context.Context, ev *audit.Event) error
	TenantChallenges
}

// Defaults for the zero fields of Config.
const (
	DefaultSessionTTL         = 10 * time.Minute
	DefaultFaceMatchBodyLimit = 32 << 20 // two inline images of up to 10 MiB each, base64-encoded, and slack
	DefaultRequestTimeout     = 30 * time.Second
	DefaultDeviceMaxFailures  = 5
	DefaultDeviceCoolOff      = 30 * time.Minute
	defaultBodyLimit          = 64 << 10 // every other JSON body
	readyTimeout              = 2 * time.Second
)

// DeviceLimit refuses new sessions for a device id (the start request's
// device_id) whose last MaxFailures decided sessions all failed the
// liveness check, until CoolOff after the last of them. The zero value
// takes DefaultDeviceMaxFailures and DefaultDeviceCoolOff; a negative
// MaxFailures turns the limit off.
type DeviceLimit struct {
	MaxFailures int
	CoolOff     time.Duration
}

// Config holds a Server's collaborators and settings.
type Config struct {
	// Store persists keys, sessions and the audit log (required).
	Store Store
	// Images loads face-match images (required).
	Images ImageLoader
	// Matcher is the face-match engine; nil until one is installed.
	Matcher FaceMatcher
	// Framing is the capture client's framing pre-check (…/precheck);
	// nil: that route answers 503 framing_check_unavailable.
	Framing FramingChecker
	// Challenges picks new sessions' challenges; RandomChallenge{Steps: 1}
	// if nil.
	Challenges ChallengePolicy
	// Logger receives the JSON access log and error details; nothing is
	// logged if nil.
	Logger *slog.Logger
	// Registry receives the HTTP metrics and is served at /metrics; if nil
	// a new registry with the Go and process collectors is used.
	Registry *prometheus.Registry
	// Now is the clock (session expiry, rate limits); time.Now if nil.
	Now func() time.Time
	// SessionTTL is how long a new liveness session (and its session
	// token) stays open for its capture; DefaultSessionTTL if zero.
	SessionTTL time.Duration
	// RateLimit bounds the request rate of each API key; the zero value
	// means no limit.
	RateLimit RateLimit
	// SessionRateLimit bounds the request rate of each session token on
	// the capture endpoints; the zero value means no limit.
	SessionRateLimit RateLimit
	// Limiter keeps the rate limits' buckets; an in-memory one (right for
	// a single process) if nil. Replicas share a database's (*store.DB).
	Limiter Limiter
	// Device limits failed liveness checks per device id.
	Device DeviceLimit
	// RequestTimeout bounds each API request's work (the face-match and
	// frame upload routes get twice as long); DefaultRequestTimeout if
	// zero.
	RequestTimeout time.Duration
	// FaceMatchBodyLimit is the largest face-match request body;
	// DefaultFaceMatchBodyLimit if zero.
	FaceMatchBodyLimit int64
	// Capture are the capture parameters given to new sessions. Zero
	// fields take the defaults: 15 fps, 640x480, 15-300 frames, 2-20 s,
	// at most 300 KiB per frame, 5 s per challenge step.
	Capture biometric.CaptureParams
	// CORSOrigins lists the origins ("https://shop.example") whose pages
	// may call the capture endpoints from a browser; "*" allows every
	// origin. Same-origin pages need nothing. Other routes never send CORS
	// headers.
	CORSOrigins []string
	// DemoKey, when set, enables the demo page (/demo/) and its routes
	// (/demo/api/…), which start and read sessions as this key without
	// credentials. For `everify serve --demo` only.
	DemoKey *biometric.APIKey
}

// Server is the HTTP API. It implements http.Handler.
type Server struct {
	store       Store
	images      ImageLoader
	matcher     FaceMatcher
	framing     FramingChecker
	challenges  ChallengePolicy
	log         *slog.Logger
	registry    *prometheus.Registry
	now         func() time.Time
	sessionTTL  time.Duration
	capture     biometric.CaptureParams
	cors        corsPolicy
	demoKey     *biometric.APIKey
	auth        *auth.Authenticator
	limiter     Limiter
	keyRate     RateLimit
	sessionRate RateLimit
	device      DeviceLimit
	timeout     time.Duration
	metrics     *metrics
	docsHTML    []byte
	routes      []route
	handler     http.Handler
}

// access says how a route authenticates its caller.
type access int

const (
	public       access = iota // no credentials
	apiKey                     // X-API-Key with the route's scope
	sessionToken               // Authorization: Bearer evst_… of the session in the path; CORS
	demo                       // no credentials; acts as Config.DemoKey
)

// route is one endpoint. Handlers return an error instead of writing one;
// the Server renders it.
type route struct {
	method, path string
	access       access
	scope        biometric.Scope
	maxBody      int64 // 0: the route reads no body
	slow         bool  // gets twice the request timeout (large bodies, image fetches)
	// audit is the action the route's requests are recorded as ("": not
	// recorded); auditInTx records it in the transaction of the
	// request's first write (see audit.Pending).
	audit     string
	auditInTx bool
	handle    func(w http.ResponseWriter, r *http.Request) error
}

func (rt route) pattern() string { return rt.method + " " + rt.path }

// New returns a Server, or an error naming the missing collaborators.
func New(cfg Config) (*Server, error) {
	var missing []string
	if cfg.Store == nil {
		missing = append(missing, "Store")
	}
	if cfg.Images == nil {
		missing = append(missing, "Images")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("api.New: missing %s", strings.Join(missing, ", "))
	}
	s := &Server{
		store:       cfg.Store,
		images:      cfg.Images,
		matcher:     cfg.Matcher,
		framing:     cfg.Framing,
		challenges:  cfg.Challenges,
		log:         cfg.Logger,
		registry:    cfg.Registry,
		now:         cfg.Now,
		sessionTTL:  cfg.SessionTTL,
		demoKey:     cfg.DemoKey,
		limiter:     cfg.Limiter,
		keyRate:     cfg.RateLimit,
		sessionRate: cfg.SessionRateLimit,
		device:      cfg.Device,
		timeout:     cfg.RequestTimeout,
	}
	if s.limiter == nil {
		s.limiter = NewMemoryLimiter()
	}
	if s.device.MaxFailures == 0 {
		s.device.MaxFailures = DefaultDeviceMaxFailures
	}
	if s.device.CoolOff <= 0 {
		s.device.CoolOff = DefaultDeviceCoolOff
	}
	if s.timeout <= 0 {
		s.timeout = DefaultRequestTimeout
	}
	if s.challenges == nil {
		s.challenges = RandomChallenge{Steps: 1}
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.registry == nil {
		s.registry = prometheus.NewRegistry()
		s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.sessionTTL <= 0 {
		s.sessionTTL = DefaultSessionTTL
	}
	faceMatchLimit := cfg.FaceMatchBodyLimit
	if faceMatchLimit <= 0 {
		faceMatchLimit = DefaultFaceMatchBodyLimit
	}
	var err error
	if s.capture, err = captureParams(cfg.Capture); err != nil {
		return nil, err
	}
	if s.cors, err = newCORSPolicy(cfg.CORSOrigins); err != nil {
		return nil, err
	}
	s.auth = &auth.Authenticator{Keys: cfg.Store, Sessions: cfg.Store}
	m, err := newMetrics(s.registry)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	if s.docsHTML, err = renderDocs(docs.OpenAPI); err != nil {
		return nil, err
	}

	s.routes = []route{
		{method: "GET", path: "/{$}", handle: s.index},
		{method: "GET", path: "/healthz", handle: s.healthz},
		{method: "GET", path: "/readyz", handle: s.readyz},
		{method: "GET", path: "/metrics", handle: s.serveMetrics},
		{method: "GET", path: "/openapi.yaml", handle: serveOpenAPI},
		{method: "GET", path: "/docs", handle: s.serveDocs},
		{method: "POST", path: "/v1/biometrics/liveness/start", access: apiKey, scope: biometric.ScopeLiveness,
			maxBody: defaultBodyLimit, audit: audit.ActionStart, auditInTx: true, handle: s.startLiveness},
		{method: "GET", path: "/v1/biometrics/liveness/{session_id}/results", access: apiKey, scope: biometric.ScopeLiveness,
			audit: audit.ActionResults, handle: s.livenessResults},
		{method: "DELETE", path: "/v1/biometrics/liveness/{session_id}", access: apiKey, scope: biometric.ScopeLiveness,
			audit: audit.ActionDelete, auditInTx: true, handle: s.deleteBiometrics},
		{method: "POST", path: "/v1/biometrics/face-match", access: apiKey, scope: biometric.ScopeFaceMatch,
			maxBody: faceMatchLimit, slow: true, audit: audit.ActionFaceMatch, handle: s.faceMatch},
		{method: "POST", path: "/v1/biometrics/liveness/{session_id}/frames", access: sessionToken,
			maxBody: frameBatchLimit(s.capture), slow: true, audit: audit.ActionFrames, auditInTx: true, handle: s.uploadFrames},
		{method: "POST", path: "/v1/biometrics/liveness/{session_id}/complete", access: sessionToken,
			maxBody: defaultBodyLimit, audit: audit.ActionComplete, auditInTx: true, handle: s.completeCapture},
		{method: "GET", path: "/v1/biometrics/liveness/{session_id}/status", access: sessionToken,
			handle: s.captureStatus},
		{method: "POST", path: "/v1/biometrics/liveness/{session_id}/precheck", access: sessionToken,
			maxBody: precheckBodyLimit, handle: s.precheck},
		{method: "GET", path: "/sdk/{file}", handle: serveFiles},
	}
	if s.demoKey != nil {
		s.routes = append(s.routes,
			route{method: "GET", path: "/demo/{$}", handle: serveFiles},
			route{method: "GET", path: "/demo/{file}", handle: serveFiles},
			route{method: "POST", path: "/demo/api/session", access: demo, maxBody: defaultBodyLimit,
				audit: audit.ActionStart, auditInTx: true, handle: s.demoStart},
			route{method: "GET", path: "/demo/api/session/{session_id}", access: demo, audit: audit.ActionResults, handle: s.livenessResults},
		)
	}
	s.routes = append(s.routes, s.preflightRoutes()...)
	s.handler = s.observe(s.recoverPanics(s.newMux()))
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// newMux registers every route and, for requests that match none, a
// fallback: a 405 answer for the other methods of each path and a 404
// answer for every other path, all in the JSON envelope. The 405 answers
// live in a mux of their own, with method-less patterns, because mixing
// them with the method patterns would make a path like
// /v1/biometrics/liveness/start conflict with DELETE
// /v1/biometrics/liveness/{session_id}.
func (s *Server) newMux() *http.ServeMux {
	mux := http.NewServeMux()
	allowed := map[string][]string{}
	var paths []string
	for _, rt := range s.routes {
		mux.Handle(rt.pattern(), s.endpoint(rt))
		if allowed[rt.path] == nil {
			paths = append(paths, rt.path)
		}
		allowed[rt.path] = append(allowed[rt.path], rt.method)
		if rt.method == http.MethodGet {
			allowed[rt.path] = append(allowed[rt.path], http.MethodHead)
		}
	}
	unmatched := http.NewServeMux()
	for _, p := range paths {
		allow := strings.Join(allowed[p], ", ")
		unmatched.Handle(p, s.fallback(p, func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Allow", allow)
			return biometric.Errorf(kindMethodNotAllowed, "method_not_allowed",
				"%s is not allowed on %s; use %s.", r.Method, r.URL.Path, allow)
		}))
	}
	unmatched.Handle("/", s.fallback("unmatched", func(w http.ResponseWriter, r *http.Request) error {
		return biometric.Errorf(biometric.KindNotFound, "route_not_found",
			"There is no endpoint at %s; see /docs for the API.", r.URL.Path)
	}))
	mux.Handle("/", unmatched)
	return mux
}

// endpoint wraps a route's handler with its deadline, authentication, the
// rate limits, the body limit and its audit record, and renders its error
// if it returns one.
func (s *Server) endpoint(rt route) http.Handler {
	pattern := rt.pattern()
	timeout := s.timeout
	if rt.slow {
		timeout *= 2
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		r = r.WithContext(ctx)
		info := infoFrom(ctx)
		info.route = pattern
		if rt.access == sessionToken {
			s.cors.allow(w.Header(), r)
		}
		err := s.admit(w, r, rt, info)
		var pending *audit.Pending
		if rt.audit != "" && (info.key != nil || info.session != nil) {
			ctx, pending = audit.WithPending(ctx, s.auditEvent(r, rt, info), rt.auditInTx)
			r = r.WithContext(ctx)
		}
		if err == nil {
			err = rt.handle(w, r)
		}
		if err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			err = &biometric.Error{Kind: biometric.KindUnavailable, Code: "request_timeout", Err: err,
				Message: fmt.Sprintf("The request took longer than this endpoint's limit of %s; retry, with smaller images if it sends any.", timeout)}
		}
		if err != nil {
			s.writeError(w, r, err)
		}
		if pending != nil {
			s.recordAudit(r, pending, err)
		}
	})
}

// admit checks the caller's credentials, scope and rate, and limits the
// request body.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, rt route, info *requestInfo) error {
	switch rt.access {
	case apiKey:
		k, err := s.auth.APIKey(r.Context(), r.Header.Get("X-API-Key"))
		if err != nil {
			return err
		}
		info.key = k
		if err := auth.RequireScope(k, rt.scope); err != nil {
			return err
		}
		if err := s.takeToken(r.Context(), "key:"+k.ID, s.keyRate, "This API key"); err != nil {
			return err
		}
	case sessionToken:
		sess, err := s.auth.Session(r.Context(), r.Header.Get("Authorization"))
		if err != nil {
			return err
		}
		// A token for another session is answered like an unknown session.
		if sess.ID != r.PathValue("session_id") {
			return errSessionNotFound
		}
		info.session = sess
		if err := s.takeToken(r.Context(), "session:"+sess.ID, s.sessionRate, "This session"); err != nil {
			return err
		}
	case demo:
		info.key = s.demoKey
		if err := s.takeToken(r.Context(), "key:"+s.demoKey.ID, s.keyRate, "The demo"); err != nil {
			return err
		}
	}
	if rt.maxBody > 0 {
		if r.ContentLength > rt.maxBody {
			return bodyTooLarge(rt.maxBody)
		}
		r.Body = http.MaxBytesReader(w, r.Body, rt.maxBody)
	}
	return nil
}

// fallback is a handler for requests that match no route.
func (s *Server) fallback(label string, h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		infoFrom(r.Context()).route = label
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}
