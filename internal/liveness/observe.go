package liveness

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/imagein"
	"github.com/everify/everify/internal/vision"
)

// frameObs is what the analysis measured on one frame. Face is nil when no
// face was found; the sampled measurements (Quality, PAD, Embedding) are
// set only on the frames chosen for them.
type frameObs struct {
	Index int
	AtMS  int64
	W, H  int
	// Digest is the SHA-256 of the encoded frame: byte-identical frames
	// have the same digest.
	Digest [sha256.Size]byte
	// Thumb is a thumbW x thumbH luma thumbnail (block means in 1/64
	// grey levels), for pixel-level comparisons between frames.
	Thumb []uint16
	// Faces is how many faces the detector found on this frame, or -1 when
	// the detector did not run on it (the face was tracked).
	Faces int
	Face  *vision.Face
	// Present is set when a face is in view: tracked, or found by the
	// detector where the mesh could not follow it (a head turned far to
	// the side).
	Present bool
	// Skin is the mean colour of the face's skin, for the screen-light
	// check; nil without a face.
	Skin *skinSample

	Quality   *biometric.Quality
	PAD       map[string]float64 // model name (or "texture") → bona fide probability
	Embedding []float32
}

// thumbW and thumbH are the thumbnail size: each thumbnail pixel is the
// mean of a block of about 10x10 pixels of a 640x480 frame.
const thumbW, thumbH = 64, 48

// observeOptions says how densely the expensive measurements are taken.
type observeOptions struct {
	Workers     int // frames are split into this many contiguous runs analysed in parallel
	DetectEvery int // run the detector at least every this many frames (to count faces)
	QualityEach int // measure quality on every QualityEach-th frame
}

