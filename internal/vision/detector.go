package vision

import (
	"context"
	"fmt"
	"image"
	"math"
	"sync"

	"github.com/everify/everify/internal/biometric"
)

// BlazeFace keypoints, in the model's order. "Right" and "left" are the
// person's: the right eye appears on the image's left in a frontal face.
const (
	KeypointRightEye = iota
	KeypointLeftEye
	KeypointNose
	KeypointMouth
	KeypointRightEar
	KeypointLeftEar
	blazeKeypoints
)

// DetectorOptions configures NewDetector. The zero value is the default
// configuration.
type DetectorOptions struct {
	// Model is "blazeface-back" (default; 256x256, faces near and far) or
	// "blazeface-front" (128x128, a selfie-distance face).
	Model string
	// MinScore is the lowest detection confidence kept (default 0.5).
	MinScore float64
	// IoU is the overlap above which two detections are one face
	// (default 0.3).
	IoU float64
	// MaxFaces bounds the faces returned, most confident first (0: all).
	MaxFaces int
	// MinFaceSize, when positive, is the smallest face (side in image
	// pixels) to look for. When faces that small would be too small for
	// the model on the whole image, the image is also scanned in
	// overlapping tiles: this finds a 40-60 px portrait on a document scan
	// at the cost of one model run per tile.
	MinFaceSize float64
	// TryRotations makes Detect search the image turned by 90°, 180° and
	// 270° when it finds no face upright (a scan or photo on its side).
	TryRotations bool
}

func (o DetectorOptions) withDefaults() DetectorOptions {
	if o.Model == "" {
		o.Model = "blazeface-back"
	}
	if o.MinScore <= 0 {
		o.MinScore = 0.5
	}
	if o.IoU <= 0 {
		o.IoU = 0.3
	}
	return o
}

// minModelFace is the face side, in model input pixels, that tiling makes
// MinFaceSize map to. BlazeFace-back finds faces down to 6-8 input pixels
// on a plain background, but on a document's printed patterns it misses a
// 30-55 px face on a 1874x1326 scan (8-10 input pixels on the whole image)
// that it finds at 24.
const minModelFace = 24

// tileOverlap is the fraction of a tile shared with its neighbour.
const tileOverlap = 0.25

// tileMinScore is the lowest confidence kept from a tile (unless MinScore
// is higher): tiles multiply the chances of a false detection in printed
// text and guilloche patterns, and a face found on the whole image keeps
// the whole image's threshold.
const tileMinScore = 0.5

// BlazeFaceDetector finds faces with MediaPipe's BlazeFace. It implements
// Detector and is safe for concurrent use.
type BlazeFaceDetector struct {
	model   Model
	opts    DetectorOptions
	size    int          // model input side
	anchors [][2]float64 // anchor centres in input pixels
	bufs    sync.Pool    // *[]float32 input buffers
}

var _ Detector = (*BlazeFaceDetector)(nil)

// NewDetector loads the BlazeFace model named in opts from rt.
func NewDetector(rt Runtime, opts DetectorOptions) (*BlazeFaceDetector, error) {
	opts = opts.withDefaults()
	m, err := rt.Load(opts.Model)
	if err != nil {
		return nil, err
	}
	size, err := squareInput(m)
	if err != nil {
		return nil, err
	}
	d := &BlazeFaceDetector{model: m, opts: opts, size: size, anchors: blazeAnchors(size)}
	d.bufs.New = func() any { b := make([]float32, 3*size*size); return &b }
	return d, nil
}

// squareInput checks that m takes one NHWC RGB image with a fixed square
// size and returns that size.
func squareInput(m Model) (int, error) {
	in := m.Inputs()
	if len(in) != 1 || len(in[0].Shape) != 4 || in[0].Shape[3] != 3 || in[0].Shape[1] <= 0 || in[0].Shape[1] != in[0].Shape[2] {
		return 0, fmt.Errorf("vision: model %q: want one [N,S,S,3] input, have %v", m.Name(), in)
	}
	return int(in[0].Shape[1]), nil
}

