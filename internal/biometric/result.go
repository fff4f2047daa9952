package biometric

// LivenessResult is the decision of a liveness analysis. The first three
// fields are the seed's; the rest explain the decision.
type LivenessResult struct {
	LivenessScore        float64 `json:"liveness_score"` // 0-100
	IsLive               bool    `json:"is_live"`
	SpoofAttemptDetected bool    `json:"spoof_attempt_detected"`

	// Reasons are stable codes for what drove the decision, most important
	// first (for example "challenge_not_completed", "planar_motion").
	Reasons []string `json:"reasons,omitempty"`
	// Checks lists every signal's score and verdict.
	Checks []Check `json:"checks,omitempty"`
	// Steps says, for each challenge step, whether and when it was seen.
	Steps []StepResult `json:"steps,omitempty"`
	// ReferenceFace describes the best frame, kept as the session's
	// reference face for face-match.
	ReferenceFace *FaceInfo `json:"reference_face,omitempty"`
	// ModelVersion identifies the analysis models and policy.
	ModelVersion string `json:"model_version,omitempty"`
}

// Check is one signal of a liveness analysis.
type Check struct {
	Name   string  `json:"name"`   // e.g. "challenge", "planar_motion", "antispoof"
	Score  float64 `json:"score"`  // 0-100, higher means more likely live
	Passed bool    `json:"passed"` // whether the signal is on the live side of its threshold
	// Attack is true when the signal is positive evidence of an attack
	// (not merely missing evidence of liveness).
	Attack bool   `json:"attack,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// StepResult reports one challenge step.
type StepResult struct {
	Type     ChallengeType `json:"challenge_type"`
	Seen     bool          `json:"seen"`
	PromptMS int64         `json:"prompt_ms,omitempty"` // when the prompt was shown, ms from capture start
	SeenMS   int64         `json:"seen_ms,omitempty"`   // when the action was detected
}

// Box is an axis-aligned rectangle in image pixels.
type Box struct {
	X      float64 `json:"x"`
	Y      float64 `json:"y"`
	Width  float64 `json:"width"`
	Height float64 `json:"height"`
}

// Point is a 2-D image position in pixels.
type Point struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// Pose is a head pose in degrees: yaw (positive = the person turns to
// their left, i.e. the face points to the image's right), pitch (positive =
// up) and roll (positive = clockwise in the image).
type Pose struct {
	Yaw   float64 `json:"yaw"`
	Pitch float64 `json:"pitch"`
	Roll  float64 `json:"roll"`
}

// Quality summarises how usable a face crop is.
type Quality struct {
	FaceSize   float64 `json:"face_size_px"` // the shorter side of the face box
	Sharpness  float64 `json:"sharpness"`    // 0-100, variance of the Laplacian mapped to a scale
	Brightness float64 `json:"brightness"`   // 0-100, mean luma of the face
	Score      float64 `json:"score"`        // 0-100 overall usability
}

// Landmarks are the named facial points every detector path provides.
type Landmarks struct {
	LeftEye    Point `json:"left_eye"` // the person's left eye (image right)
	RightEye   Point `json:"right_eye"`
	Nose       Point `json:"nose"`
	MouthLeft  Point `json:"mouth_left"`
	MouthRight Point `json:"mouth_right"`
}

// FaceInfo describes one detected face.
type FaceInfo struct {
	Box        Box       `json:"bounding_box"`
	Confidence float64   `json:"confidence"` // detector confidence 0-100
	Landmarks  Landmarks `json:"landmarks"`
	Pose       Pose      `json:"pose"`
	Quality    Quality   `json:"quality"`
}

// MatchResult is the outcome of a face match. The first three fields are
// the seed's.
type MatchResult struct {
	MatchScore float64 `json:"match_score"` // calibrated 0-100
	IsMatch    bool    `json:"is_match"`
	Confidence float64 `json:"confidence"` // 0-100: how sure we are that both faces are usable

	Threshold    float64   `json:"threshold"`
	SourceFace   *FaceInfo `json:"source_face,omitempty"`
	TargetFace   *FaceInfo `json:"target_face,omitempty"`
	SourceFaces  int       `json:"source_faces_found"`
	TargetFaces  int       `json:"target_faces_found"`
	Warnings     []string  `json:"warnings,omitempty"`
	ModelVersion string    `json:"model_version,omitempty"`
}
