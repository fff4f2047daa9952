package client

import "time"

// StartLivenessRequest is the body of POST /v1/biometrics/liveness/start.
type StartLivenessRequest struct {
	// ClientSessionToken is your own identifier for the session (required,
	// 1-128 characters of letters, digits and . _ : -). Starting again with
	// the same token returns the same session while it is still open.
	ClientSessionToken string `json:"client_session_token"`
	// ChallengeTypes optionally asks for specific challenge steps, in
	// order (for example ["blink", "turn_left"]); by default the server
	// picks one at random.
	ChallengeTypes []string `json:"challenge_types,omitempty"`
	// ScreenLight asks for a screen-light challenge: the capture client
	// lights the screen with a server-chosen random colour sequence and
	// the analysis checks that the face's reflected colour follows it.
	ScreenLight bool `json:"screen_light,omitempty"`
	// Metadata is optional text you attach to the session (correlation
	// ids…): at most 16 entries, keys up to 64 and values up to 256
	// characters.
	Metadata map[string]string `json:"metadata,omitempty"`
	// ConsentReference optionally records your reference to the person's
	// consent to this biometric check (up to 256 characters); it is stored
	// with the session and returned with its results.
	ConsentReference string `json:"consent_reference,omitempty"`
	// DeviceID optionally identifies the person's device or your
	// correlation id (1-128 characters of letters, digits and . _ : -).
	// After 5 failed liveness checks in a row for one device id, new
	// sessions for it are refused for a cooling-off period (429
	// device_cooling_off).
	DeviceID string `json:"device_id,omitempty"`
}

// ChallengeStep is one action the person is asked to perform.
type ChallengeStep struct {
	ChallengeType string `json:"challenge_type"`
	Instructions  string `json:"instructions"`
}

// ChallengeDetails describes a session's challenge. ChallengeType and
// Instructions are those of the first step; Steps lists every step.
type ChallengeDetails struct {
	ChallengeType string          `json:"challenge_type"`
	Instructions  string          `json:"instructions"`
	Steps         []ChallengeStep `json:"steps"`
	// LightSequence is the screen-light challenge's colours, in order,
	// when the start asked for screen_light or the tenant's policy does.
	LightSequence []LightColor `json:"light_sequence,omitempty"`
}

// LightColor is one colour of a screen-light sequence: "#rrggbb" shown for
// DurationMS.
type LightColor struct {
	Color      string `json:"color"`
	DurationMS int64  `json:"duration_ms"`
}

// StartLivenessResponse is the answer to a started (or repeated) liveness
// start.
type StartLivenessResponse struct {
	RequestID        string           `json:"request_id"`
	SessionID        string           `json:"session_id"`
	Status           string           `json:"status"`
	ChallengeDetails ChallengeDetails `json:"challenge_details"`
	// SessionToken authorises the capture client for this one session
	// (Authorization: Bearer …) until ExpiresAt. A repeated start with the
	// same client_session_token returns the same session with a new token,
	// and the previous token stops working.
	SessionToken string    `json:"session_token,omitempty"`
	ExpiresAt    time.Time `json:"expires_at"`
	// Capture tells the capture client what to record and where to send it.
	Capture *CaptureSettings `json:"capture,omitempty"`
	Message string           `json:"message"`
}

// CaptureSettings are a session's capture parameters: what the capture
// client records, the limits its upload is held to, and the session's
// capture endpoints (paths on the API server).
type CaptureSettings struct {
	FPS           int   `json:"fps"`
	Width         int   `json:"width"`
	Height        int   `json:"height"`
	MinFrames     int   `json:"min_frames"`
	MaxFrames     int   `json:"max_frames"`
	MinDurationMS int64 `json:"min_duration_ms"`
	MaxDurationMS int64 `json:"max_duration_ms"`
	MaxFrameBytes int64 `json:"max_frame_bytes"`
	StepWindowMS  int64 `json:"step_window_ms"`
	// MaxBatchFrames is the most frames one upload request may carry.
	MaxBatchFrames int    `json:"max_batch_frames"`
	UploadURL      string `json:"upload_url"`
	CompleteURL    string `json:"complete_url"`
	StatusURL      string `json:"status_url"`
}

// FrameBatchMeta is the "meta" part of a frame upload (multipart/form-data
// to …/frames): the batch number (0, 1, 2, … without gaps) and one entry
// per "frame" part that follows, in the same order.
type FrameBatchMeta struct {
	Batch  int         `json:"batch"`
	Frames []FrameMeta `json:"frames"`
}

// FrameMeta describes one uploaded frame: its index in the capture
// (continuing across batches) and when it was captured, in ms since the
// capture started.
type FrameMeta struct {
	Index        int   `json:"index"`
	CapturedAtMS int64 `json:"captured_at_ms"`
}

