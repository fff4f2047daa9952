package biometric

import (
	"fmt"
	"io"
	"strings"
)

// LightColor is one colour of a screen-light challenge: the capture client
// lights the screen around the face oval with Color ("#rrggbb") for
// DurationMS, then moves on to the next colour.
type LightColor struct {
	Color      string `json:"color"`
	DurationMS int64  `json:"duration_ms"`
}

// LightShown is what the capture client reports about one colour of the
// sequence: which one (Index into the issued sequence), its colour, and
// when it reached and left the screen, in ms since the capture started.
// It is a claim of the client, checked by the analysis, never trusted.
type LightShown struct {
	Index      int    `json:"index"`
	Color      string `json:"color"`
	ShownAtMS  int64  `json:"shown_at_ms"`
	HiddenAtMS int64  `json:"hidden_at_ms"`
}

// LightPalette lists the colours a screen-light sequence is drawn from:
// saturated, far apart in chromaticity, so that the face's reflection of
// each moves its colour in a distinct direction. White moves only the
// brightness; it is the sequence's neutral reference.
var LightPalette = []string{"#ff0000", "#00ff00", "#0000ff", "#ffff00", "#ff00ff", "#00ffff", "#ffffff"}

// The shape of a drawn screen-light sequence. MinLightMS keeps the screen
// below three flashes a second (WCAG 2.3.1) with a margin over the SDK's
// own floor of 350 ms; 6-8 colours of 400-600 ms last 2.4-4.8 s, inside
// the baseline and first step of a default capture.
const (
	MinLightColors = 6
	MaxLightColors = 8
	MinLightMS     = 400
	MaxLightMS     = 600
	lightStepMS    = 50 // durations are multiples of this
)

// DrawLightSequence draws a screen-light sequence from src (crypto/rand in
// the service): MinLightColors-MaxLightColors colours of LightPalette, no
// colour twice in a row, each lasting MinLightMS-MaxLightMS.
func DrawLightSequence(src io.Reader) ([]LightColor, error) {
	n, err := uniform(src, MaxLightColors-MinLightColors+1)
	if err != nil {
		return nil, err
	}
	seq := make([]LightColor, MinLightColors+n)
	prev := -1
	for i := range seq {
		choices := len(LightPalette)
		if prev >= 0 {
			choices--
		}
		k, err := uniform(src, choices)
		if err != nil {
			return nil, err
		}
		if prev >= 0 && k >= prev {
			k++ // skip the previous colour: the others stay equally likely
		}
		d, err := uniform(src, (MaxLightMS-MinLightMS)/lightStepMS+1)
		if err != nil {
			return nil, err
		}
		seq[i] = LightColor{Color: LightPalette[k], DurationMS: int64(MinLightMS + d*lightStepMS)}
		prev = k
	}
	return seq, nil
}

// ParseLightColor returns the red, green and blue of a "#rrggbb" colour,
// each 0-1.
func ParseLightColor(s string) ([3]float64, error) {
	var rgb [3]float64
	var r, g, b uint8
	if len(s) != 7 || s[0] != '#' {
		return rgb, fmt.Errorf("colour %q is not #rrggbb", s)
	}
	if _, err := fmt.Sscanf(strings.ToLower(s[1:]), "%02x%02x%02x", &r, &g, &b); err != nil {
		return rgb, fmt.Errorf("colour %q is not #rrggbb", s)
	}
	return [3]float64{float64(r) / 255, float64(g) / 255, float64(b) / 255}, nil
}
