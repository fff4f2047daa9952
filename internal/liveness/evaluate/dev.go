package evaluate

import (
	"bytes"
	"context"
	"fmt"
	"image/jpeg"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/imagein"
	"github.com/everify/everify/internal/liveness"
	"github.com/everify/everify/internal/vision"
)

// The attack species of the development evaluation.
const (
	SpeciesStillPhoto     = "still_photo"
	SpeciesPrint          = "print"
	SpeciesReplay         = "replay"
	SpeciesWrongChallenge = "wrong_challenge"
	SpeciesDuplicated     = "injected_duplicate"
	SpeciesTimestamps     = "injected_timestamps"
	SpeciesSplice         = "injected_splice"
)

// segment is a labelled stretch of a live clip: the actions it really
// contains, in the order they happen.
type segment struct {
	Clip     string // file in video/live
	From, To int64  // ms
	Actions  string // challenge actions, '+'-separated; "" for the whole clip's label below
	Wrong    string // a challenge the segment does not contain
}

// liveSegments label the bona fide clips. Each clip is cut into 4-second
// windows (the length of a real capture) and each window is labelled with
// actions seen in it. The labels were proposed by the action detectors
// and each was confirmed by looking at the frames around it; proposals
// that were not real actions (winks, eye rolls, the small head turns of
// a talking head) were dropped, and windows without a confirmed action
// are not used. "Wrong" is a challenge the window does not answer: a head
// turn for windows without one (turn direction alternating), otherwise an
// action absent from the window. To is exclusive; 0 means the end of the
// clip.
var liveSegments = []segment{
	{"WDA_AlexandriaOcasioCortez_000.mp4", 0, 4000, "blink", "turn_left"},
	{"WDA_AlexandriaOcasioCortez_000.mp4", 4000, 8000, "blink", "turn_right"},
	{"WDA_KatieHill_000.mp4", 0, 4000, "blink", "nod"},
	{"WDA_KatieHill_000.mp4", 4000, 8000, "blink", "open_mouth+turn_right"},
	{"blink-selfie-portrait.mp4", 0, 4000, "blink", "turn_left"},
	{"blink-selfie-portrait.mp4", 4000, 8000, "blink", "turn_right"},
	{"blink-selfie-portrait.mp4", 8000, 12000, "blink", "open_mouth"},
	{"liveportrait-d0.mp4", 0, 0, "blink", "turn_left"},
	{"liveportrait-d10.mp4", 0, 4000, "open_mouth", "turn_right"},
	{"liveportrait-d10.mp4", 4000, 8000, "blink", "turn_left"},
	{"liveportrait-d10.mp4", 8000, 12000, "open_mouth+blink", "turn_right"},
	{"liveportrait-d12.mp4", 0, 4000, "turn_left+turn_right", "open_mouth"},
	{"liveportrait-d12.mp4", 4000, 0, "open_mouth", "turn_left+turn_right"},
	{"liveportrait-d14.mp4", 0, 4000, "blink", "turn_left"},
	{"liveportrait-d3.mp4", 8000, 0, "open_mouth", "blink+turn_right"},
	{"liveportrait-d6.mp4", 0, 4000, "open_mouth", "turn_left"},
	{"liveportrait-d6.mp4", 4000, 8000, "open_mouth+blink", "turn_right"},
	{"liveportrait-d6.mp4", 8000, 12000, "open_mouth", "turn_left"},
	{"liveportrait-d6.mp4", 12000, 16000, "blink+open_mouth", "turn_right"},
	{"liveportrait-d6.mp4", 16000, 20000, "open_mouth", "turn_left"},
	{"liveportrait-d6.mp4", 20000, 24000, "open_mouth", "turn_right"},
	{"liveportrait-d6.mp4", 24000, 28000, "open_mouth", "turn_left"},
	{"liveportrait-d6.mp4", 28000, 32000, "open_mouth+blink", "turn_right"},
	{"webcam-zubair-real.webm", 4000, 8000, "turn_right", "open_mouth"},
	{"webcam-zubair-real.webm", 8000, 12000, "turn_left", "open_mouth"},
}

// clipFilters undo known encoding artefacts of the live clips before they
// are sampled. liveportrait-d12 is a 20 fps recording padded to 25 fps by
// repeating about one frame in five (consecutive repeats differ by less
// than 0.1 grey level); no camera delivers that, and the repeats would be
// taken for injected duplicates, so they are dropped and the remaining
// frames retimed at 20 fps. EVALUATION.md reports the clip as it is, too.
var clipFilters = map[string]string{
	"liveportrait-d12.mp4": "mpdecimate,setpts=N/(20*TB)",
}