// FrameBatchResponse is the answer to an accepted frame batch.
type FrameBatchResponse struct {
	RequestID      string `json:"request_id"`
	SessionID      string `json:"session_id"`
	Status         string `json:"status"`
	Batch          int    `json:"batch"`
	FramesReceived int    `json:"frames_received"` // in the whole session so far
	BytesReceived  int64  `json:"bytes_received"`
	Message        string `json:"message"`
}

// CompleteCaptureRequest is the body of …/complete: how many frames the
// client uploaded in all, when it showed each challenge step's prompt, and
// what it says about itself (recorded, never trusted).
type CompleteCaptureRequest struct {
	FrameCount int               `json:"frame_count"`
	Prompts    []PromptShown     `json:"prompts,omitempty"`
	Client     map[string]string `json:"client,omitempty"`
	// Light says when each colour of the screen-light sequence was on
	// screen (sessions with a light_sequence only).
	Light []LightShown `json:"light,omitempty"`
}

// LightShown says when colour Index (0-based) of the session's light
// sequence reached and left the screen, in ms since the capture started.
type LightShown struct {
	Index      int    `json:"index"`
	Color      string `json:"color"`
	ShownAtMS  int64  `json:"shown_at_ms"`
	HiddenAtMS int64  `json:"hidden_at_ms"`
}

// PromptShown says when the prompt of challenge step Step (0-based) was
// shown, in ms since the capture started.
type PromptShown struct {
	Step      int   `json:"step"`
	ShownAtMS int64 `json:"shown_at_ms"`
}

// CaptureStatusResponse is what the capture client may know about its
// session (…/complete and …/status): its status and, when it failed,
// whether capturing again may help. The liveness decision itself is only
// in …/results, for the API key holder.
type CaptureStatusResponse struct {
	RequestID      string    `json:"request_id"`
	SessionID      string    `json:"session_id"`
	Status         string    `json:"status"`
	FramesReceived int       `json:"frames_received"`
	ExpiresAt      time.Time `json:"expires_at"`
	Failure        *Failure  `json:"failure,omitempty"` // set when Status is failed
	Message        string    `json:"message"`
}

// LivenessResultsResponse is the answer of GET
// /v1/biometrics/liveness/{session_id}/results.
type LivenessResultsResponse struct {
	RequestID string `json:"request_id"`
	SessionID string `json:"session_id"`
	// Status is created, in_progress, processing, completed, failed or
	// expired.
	Status      string          `json:"status"`
	Result      *LivenessResult `json:"result,omitempty"`  // set when Status is completed
	Failure     *Failure        `json:"failure,omitempty"` // set when Status is failed
	CreatedAt   time.Time       `json:"created_at"`
	ExpiresAt   time.Time       `json:"expires_at"`
	CompletedAt *time.Time      `json:"completed_at,omitempty"`
	// ConsentReference and DeviceID are those given at start.
	ConsentReference string `json:"consent_reference,omitempty"`
	DeviceID         string `json:"device_id,omitempty"`
	// BiometricsDeletedAt is when the session's biometric data (frames,
	// reference face, the face's landmarks) was deleted, on request or
	// after the retention period; the decision stays.
	BiometricsDeletedAt *time.Time `json:"biometrics_deleted_at,omitempty"`
	Message             string     `json:"message"`
}

// DeleteBiometricsResponse is the answer of DELETE
// /v1/biometrics/liveness/{session_id}.
type DeleteBiometricsResponse struct {
	RequestID           string    `json:"request_id"`
	SessionID           string    `json:"session_id"`
	Status              string    `json:"status"`
	BiometricsDeletedAt time.Time `json:"biometrics_deleted_at"`
	Message             string    `json:"message"`
}

// Failure says why a session ended failed; when Retryable, start a new
// session and capture again.
type Failure struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable"`
}

// LivenessResult is a liveness decision. The first three fields are the
// seed's; the rest explain the decision.
type LivenessResult struct {
	LivenessScore        float64 `json:"liveness_score"` // 0-100
	IsLive               bool    `json:"is_live"`
	SpoofAttemptDetected bool    `json:"spoof_attempt_detected"`

	Reasons       []string     `json:"reasons,omitempty"`
	Checks        []Check      `json:"checks,omitempty"`
	Steps         []StepResult `json:"steps,omitempty"`
	ReferenceFace *FaceInfo    `json:"reference_face,omitempty"`
	ModelVersion  string       `json:"model_version,omitempty"`
}

