package biometric

import (
	"bytes"
	"crypto/rand"
	"slices"
	"testing"
)

// TestDrawLightSequence: drawn sequences have the documented shape, every
// palette colour and length occurs, and no colour follows itself.
func TestDrawLightSequence(t *testing.T) {
	colors := map[string]int{}
	lengths := map[int]int{}
	durations := map[int64]int{}
	for range 500 {
		seq, err := DrawLightSequence(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		lengths[len(seq)]++
		for i, c := range seq {
			if !slices.Contains(LightPalette, c.Color) {
				t.Fatalf("colour %q is not in the palette", c.Color)
			}
			if c.DurationMS < MinLightMS || c.DurationMS > MaxLightMS || c.DurationMS%lightStepMS != 0 {
				t.Fatalf("duration %d ms", c.DurationMS)
			}
			if i > 0 && seq[i-1].Color == c.Color {
				t.Fatalf("colour %d repeats the one before: %+v", i, seq)
			}
			colors[c.Color]++
			durations[c.DurationMS]++
		}
	}
	if len(colors) != len(LightPalette) || len(lengths) != MaxLightColors-MinLightColors+1 || len(durations) != (MaxLightMS-MinLightMS)/lightStepMS+1 {
		t.Errorf("not every choice occurred in 500 draws: colours %v, lengths %v, durations %v", colors, lengths, durations)
	}
	if _, err := DrawLightSequence(bytes.NewReader(nil)); err == nil {
		t.Error("a failing source drew a sequence")
	}
}

func TestParseLightColor(t *testing.T) {
	if c, err := ParseLightColor("#FF8000"); err != nil || c != [3]float64{1, 128.0 / 255, 0} {
		t.Errorf("ParseLightColor = %v, %v", c, err)
	}
	for _, bad := range []string{"", "ff0000", "#ff00", "#gg0000", "#ff00000"} {
		if _, err := ParseLightColor(bad); err == nil {
			t.Errorf("ParseLightColor(%q) accepted", bad)
		}
	}
}