// wholeClips label each live clip as a whole with its main actions.
var wholeClips = map[string]string{
	"WDA_AlexandriaOcasioCortez_000.mp4": "blink",
	"WDA_KatieHill_000.mp4":              "blink",
	"blink-selfie-portrait.mp4":          "blink",
	"liveportrait-d0.mp4":                "blink",
	"liveportrait-d10.mp4":               "open_mouth+blink",
	"liveportrait-d12.mp4":               "turn_left+turn_right",
	"liveportrait-d14.mp4":               "blink",
	"liveportrait-d3.mp4":                "open_mouth",
	"liveportrait-d6.mp4":                "blink+open_mouth",
	"webcam-zubair-real.webm":            "turn_right+turn_left",
}

// DevOptions configures BuildDev.
type DevOptions struct {
	// Data is the evaluation data directory (../shared/data).
	Data string
	// Cache receives the generated clips (frame directories); it must be
	// outside the repository.
	Cache string
	// LFWPhotos is how many LFW people's first photo become still-photo
	// attacks (default 40).
	LFWPhotos int
}

// BuildDev builds the development evaluation from the shared data and
// returns its items; frame directories it derives (live windows, NUAA
// sequences, injected sequences) are written under opts.Cache, still
// photos are referred to directly (the evaluation turns each into a
// hand-held clip). It is deterministic.
//
//   - bona fide: each live clip whole, and its labelled 4-second windows
//     (all sampled at 15 fps into frame directories, after clipFilters);
//   - still_photo: every deepface-unit photo and the first photo of the
//     first LFW people, each asked for a turn (which the generated clip
//     imitates by turning the photo) or for blink and a turn;
//   - print: the NUAA print-attack sequences, one per subject, glasses,
//     position and session;
//   - replay: the phone replay clip with three challenges;
//   - wrong_challenge: every labelled window asked for a challenge it
//     does not contain;
//   - injected_duplicate, injected_timestamps, injected_splice: labelled
//     windows with repeated frames, rewritten timestamps, or half of one
//     person's window followed by half of another's, asked for the
//     challenge their frames do answer.
func BuildDev(ctx context.Context, opts DevOptions) ([]Item, error) {
	if opts.LFWPhotos <= 0 {
		opts.LFWPhotos = 40
	}
	b := devBuilder{opts: opts, clips: map[string][]biometric.Frame{}}
	steps := []func(context.Context) error{b.live, b.stills, b.prints, b.replay, b.injected}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return nil, err
		}
	}
	return b.items, nil
}

type devBuilder struct {
	opts  DevOptions
	items []Item
	clips map[string][]biometric.Frame // decoded live clips
	// windows are the written bona fide windows, in liveSegments order.
	windows []window
}

type window struct {
	seg    segment
	dir    string
	frames []biometric.Frame
}

func (b *devBuilder) add(path, label, challenge string) {
	c, err := ParseChallenge(challenge)
	if err != nil {
		panic(fmt.Sprintf("dev manifest: %q: %v", challenge, err)) // the tables above are constants
	}
	b.items = append(b.items, Item{Path: path, Label: label, Challenge: c})
}

func (b *devBuilder) liveClip(ctx context.Context, name string) ([]biometric.Frame, error) {
	if f, ok := b.clips[name]; ok {
		return f, nil
	}
	f, err := liveness.DecodeVideo(ctx, filepath.Join(b.opts.Data, "video", "live", name), liveness.VideoOptions{Filter: clipFilters[name]})
	if err != nil {
		return nil, err
	}
	b.clips[name] = f
	return f, nil
}

// live adds the whole clips, the windows and their wrong challenges.
func (b *devBuilder) live(ctx context.Context) error {
	var names []string
	for n := range wholeClips {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		frames, err := b.liveClip(ctx, n)
		if err != nil {
			return err
		}
		dir := filepath.Join(b.opts.Cache, "live", strings.TrimSuffix(n, filepath.Ext(n)))
		if err := rewriteDir(dir, frames); err != nil {
			return err
		}
		b.add(dir, BonaFide, wholeClips[n])
	}
	for _, s := range liveSegments {
		frames, err := b.liveClip(ctx, s.Clip)
		if err != nil {
			return err
		}
		w := cut(frames, s.From, s.To)
		dir := filepath.Join(b.opts.Cache, "live", fmt.Sprintf("%s-%05d", strings.TrimSuffix(s.Clip, filepath.Ext(s.Clip)), s.From))
		if err := rewriteDir(dir, w); err != nil {
			return err
		}
		b.windows = append(b.windows, window{s, dir, w})
		b.add(dir, BonaFide, s.Actions)
		b.add(dir, SpeciesWrongChallenge, s.Wrong)
	}
	return nil
}

