package api

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/everify/everify/internal/biometric"
)

// TestWireTypesMatchDomain checks that the wire types render the domain
// results to exactly the same JSON as the domain types' own tags, with
// every field set — so that a field added to a domain result and not to the
// wire types fails here.
func TestWireTypesMatchDomain(t *testing.T) {
	t.Parallel()
	face := &biometric.FaceInfo{
		Box: biometric.Box{X: 1, Y: 2, Width: 3, Height: 4}, Confidence: 5,
		Landmarks: biometric.Landmarks{LeftEye: biometric.Point{X: 6, Y: 7}, RightEye: biometric.Point{X: 8, Y: 9},
			Nose: biometric.Point{X: 10, Y: 11}, MouthLeft: biometric.Point{X: 12, Y: 13}, MouthRight: biometric.Point{X: 14, Y: 15}},
		Pose: biometric.Pose{Yaw: 16, Pitch: 17, Roll: 18}, Quality: biometric.Quality{FaceSize: 19, Sharpness: 20, Brightness: 21, Score: 22},
	}
	live := &biometric.LivenessResult{
		LivenessScore: 98.5, IsLive: true, SpoofAttemptDetected: true, Reasons: []string{"a", "b"},
		Checks:        []biometric.Check{{Name: "antispoof", Score: 90, Passed: true, Attack: true, Detail: "d"}},
		Steps:         []biometric.StepResult{{Type: biometric.ChallengeBlink, Seen: true, PromptMS: 100, SeenMS: 900}},
		ReferenceFace: face, ModelVersion: "m1",
	}
	match := &biometric.MatchResult{
		MatchScore: 92.1, IsMatch: true, Confidence: 95, Threshold: 80, SourceFace: face, TargetFace: face,
		SourceFaces: 1, TargetFaces: 2, Warnings: []string{"w"}, ModelVersion: "m2",
	}
	for _, v := range []any{live, match, face, &live.Checks[0], &live.Steps[0]} {
		assertAllSet(t, reflect.ValueOf(v).Elem(), reflect.TypeOf(v).Elem().Name())
	}
	for _, tc := range []struct {
		name         string
		domain, wire any
	}{
		{"LivenessResult", live, wireLivenessResult(live)},
		{"MatchResult", match, wireMatchResult(match)},
	} {
		want, _ := json.Marshal(tc.domain)
		got, _ := json.Marshal(tc.wire)
		if string(got) != string(want) {
			t.Errorf("%s renders differently on the wire:\ndomain %s\nwire   %s", tc.name, want, got)
		}
	}
}

// assertAllSet fails for any zero field of a struct, so that the test
// above covers every field.
func assertAllSet(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	for i := range v.NumField() {
		f := v.Field(i)
		name := path + "." + v.Type().Field(i).Name
		if f.IsZero() {
			t.Errorf("%s is not set in the test value; set it so that the wire comparison covers it", name)
		}
		if f.Kind() == reflect.Struct {
			assertAllSet(t, f, name)
		}
	}
}