// Check is one signal of a liveness analysis.
type Check struct {
	Name   string  `json:"name"`
	Score  float64 `json:"score"` // 0-100, higher means more likely live
	Passed bool    `json:"passed"`
	Attack bool    `json:"attack,omitempty"`
	Detail string  `json:"detail,omitempty"`
}

// StepResult reports one challenge step of an analysed capture.
type StepResult struct {
	ChallengeType string `json:"challenge_type"`
	Seen          bool   `json:"seen"`
	PromptMS      int64  `json:"prompt_ms,omitempty"`
	SeenMS        int64  `json:"seen_ms,omitempty"`
}

// FaceMatchRequest is the body of POST /v1/biometrics/face-match. Give
// exactly one source (SourceImageURL, SourceImageBase64 or
// SourceSessionID) and one target (TargetImageURL or TargetImageBase64).
type FaceMatchRequest struct {
	SourceImageURL    string `json:"source_image_url,omitempty"`
	TargetImageURL    string `json:"target_image_url,omitempty"`
	SourceImageBase64 string `json:"source_image_base64,omitempty"`
	TargetImageBase64 string `json:"target_image_base64,omitempty"`
	// SourceSessionID names a completed, live liveness session whose
	// reference face is the source.
	SourceSessionID string `json:"source_session_id,omitempty"`
	// Threshold is the match_score (0-100) at or above which is_match is
	// true; nil means the default, 80.
	Threshold *float64 `json:"threshold,omitempty"`
}

// FaceMatchResponse is the answer of a completed face match.
type FaceMatchResponse struct {
	RequestID string       `json:"request_id"`
	Status    string       `json:"status"` // "completed"
	Result    *MatchResult `json:"result"`
	Message   string       `json:"message"`
}

// MatchResult is a face-match outcome. The first three fields are the
// seed's.
type MatchResult struct {
	MatchScore float64 `json:"match_score"` // 0-100
	IsMatch    bool    `json:"is_match"`
	Confidence float64 `json:"confidence"` // 0-100

	Threshold    float64   `json:"threshold"`
	SourceFace   *FaceInfo `json:"source_face,omitempty"`
	TargetFace   *FaceInfo `json:"target_face,omitempty"`
	SourceFaces  int       `json:"source_faces_found"`
	TargetFaces  int       `json:"target_faces_found"`
	Warnings     []string  `json:"warnings,omitempty"`
	ModelVersion string    `json:"model_version,omitempty"`
}

// FaceInfo describes one detected face.
type FaceInfo struct {
	Box        Box       `json:"bounding_box"`
	Confidence float64   `json:"confidence"` // 0-100
	Landmarks  Landmarks `json:"landmarks"`
	Pose       Pose      `json:"pose"`
	Quality    Quality   `json:"quality"`
}

// Box is a rectangle in image pixels.
type Box struct {
	X      float64 `json:"x"`
	Y      float64 `json:"y"`
	Width  float64 `json:"width"`
	Height float64 `json:"height"`
}

// Point is an image position in pixels.
type Point struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// Landmarks are five facial points. LeftEye is the person's left eye.
type Landmarks struct {
	LeftEye    Point `json:"left_eye"`
	RightEye   Point `json:"right_eye"`
	Nose       Point `json:"nose"`
	MouthLeft  Point `json:"mouth_left"`
	MouthRight Point `json:"mouth_right"`
}

// Pose is a head pose in degrees.
type Pose struct {
	Yaw   float64 `json:"yaw"`
	Pitch float64 `json:"pitch"`
	Roll  float64 `json:"roll"`
}

// Quality summarises how usable a face crop is (0-100 scales, size in
// pixels).
type Quality struct {
	FaceSize   float64 `json:"face_size_px"`
	Sharpness  float64 `json:"sharpness"`
	Brightness float64 `json:"brightness"`
	Score      float64 `json:"score"`
}

// StatusResponse is the body of /healthz and /readyz.
type StatusResponse struct {
	RequestID string `json:"request_id"`
	Status    string `json:"status"` // "ok"
	Message   string `json:"message"`
}

// ErrorResponse is the envelope of every error response.
type ErrorResponse struct {
	RequestID string      `json:"request_id"`
	Message   string      `json:"message"` // the same as Error.Message
	Error     ErrorDetail `json:"error"`
}

// ErrorDetail is the machine-readable part of an error.
type ErrorDetail struct {
	// Code is a stable snake_case identifier, e.g. "invalid_threshold".
	Code    string `json:"code"`
	Message string `json:"message"`
	// Field names the request field at fault, when there is one.
	Field string `json:"field,omitempty"`
	// RetryAfterSeconds, when set, is how long to wait before retrying
	// (also sent as the Retry-After header).
	RetryAfterSeconds int `json:"retry_after_seconds,omitempty"`
}
