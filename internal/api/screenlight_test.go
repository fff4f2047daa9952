package api_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/everify/everify/client"
	"github.com/everify/everify/internal/biometric"
)

// startLight starts a session that asks for the screen-light challenge and
// returns its capture client and issued sequence.
func (h *harness) startLight(key, clientToken string) (*capture, []client.LightColor) {
	h.t.Helper()
	r := h.do(request{method: "POST", path: "/v1/biometrics/liveness/start", key: key,
		body: map[string]any{"client_session_token": clientToken, "screen_light": true}})
	if r.status != http.StatusOK {
		h.t.Fatalf("start: %d %s", r.status, r.body)
	}
	var resp client.StartLivenessResponse
	r.decode(h.t, &resp)
	return &capture{h: h, id: resp.SessionID, token: resp.SessionToken}, resp.ChallengeDetails.LightSequence
}

// TestStartScreenLight: screen_light: true issues a random sequence of the
// documented shape, stored with the session and returned again on a
// repeated start; without it there is none.
func TestStartScreenLight(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	key := h.key("acme")
	distinct := map[string]bool{}
	for i := range 8 {
		c, seq := h.startLight(key, "light-"+string(rune('a'+i)))
		if len(seq) < biometric.MinLightColors || len(seq) > biometric.MaxLightColors {
			t.Fatalf("light_sequence has %d colours, want %d-%d", len(seq), biometric.MinLightColors, biometric.MaxLightColors)
		}
		key := ""
		for j, l := range seq {
			if !slices.Contains(biometric.LightPalette, l.Color) || l.DurationMS < biometric.MinLightMS || l.DurationMS > biometric.MaxLightMS {
				t.Errorf("colour %d = %+v, want a palette colour for %d-%d ms", j, l, biometric.MinLightMS, biometric.MaxLightMS)
			}
			if j > 0 && seq[j-1].Color == l.Color {
				t.Errorf("colour %d repeats the previous one: %+v", j, seq)
			}
			key += l.Color
		}
		distinct[key] = true
		sess, err := h.store.Session(t.Context(), "acme", c.id)
		if err != nil {
			t.Fatal(err)
		}
		if len(sess.Challenge.LightSequence) != len(seq) || sess.Challenge.LightSequence[0].Color != seq[0].Color {
			t.Errorf("stored sequence %+v, issued %+v", sess.Challenge.LightSequence, seq)
		}
	}
	if len(distinct) < 7 {
		t.Errorf("8 starts drew only %d different sequences", len(distinct))
	}
	// A repeated start returns the same session and sequence.
	_, first := h.startLight(key, "light-repeat")
	_, again := h.startLight(key, "light-repeat")
	if !slices.Equal(first, again) {
		t.Errorf("repeated start: %+v, first %+v", again, first)
	}
	// Without screen_light there is no sequence.
	r := h.start(key, "no-light")
	var resp client.StartLivenessResponse
	r.decode(t, &resp)
	if resp.ChallengeDetails.LightSequence != nil {
		t.Errorf("light_sequence %+v without screen_light", resp.ChallengeDetails.LightSequence)
	}
}

// TestCompleteLight: the light report is validated against the issued
// sequence with clear codes, stored with the capture when valid, and
// refused for a session that issued none.
func TestCompleteLight(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	key := h.key("acme")
	c, seq := h.startLight(key, "light-complete")
	c.upload(32) // the last frame at 2046 ms
	var good []map[string]any
	at := int64(100)
	for i, l := range seq {
		good = append(good, map[string]any{"index": i, "color": l.Color, "shown_at_ms": at, "hidden_at_ms": at + l.DurationMS})
		at += l.DurationMS
	}
	with := func(edit func([]map[string]any) []map[string]any) map[string]any {
		light := make([]map[string]any, len(good))
		for i, g := range good {
			light[i] = map[string]any{}
			for k, v := range g {
				light[i][k] = v
			}
		}
		return map[string]any{"frame_count": 32, "light": edit(light)}
	}
	wrong := "#ff0000"
	if seq[0].Color == wrong {
		wrong = "#00ff00"
	}
	for _, tc := range []struct {
		name string
		body map[string]any
		code string
	}{
		{"unknown index", with(func(l []map[string]any) []map[string]any { l[0]["index"] = len(seq); return l[:1] }), "invalid_light"},
		{"repeated index", with(func(l []map[string]any) []map[string]any { l[1]["index"] = 0; return l }), "invalid_light"},
		{"wrong colour", with(func(l []map[string]any) []map[string]any { l[0]["color"] = wrong; return l }), "light_color_mismatch"},
		{"hidden before shown", with(func(l []map[string]any) []map[string]any { l[0]["hidden_at_ms"] = 50; return l[:1] }), "invalid_light"},
		{"before the capture", with(func(l []map[string]any) []map[string]any { l[0]["shown_at_ms"] = -5; return l }), "invalid_light"},
		{"after the capture", with(func(l []map[string]any) []map[string]any { l[0]["hidden_at_ms"] = 30000; return l[:1] }), "invalid_light"},
		{"overlapping", with(func(l []map[string]any) []map[string]any { l[1]["shown_at_ms"] = 120; return l }), "invalid_light"},
	} {
		r := c.complete(tc.body)
		if r.status != 400 || r.errorCode(t) != tc.code {
			t.Errorf("%s: %d %s; want 400 %s", tc.name, r.status, r.body, tc.code)
		}
	}
	if r := c.complete(with(func(l []map[string]any) []map[string]any { return l })); r.status != http.StatusAccepted {
		t.Fatalf("complete: %d %s", r.status, r.body)
	}
	got, err := h.store.Capture(t.Context(), c.id)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Light) != len(seq) || got.Light[1].Color != seq[1].Color || got.Light[1].ShownAtMS != 100+seq[0].DurationMS {
		t.Errorf("stored light %+v", got.Light)
	}

	// A session without a sequence refuses a light report.
	plain := h.newCapture(key, "plain")
	plain.upload(32)
	r := plain.complete(map[string]any{"frame_count": 32, "light": []map[string]any{{"index": 0, "color": "#ff0000", "shown_at_ms": 0, "hidden_at_ms": 500}}})
	wantError(t, r, 400, "light_not_issued")
}

// TestTenantScreenLight checks that a tenant whose policy asks for the
// screen-light challenge gets a light sequence on every start, without
// asking, and that another tenant does not.
func TestTenantScreenLight(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	acme, globex := h.key("acme"), h.key("globex")
	rules := biometric.ChallengeRules{Steps: 1, Actions: []biometric.ChallengeType{biometric.ChallengeBlink}, ScreenLight: true}
	if err := h.store.SetTenantChallenges(t.Context(), "acme", rules); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key   string
		token string
		light bool
	}{{acme, "acme-1", true}, {acme, "acme-2", true}, {globex, "globex-1", false}} {
		r := h.do(request{method: "POST", path: "/v1/biometrics/liveness/start", key: tc.key, body: map[string]any{"client_session_token": tc.token}})
		var got client.StartLivenessResponse
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", tc.token, r.status, r.body)
		}
		r.decode(t, &got)
		if n := len(got.ChallengeDetails.LightSequence); (n >= biometric.MinLightColors) != tc.light {
			t.Errorf("%s: %d light colours; want a sequence: %v", tc.token, n, tc.light)
		}
	}
}