// rewriteDir replaces dir with a frame directory of frames.
func rewriteDir(dir string, frames []biometric.Frame) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return liveness.WriteFrameDir(dir, frames)
}

// cut returns the frames in [from, to) (to 0: the end), retimed from 0.
func cut(frames []biometric.Frame, from, to int64) []biometric.Frame {
	var out []biometric.Frame
	for _, f := range frames {
		if f.AtMS >= from && (to == 0 || f.AtMS < to) {
			f.Index = len(out)
			f.AtMS -= from
			out = append(out, f)
		}
	}
	return out
}

// stills adds the still-photo attacks.
func (b *devBuilder) stills(context.Context) error {
	dfu, err := filepath.Glob(filepath.Join(b.opts.Data, "deepface-unit", "*.jpg"))
	if err != nil {
		return err
	}
	people, err := os.ReadDir(filepath.Join(b.opts.Data, "lfw-dev", "images"))
	if err != nil {
		return err
	}
	var lfw []string
	for _, p := range people {
		if len(lfw) == b.opts.LFWPhotos {
			break
		}
		lfw = append(lfw, filepath.Join(b.opts.Data, "lfw-dev", "images", p.Name(), p.Name()+"_0001.jpg"))
	}
	challenges := []string{"turn_left", "blink+turn_right", "turn_right", "blink+turn_left", "nod"}
	for i, p := range append(dfu, lfw...) {
		b.add(p, SpeciesStillPhoto, challenges[i%len(challenges)])
	}
	return nil
}

// prints adds one NUAA print-attack sequence per subject, glasses,
// position and session, frames in picture-number order (linked, not
// copied).
func (b *devBuilder) prints(context.Context) error {
	root := filepath.Join(b.opts.Data, "nuaa-train", "print_attack")
	files, err := filepath.Glob(filepath.Join(root, "*", "*.jpg"))
	if err != nil {
		return err
	}
	groups := map[string][]string{}
	for _, f := range files {
		parts := strings.Split(strings.TrimSuffix(filepath.Base(f), ".jpg"), "_")
		if len(parts) != 5 {
			continue
		}
		key := strings.Join(parts[:4], "_")
		groups[key] = append(groups[key], f)
	}
	var keys []string
	for k := range groups {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	challenges := []string{"blink+turn_left", "blink+turn_right", "turn_left", "turn_right", "blink"}
	for i, k := range keys {
		g := groups[k]
		slices.SortFunc(g, func(x, y string) int { return picNo(x) - picNo(y) })
		dir := filepath.Join(b.opts.Cache, "nuaa-print", k)
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		for j, f := range g {
			if err := os.Symlink(f, filepath.Join(dir, fmt.Sprintf("%04d.jpg", j))); err != nil {
				return err
			}
		}
		b.add(dir, SpeciesPrint, challenges[i%len(challenges)])
	}
	return nil
}

func picNo(path string) int {
	parts := strings.Split(strings.TrimSuffix(filepath.Base(path), ".jpg"), "_")
	n, _ := strconv.Atoi(parts[len(parts)-1])
	return n
}

// replay adds the phone-screen replay with three challenges.
func (b *devBuilder) replay(context.Context) error {
	p := filepath.Join(b.opts.Data, "video", "replay_attack", "phone-replay-zubair.webm")
	for _, c := range []string{"blink", "turn_left", "blink+turn_right"} {
		b.add(p, SpeciesReplay, c)
	}
	return nil
}

// injected derives the injected sequences from the labelled windows.
func (b *devBuilder) injected(context.Context) error {
	write := func(name string, frames []biometric.Frame, label, challenge string) error {
		dir := filepath.Join(b.opts.Cache, "injected", name)
		if err := rewriteDir(dir, frames); err != nil {
			return err
		}
		b.add(dir, label, challenge)
		return nil
	}
	for i, w := range b.windows {
		name := filepath.Base(w.dir)
		// Duplicates: every third frame repeated, as the same bytes
		// (even windows) or re-encoded (odd windows), retimed at 15 fps.
		dup, err := duplicateFrames(w.frames, i%2 == 1)
		if err != nil {
			return err
		}
		if err := write("dup-"+name, dup, SpeciesDuplicated, w.seg.Actions); err != nil {
			return err
		}
		// Timestamps: one rewrite per window, in turn.
		if err := write("ts-"+name, rewriteTimestamps(w.frames, i%4), SpeciesTimestamps, w.seg.Actions); err != nil {
			return err
		}
	}
	// Splices: the first half of one person's window, then the second
	// half of another person's, both brought to one frame size (as an
	// attacker feeding a virtual camera would), asked for the first
	// half's first action and the second half's last action.
	for _, p := range splicePairs {
		a, c := b.windows[p[0]], b.windows[p[1]]
		fa, fc := a.frames[:len(a.frames)/2], c.frames[len(c.frames)/2:]
		frames, err := squareFrames(append(append([]biometric.Frame(nil), fa...), fc...), spliceSide)
		if err != nil {
			return err
		}
		frames = retime(frames, liveness.DefaultFPS)
		first := strings.Split(a.seg.Actions, "+")[0]
		acts := strings.Split(c.seg.Actions, "+")
		last := acts[len(acts)-1]
		challenge := first
		if last != first {
			challenge += "+" + last
		}
		name := fmt.Sprintf("splice-%s+%s", filepath.Base(a.dir), filepath.Base(c.dir))
		if err := write(name, frames, SpeciesSplice, challenge); err != nil {
			return err
		}
	}
	return nil
}

// splicePairs are pairs of liveSegments indices of different people whose
// halves contain the actions asked.
var splicePairs = [][2]int{{4, 23}, {5, 11}, {0, 11}, {2, 8}, {13, 23}, {6, 18}, {1, 12}, {15, 4}}

// spliceSide is the frame size of the spliced sequences.
const spliceSide = 480

// squareFrames crops each frame to its centred square and scales it to
// side x side pixels (JPEG quality 90).
func squareFrames(frames []biometric.Frame, side int) ([]biometric.Frame, error) {
	out := make([]biometric.Frame, len(frames))
	for i, f := range frames {
		img, err := imagein.Decode(f.Image, imagein.Limits{})
		if err != nil {
			return nil, err
		}
		rgb := vision.ToRGB(img.RGBA)
		s := float64(min(rgb.W, rgb.H))
		crop := vision.CropTransform(biometric.Point{X: float64(rgb.W) / 2, Y: float64(rgb.H) / 2}, s, s, 0, side, side)
		sq := vision.WarpRGB(rgb, crop, side, side)
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, sq, &jpeg.Options{Quality: 90}); err != nil {
			return nil, err
		}
		f.Image, f.ContentType = buf.Bytes(), "image/jpeg"
		out[i] = f
	}
	return out, nil
}

