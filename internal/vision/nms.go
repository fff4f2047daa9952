package vision

import (
	"math"
	"sort"

	"github.com/everify/everify/internal/biometric"
)

// Rect is an axis-aligned rectangle by its corners (X0 <= X1, Y0 <= Y1).
type Rect struct {
	X0, Y0, X1, Y1 float64
}

// RectOf returns the Rect of a biometric.Box.
func RectOf(b biometric.Box) Rect {
	return Rect{X0: b.X, Y0: b.Y, X1: b.X + b.Width, Y1: b.Y + b.Height}
}

// Box returns r as a biometric.Box.
func (r Rect) Box() biometric.Box {
	return biometric.Box{X: r.X0, Y: r.Y0, Width: r.X1 - r.X0, Height: r.Y1 - r.Y0}
}

// Area is r's area (0 for an empty rectangle).
func (r Rect) Area() float64 {
	return math.Max(r.X1-r.X0, 0) * math.Max(r.Y1-r.Y0, 0)
}

// IoU is the intersection over union of r and s.
func (r Rect) IoU(s Rect) float64 {
	in := Rect{math.Max(r.X0, s.X0), math.Max(r.Y0, s.Y0), math.Min(r.X1, s.X1), math.Min(r.Y1, s.Y1)}.Area()
	u := r.Area() + s.Area() - in
	if u <= 0 {
		return 0
	}
	return in / u
}

// Overlap is the area of the intersection of r and s divided by the
// smaller of their areas: 1 when one contains the other.
func (r Rect) Overlap(s Rect) float64 {
	in := Rect{math.Max(r.X0, s.X0), math.Max(r.Y0, s.Y0), math.Min(r.X1, s.X1), math.Min(r.Y1, s.Y1)}.Area()
	m := math.Min(r.Area(), s.Area())
	if m <= 0 {
		return 0
	}
	return in / m
}

// Centre is r's centre.
func (r Rect) Centre() biometric.Point {
	return biometric.Point{X: (r.X0 + r.X1) / 2, Y: (r.Y0 + r.Y1) / 2}
}

// Candidate is a scored detection before non-maximum suppression: a box
// and the detector's keypoints for it.
type Candidate struct {
	Rect   Rect
	Score  float64
	Points []biometric.Point
}

// SuppressNonMax keeps the best of every group of candidates whose boxes
// overlap by more than iou (intersection over union), most confident first,
// and returns at most max of them (all when max <= 0).
//
// With weighted set, a kept candidate's box and points become the
// score-weighted mean of its group (the blending of MediaPipe's BlazeFace
// post-processing), which steadies them; its score stays the best one.
func SuppressNonMax(cands []Candidate, iou float64, weighted bool, max int) []Candidate {
	order := make([]int, len(cands))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return cands[order[a]].Score > cands[order[b]].Score })
	used := make([]bool, len(cands))
	var out []Candidate
	for oi, i := range order {
		if used[i] {
			continue
		}
		used[i] = true
		best := cands[i]
		if !weighted {
			for _, j := range order[oi+1:] {
				if !used[j] && best.Rect.IoU(cands[j].Rect) > iou {
					used[j] = true
				}
			}
			out = append(out, best)
		} else {
			var wsum float64
			var r Rect
			pts := make([]biometric.Point, len(best.Points))
			add := func(c Candidate) {
				w := c.Score
				wsum += w
				r.X0 += w * c.Rect.X0
				r.Y0 += w * c.Rect.Y0
				r.X1 += w * c.Rect.X1
				r.Y1 += w * c.Rect.Y1
				for k := range pts {
					if k < len(c.Points) {
						pts[k].X += w * c.Points[k].X
						pts[k].Y += w * c.Points[k].Y
					}
				}
			}
			add(best)
			for _, j := range order[oi+1:] {
				if !used[j] && best.Rect.IoU(cands[j].Rect) > iou {
					used[j] = true
					if len(cands[j].Points) == len(pts) {
						add(cands[j])
					}
				}
			}
			r = Rect{r.X0 / wsum, r.Y0 / wsum, r.X1 / wsum, r.Y1 / wsum}
			for k := range pts {
				pts[k].X /= wsum
				pts[k].Y /= wsum
			}
			out = append(out, Candidate{Rect: r, Score: best.Score, Points: pts})
		}
		if max > 0 && len(out) == max {
			break
		}
	}
	return out
}