// blazeAnchors returns BlazeFace's anchor centres for a square input of the
// given side: two anchors per cell on the side/16 grid, then six per cell on
// the side/8 grid (MediaPipe's SSD anchor configuration with fixed anchor
// size, so only the centres matter).
func blazeAnchors(side int) [][2]float64 {
	var out [][2]float64
	for _, l := range []struct{ stride, per int }{{side / 16, 2}, {side / 8, 6}} {
		n := (side + l.stride - 1) / l.stride
		for gy := 0; gy < n; gy++ {
			for gx := 0; gx < n; gx++ {
				for k := 0; k < l.per; k++ {
					out = append(out, [2]float64{float64(l.stride) * (float64(gx) + 0.5), float64(l.stride) * (float64(gy) + 0.5)})
				}
			}
		}
	}
	return out
}

// view is one model run: the transform from model input pixels to image
// pixels and, for a tile, which of its edges cut the image.
type view struct {
	toImage Affine
	// For tiles: toFrame maps input pixels into the (possibly turned)
	// frame, and inner holds the tile's edges that lie inside the frame
	// (infinite for edges on the frame's border). A face touching an inner
	// edge is cut by it and left to the neighbouring tile.
	toFrame Affine
	inner   *Rect
	// minScore is the lowest confidence kept from this run.
	minScore float64
}

// Detect returns the faces in img, most confident first. Each face has its
// box, score, the six BlazeFace keypoints and five Landmarks derived from
// them (the mouth corners are estimated from the mouth centre and the eye
// line; a Landmarker replaces them with measured ones). With TryRotations,
// an image where no face is found upright is searched again turned by
// 90°, 180° and 270°.
func (d *BlazeFaceDetector) Detect(ctx context.Context, img image.Image) ([]Face, error) {
	rgb := ToRGB(img)
	for turn := 0; turn < 4; turn++ {
		if turn > 0 && !d.opts.TryRotations {
			break
		}
		faces, err := d.DetectTurned(ctx, rgb, turn)
		if err != nil || len(faces) > 0 {
			return faces, err
		}
	}
	return nil, nil
}

// TryRotations reports whether the detector was configured to search
// turned images.
func (d *BlazeFaceDetector) TryRotations() bool { return d.opts.TryRotations }

// DetectTurned is Detect on img turned by quarterTurns quarter turns
// clockwise (0-3), without the rotation fallback; the faces are in img's
// own coordinates.
func (d *BlazeFaceDetector) DetectTurned(ctx context.Context, img image.Image, quarterTurns int) ([]Face, error) {
	rgb := ToRGB(img)
	if rgb.W == 0 || rgb.H == 0 {
		return nil, nil
	}
	views := d.plan(rgb.W, rgb.H, ((quarterTurns%4)+4)%4)
	var cands []Candidate
	for _, v := range views {
		c, err := d.run(ctx, rgb, v)
		if err != nil {
			return nil, err
		}
		cands = append(cands, c...)
	}
	kept := SuppressNonMax(cands, d.opts.IoU, true, 0)
	if len(views) > 1 {
		kept = suppressContained(kept)
	}
	if d.opts.MaxFaces > 0 && len(kept) > d.opts.MaxFaces {
		kept = kept[:d.opts.MaxFaces]
	}
	faces := make([]Face, len(kept))
	for i, c := range kept {
		faces[i] = faceFromKeypoints(c)
	}
	return faces, nil
}

