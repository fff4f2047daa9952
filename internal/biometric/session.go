package biometric

import (
	"context"
	"time"
)

// SessionStatus is the state of a liveness session.
//
//	created ─► in_progress ─► processing ─► completed
//	   │            │              └──────► failed
//	   └────────────┴─► expired (deadline passed before capture was submitted)
type SessionStatus string

// The session states.
const (
	StatusCreated    SessionStatus = "created"     // started, nothing uploaded yet
	StatusInProgress SessionStatus = "in_progress" // the capture client has begun uploading
	StatusProcessing SessionStatus = "processing"  // capture complete, analysis queued or running
	StatusCompleted  SessionStatus = "completed"   // analysis finished; Result is set
	StatusFailed     SessionStatus = "failed"      // analysis could not reach a decision; Failure is set
	StatusExpired    SessionStatus = "expired"     // the deadline passed before the capture was complete
)

// Terminal reports whether no further transition is possible.
func (s SessionStatus) Terminal() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusExpired
}

// ChallengeType is an action the person in front of the camera is asked to do.
type ChallengeType string

// The challenge actions.
const (
	ChallengeBlink     ChallengeType = "blink"
	ChallengeTurnLeft  ChallengeType = "turn_left"
	ChallengeTurnRight ChallengeType = "turn_right"
	ChallengeSmile     ChallengeType = "smile"
	ChallengeOpenMouth ChallengeType = "open_mouth"
	ChallengeNod       ChallengeType = "nod"
)

// ChallengeInstructions is the text shown for each action.
var ChallengeInstructions = map[ChallengeType]string{
	ChallengeBlink:     "Please blink your eyes",
	ChallengeTurnLeft:  "Please turn your head to the left",
	ChallengeTurnRight: "Please turn your head to the right",
	ChallengeSmile:     "Please smile",
	ChallengeOpenMouth: "Please open your mouth",
	ChallengeNod:       "Please nod your head",
}

// AllChallenges lists the actions in a stable order.
var AllChallenges = []ChallengeType{
	ChallengeBlink, ChallengeTurnLeft, ChallengeTurnRight, ChallengeSmile, ChallengeOpenMouth, ChallengeNod,
}

// ValidChallenge reports whether c is a known action.
func ValidChallenge(c ChallengeType) bool {
	_, ok := ChallengeInstructions[c]
	return ok
}

// ChallengeStep is one action of a challenge.
type ChallengeStep struct {
	Type         ChallengeType `json:"challenge_type"`
	Instructions string        `json:"instructions"`
}

// Challenge is what a session asks of the person: one or more steps, in
// order. The API shows the first step as the seed's challenge_details.
type Challenge struct {
	Steps []ChallengeStep `json:"steps"`
	// Nonce is a server-chosen random value bound into the challenge (for
	// example a screen-light colour sequence seed). May be empty.
	Nonce string `json:"nonce,omitempty"`
	// LightSequence is the screen-light challenge: the colours the capture
	// client shows on the screen, in order, from the start of the
	// recording. Empty when the session did not ask for one.
	LightSequence []LightColor `json:"light_sequence,omitempty"`
}

// Session is a liveness session.
type Session struct {
	ID                 string // "liveness_session_…"
	Tenant             string
	KeyID              string // the API key that started it
	ClientSessionToken string
	Status             SessionStatus
	Challenge          Challenge
	// TokenHash is the SHA-256 of the short-lived session token that the
	// capture client uses instead of the API key.
	TokenHash []byte
	CreatedAt time.Time
	UpdatedAt time.Time
	ExpiresAt time.Time // capture must be submitted before this
	// CompletedAt is set when the session reaches completed or failed.
	CompletedAt *time.Time
	Result      *LivenessResult
	Failure     *Failure
	// Metadata the tenant attached at start (correlation ids …).
	Metadata map[string]string
	// ConsentReference is the tenant's reference to the data subject's
	// consent to this processing, given at start and returned with the
	// result; empty when none was given.
	ConsentReference string
	// DeviceID is the client-supplied device or correlation id given at
	// start, against which failed liveness checks are counted; empty when
	// none was given.
	DeviceID string
	// BiometricsDeletedAt is when the session's biometric data (frames,
	// reference face, the face's landmarks in Result) was erased, on
	// request or by retention; nil while it is kept. The decision stays.
	BiometricsDeletedAt *time.Time
	// Upload counts what the capture client has uploaded so far.
	Upload Upload
	// CaptureParams are the capture limits issued with the session; the
	// upload checks and the analysis hold the capture to them.
	CaptureParams CaptureParams
}

