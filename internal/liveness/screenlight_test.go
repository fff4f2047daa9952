package liveness

import (
	"bytes"
	"context"
	"fmt"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/imagein"
)

// The screen-light tests use real frames of a live clip and synthesise the
// screen's reflection on the face: no real screen-lit capture exists in
// the evaluation data (docs/LIVENESS.md, "Screen-light challenge").

const (
	lightClip    = "blink-selfie-portrait.mp4"
	lightClipEnd = 5400 // ms of the clip used: the longest sequence (4.8 s) and its start
	lightStartMS = 200  // when the simulated client shows the first colour
)

// lightSequence draws a sequence as the API does, from a seeded source.
func lightSequence(t testing.TB, seed uint64) []biometric.LightColor {
	t.Helper()
	seq, err := biometric.DrawLightSequence(seededReader{rand.New(rand.NewPCG(seed, 7))})
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

type seededReader struct{ r *rand.Rand }

func (s seededReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(s.r.Uint32())
	}
	return len(p), nil
}

// shownTimes is what a client reports for seq shown from start: each colour
// switched on the animation frame after its time is up (0-16 ms late).
func shownTimes(seq []biometric.LightColor, start int64, rng *rand.Rand) []biometric.LightShown {
	out := make([]biometric.LightShown, len(seq))
	at := start
	for i, c := range seq {
		next := at + c.DurationMS + int64(rng.IntN(17))
		out[i] = biometric.LightShown{Index: i, Color: c.Color, ShownAtMS: at, HiddenAtMS: next}
		at = next
	}
	return out
}

// lightBase returns the clip's frames and their observations, computed once.
var lightBaseCache struct {
	once   sync.Once
	frames []biometric.Frame
	obs    []frameObs
}

func lightBase(t testing.TB) ([]biometric.Frame, []frameObs) {
	t.Helper()
	frames := liveClip(t, lightClip, 0, lightClipEnd)
	lightBaseCache.once.Do(func() {
		lightBaseCache.frames = frames
		lightBaseCache.obs = observeAll(t, frames)
	})
	return lightBaseCache.frames, lightBaseCache.obs
}

// reflection describes a simulated screen reflection.
type reflection struct {
	Strength  float64 // light the screen adds to the face, as a share of the ambient light
	LatencyMS int64   // camera latency: a frame shows the screen as it was this long before
	Brighten  float64 // factor applied to the whole frame first (1: none), clipping at 255
	// WhiteBalanceMS, when set, simulates the camera's automatic white
	// balance: grey-world gains from the frame's mean colour, smoothed
	// with this time constant, applied after the reflection.
	WhiteBalanceMS float64
	Seed           uint64
}