// plan lists the model runs for an image of w x h turned by turn quarter
// turns clockwise: the whole image letterboxed, plus tiles when MinFaceSize
// asks for faces too small to be seen on the whole image.
func (d *BlazeFaceDetector) plan(w, h, turn int) []view {
	// rw x rh is the turned frame; toImg maps it onto the image.
	rw, rh := w, h
	if turn%2 == 1 {
		rw, rh = h, w
	}
	toImg := Translate(-float64(rw)/2, -float64(rh)/2).
		Then(Rotate(float64(turn) * math.Pi / 2)).
		Then(Translate(float64(w)/2, float64(h)/2))
	views := []view{{toImage: Letterbox(rw, rh, d.size).Then(toImg), minScore: d.opts.MinScore}}
	tileMin := math.Max(d.opts.MinScore, tileMinScore)
	if d.opts.MinFaceSize <= 0 {
		return views
	}
	side := math.Max(float64(rw), float64(rh))
	for t := float64(d.size) * d.opts.MinFaceSize / minModelFace; t < side*0.75; t *= 2 {
		xs, ys := tileStarts(float64(rw), t), tileStarts(float64(rh), t)
		for _, y := range ys {
			for _, x := range xs {
				r := Rect{X0: x, Y0: y, X1: x + t, Y1: y + t}
				in := ScaleXY(t/float64(d.size), t/float64(d.size)).Then(Translate(x, y))
				// Only edges inside the image are tile edges.
				inner := Rect{X0: math.Inf(-1), Y0: math.Inf(-1), X1: math.Inf(1), Y1: math.Inf(1)}
				if r.X0 > 0 {
					inner.X0 = r.X0
				}
				if r.Y0 > 0 {
					inner.Y0 = r.Y0
				}
				if r.X1 < float64(rw) {
					inner.X1 = r.X1
				}
				if r.Y1 < float64(rh) {
					inner.Y1 = r.Y1
				}
				views = append(views, view{toImage: in.Then(toImg), toFrame: in, inner: &inner, minScore: tileMin})
			}
		}
	}
	return views
}

// tileStarts returns the starting offsets of tiles of side t covering
// [0, n) with at least tileOverlap overlap, spread evenly.
func tileStarts(n, t float64) []float64 {
	if n <= t {
		return []float64{(n - t) / 2}
	}
	step := t * (1 - tileOverlap)
	k := int(math.Ceil((n-t)/step)) + 1
	out := make([]float64, k)
	for i := range out {
		out[i] = float64(i) * (n - t) / float64(k-1)
	}
	return out
}

// run evaluates the model on one view and returns its candidates in image
// coordinates.
func (d *BlazeFaceDetector) run(ctx context.Context, rgb *RGB, v view) ([]Candidate, error) {
	bp := d.bufs.Get().(*[]float32)
	defer d.bufs.Put(bp)
	Warp(rgb, v.toImage, d.size, d.size, NormSigned, *bp)
	outs, err := d.model.Run(ctx, Tensor{Shape: []int64{1, int64(d.size), int64(d.size), 3}, Data: *bp})
	if err != nil {
		return nil, fmt.Errorf("vision: face detection: %w", err)
	}
	// The outputs are two score tensors ([1,512,1] and [1,384,1]) and two
	// regressor tensors ([1,512,16] and [1,384,16]) for the two anchor
	// grids; they are told apart by size, whatever their order.
	var scores, regs [2][]float32
	// The first grid has 16x16 cells of two anchors whatever the input
	// size (its stride is a sixteenth of the side).
	first := 2 * 16 * 16
	second := len(d.anchors) - first
	for _, o := range outs {
		switch len(o.Data) {
		case first:
			scores[0] = o.Data
		case second:
			scores[1] = o.Data
		case 16 * first:
			regs[0] = o.Data
		case 16 * second:
			regs[1] = o.Data
		}
	}
	if scores[0] == nil || scores[1] == nil || regs[0] == nil || regs[1] == nil {
		return nil, fmt.Errorf("vision: model %q: unexpected outputs for %d anchors", d.model.Name(), len(d.anchors))
	}
	minLogit := math.Log(v.minScore / (1 - v.minScore))
	var out []Candidate
	for g := 0; g < 2; g++ {
		base := 0
		if g == 1 {
			base = first
		}
		for i, s := range scores[g] {
			if float64(s) < minLogit {
				continue
			}
			a := d.anchors[base+i]
			r := regs[g][16*i : 16*i+16]
			cx, cy := a[0]+float64(r[0]), a[1]+float64(r[1])
			bw, bh := float64(r[2]), float64(r[3])
			if bw <= 0 || bh <= 0 {
				continue
			}
			box := Rect{X0: cx - bw/2, Y0: cy - bh/2, X1: cx + bw/2, Y1: cy + bh/2}
			if v.inner != nil && cutByEdge(mapRect(box, v.toFrame), *v.inner) {
				continue
			}
			pts := make([]biometric.Point, blazeKeypoints)
			for k := range pts {
				pts[k] = v.toImage.Apply(biometric.Point{X: a[0] + float64(r[4+2*k]), Y: a[1] + float64(r[5+2*k])})
			}
			out = append(out, Candidate{
				Rect:   mapRect(box, v.toImage),
				Score:  1 / (1 + math.Exp(-math.Max(float64(s), -80))),
				Points: pts,
			})
		}
	}
	return out, nil
}

