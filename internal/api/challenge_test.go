package api_test

import (
	"testing"

	"github.com/everify/everify/internal/api"
	"github.com/everify/everify/internal/biometric"
)

func TestRandomChallengeCoversAllTypes(t *testing.T) {
	t.Parallel()
	seen := map[biometric.ChallengeType]int{}
	nonces := map[string]bool{}
	const draws = 300
	for range draws {
		c, err := api.RandomChallenge{}.Challenge(nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Steps) != 1 || c.Steps[0].Instructions != biometric.ChallengeInstructions[c.Steps[0].Type] {
			t.Fatalf("challenge %+v: want one step with its instructions", c)
		}
		seen[c.Steps[0].Type]++
		nonces[c.Nonce] = true
	}
	// Each type is expected 50 times; missing one has probability ~6·(5/6)^300.
	for _, ct := range biometric.AllChallenges {
		if seen[ct] == 0 {
			t.Errorf("challenge type %s never chosen in %d draws: %v", ct, draws, seen)
		}
	}
	if len(nonces) != draws {
		t.Errorf("%d distinct nonces in %d challenges", len(nonces), draws)
	}
}

func TestRandomChallengeSteps(t *testing.T) {
	t.Parallel()
	for _, steps := range []int{2, 3, 6, 9} {
		c, err := api.RandomChallenge{Steps: steps}.Challenge(nil)
		if err != nil {
			t.Fatal(err)
		}
		want := min(steps, len(biometric.AllChallenges))
		distinct := map[biometric.ChallengeType]bool{}
		for _, s := range c.Steps {
			distinct[s.Type] = true
		}
		if len(c.Steps) != want || len(distinct) != want {
			t.Errorf("Steps=%d: got %d steps (%d distinct), want %d distinct", steps, len(c.Steps), len(distinct), want)
		}
	}
	req := []biometric.ChallengeType{biometric.ChallengeNod, biometric.ChallengeSmile}
	c, _ := api.RandomChallenge{Steps: 1}.Challenge(req)
	if len(c.Steps) != 2 || c.Steps[0].Type != biometric.ChallengeNod || c.Steps[1].Type != biometric.ChallengeSmile {
		t.Errorf("requested %v, got %+v", req, c.Steps)
	}
}
