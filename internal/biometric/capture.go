package biometric

import "context"

// Frame is one captured camera frame.
type Frame struct {
	Index int   // 0-based position in the capture
	AtMS  int64 // capture timestamp in ms since the capture started, as reported by the client
	Image []byte
	// ContentType is the sniffed image type ("image/jpeg", "image/png", "image/webp").
	ContentType string
}

// Capture is everything a capture client uploaded for one session.
type Capture struct {
	Frames []Frame
	// PromptsMS[i] is when the prompt of challenge step i was shown, in ms
	// since the capture started; empty when the client did not say.
	PromptsMS []int64
	// Client is what the capture client says about itself (user agent,
	// screen size…). It is recorded, never trusted.
	Client map[string]string
	// Light is when the client says each colour of the session's
	// screen-light sequence was on screen; empty when the session issued
	// none (or the client sent none). Checked by the analysis.
	Light []LightShown
}

// CaptureStore persists captures. Frames arrive in batches (AppendFrames);
// the capture is then submitted once (SubmitCapture), which hands it to
// analysis.
type CaptureStore interface {
	// AppendFrames stores a batch of frames of session id and, in the same
	// transaction, calls check with the locked session (check validates the
	// batch against the session and updates s.Upload and s.Status, or
	// rejects it with an error). If check fails nothing is stored.
	AppendFrames(ctx context.Context, id string, frames []Frame, check func(*Session) error) (*Session, error)
	// SubmitCapture completes the capture of session id: it stores c's
	// prompts, client information and frames (in addition to the frames
	// appended before) and, in the same transaction, calls check with the
	// locked session (typically moving it to processing) and runs the
	// store's submit hook (which enqueues the analysis). If check or the
	// hook fails, nothing is stored. A session is submitted at most once.
	SubmitCapture(ctx context.Context, id string, c *Capture, check func(*Session) error) (*Session, error)
	// Capture returns the stored capture of a session, or ErrNotFound (also
	// after the capture was purged).
	Capture(ctx context.Context, id string) (*Capture, error)
	// DeleteCapture erases a session's stored frames. Deleting a missing
	// capture is not an error.
	DeleteCapture(ctx context.Context, id string) error
}

// Store is everything the service persists.
type Store interface {
	KeyStore
	SessionStore
	CaptureStore
	// Ping reports whether the store is reachable (for /readyz).
	Ping(ctx context.Context) error
	// Close releases the store's connections.
	Close() error
}
