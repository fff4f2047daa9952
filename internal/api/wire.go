package api

import (
	"github.com/everify/everify/client"
	"github.com/everify/everify/internal/biometric"
)

// The conversions from domain results to wire types. Struct types whose
// fields match exactly are converted directly; the compiler keeps those in
// step, and TestWireTypesMatchDomain checks the JSON of the rest.

func wireLivenessResult(r *biometric.LivenessResult) *client.LivenessResult {
	if r == nil {
		return nil
	}
	out := &client.LivenessResult{
		LivenessScore:        r.LivenessScore,
		IsLive:               r.IsLive,
		SpoofAttemptDetected: r.SpoofAttemptDetected,
		Reasons:              r.Reasons,
		ReferenceFace:        wireFace(r.ReferenceFace),
		ModelVersion:         r.ModelVersion,
	}
	for _, c := range r.Checks {
		out.Checks = append(out.Checks, client.Check(c))
	}
	for _, s := range r.Steps {
		out.Steps = append(out.Steps, client.StepResult{ChallengeType: string(s.Type), Seen: s.Seen, PromptMS: s.PromptMS, SeenMS: s.SeenMS})
	}
	return out
}

func wireMatchResult(r *biometric.MatchResult) *client.MatchResult {
	return &client.MatchResult{
		MatchScore:   r.MatchScore,
		IsMatch:      r.IsMatch,
		Confidence:   r.Confidence,
		Threshold:    r.Threshold,
		SourceFace:   wireFace(r.SourceFace),
		TargetFace:   wireFace(r.TargetFace),
		SourceFaces:  r.SourceFaces,
		TargetFaces:  r.TargetFaces,
		Warnings:     r.Warnings,
		ModelVersion: r.ModelVersion,
	}
}

func wireFace(f *biometric.FaceInfo) *client.FaceInfo {
	if f == nil {
		return nil
	}
	l := f.Landmarks
	return &client.FaceInfo{
		Box:        client.Box(f.Box),
		Confidence: f.Confidence,
		Landmarks: client.Landmarks{
			LeftEye: client.Point(l.LeftEye), RightEye: client.Point(l.RightEye), Nose: client.Point(l.Nose),
			MouthLeft: client.Point(l.MouthLeft), MouthRight: client.Point(l.MouthRight),
		},
		Pose:    client.Pose(f.Pose),
		Quality: client.Quality(f.Quality),
	}
}
