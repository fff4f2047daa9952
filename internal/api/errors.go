package api

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/everify/everify/client"
	"github.com/everify/everify/internal/biometric"
)

// kindMethodNotAllowed is the transport's own error kind for a known path
// asked with a method it does not serve; the domain has no use for it.
const kindMethodNotAllowed biometric.Kind = "method_not_allowed"

// statusOf is the one mapping from error kinds to HTTP status codes.
func statusOf(k biometric.Kind) int {
	switch k {
	case biometric.KindInvalid:
		return http.StatusBadRequest
	case biometric.KindUnauthenticated:
		return http.StatusUnauthorized
	case biometric.KindForbidden:
		return http.StatusForbidden
	case biometric.KindNotFound:
		return http.StatusNotFound
	case kindMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case biometric.KindConflict:
		return http.StatusConflict
	case biometric.KindGone:
		return http.StatusGone
	case biometric.KindTooLarge:
		return http.StatusRequestEntityTooLarge
	case biometric.KindUnsupportedMedia:
		return http.StatusUnsupportedMediaType
	case biometric.KindUnprocessable:
		return http.StatusUnprocessableEntity
	case biometric.KindRateLimited:
		return http.StatusTooManyRequests
	case biometric.KindUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// internalMessage is all a client learns about a 500.
const internalMessage = "Internal error; the server has logged it. Retry later and quote the request_id if it persists."

// writeError renders err in the error envelope. 4xx messages are the
// *biometric.Error's own, written for clients. A 500 shows only a generic
// message; every 5xx is logged with its cause.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := biometric.AsError(err)
	status := statusOf(e.Kind)
	detail := client.ErrorDetail{Code: e.Code, Message: e.Message, Field: e.Field}
	if status == http.StatusInternalServerError {
		detail = client.ErrorDetail{Code: "internal_error", Message: internalMessage}
	}
	info := infoFrom(r.Context())
	info.errCode = detail.Code
	if status >= 500 {
		level := slog.LevelError // a 500 is a bug or an outage
		if status != http.StatusInternalServerError {
			level = slog.LevelWarn // a 503 is an expected, explained condition
		}
		s.log.LogAttrs(r.Context(), level, "request failed",
			slog.String("request_id", info.id), slog.String("route", info.route),
			slog.Int("status", status), slog.String("code", e.Code), slog.String("error", err.Error()))
	}
	if e.RetryAfter > 0 {
		secs := int((e.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", fmt.Sprint(secs))
		detail.RetryAfterSeconds = secs
	}
	s.writeJSON(w, r, status, client.ErrorResponse{RequestID: info.id, Message: detail.Message, Error: detail})
}

// bodyTooLarge is the 413 for a request body over the route's limit.
func bodyTooLarge(limit int64) error {
	return biometric.Errorf(biometric.KindTooLarge, "request_too_large",
		"The request body is larger than this endpoint's limit of %s; send smaller images or pass them by URL.", byteSize(limit))
}

// byteSize formats a byte count for messages.
func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}
