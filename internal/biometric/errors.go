// Package biometric holds everify's domain: the types every layer talks in
// (API keys, liveness sessions, match and liveness results), the store
// interfaces the adapters implement, and the error kinds that the HTTP layer
// maps to status codes. It imports nothing from the rest of the project.
package biometric

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an error. The HTTP layer maps each kind to one status code;
// everything else branches on kinds with KindOf, never on message text.
type Kind string

// The error kinds. The comment gives the HTTP status each one becomes.
const (
	KindInvalid          Kind = "invalid"           // 400
	KindUnauthenticated  Kind = "unauthenticated"   // 401
	KindForbidden        Kind = "forbidden"         // 403
	KindNotFound         Kind = "not_found"         // 404
	KindConflict         Kind = "conflict"          // 409
	KindGone             Kind = "gone"              // 410
	KindTooLarge         Kind = "too_large"         // 413
	KindUnsupportedMedia Kind = "unsupported_media" // 415
	KindUnprocessable    Kind = "unprocessable"     // 422
	KindRateLimited      Kind = "rate_limited"      // 429
	KindInternal         Kind = "internal"          // 500
	KindUnavailable      Kind = "unavailable"       // 503
)

// Error is an error that is safe to show to an API client: Code is a stable
// machine-readable identifier (for example "invalid_threshold" or
// "no_face_detected") and Message says, in one sentence, what was wrong and
// what to do. Err is the underlying cause; it is logged but never shown.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Err     error

	// RetryAfter, when positive, tells the client when to try again
	// (rate limits, not-ready stores).
	RetryAfter time.Duration
	// Field names the request field at fault, when there is one.
	Field string
}

// Error implements error.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an *Error with a formatted message.
func Errorf(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an internal error that keeps err as its cause and shows the
// client only a generic message.
func Wrap(err error, op string) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Kind: KindInternal, Code: "internal_error", Message: "Internal error.", Err: fmt.Errorf("%s: %w", op, err)}
}

// AsError returns the *Error in err's chain, or an internal error wrapping err.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Kind: KindInternal, Code: "internal_error", Message: "Internal error.", Err: err}
}

// KindOf returns the kind of err; KindInternal for errors that are not *Error.
func KindOf(err error) Kind {
	if err == nil {
		return ""
	}
	return AsError(err).Kind
}

// IsKind reports whether err is an *Error of the given kind.
func IsKind(err error, kind Kind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == kind
}

// ErrNotFound is what stores return for a missing row; callers usually
// replace it with a resource-specific *Error.
var ErrNotFound = &Error{Kind: KindNotFound, Code: "not_found", Message: "The requested resource does not exist."}