// observe decodes every frame, finds and tracks the largest face, fits the
// mesh and takes the sampled measurements. Frames are split into
// opts.Workers contiguous runs; each run detects on its first frame and
// then tracks the face from the previous frame's mesh, detecting again
// every opts.DetectEvery frames and whenever the track is lost.
func (a *Analyzer) observe(ctx context.Context, frames []biometric.Frame, opts observeOptions) ([]frameObs, error) {
	obs := make([]frameObs, len(frames))
	workers := max(1, min(opts.Workers, len(frames)))
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for w := range workers {
		lo, hi := w*len(frames)/workers, (w+1)*len(frames)/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			var prev *vision.Face
			for i := lo; i < hi; i++ {
				var err error
				prev, err = a.observeFrame(ctx, frames[i], &obs[i], prev, (i-lo)%opts.DetectEvery == 0, i%opts.QualityEach == 0)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return obs, firstErr
}

// errUnreadableFrame marks a frame that could not be decoded.
var errUnreadableFrame = errors.New("unreadable frame")

// observeFrame measures one frame. prev is the face tracked on the frame
// before (nil if none); it returns the face to track into the next frame.
func (a *Analyzer) observeFrame(ctx context.Context, f biometric.Frame, o *frameObs, prev *vision.Face, detect, quality bool) (*vision.Face, error) {
	o.Index, o.AtMS, o.Faces = f.Index, f.AtMS, -1
	o.Digest = sha256.Sum256(f.Image)
	rgb, err := decodeFrame(f)
	if err != nil {
		return nil, err
	}
	o.W, o.H = rgb.W, rgb.H
	o.Thumb = thumbnail(rgb)

	var face *vision.Face
	if prev != nil && !detect {
		face, err = a.track(ctx, rgb, *prev)
		if err != nil {
			return nil, err
		}
	}
	if face == nil {
		faces, err := a.Detector.Detect(ctx, rgb)
		if err != nil {
			return nil, fmt.Errorf("frame %d: %w", f.Index, err)
		}
		o.Faces = countFaces(faces)
		if d := pickFace(faces, prev); d != nil {
			if prev != nil && overlap(*d, *prev) {
				// Keep tracking from the mesh: it places the crop better
				// than a detector box.
				face, err = a.track(ctx, rgb, *prev)
				if err != nil {
					return nil, err
				}
			}
			if face == nil {
				face, err = a.track(ctx, rgb, *d)
				if err != nil {
					return nil, err
				}
			}
		}
	}
	o.Face = face
	o.Present = face != nil || o.Faces > 0
	if face == nil {
		return nil, nil
	}
	o.Skin = skinSampleOf(rgb, *face)
	if quality {
		q := vision.FaceQuality(rgb, *face)
		o.Quality = &q
	}
	return face, nil
}

// decodeFrame decodes a frame to RGB.
func decodeFrame(f biometric.Frame) (*vision.RGB, error) {
	img, err := imagein.Decode(f.Image, frameLimits)
	if err != nil {
		return nil, fmt.Errorf("%w %d: %w", errUnreadableFrame, f.Index, err)
	}
	return vision.ToRGB(img.RGBA), nil
}

// sample picks the frames that the presentation-attack models and the
// embedder score: the frame range is cut into n equal parts and each part
// gives its most usable frame (quality measured, near the neutral pose,
// eyes open). The chosen frames are decoded again and scored in parallel;
// their indices are returned in time order.
func (a *Analyzer) sample(ctx context.Context, frames []biometric.Frame, obs []frameObs, s []point, n neutral, parts, workers int) ([]int, error) {
	var chosen []int
	for k := range parts {
		lo, hi := k*len(obs)/parts, (k+1)*len(obs)/parts
		best, bestScore := -1, math.Inf(-1)
		for i := lo; i < hi; i++ {
			o := obs[i]
			if o.Face == nil || o.Quality == nil {
				continue
			}
			score := o.Quality.Score - math.Abs(s[i].Yaw-n.Yaw) - math.Abs(s[i].Pitch-n.Pitch)
			if eyeOpenness(s[i], n.EAR, n.Aspect) < DefaultActionThresholds.BlinkOpen {
				score -= 50
			}
			if score > bestScore {
				best, bestScore = i, score
			}
		}
		if best >= 0 {
			chosen = append(chosen, best)
		}
	}
	jobs := make(chan int)
	errs := make(chan error, len(chosen))
	var wg sync.WaitGroup
	for range max(1, min(workers, len(chosen))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				errs <- a.score(ctx, frames[i], &obs[i])
			}
		}()
	}
	for _, i := range chosen {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return chosen, nil
}

// score runs the presentation-attack models, the texture model and the
// embedder on one frame.
func (a *Analyzer) score(ctx context.Context, f biometric.Frame, o *frameObs) error {
	rgb, err := decodeFrame(f)
	if err != nil {
		return err
	}
	o.PAD = make(map[string]float64, len(a.Attack))
	for _, s := range a.Attack {
		p, err := s.Score(ctx, rgb, *o.Face)
		if err != nil {
			return fmt.Errorf("frame %d: %w", f.Index, err)
		}
		o.PAD[s.Name()] = p
	}
	o.PAD[textureName] = defaultTexture.score(textureFeatures(rgb, *o.Face))
	if a.Embedder != nil {
		if o.Embedding, err = a.Embedder.Embed(ctx, rgb, *o.Face); err != nil {
			return fmt.Errorf("frame %d: %w", f.Index, err)
		}
	}
	return nil
}

// track fits the mesh to the face seeded by f (a detection, or the face of
// the previous frame); nil when the landmark model sees no face there.
func (a *Analyzer) track(ctx context.Context, rgb *vision.RGB, f vision.Face) (*vision.Face, error) {
	g, err := a.Landmarker.Landmarks(ctx, rgb, f)
	if errors.Is(err, vision.ErrNoFace) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(g.Mesh) == 0 {
		return nil, errors.New("liveness: the landmarker returned no mesh")
	}
	return &g, nil
}

// minOtherFace is the size, relative to the largest face, from which a
// second detection counts as another face in view (smaller ones are
// posters, photos on a wall or people far behind).
const minOtherFace = 0.5

// countFaces counts the detections at least minOtherFace times the size of
// the largest.
func countFaces(faces []vision.Face) int {
	big := 0.0
	for _, f := range faces {
		big = math.Max(big, math.Min(f.Box.Width, f.Box.Height))
	}
	n := 0
	for _, f := range faces {
		if math.Min(f.Box.Width, f.Box.Height) >= minOtherFace*big {
			n++
		}
	}
	return n
}

// pickFace chooses the detection to follow: the one overlapping the
// tracked face when there is one, else the largest.
func pickFace(faces []vision.Face, prev *vision.Face) *vision.Face {
	var best *vision.Face
	for i := range faces {
		f := &faces[i]
		if prev != nil && overlap(*f, *prev) {
			return f
		}
		if best == nil || f.Box.Width*f.Box.Height > best.Box.Width*best.Box.Height {
			best = f
		}
	}
	return best
}

func overlap(a, b vision.Face) bool {
	return vision.RectOf(a.Box).IoU(vision.RectOf(b.Box)) > 0.3
}

// thumbScale is the thumbnail's precision: 1/64 grey level, so that
// rounding does not hide or fake differences far below one level.
const thumbScale = 64

// thumbnail is the thumbW x thumbH block-mean luma of img, in 1/thumbScale
// grey levels.
func thumbnail(img *vision.RGB) []uint16 {
	out := make([]uint16, thumbW*thumbH)
	for ty := range thumbH {
		y0, y1 := ty*img.H/thumbH, max((ty+1)*img.H/thumbH, ty*img.H/thumbH+1)
		for tx := range thumbW {
			x0, x1 := tx*img.W/thumbW, max((tx+1)*img.W/thumbW, tx*img.W/thumbW+1)
			var sum, n uint32
			for y := y0; y < min(y1, img.H); y++ {
				row := img.Pix[3*(y*img.W+x0) : 3*(y*img.W+min(x1, img.W))]
				for i := 0; i < len(row); i += 3 {
					sum += 299*uint32(row[i]) + 587*uint32(row[i+1]) + 114*uint32(row[i+2])
					n++
				}
			}
			if n > 0 {
				out[ty*thumbW+tx] = uint16((uint64(sum)*thumbScale/uint64(n) + 500) / 1000)
			}
		}
	}
	return out
}
