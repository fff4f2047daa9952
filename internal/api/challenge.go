package api

import (
	"crypto/rand"
	"math/big"

	"github.com/everify/everify/internal/auth"
	"github.com/everify/everify/internal/biometric"
)

// ChallengePolicy chooses the challenge of a new liveness session. The
// request may ask for specific steps (already checked to be known and
// distinct); the policy may refuse a request it cannot honour with an
// invalid error. RandomChallenge is the default; the liveness package can
// supply a richer policy through Config.Challenges.
type ChallengePolicy interface {
	Challenge(requested []biometric.ChallengeType) (biometric.Challenge, error)
}

// RandomChallenge asks for Steps distinct actions drawn uniformly at random
// (crypto/rand) from biometric.AllChallenges, or for the requested ones in
// the requested order, and binds a random nonce into the challenge.
type RandomChallenge struct {
	Steps int // 1 if zero
}

// Challenge implements ChallengePolicy.
func (p RandomChallenge) Challenge(requested []biometric.ChallengeType) (biometric.Challenge, error) {
	types := requested
	if len(types) == 0 {
		n := min(max(p.Steps, 1), len(biometric.AllChallenges))
		types = randomSubset(biometric.AllChallenges, n)
	}
	c := biometric.Challenge{Nonce: auth.RandomString(16)}
	for _, t := range types {
		c.Steps = append(c.Steps, biometric.ChallengeStep{Type: t, Instructions: biometric.ChallengeInstructions[t]})
	}
	return c, nil
}

// randomSubset returns n distinct elements of all in random order: the
// first n positions of a Fisher-Yates shuffle driven by crypto/rand.
func randomSubset(all []biometric.ChallengeType, n int) []biometric.ChallengeType {
	s := append([]biometric.ChallengeType(nil), all...)
	for i := range n {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(len(s)-i)))
		if err != nil {
			panic("crypto/rand failed: " + err.Error()) // rand.Reader does not fail on supported platforms
		}
		k := i + int(j.Int64())
		s[i], s[k] = s[k], s[i]
	}
	return s[:n]
}