// relight returns frames with the face lit by the colours in shown as r
// describes: inside an ellipse around each frame's face (found on the
// untouched frame), each channel c of a pixel p becomes p·(1 + s·w·C_c),
// with s the strength (jittered ±20 % per frame), w a weight falling from
// 1 at the face's centre to 0 at its edge, C the colour on screen at the
// frame's time minus the latency; then sensor noise (σ 2 levels) and a
// per-frame exposure wobble (σ 1 %) are added and the frame is encoded
// again as JPEG (quality 90).
func relight(t testing.TB, frames []biometric.Frame, obs []frameObs, shown []biometric.LightShown, r reflection) []biometric.Frame {
	t.Helper()
	rng := rand.New(rand.NewPCG(r.Seed, 11))
	colors := make([][3]float64, len(shown))
	for i, l := range shown {
		colors[i], _ = biometric.ParseLightColor(l.Color)
	}
	out := make([]biometric.Frame, len(frames))
	var awb whiteBalance
	for i, f := range frames {
		img, err := imagein.Decode(f.Image, imagein.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		pix := img.RGBA
		var c [3]float64
		lit := false
		for k, l := range shown {
			at := f.AtMS - r.LatencyMS
			if at >= l.ShownAtMS && at < l.HiddenAtMS {
				c, lit = colors[k], true
			}
		}
		s := r.Strength * (1 + 0.2*rng.NormFloat64())
		exposure := 1 + 0.01*rng.NormFloat64()
		bright := cmpOr(r.Brighten, 1)
		var cx, cy, ax, ay float64
		if o := obs[i]; o.Face != nil {
			b := o.Face.Box
			cx, cy, ax, ay = b.X+b.Width/2, b.Y+b.Height/2, 0.6*b.Width, 0.65*b.Height
		}
		bounds := pix.Bounds()
		for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
			for x := bounds.Min.X; x < bounds.Max.X; x++ {
				w := 0.0
				if lit && ax > 0 {
					dx, dy := (float64(x)-cx)/ax, (float64(y)-cy)/ay
					w = math.Max(0, 1-(dx*dx+dy*dy))
				}
				o := pix.PixOffset(x, y)
				for ch := range 3 {
					v := float64(pix.Pix[o+ch]) * bright * exposure * (1 + s*w*c[ch])
					v += 2 * rng.NormFloat64()
					pix.Pix[o+ch] = uint8(math.Max(0, math.Min(255, math.Round(v))))
				}
			}
		}
		if r.WhiteBalanceMS > 0 {
			awb.apply(pix.Pix, float64(f.AtMS), r.WhiteBalanceMS)
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, pix, &jpeg.Options{Quality: 90}); err != nil {
			t.Fatal(err)
		}
		out[i] = biometric.Frame{Index: f.Index, AtMS: f.AtMS, Image: buf.Bytes(), ContentType: "image/jpeg"}
	}
	return out
}

// whiteBalance is a simulated grey-world automatic white balance: it
// tracks the frame's mean colour with a time constant and scales each
// channel so that the tracked mean is grey.
type whiteBalance struct {
	mean [3]float64
	at   float64
	set  bool
}

func (w *whiteBalance) apply(pix []uint8, at, tau float64) {
	var m [3]float64
	n := 0.0
	for i := 0; i+3 < len(pix); i += 4 {
		for c := range 3 {
			m[c] += float64(pix[i+c])
		}
		n++
	}
	for c := range 3 {
		m[c] /= n
	}
	if !w.set {
		w.mean, w.set = m, true
	} else {
		a := 1 - math.Exp(-(at-w.at)/tau)
		for c := range 3 {
			w.mean[c] += a * (m[c] - w.mean[c])
		}
	}
	w.at = at
	grey := (w.mean[0] + w.mean[1] + w.mean[2]) / 3
	for i := 0; i+3 < len(pix); i += 4 {
		for c := range 3 {
			pix[i+c] = uint8(math.Min(255, math.Round(float64(pix[i+c])*grey/w.mean[c])))
		}
	}
}

func cmpOr(v, d float64) float64 {
	if v == 0 {
		return d
	}
	return v
}

