package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/everify/everify/client"
	"github.com/everify/everify/internal/auth"
	"github.com/everify/everify/internal/biometric"
)

// requestInfo is what the middleware and the handlers learn about one
// request, for its log line and metrics. The observe middleware puts it in
// the request context; later stages fill it in.
type requestInfo struct {
	id      string             // "req_…", echoed in X-Request-Id and every body
	route   string             // the route pattern, "unmatched" if none
	key     *biometric.APIKey  // the authenticated key, if any
	session *biometric.Session // the session whose token authenticated the request, if any
	errCode string             // the error code answered, if any
}

type infoKey struct{}

// infoFrom returns the request's info. Outside observe (in unit tests of a
// single stage) it returns a fresh one, so callers need not check.
func infoFrom(ctx context.Context) *requestInfo {
	if info, ok := ctx.Value(infoKey{}).(*requestInfo); ok {
		return info
	}
	return &requestInfo{route: "unmatched"}
}

// requestID returns the id of the request ctx belongs to.
func requestID(ctx context.Context) string { return infoFrom(ctx).id }

// apiKeyOf returns the key that authenticated the request; routes with
// apiKey and demo access always have one.
func apiKeyOf(r *http.Request) *biometric.APIKey { return infoFrom(r.Context()).key }

// sessionOf returns the session whose token authenticated the request, as
// it was when the request arrived; routes with sessionToken access always
// have one.
func sessionOf(r *http.Request) *biometric.Session { return infoFrom(r.Context()).session }

// recorder remembers the status and size of a response.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
}

func (rec *recorder) WriteHeader(code int) {
	if !rec.wrote {
		rec.status, rec.wrote = code, true
	}
	rec.ResponseWriter.WriteHeader(code)
}

func (rec *recorder) Write(b []byte) (int, error) {
	if !rec.wrote {
		rec.status, rec.wrote = http.StatusOK, true
	}
	n, err := rec.ResponseWriter.Write(b)
	rec.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (rec *recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

// observe gives the request its id, and records its metrics and one access
// log line when it is done. The log line holds no credentials, bodies or
// query strings.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &requestInfo{id: auth.NewID("req_"), route: "unmatched"}
		h := w.Header()
		h.Set("X-Request-Id", info.id)
		h.Set("X-Content-Type-Options", "nosniff")
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		s.metrics.inFlight.Inc()
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), infoKey{}, info)))
		s.metrics.inFlight.Dec()
		elapsed := time.Since(start)
		s.metrics.observe(info.route, rec.status, elapsed)

		attrs := []slog.Attr{
			slog.String("request_id", info.id),
			slog.String("method", r.Method),
			slog.String("route", info.route),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.status),
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
			slog.Int64("bytes_out", rec.bytes),
			slog.String("remote_addr", r.RemoteAddr),
		}
		if info.key != nil {
			attrs = append(attrs, slog.String("key_id", info.key.ID), slog.String("tenant", info.key.Tenant))
		}
		if info.session != nil {
			attrs = append(attrs, slog.String("session_id", info.session.ID), slog.String("tenant", info.session.Tenant))
		}
		if info.errCode != "" {
			attrs = append(attrs, slog.String("error_code", info.errCode))
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
	})
}

// recoverPanics turns a handler panic into a logged 500 (the stack goes to
// the log only). http.ErrAbortHandler is passed on, as net/http expects.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.LogAttrs(r.Context(), slog.LevelError, "panic",
				slog.String("request_id", requestID(r.Context())),
				slog.String("panic", fmt.Sprint(v)),
				slog.String("stack", string(debug.Stack())))
			if rec, ok := w.(*recorder); ok && rec.wrote {
				return // too late for an error response
			}
			s.writeError(w, r, &biometric.Error{Kind: biometric.KindInternal, Code: "internal_error", Err: fmt.Errorf("panic: %v", v)})
		}()
		next.ServeHTTP(w, r)
	})
}

// writeJSON renders v into a buffer first, so that an encoding failure can
// still become a clean 500, and then writes headers and body.
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		id := requestID(r.Context())
		s.log.LogAttrs(r.Context(), slog.LevelError, "encoding response",
			slog.String("request_id", id), slog.String("error", err.Error()))
		status = http.StatusInternalServerError
		infoFrom(r.Context()).errCode = "internal_error"
		body, _ = json.Marshal(client.ErrorResponse{RequestID: id, Message: internalMessage,
			Error: client.ErrorDetail{Code: "internal_error", Message: internalMessage}})
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(body) //nolint:errcheck // the client went away; nothing to do
	}
}