// CaptureParams describe the capture a session asks for and the limits its
// upload is held to. They are fixed when the session starts and stored
// with it, so that later checks see the values that were issued.
type CaptureParams struct {
	FPS int `json:"fps"` // frames per second the capture client should record
	// Width and Height are the frame size, in pixels, the client should send.
	Width         int   `json:"width"`
	Height        int   `json:"height"`
	MinFrames     int   `json:"min_frames"`      // fewer frames cannot be submitted
	MaxFrames     int   `json:"max_frames"`      // more frames are refused
	MinDurationMS int64 `json:"min_duration_ms"` // a shorter capture cannot be submitted
	MaxDurationMS int64 `json:"max_duration_ms"` // frames captured later are refused
	MaxFrameBytes int64 `json:"max_frame_bytes"` // larger encoded frames are refused
	// StepWindowMS is how long the capture client gives the person for
	// each challenge step.
	StepWindowMS int64 `json:"step_window_ms"`
}

// Upload is the progress of a session's frame upload.
type Upload struct {
	Batches  int   `json:"batches"`    // batches received; the next one must be numbered Batches
	Frames   int   `json:"frames"`     // frames received; the next frame index must be Frames
	Bytes    int64 `json:"bytes"`      // image bytes received
	LastAtMS int64 `json:"last_at_ms"` // capture timestamp of the last frame received
}

// Failure says why a session ended failed. Retryable failures (poor quality
// capture) invite the client to start a new session.
type Failure struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable"`
}

// SessionStore persists liveness sessions.
type SessionStore interface {
	// CreateSession inserts s. If the tenant already has a session with the
	// same ClientSessionToken it inserts nothing and returns the existing
	// session with created=false.
	CreateSession(ctx context.Context, s *Session) (got *Session, created bool, err error)
	// Session returns the tenant's session with the given ID. A missing
	// session and another tenant's session both give ErrNotFound.
	Session(ctx context.Context, tenant, id string) (*Session, error)
	// SessionByTokenHash returns the session whose session token has the
	// given hash, or ErrNotFound.
	SessionByTokenHash(ctx context.Context, hash []byte) (*Session, error)
	// UpdateSession loads the session with the given ID under a write lock,
	// calls fn with it, and saves what fn left in it, all in one
	// transaction. fn may rotate TokenHash but cannot change the session's
	// identity (ID, tenant, key, client session token, creation time). If
	// fn returns an error nothing is saved and that error is returned.
	// Unknown IDs give ErrNotFound.
	UpdateSession(ctx context.Context, id string, fn func(*Session) error) (*Session, error)
}

// ReferenceFaceStore keeps the reference face image of analysed sessions:
// the frame the analysis chose, which a face match with source_session_id
// compares. The image is sealed at rest like every stored image.
type ReferenceFaceStore interface {
	// SaveReferenceFace stores image (encoded, typically JPEG) as session
	// id's reference face, replacing any earlier one. Unknown sessions give
	// ErrNotFound.
	SaveReferenceFace(ctx context.Context, id string, image []byte) error
	// ReferenceFace returns session id's reference face image, or
	// ErrNotFound when it has none (never analysed, no usable face, or
	// purged).
	ReferenceFace(ctx context.Context, id string) ([]byte, error)
}