// containedOverlap is the Overlap above which the less confident of two
// detections is taken to be part of the other.
const containedOverlap = 0.6

// suppressContained drops detections that lie mostly inside a more
// confident one. Tiles zoom into large faces, where the model may see a
// "face" in an eye or a mouth; such parts are inside the whole face's box,
// and IoU-based suppression keeps them because they are much smaller.
// cands must be sorted most confident first.
func suppressContained(cands []Candidate) []Candidate {
	var out []Candidate
	for _, c := range cands {
		inside := false
		for _, k := range out {
			if c.Rect.Overlap(k.Rect) > containedOverlap {
				inside = true
				break
			}
		}
		if !inside {
			out = append(out, c)
		}
	}
	return out
}

// cutByEdge reports whether r reaches or crosses one of inner's edges.
func cutByEdge(r, inner Rect) bool {
	return r.X0 <= inner.X0 || r.Y0 <= inner.Y0 || r.X1 >= inner.X1 || r.Y1 >= inner.Y1
}

// mapRect returns the bounding rectangle of r's corners mapped through m.
func mapRect(r Rect, m Affine) Rect {
	out := Rect{X0: math.Inf(1), Y0: math.Inf(1), X1: math.Inf(-1), Y1: math.Inf(-1)}
	for _, p := range []biometric.Point{{X: r.X0, Y: r.Y0}, {X: r.X1, Y: r.Y0}, {X: r.X0, Y: r.Y1}, {X: r.X1, Y: r.Y1}} {
		q := m.Apply(p)
		out.X0, out.Y0 = math.Min(out.X0, q.X), math.Min(out.Y0, q.Y)
		out.X1, out.Y1 = math.Max(out.X1, q.X), math.Max(out.Y1, q.Y)
	}
	return out
}

// mouthWidthRatio is the typical ratio of mouth width (corner to corner) to
// the distance between the eye centres in a frontal face.
const mouthWidthRatio = 0.83

// faceFromKeypoints builds a Face from a BlazeFace detection.
func faceFromKeypoints(c Candidate) Face {
	k := c.Points
	re, le, mouth := k[KeypointRightEye], k[KeypointLeftEye], k[KeypointMouth]
	// The mouth corners lie on a line through the mouth centre parallel to
	// the eye line.
	hx, hy := (le.X-re.X)*mouthWidthRatio/2, (le.Y-re.Y)*mouthWidthRatio/2
	return Face{
		Box:   c.Rect.Box(),
		Score: c.Score,
		Landmarks: biometric.Landmarks{
			LeftEye:    le,
			RightEye:   re,
			Nose:       k[KeypointNose],
			MouthLeft:  biometric.Point{X: mouth.X + hx, Y: mouth.Y + hy},
			MouthRight: biometric.Point{X: mouth.X - hx, Y: mouth.Y - hy},
		},
		Keypoints: k,
	}
}
