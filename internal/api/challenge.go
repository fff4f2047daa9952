package api

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"

	"github.com/everify/everify/internal/auth"
	"github.com/everify/everify/internal/biometric"
)

// ChallengePolicy chooses the challenge of a new liveness session. The
// request may ask for specific steps (already checked to be known and
// distinct); the policy may refuse a request it cannot honour with an
// invalid error. RandomChallenge is the default; the liveness package can
// supply a richer policy through Config.Challenges. A tenant whose
// operator set its own rules gets a RulesChallenge instead.
type ChallengePolicy interface {
	Challenge(requested []biometric.ChallengeType) (biometric.Challenge, error)
}

// TenantChallenges finds the challenge rules an operator set for a tenant
// (`everify tenants set-challenge`). It is part of Store.
type TenantChallenges interface {
	// TenantChallenges returns the tenant's rules; ok is false when the
	// tenant has none, and its sessions get Config.Challenges.
	TenantChallenges(ctx context.Context, tenant string) (rules biometric.ChallengeRules, ok bool, err error)
}

// challengePolicy returns the ChallengePolicy of the tenant's new
// sessions: its own rules when its operator set some, otherwise the
// server's policy. The rules are read on every start, so that a change
// reaches every replica at once.
func (s *Server) challengePolicy(ctx context.Context, tenant string) (ChallengePolicy, error) {
	rules, ok, err := s.store.TenantChallenges(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if !ok {
		return s.challenges, nil
	}
	return RulesChallenge{Rules: rules}, nil
}

// RulesChallenge is the ChallengePolicy of a tenant with its own rules. It
// draws as liveness.Policy does: the first step from the rules' first
// actions, then distinct later actions up to Rules.Steps, at random
// (crypto/rand). A request may name its own steps, in its own order, but
// only among the rules' actions.
type RulesChallenge struct {
	Rules biometric.ChallengeRules
}

// Challenge implements ChallengePolicy. A requested step outside the
// rules is a 400 challenge_type_not_allowed.
func (p RulesChallenge) Challenge(requested []biometric.ChallengeType) (biometric.Challenge, error) {
	if err := p.Rules.Validate(); err != nil {
		// The store validates rules before saving them: these were changed
		// behind its back. Refuse rather than ask for a weaker challenge.
		return biometric.Challenge{}, fmt.Errorf("api: the tenant's stored challenge policy is invalid (set it again with 'everify tenants set-challenge'): %s", err)
	}
	for _, t := range requested {
		if !p.Rules.Allows(t) {
			return biometric.Challenge{}, invalidField("challenge_types", "challenge_type_not_allowed",
				"Challenge type %q is not allowed for your tenant, whose challenge policy allows %s; ask only for those, or leave challenge_types out.",
				t, biometric.JoinChallenges(p.Rules.Allowed()))
		}
	}
	types := requested
	if len(types) == 0 {
		var err error
		if types, err = p.Rules.Draw(rand.Reader); err != nil {
			return biometric.Challenge{}, err
		}
	}
	c := newChallenge(types)
	if p.Rules.ScreenLight {
		var err error
		if c.LightSequence, err = biometric.DrawLightSequence(rand.Reader); err != nil {
			return biometric.Challenge{}, err
		}
	}
	return c, nil
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
	return newChallenge(types), nil
}

// newChallenge returns a challenge of the given steps, with their
// instructions, bound to a random nonce.
func newChallenge(types []biometric.ChallengeType) biometric.Challenge {
	c := biometric.Challenge{Nonce: auth.RandomString(16)}
	for _, t := range types {
		c.Steps = append(c.Steps, biometric.ChallengeStep{Type: t, Instructions: biometric.ChallengeInstructions[t]})
	}
	return c
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
