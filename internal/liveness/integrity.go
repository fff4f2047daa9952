package liveness

import (
	"fmt"
	"math"

	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/vision"
)

// IntegrityThresholds are the limits of the temporal-integrity checks.
type IntegrityThresholds struct {
	// MaxFPSRatio: a capture whose frames come faster than this multiple
	// of the requested frame rate was not made by the capture client.
	MaxFPSRatio float64
	// DuplicateMAD is the thumbnail mean absolute difference (grey
	// levels) at or below which two frames count as the same picture
	// (a re-encoded copy); consecutive camera frames differ by more.
	DuplicateMAD float64
	// MaxDuplicates is how many repeated frames are tolerated (a browser
	// can hand over one camera frame twice); more is evidence of frames
	// fed in rather than captured.
	MaxDuplicates int
	// MaxDuplicateFraction bounds the tolerated repeats relative to the
	// frame count.
	MaxDuplicateFraction float64
	// SameIdentity is the embedding cosine similarity below which two
	// sampled frames show different people.
	SameIdentity float64
	// JumpMove is the frame-to-frame move of the face centre, in face
	// heights, that counts as a jump when the frames are at most
	// JumpWindowMS apart.
	JumpMove     float64
	JumpWindowMS int64
	// MaxJumps and MaxJumpFraction bound the tolerated jumps (a fast
	// head movement or a tracking slip can make one or two).
	MaxJumps        int
	MaxJumpFraction float64
}

// DefaultIntegrityThresholds are the thresholds everify uses.
var DefaultIntegrityThresholds = IntegrityThresholds{
	MaxFPSRatio:          2,
	DuplicateMAD:         0.2,
	MaxDuplicates:        2,
	MaxDuplicateFraction: 0.05,
	SameIdentity:         0.12,
	JumpMove:             0.5,
	JumpWindowMS:         150,
	MaxJumps:             2,
	MaxJumpFraction:      0.05,
}

// timingCheck tests the frame timestamps: strictly increasing, and not
// faster than the capture client can capture. It reports positive attack
// evidence, since no genuine capture client produces either.
func timingCheck(obs []frameObs, params biometric.CaptureParams, th IntegrityThresholds) biometric.Check {
	c := biometric.Check{Name: CheckFrameTiming, Score: 100, Passed: true}
	if len(obs) < 2 {
		c.Detail = "fewer than two frames"
		return c
	}
	var intervals []float64
	back, equal := 0, 0
	for i := 1; i < len(obs); i++ {
		d := obs[i].AtMS - obs[i-1].AtMS
		switch {
		case d < 0:
			back++
		case d == 0:
			equal++
		default:
			intervals = append(intervals, float64(d))
		}
	}
	if back > 0 || equal > 0 {
		c.Score, c.Passed, c.Attack = 0, false, true
		c.Detail = fmt.Sprintf("timestamps go backwards %d time(s) and repeat %d time(s)", back, equal)
		return c
	}
	fps := 1000 / quantile(intervals, 0.5)
	c.Detail = fmt.Sprintf("%.1f fps over %d ms", fps, obs[len(obs)-1].AtMS-obs[0].AtMS)
	if params.FPS > 0 && fps > th.MaxFPSRatio*float64(params.FPS) {
		c.Score, c.Passed, c.Attack = 0, false, true
		c.Detail = fmt.Sprintf("frames %.0f ms apart (%.0f fps), faster than the %d fps the client captures at", quantile(intervals, 0.5), fps, params.FPS)
	}
	return c
}

// duplicates counts the frames that repeat an earlier frame: the same
// bytes, or (re-encoded) the same picture to within th.DuplicateMAD. A
// real camera's noise makes every frame differ.
func duplicates(obs []frameObs, th IntegrityThresholds) (n int, pairs [][2]int) {
	seen := make(map[[32]byte]int, len(obs))
	for i, o := range obs {
		if j, ok := seen[o.Digest]; ok {
			n++
			pairs = append(pairs, [2]int{j, i})
			continue
		}
		seen[o.Digest] = i
		if i > 0 && sameSize(obs[i-1], o) && thumbMAD(obs[i-1].Thumb, o.Thumb) <= th.DuplicateMAD {
			n++
			pairs = append(pairs, [2]int{i - 1, i})
		}
	}
	return n, pairs
}

func sameSize(a, b frameObs) bool { return a.W == b.W && a.H == b.H }

// thumbMAD is the mean absolute difference of two thumbnails in grey
// levels.
func thumbMAD(a, b []uint16) float64 {
	if len(a) != len(b) || len(a) == 0 {
		return math.Inf(1)
	}
	var s int
	for i := range a {
		d := int(a[i]) - int(b[i])
		if d < 0 {
			d = -d
		}
		s += d
	}
	return float64(s) / float64(len(a)) / thumbScale
}

// duplicateCheck reports repeated frames and frames whose size changes
// mid-capture (a camera does not change resolution within a capture).
func duplicateCheck(obs []frameObs, th IntegrityThresholds) biometric.Check {
	c := biometric.Check{Name: CheckDuplicateFrames, Score: 100, Passed: true}
	sizes := 0
	for i := 1; i < len(obs); i++ {
		if !sameSize(obs[i-1], obs[i]) {
			sizes++
		}
	}
	n, pairs := duplicates(obs, th)
	allowed := max(th.MaxDuplicates, int(th.MaxDuplicateFraction*float64(len(obs))))
	switch {
	case sizes > 0:
		c.Score, c.Passed, c.Attack = 0, false, true
		c.Detail = fmt.Sprintf("the frame size changes %d time(s) within the capture", sizes)
	case n > allowed:
		c.Score, c.Passed, c.Attack = 0, false, true
		c.Detail = fmt.Sprintf("%d of %d frames repeat an earlier frame (first: frame %d = frame %d)", n, len(obs), pairs[0][1], pairs[0][0])
	case n > 0:
		c.Score = 100 * (1 - float64(n)/float64(allowed+1))
		c.Detail = fmt.Sprintf("%d repeated frame(s), within the %d tolerated", n, allowed)
	default:
		c.Detail = "no repeated frames"
	}
	return c
}

