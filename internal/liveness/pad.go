package liveness

import (
	"fmt"
	"slices"

	"github.com/everify/everify/internal/biometric"
)

// PADThresholds bound the passive presentation-attack models' median bona
// fide probability over the sampled frames.
type PADThresholds struct {
	// Accept maps a model name to the median probability below which the
	// capture is not accepted as live.
	Accept map[string]float64
	// Attack maps a model name to the median probability below which the
	// model is confident enough to count as attack evidence.
	Attack map[string]float64
}

// DefaultPADThresholds are the thresholds everify uses. On the dev data
// neither model separates attacks from bona fide captures (antispoof
// scores NUAA prints and the phone replay higher than live faces), so the
// thresholds sit far below every bona fide clip: they only reject the
// rare capture the models are sure about (docs/EVALUATION.md).
func DefaultPADThresholds() PADThresholds {
	return PADThresholds{
		Accept: map[string]float64{"antispoof": 0.15, "liveness": 0.3, textureName: 0.5},
		Attack: map[string]float64{"antispoof": 0.03, "liveness": 0.05, textureName: 0.1},
	}
}

// padChecks returns one check per model: the median bona fide probability
// over the sampled frames, scored 0 at 0, 50 at the acceptance threshold
// and 100 at 1.
func padChecks(obs []frameObs, th PADThresholds) []biometric.Check {
	probs := map[string][]float64{}
	var names []string
	for _, o := range obs {
		for name, p := range o.PAD {
			if _, ok := probs[name]; !ok {
				names = append(names, name)
			}
			probs[name] = append(probs[name], p)
		}
	}
	slices.Sort(names)
	var out []biometric.Check
	for _, name := range names {
		med := quantile(probs[name], 0.5)
		accept, attack := th.Accept[name], th.Attack[name]
		c := biometric.Check{
			Name:   name,
			Score:  scoreAround(med, 0, accept, 1),
			Passed: med >= accept,
			Attack: med < attack,
			Detail: fmt.Sprintf("median bona fide probability %.2f over %d frames", med, len(probs[name])),
		}
		out = append(out, c)
	}
	return out
}
