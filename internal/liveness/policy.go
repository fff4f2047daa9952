package liveness

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"slices"

	"github.com/everify/everify/internal/biometric"
)

// Policy chooses the challenges of liveness sessions. DefaultPolicy is the
// measured default. (The capture parameters a session asks for — frame
// rate, frame limits, step window — are biometric.CaptureParams, issued
// by the API with the session.)
type Policy struct {
	// Steps is the number of actions in a server-chosen challenge.
	Steps int
	// First lists the actions the first step is drawn from: the API shows
	// the first step alone as the seed's challenge_details, so it must
	// make sense on its own.
	First []biometric.ChallengeType
	// Actions lists the actions the later steps are drawn from.
	Actions []biometric.ChallengeType
	// MaxRequested bounds the steps a tenant may ask for explicitly.
	MaxRequested int
}

// DefaultPolicy returns everify's default policy: two steps, a blink
// first and then a head turn to a random side. Blink and turns are the
// actions a still photo cannot imitate on the dev data (turning a photo
// does not turn the face the mesh sees); see docs/LIVENESS.md for the
// measurements behind the choice.
func DefaultPolicy() Policy {
	return Policy{
		Steps:        2,
		First:        []biometric.ChallengeType{biometric.ChallengeBlink},
		Actions:      []biometric.ChallengeType{biometric.ChallengeTurnLeft, biometric.ChallengeTurnRight},
		MaxRequested: 4,
	}
}

// Rules returns the policy's drawing rules in the form an operator sets
// for a tenant (`everify tenants set-challenge`). The API draws a tenant's
// challenges from such rules the way NewChallenge draws from the policy.
func (p Policy) Rules() biometric.ChallengeRules {
	return biometric.ChallengeRules{Steps: p.Steps, First: slices.Clone(p.First), Actions: slices.Clone(p.Actions)}
}

// NewChallenge returns the challenge of a new session. With requested
// actions (already known and distinct, checked by the caller) it asks for
// exactly those, in that order; otherwise it draws the first step from
// p.First and the rest, distinct, from p.Actions, using r as the source
// of randomness. The challenge's nonce is 16 random bytes in hex.
func (p Policy) NewChallenge(r io.Reader, requested []biometric.ChallengeType) (biometric.Challenge, error) {
	types := requested
	if len(requested) > 0 {
		if p.MaxRequested > 0 && len(requested) > p.MaxRequested {
			return biometric.Challenge{}, biometric.Errorf(biometric.KindInvalid, "too_many_challenge_steps",
				"A challenge may have at most %d steps; ask for fewer challenge_types.", p.MaxRequested)
		}
	} else {
		var err error
		if types, err = p.Rules().Draw(r); err != nil {
			return biometric.Challenge{}, err
		}
	}
	nonce := make([]byte, 16)
	if _, err := io.ReadFull(r, nonce); err != nil {
		return biometric.Challenge{}, fmt.Errorf("liveness: challenge nonce: %w", err)
	}
	c := biometric.Challenge{Nonce: hex.EncodeToString(nonce)}
	for _, t := range types {
		c.Steps = append(c.Steps, biometric.ChallengeStep{Type: t, Instructions: biometric.ChallengeInstructions[t]})
	}
	return c, nil
}

// Challenge implements the API's challenge policy with crypto/rand.
func (p Policy) Challenge(requested []biometric.ChallengeType) (biometric.Challenge, error) {
	return p.NewChallenge(rand.Reader, requested)
}

// stepWindow returns the time window of step i given the prompt times
// (ms from capture start): from its prompt to StepWindowMS later. A step
// without a prompt time may be answered anywhere in the capture [start,
// end].
func stepWindow(p biometric.CaptureParams, i int, prompts []int64, start, end int64) (from, to int64) {
	if i < len(prompts) {
		w := p.StepWindowMS
		if w <= 0 {
			w = end - prompts[i]
		}
		return prompts[i], prompts[i] + w
	}
	return start, end
}