// duplicateFrames repeats every third frame (byte for byte, or decoded
// and re-encoded at JPEG quality 95) and retimes the result at 15 fps.
func duplicateFrames(frames []biometric.Frame, reencode bool) ([]biometric.Frame, error) {
	var out []biometric.Frame
	for i, f := range frames {
		out = append(out, f)
		if i%3 != 2 {
			continue
		}
		d := f
		if reencode {
			img, err := imagein.Decode(f.Image, imagein.Limits{})
			if err != nil {
				return nil, err
			}
			var buf bytes.Buffer
			if err := jpeg.Encode(&buf, img.RGBA, &jpeg.Options{Quality: 95}); err != nil {
				return nil, err
			}
			d.Image = buf.Bytes()
		}
		out = append(out, d)
	}
	return retime(out, liveness.DefaultFPS), nil
}

// retime renumbers frames and spaces them 1000/fps ms apart.
func retime(frames []biometric.Frame, fps float64) []biometric.Frame {
	out := make([]biometric.Frame, len(frames))
	for i, f := range frames {
		f.Index = i
		f.AtMS = int64(float64(i)*1000/fps + 0.5)
		out[i] = f
	}
	return out
}

// rewriteTimestamps rewrites the timestamps of frames in one of four
// ways: 0 all equal; 1 two frames swapped in the middle (time runs
// backwards once); 2 frames 16 ms apart (a 60 fps claim for a 15 fps
// capture); 3 the clock restarting from zero halfway.
func rewriteTimestamps(frames []biometric.Frame, kind int) []biometric.Frame {
	out := retime(frames, liveness.DefaultFPS)
	n := len(out)
	switch kind {
	case 0:
		for i := range out {
			out[i].AtMS = 0
		}
	case 1:
		out[n/2].AtMS, out[n/2+1].AtMS = out[n/2+1].AtMS, out[n/2].AtMS
	case 2:
		for i := range out {
			out[i].AtMS = int64(16 * i)
		}
	case 3:
		for i := n / 2; i < n; i++ {
			out[i].AtMS = out[i-n/2].AtMS
		}
	}
	return out
}
