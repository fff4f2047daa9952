package evaluate

import (
	"bytes"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/everify/everify/internal/biometric"
)

func TestParseManifest(t *testing.T) {
	t.Parallel()
	in := `path,label,challenge,fps
# a comment
clips/a.mp4,bona_fide,blink
/abs/frames,print,"blink,turn_left",4
photo.jpg, still_photo , turn_right+nod
`
	items, err := ParseManifest(strings.NewReader(in), "/data")
	if err != nil {
		t.Fatal(err)
	}
	want := []Item{
		{Path: filepath.Join("/data", "clips/a.mp4"), Label: BonaFide, Challenge: []biometric.ChallengeType{"blink"}},
		{Path: "/abs/frames", Label: "print", Challenge: []biometric.ChallengeType{"blink", "turn_left"}, FPS: 4},
		{Path: "/data/photo.jpg", Label: "still_photo", Challenge: []biometric.ChallengeType{"turn_right", "nod"}},
	}
	if len(items) != len(want) {
		t.Fatalf("got %d items, want %d", len(items), len(want))
	}
	for i := range want {
		if items[i].Path != want[i].Path || items[i].Label != want[i].Label || !slices.Equal(items[i].Challenge, want[i].Challenge) || items[i].FPS != want[i].FPS {
			t.Errorf("item %d: got %+v, want %+v", i, items[i], want[i])
		}
	}
	var buf bytes.Buffer
	if err := WriteManifest(&buf, items); err != nil {
		t.Fatal(err)
	}
	back, err := ParseManifest(&buf, "/elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	for i := range items {
		if back[i].Path != items[i].Path || !slices.Equal(back[i].Challenge, items[i].Challenge) || back[i].FPS != items[i].FPS {
			t.Errorf("round trip %d: %+v != %+v", i, back[i], items[i])
		}
	}
	for _, bad := range []string{"a.mp4,bona_fide\n", "a.mp4,bona_fide,wave\n", "a.mp4,bona_fide,blink,-3\n", ",bona_fide,blink\n"} {
		if _, err := ParseManifest(strings.NewReader(bad), "/"); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestSummarise(t *testing.T) {
	t.Parallel()
	vs := []Verdict{
		{Label: BonaFide, Accepted: true},
		{Label: BonaFide, Accepted: true},
		{Label: BonaFide, Failure: "poor_quality"},
		{Label: BonaFide, Accepted: false},
		{Label: "print", Accepted: true},
		{Label: "print", SpoofAttemptDetected: true},
		{Label: "print"},
		{Label: "print"},
		{Label: "replay", Failure: "poor_quality"},
	}
	r := Summarise(vs)
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	if !near(r.BPCER, 0.5) || !near(r.APCER["print"], 0.25) || !near(r.APCER["replay"], 0) {
		t.Errorf("BPCER %v APCER %v", r.BPCER, r.APCER)
	}
	if !near(r.Detected["print"], 0.25) || !near(r.PoorQuality[BonaFide], 0.25) || !near(r.PoorQuality["replay"], 1) {
		t.Errorf("detected %v poor quality %v", r.Detected, r.PoorQuality)
	}
	if !slices.Equal(r.Species(), []string{"print", "replay"}) || r.Counts[BonaFide] != 4 {
		t.Errorf("species %v counts %v", r.Species(), r.Counts)
	}
}