// TestScreenLightScores measures the check on simulated reflections of a
// real clip over several sequences, strengths and latencies, and on the
// attacks it must refuse: the untouched frames (a replay or an injected
// video, which no screen lit) against many sequences, and frames lit by
// another sequence (a capture recorded against one challenge, replayed
// against a new one). It logs the distributions that docs/LIVENESS.md
// reports and holds the thresholds to them with a margin.
func TestScreenLightScores(t *testing.T) {
	frames, base := lightBase(t)
	th := DefaultScreenLightThresholds
	var genuine, genuineGain, other, otherGain []float64
	otherAttacks := 0
	for seed := uint64(1); seed <= 4; seed++ {
		rng := rand.New(rand.NewPCG(seed, 3))
		seq := lightSequence(t, seed)
		shown := shownTimes(seq, lightStartMS, rng)
		otherSeq := lightSequence(t, seed+100)
		otherShown := shownTimes(otherSeq, lightStartMS, rng)
		for _, strength := range []float64{0.01, 0.015, 0.03, 0.05, 0.08} {
			lat := int64(40 + 40*rng.IntN(4)) // 40-160 ms
			lit := observeAll(t, relight(t, frames, base, shown, reflection{Strength: strength, LatencyMS: lat, Seed: seed}))
			g := screenLightCheck(lit, seq, shown, th)
			o := screenLightCheck(lit, otherSeq, otherShown, th)
			t.Logf("seed %d strength %.3f latency %3d ms: genuine corr %.3f (lag %3d ms) gain %.4f z %.1f passed %v | other sequence corr %.3f gain %.4f attack %v",
				seed, strength, lat, g.Corr, g.LagMS, g.Gain, g.Z, g.Check.Passed, o.Corr, o.Gain, o.Check.Attack)
			if g.Check.Attack {
				t.Errorf("seed %d strength %.3f: a lit face is attack evidence: %+v", seed, strength, g.Check)
			}
			// Colour changes that do not follow the screen fail the check;
			// they are attack evidence only where the capture is otherwise
			// steady (they could also be flickering ambient light).
			if o.Check.Passed {
				t.Errorf("seed %d strength %.3f: a face lit by another sequence passes: %+v", seed, strength, o.Check)
			}
			other, otherGain = append(other, o.Corr), append(otherGain, o.Gain)
			if o.Check.Attack {
				otherAttacks++
			}
			if strength < 0.03 {
				continue // weaker than the 3-8 % the thresholds are set for: logged only
			}
			genuine, genuineGain = append(genuine, g.Corr), append(genuineGain, g.Gain)
			if !g.Check.Passed {
				t.Errorf("seed %d strength %.2f: a lit face fails the check: %+v", seed, strength, g.Check)
			}
		}
	}

	// Unlit faces (replays, injected video) against many sequences: only
	// the sequence changes, so the clip's segments are observed once.
	var replay, replayGain, replayZ []float64
	for k, seg := range [][2]int64{{0, lightClipEnd}, {4000, 9400}, {8500, 13900}} {
		obs := base
		if k > 0 {
			obs = observeAll(t, liveClip(t, lightClip, seg[0], seg[1]))
		}
		for seed := uint64(1000); seed < 1300; seed++ {
			seq := lightSequence(t, seed)
			r := screenLightCheck(obs, seq, shownTimes(seq, lightStartMS, rand.New(rand.NewPCG(seed, 1))), th)
			replay, replayGain, replayZ = append(replay, r.Corr), append(replayGain, r.Gain), append(replayZ, r.Z)
			if r.Check.Passed || !r.Check.Attack {
				t.Errorf("segment %v seed %d: unlit face = %+v, want attack evidence", seg, seed, r.Check)
			}
		}
	}
	t.Logf("lit 3-8 %%:       corr %s; gain %s", summary(genuine), summary(genuineGain))
	t.Logf("other sequence:  corr %s; gain %s; attack evidence on %d of %d", summary(other), summary(otherGain), otherAttacks, len(other))
	t.Logf("unlit (replay):  corr %s; gain %s; z %s", summary(replay), summary(replayGain), summary(replayZ))
	// Margins: each threshold sits well between the populations.
	if lo := slices.Min(genuine); lo < th.Pass+0.1 {
		t.Errorf("lowest lit correlation %.3f is within 0.1 of the threshold %.2f", lo, th.Pass)
	}
	if hi := max(slices.Max(replay), slices.Max(other)); hi > th.Pass-0.1 {
		t.Errorf("highest attack correlation %.3f is within 0.1 of the threshold %.2f", hi, th.Pass)
	}
	if lo := slices.Min(genuineGain); lo < 2*th.MinGain {
		t.Errorf("lowest lit gain %.4f is below twice MinGain %.4f", lo, th.MinGain)
	}
	if hi := max(slices.Max(replayGain), slices.Max(otherGain)); hi > th.AbsentGain {
		t.Errorf("highest attack gain %.4f is above AbsentGain %.4f", hi, th.AbsentGain)
	}
}