// identityCheck compares the identity embeddings of the sampled frames:
// frames of one capture show one person, so every pair must be similar.
// A pair below th.SameIdentity is evidence of frames of another person
// spliced in. Only frames within identityMaxTurn degrees of the neutral
// pose are compared: embeddings of a face in profile are not comparable
// with frontal ones.
func identityCheck(obs []frameObs, n neutral, th IntegrityThresholds) (biometric.Check, bool) {
	var embs [][]float32
	var idx []int
	for _, o := range obs {
		if o.Embedding != nil && math.Abs(o.Face.Pose.Yaw-n.Yaw) <= identityMaxTurn && math.Abs(o.Face.Pose.Pitch-n.Pitch) <= identityMaxTurn {
			embs = append(embs, o.Embedding)
			idx = append(idx, o.Index)
		}
	}
	c := biometric.Check{Name: CheckIdentity}
	if len(embs) < 2 {
		return c, false
	}
	worst, wi, wj := math.Inf(1), 0, 0
	for i := range embs {
		for j := i + 1; j < len(embs); j++ {
			if s := vision.Cosine(embs[i], embs[j]); s < worst {
				worst, wi, wj = s, i, j
			}
		}
	}
	// Score: 50 at the threshold, 100 at cosine 0.8 or above, 0 at 0.
	c.Score = scoreAround(worst, 0, th.SameIdentity, 0.8)
	c.Passed = worst >= th.SameIdentity
	c.Attack = !c.Passed
	c.Detail = fmt.Sprintf("lowest similarity %.2f between frames %d and %d of %d sampled", worst, idx[wi], idx[wj], len(embs))
	return c, true
}

// identityMaxTurn bounds the pose difference from neutral (degrees of yaw
// or pitch) of the frames the identity check compares.
const identityMaxTurn = 25

// faceCounts returns the detector runs and how many of them saw more than
// one face.
func faceCounts(obs []frameObs) (runs, multi int) {
	for _, o := range obs {
		if o.Faces >= 0 {
			runs++
			if o.Faces > 1 {
				multi++
			}
		}
	}
	return runs, multi
}

// scoreAround maps v to 0-100 piecewise linearly: 0 at lo, 50 at mid, 100
// at hi, clamped.
func scoreAround(v, lo, mid, hi float64) float64 {
	if math.IsNaN(v) {
		return 0
	}
	var s float64
	if v < mid {
		s = 50 * (v - lo) / (mid - lo)
	} else {
		s = 50 + 50*(v-mid)/(hi-mid)
	}
	return math.Round(10*math.Max(0, math.Min(100, s))) / 10
}

// continuityCheck looks for the face jumping between consecutive frames:
// at 15 fps a head moves a small fraction of its own size from one frame
// to the next, so a face that leaps across the picture or changes size
// abruptly marks frames that were not captured one after the other
// (reordered, spliced or sparsely sampled frames). A jump is a move of
// the face centre by more than th.JumpMove face heights, or a change of
// the face height by more than 25 %, between frames at most
// th.JumpWindowMS apart. (The face box height barely changes when the
// head turns, unlike the distance between the eyes.)
func continuityCheck(obs []frameObs, th IntegrityThresholds) biometric.Check {
	c := biometric.Check{Name: CheckContinuity, Score: 100, Passed: true}
	pairs, jumps := 0, 0
	worst := 0.0
	for i := 1; i < len(obs); i++ {
		a, b := obs[i-1].Face, obs[i].Face
		dt := obs[i].AtMS - obs[i-1].AtMS
		if a == nil || b == nil || dt <= 0 || dt > th.JumpWindowMS || a.Box.Height <= 0 || b.Box.Height <= 0 {
			continue
		}
		pairs++
		ca, cb := vision.RectOf(a.Box).Centre(), vision.RectOf(b.Box).Centre()
		move := math.Hypot(cb.X-ca.X, cb.Y-ca.Y) / math.Max(a.Box.Height, b.Box.Height)
		scale := math.Abs(math.Log(b.Box.Height / a.Box.Height))
		worst = math.Max(worst, move)
		if move > th.JumpMove || scale > math.Log(1.25) {
			jumps++
		}
	}
	if pairs == 0 {
		c.Detail = "no consecutive frames with a face"
		return c
	}
	allowed := max(th.MaxJumps, int(th.MaxJumpFraction*float64(pairs)))
	// Score: 100 without jumps, 50 just past the tolerance, 0 when every
	// move is a jump.
	c.Score = scoreAround(-float64(jumps), -float64(pairs), -float64(allowed)-0.5, 0)
	c.Detail = fmt.Sprintf("%d of %d frame-to-frame moves are jumps (largest %.2f face heights)", jumps, pairs, worst)
	if jumps > allowed {
		c.Passed, c.Attack = false, true
	}
	return c
}

func iod(lm biometric.Landmarks) float64 {
	return math.Hypot(lm.LeftEye.X-lm.RightEye.X, lm.LeftEye.Y-lm.RightEye.Y)
}
