package liveness

import (
	"bytes"
	"crypto/sha256"
	"slices"
	"testing"

	"github.com/everify/everify/internal/biometric"
)

// TestPolicyRules checks that the default policy is valid as tenant rules
// and that a policy drawn from rules keeps to them: the first step from
// the first actions, then distinct other actions, Steps in all.
func TestPolicyRules(t *testing.T) {
	t.Parallel()
	def := DefaultPolicy().Rules()
	if err := def.Validate(); err != nil || def.Steps != 2 || def.MaxSteps() < def.Steps {
		t.Errorf("DefaultPolicy().Rules() = %+v: %v", def, err)
	}
	rules := biometric.ChallengeRules{Steps: 3,
		First:   []biometric.ChallengeType{biometric.ChallengeBlink, biometric.ChallengeNod},
		Actions: []biometric.ChallengeType{biometric.ChallengeNod, biometric.ChallengeTurnLeft, biometric.ChallengeTurnRight}}
	p := Policy{Steps: rules.Steps, First: rules.First, Actions: rules.Actions}
	if got := p.Rules(); !slices.Equal(got.First, rules.First) || !slices.Equal(got.Actions, rules.Actions) || got.Steps != rules.Steps {
		t.Fatalf("Rules() = %+v, want %+v", got, rules)
	}
	for i := range 200 {
		seed := sha256.Sum256([]byte{byte(i), byte(i >> 8), 7})
		c, err := p.NewChallenge(bytes.NewReader(bytes.Repeat(seed[:], 8)), nil)
		if err != nil {
			t.Fatal(err)
		}
		var types []biometric.ChallengeType
		for _, s := range c.Steps {
			types = append(types, s.Type)
		}
		if len(types) != rules.Steps || !slices.Contains(rules.FirstActions(), types[0]) {
			t.Fatalf("drew %v: want %d steps starting with one of %v", types, rules.Steps, rules.FirstActions())
		}
		for k, a := range types[1:] {
			if !slices.Contains(rules.Actions, a) || slices.Contains(types[:k+1], a) {
				t.Fatalf("drew %v: step %d repeats an action or is outside %v", types, k+2, rules.Actions)
			}
		}
	}
}