// TestScreenLightWhiteBalance measures the check when a simulated
// automatic white balance pulls the frame's colour back to grey (time
// constant 300 ms): it takes part of the reflection away. (With 1000 ms
// the numbers were within 0.01 of these; docs/LIVENESS.md.)
func TestScreenLightWhiteBalance(t *testing.T) {
	frames, base := lightBase(t)
	th := DefaultScreenLightThresholds
	for seed := uint64(1); seed <= 2; seed++ {
		rng := rand.New(rand.NewPCG(seed, 3))
		seq := lightSequence(t, seed)
		shown := shownTimes(seq, lightStartMS, rng)
		for _, tau := range []float64{300} {
			for _, strength := range []float64{0.03, 0.08} {
				lit := observeAll(t, relight(t, frames, base, shown, reflection{Strength: strength, LatencyMS: 80, Seed: seed, WhiteBalanceMS: tau}))
				g := screenLightCheck(lit, seq, shown, th)
				t.Logf("seed %d white balance %4.0f ms strength %.2f: corr %.3f gain %.4f z %.1f passed %v attack %v", seed, tau, strength, g.Corr, g.Gain, g.Z, g.Check.Passed, g.Check.Attack)
				if !g.Check.Passed || g.Check.Attack {
					t.Errorf("seed %d white balance %.0f ms strength %.2f: a lit face fails the check: %+v", seed, tau, strength, g.Check)
				}
			}
		}
	}
}

// TestScreenLightBright: a weak reflection on an over-exposed face (the
// frames brightened until the skin clips, as in direct sunlight) cannot
// be judged; it must end as the retryable ambient_light_too_bright, never
// as attack evidence.
func TestScreenLightBright(t *testing.T) {
	frames, base := lightBase(t)
	th := DefaultScreenLightThresholds
	for seed := uint64(1); seed <= 2; seed++ {
		rng := rand.New(rand.NewPCG(seed, 5))
		seq := lightSequence(t, seed)
		shown := shownTimes(seq, lightStartMS, rng)
		lit := observeAll(t, relight(t, frames, base, shown, reflection{Strength: 0.02, LatencyMS: 80, Brighten: 1.8, Seed: seed}))
		got := screenLightCheck(lit, seq, shown, th)
		t.Logf("seed %d brightened, strength 0.02: corr %.3f gain %.3f z %.1f; %+v", seed, got.Corr, got.Gain, got.Z, got.Check)
		if got.Check.Attack {
			t.Errorf("seed %d: over-exposed weak reflection flagged as an attack: %+v", seed, got.Check)
		}
		if !got.Check.Passed && (got.Issue == nil || got.Issue.Code != reasonAmbientBright) {
			t.Errorf("seed %d: failed check without the ambient_light_too_bright issue: %+v", seed, got)
		}
	}
}

