package faceapi

import (
	"context"
	"fmt"
	"image"
	"math"
	"slices"
	"sync"

	"github.com/everify/everify/internal/vision"
)

// DetectorOptions configures NewDetector. The zero value gives face-api's
// defaults, except for Zooms.
type DetectorOptions struct {
	// Zooms lists how large the image is shown to the model, as the
	// fraction of the 512x512 input its longer side fills; the detections
	// of all runs are merged. face-api uses {1} alone, which misses faces
	// that fill most of the image: on a sample of 191 LFW images, 90% were
	// found at {1}, 99% at {2/3}, 99.5% at {1, 2/3}, the default. Smaller
	// zooms lose small faces, so 1 stays in the default.
	Zooms []float64
	// Fallback lists zooms tried, merged, only when Zooms find no face
	// (nil: {1/2, 1/3}; empty: none). They find 17 of the 19 LFW faces (of
	// 3,811) that the default Zooms miss; an image without a face costs
	// their runs too.
	Fallback []float64
	// MinScore is the lowest face probability kept (default 0.5).
	MinScore float64
	// IoU is the overlap above which two detections are one face
	// (default 0.5).
	IoU float64
	// MaxFaces bounds the faces returned, most confident first
	// (default 100).
	MaxFaces int
}

func (o DetectorOptions) withDefaults() DetectorOptions {
	if o.MinScore <= 0 {
		o.MinScore = 0.5
	}
	if o.IoU <= 0 {
		o.IoU = 0.5
	}
	if o.MaxFaces <= 0 {
		o.MaxFaces = 100
	}
	if len(o.Zooms) == 0 {
		o.Zooms = []float64{1, 2.0 / 3}
	}
	if o.Fallback == nil {
		o.Fallback = []float64{1.0 / 2, 1.0 / 3}
	}
	return o
}

// Detector finds faces with face-api's SSD MobileNetV1. It implements
// vision.Detector and is safe for concurrent use. Faces come with a box
// and a score only; a Landmarker adds the landmarks.
type Detector struct {
	model vision.Model
	opts  DetectorOptions
	bufs  sync.Pool // *[]float32 input buffers
}

var _ vision.Detector = (*Detector)(nil)

// NewDetector loads the detector model from rt.
func NewDetector(rt vision.Runtime, opts DetectorOptions) (*Detector, error) {
	for _, z := range append(slices.Clone(opts.Zooms), opts.Fallback...) {
		if !(z > 0 && z <= 1) {
			return nil, fmt.Errorf("faceapi: detector zoom %g is not in (0, 1]", z)
		}
	}
	m, err := load(rt, DetectorModel, detectorSize, "boxes", "scores")
	if err != nil {
		return nil, err
	}
	d := &Detector{model: m, opts: opts.withDefaults()}
	d.bufs.New = func() any { b := make([]float32, 3*detectorSize*detectorSize); return &b }
	return d, nil
}

// Detect returns the faces in img, most confident first. As in face-api,
// the image is scaled to fill the 512x512 input (or a part of it; see
// DetectorOptions.Zooms and Fallback) from the top left, the rest black;
// overlapping detections are suppressed (IoU > opts.IoU). Boxes are
// clipped to the image.
func (d *Detector) Detect(ctx context.Context, img image.Image) ([]vision.Face, error) {
	rgb := vision.ToRGB(img)
	if rgb.W == 0 || rgb.H == 0 {
		return nil, nil
	}
	faces, err := d.detect(ctx, rgb, d.opts.Zooms)
	if len(faces) == 0 && err == nil {
		faces, err = d.detect(ctx, rgb, d.opts.Fallback)
	}
	return faces, err
}

// detect runs the model at each of the zooms and returns the merged faces.
func (d *Detector) detect(ctx context.Context, rgb *vision.RGB, zooms []float64) ([]vision.Face, error) {
	var cands []vision.Candidate
	for _, z := range zooms {
		c, err := d.run(ctx, rgb, z)
		if err != nil {
			return nil, err
		}
		cands = append(cands, c...)
	}
	kept := vision.SuppressNonMax(cands, d.opts.IoU, false, d.opts.MaxFaces)
	faces := make([]vision.Face, 0, len(kept))
	for _, c := range kept {
		r := vision.Rect{
			X0: math.Max(c.Rect.X0, 0), Y0: math.Max(c.Rect.Y0, 0),
			X1: math.Min(c.Rect.X1, float64(rgb.W)), Y1: math.Min(c.Rect.Y1, float64(rgb.H)),
		}
		if r.X1 <= r.X0 || r.Y1 <= r.Y0 {
			continue
		}
		faces = append(faces, vision.Face{Box: r.Box(), Score: c.Score})
	}
	return faces, nil
}

// run evaluates the model with the image's longer side filling zoom of the
// input and returns the candidates above the score threshold in image
// pixels.
func (d *Detector) run(ctx context.Context, rgb *vision.RGB, zoom float64) ([]vision.Candidate, error) {
	// One input pixel covers s image pixels.
	s := float64(max(rgb.W, rgb.H)) / (detectorSize * zoom)
	bp := d.bufs.Get().(*[]float32)
	defer d.bufs.Put(bp)
	vision.Warp(rgb, vision.ScaleXY(s, s), detectorSize, detectorSize, vision.NormRaw, *bp)
	outs, err := d.model.Run(ctx, vision.Tensor{Shape: []int64{1, detectorSize, detectorSize, 3}, Data: *bp})
	if err != nil {
		return nil, fmt.Errorf("faceapi: face detection: %w", err)
	}
	boxes, scores := outs[0].Data, outs[1].Data
	if len(boxes) != 4*len(scores) {
		return nil, fmt.Errorf("faceapi: model %q: %d boxes for %d scores", DetectorModel, len(boxes)/4, len(scores))
	}
	side := s * detectorSize // image pixels per unit of the model's box coordinates
	var cands []vision.Candidate
	for i, sc := range scores {
		if float64(sc) <= d.opts.MinScore {
			continue
		}
		b := boxes[4*i : 4*i+4] // ymin, xmin, ymax, xmax as fractions of the input
		cands = append(cands, vision.Candidate{
			Rect: vision.Rect{
				X0: math.Min(float64(b[1]), float64(b[3])) * side, Y0: math.Min(float64(b[0]), float64(b[2])) * side,
				X1: math.Max(float64(b[1]), float64(b[3])) * side, Y1: math.Max(float64(b[0]), float64(b[2])) * side,
			},
			Score: float64(sc),
		})
	}
	return cands, nil
}
