package liveness

import (
	"fmt"

	"github.com/everify/everify/internal/biometric"
)

// PlanarThresholds configure the 3-D consistency check.
type PlanarThresholds struct {
	// MinMotion is the departure from a similarity (inter-ocular
	// distances) from which a pair of frames is informative.
	MinMotion float64
	// MinPairs is how many informative pairs the check needs.
	MinPairs int
	// Attack is the excess residual ratio below which the motion is that
	// of a plane; Live is a typical value for a real head.
	Attack, Live float64
}

// DefaultPlanarThresholds are the thresholds everify uses.
var DefaultPlanarThresholds = PlanarThresholds{MinMotion: 0.04, MinPairs: 20, Attack: 0.3, Live: 0.6}

// planarCheck reports whether the face moved as a plane. Without enough
// motion to tell, the check passes with a neutral score of 50.
func planarCheck(obs []frameObs, th PlanarThresholds) biometric.Check {
	st := planarity(obs, th.MinMotion, planarMaxFrames)
	c := biometric.Check{Name: CheckPlanar, Score: 50, Passed: true}
	if st.Pairs < th.MinPairs {
		c.Detail = fmt.Sprintf("not enough motion to test (largest departure from a similarity %.3f inter-ocular distances)", st.MaxMotion)
		return c
	}
	c.Score = scoreAround(st.Excess, 0, th.Attack, th.Live)
	c.Attack = st.Excess < th.Attack
	c.Passed = !c.Attack
	c.Detail = fmt.Sprintf("non-planar residual %.2f of the motion over %d frame pairs (jitter %.3f)", st.Excess, st.Pairs, st.Noise)
	return c
}

// planarMaxFrames bounds the frames compared pairwise.
const planarMaxFrames = 30