// TestScreenLightTiming: reported times that are not those of the issued
// sequence fail the check before any measurement.
func TestScreenLightTiming(t *testing.T) {
	_, base := lightBase(t)
	th := DefaultScreenLightThresholds
	seq := lightSequence(t, 9)
	good := shownTimes(seq, lightStartMS, rand.New(rand.NewPCG(1, 1)))
	stretched := slices.Clone(good)
	stretched[1].HiddenAtMS += 400
	for i := 2; i < len(stretched); i++ {
		stretched[i].ShownAtMS += 400
		stretched[i].HiddenAtMS += 400
	}
	gap := slices.Clone(good)
	for i := 3; i < len(gap); i++ {
		gap[i].ShownAtMS += 500
		gap[i].HiddenAtMS += 500
	}
	for _, tc := range []struct {
		name  string
		shown []biometric.LightShown
		want  string
	}{
		{"duration", stretched, "were issued"},
		{"skipped first", good[1:], "not the issued sequence"},
		{"too few", good[:2], "at least"},
		{"gap", gap, "unlit"},
	} {
		got := screenLightCheck(base, seq, tc.shown, th)
		if got.Check.Passed || got.Check.Attack || !strings.Contains(got.Check.Detail, tc.want) || got.Reason != reasonLightNotFollowed {
			t.Errorf("%s: %+v, want a failed check saying %q", tc.name, got, tc.want)
		}
	}
	// Frames out of time order (injected timestamps) are measured in time
	// order, without failing.
	shuffled := slices.Clone(base)
	rand.New(rand.NewPCG(2, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	if a, b := screenLightCheck(shuffled, seq, good, th), screenLightCheck(base, seq, good, th); math.Abs(a.Corr-b.Corr) > 1e-9 {
		t.Errorf("shuffled frames: corr %.4f, in order %.4f", a.Corr, b.Corr)
	}
	if got := screenLightCheck(base, seq, nil, th); got.Check.Passed || got.Reason != reasonLightMissing {
		t.Errorf("no report: %+v, want %s", got, reasonLightMissing)
	}
}

// TestAnalyzeScreenLight runs the whole analysis with a light sequence:
// the lit capture keeps its other results and passes screen_light; the
// same frames unlit are a spoof with screen_light_not_followed; without a
// light report the capture is not live with screen_light_missing; a weak
// reflection on an over-exposed face is a retryable poor-quality failure
// with ambient_light_too_bright.
func TestAnalyzeScreenLight(t *testing.T) {
	frames, base := lightBase(t)
	seq := lightSequence(t, 21)
	shown := shownTimes(seq, lightStartMS, rand.New(rand.NewPCG(21, 1)))
	challenge := challengeOf(biometric.ChallengeBlink)
	challenge.LightSequence = seq
	lit := relight(t, frames, base, shown, reflection{Strength: 0.05, LatencyMS: 100, Seed: 21})
	a := analyzer(t)
	ctx := context.Background()
	check := func(res *biometric.LivenessResult) biometric.Check {
		for _, c := range res.Checks {
			if c.Name == CheckScreenLight {
				return c
			}
		}
		t.Fatalf("no %s check in %+v", CheckScreenLight, res.Checks)
		return biometric.Check{}
	}

	out, err := a.Analyze(ctx, challenge, &biometric.Capture{Frames: lit, Light: shown}, testParams)
	if err != nil {
		t.Fatal(err)
	}
	if c := check(out.Result); !c.Passed || slices.Contains(out.Result.Reasons, reasonLightNotFollowed) {
		t.Errorf("lit capture: %+v, reasons %v", c, out.Result.Reasons)
	}

	out, err = a.Analyze(ctx, challenge, &biometric.Capture{Frames: frames, Light: shown}, testParams)
	if err != nil {
		t.Fatal(err)
	}
	if c := check(out.Result); c.Passed || !out.Result.SpoofAttemptDetected || out.Result.IsLive ||
		!slices.Contains(out.Result.Reasons, reasonLightNotFollowed) {
		t.Errorf("unlit capture: %+v, live %v spoof %v reasons %v", c, out.Result.IsLive, out.Result.SpoofAttemptDetected, out.Result.Reasons)
	}

	out, err = a.Analyze(ctx, challenge, &biometric.Capture{Frames: lit}, testParams)
	if err != nil {
		t.Fatal(err)
	}
	if out.Result.IsLive || !slices.Contains(out.Result.Reasons, reasonLightMissing) {
		t.Errorf("no light report: live %v reasons %v", out.Result.IsLive, out.Result.Reasons)
	}

	// A weak reflection on an over-exposed face: a retryable failure.
	bright := relight(t, frames, base, shown, reflection{Strength: 0.02, LatencyMS: 100, Brighten: 1.8, Seed: 21})
	out, err = a.Analyze(ctx, challenge, &biometric.Capture{Frames: bright, Light: shown}, testParams)
	if err != nil {
		t.Fatal(err)
	}
	if out.Failure == nil || out.Failure.Code != "poor_quality" || !out.Failure.Retryable || out.Result.SpoofAttemptDetected ||
		!slices.Equal(out.Result.Reasons, []string{reasonAmbientBright}) {
		t.Errorf("over-exposed capture: failure %+v, spoof %v, reasons %v", out.Failure, out.Result.SpoofAttemptDetected, out.Result.Reasons)
	}
}

// summary formats min / median / max of v.
func summary(v []float64) string {
	s := slices.Clone(v)
	slices.Sort(s)
	return fmt.Sprintf("n=%d min %.4f p50 %.4f p99 %.4f max %.4f", len(s), s[0], s[len(s)/2], s[len(s)*99/100], s[len(s)-1])
}
