package api_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/everify/everify/client"
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

func challengeTypes(s string) []biometric.ChallengeType {
	var ts []biometric.ChallengeType
	for t := range strings.SplitSeq(s, ",") {
		ts = append(ts, biometric.ChallengeType(t))
	}
	return ts
}

func stepTypes(c biometric.Challenge) []biometric.ChallengeType {
	var ts []biometric.ChallengeType
	for _, s := range c.Steps {
		ts = append(ts, s.Type)
	}
	return ts
}

// TestRulesChallengeDraws draws many challenges by a tenant's rules: each
// has the rules' steps, the first from the first actions, the rest
// distinct, other than the first and from the actions, and every allowed
// action turns up in its place.
func TestRulesChallengeDraws(t *testing.T) {
	t.Parallel()
	for _, rules := range []biometric.ChallengeRules{
		{Steps: 3, First: challengeTypes("blink"), Actions: challengeTypes("turn_left,turn_right,nod,smile")},
		{Steps: 2, Actions: challengeTypes("blink,smile,open_mouth")},
		{Steps: 3, First: challengeTypes("blink,nod"), Actions: challengeTypes("blink,nod,turn_left,turn_right")},
		{Steps: 1, Actions: challengeTypes("nod")},
	} {
		firsts, laters := map[biometric.ChallengeType]bool{}, map[biometric.ChallengeType]bool{}
		for range 300 {
			c, err := api.RulesChallenge{Rules: rules}.Challenge(nil)
			if err != nil {
				t.Fatalf("%v: %v", rules, err)
			}
			got := stepTypes(c)
			if len(got) != rules.Steps || c.Nonce == "" {
				t.Fatalf("%v: drew %v (nonce %q); want %d steps and a nonce", rules, got, c.Nonce, rules.Steps)
			}
			if !slices.Contains(rules.FirstActions(), got[0]) {
				t.Fatalf("%v: drew %v, whose first step is not a first action", rules, got)
			}
			firsts[got[0]] = true
			for i, a := range got[1:] {
				if !slices.Contains(rules.Actions, a) || slices.Contains(got[:i+1], a) {
					t.Fatalf("%v: drew %v: step %d is not a later action or repeats one", rules, got, i+2)
				}
				laters[a] = true
			}
			for _, s := range c.Steps {
				if s.Instructions != biometric.ChallengeInstructions[s.Type] {
					t.Fatalf("step %+v lacks its instructions", s)
				}
			}
		}
		// Each missing action would have probability below 10^-15 here.
		if len(firsts) != len(rules.FirstActions()) {
			t.Errorf("%v: first steps seen %v", rules, firsts)
		}
		if rules.Steps > 1 && len(laters) != len(rules.Actions) {
			t.Errorf("%v: later steps seen %v", rules, laters)
		}
	}
}

func TestRulesChallengeRequested(t *testing.T) {
	t.Parallel()
	p := api.RulesChallenge{Rules: biometric.ChallengeRules{Steps: 2, First: challengeTypes("blink"), Actions: challengeTypes("turn_left,turn_right")}}
	// Any allowed actions, in the requested order and number.
	for _, req := range []string{"turn_right,blink", "turn_left", "turn_left,turn_right,blink"} {
		c, err := p.Challenge(challengeTypes(req))
		if err != nil || !slices.Equal(stepTypes(c), challengeTypes(req)) {
			t.Errorf("requested %s: %v, %v", req, stepTypes(c), err)
		}
	}
	_, err := p.Challenge(challengeTypes("blink,smile"))
	if e := biometric.AsError(err); e.Kind != biometric.KindInvalid || e.Code != "challenge_type_not_allowed" || e.Field != "challenge_types" ||
		!strings.Contains(e.Message, `"smile"`) || !strings.Contains(e.Message, "blink,turn_left,turn_right") {
		t.Errorf("requesting smile: %v; want a 400 challenge_type_not_allowed naming smile and the allowed actions", err)
	}
	// Rules that do not validate (changed behind the store's back) are an
	// internal error, never a weaker challenge.
	bad := api.RulesChallenge{Rules: biometric.ChallengeRules{Steps: 5, Actions: challengeTypes("blink,nod")}}
	if _, err := bad.Challenge(nil); biometric.KindOf(err) != biometric.KindInternal {
		t.Errorf("invalid rules: %v; want an internal error", err)
	}
}

// TestStartTenantChallengePolicy starts many sessions for a tenant with
// its own challenge policy and for one without: the first gets only its
// actions and step count, the second the server's default; a requested
// step outside the policy is refused, and clearing the policy restores
// the default at once.
func TestStartTenantChallengePolicy(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *api.Config) { c.Challenges = api.RandomChallenge{Steps: 1} })
	ctx := context.Background()
	acme, globex := h.key("acme"), h.key("globex")
	rules := biometric.ChallengeRules{Steps: 3, First: challengeTypes("nod"), Actions: challengeTypes("smile,open_mouth,turn_left,turn_right")}
	if err := h.store.SetTenantChallenges(ctx, "acme", rules); err != nil {
		t.Fatal(err)
	}
	start := func(key, token string, requested ...string) (*response, client.StartLivenessResponse) {
		t.Helper()
		body := map[string]any{"client_session_token": token}
		if requested != nil {
			body["challenge_types"] = requested
		}
		r := h.do(request{method: "POST", path: "/v1/biometrics/liveness/start", key: key, body: body})
		var got client.StartLivenessResponse
		if r.status == http.StatusOK {
			r.decode(t, &got)
		}
		return r, got
	}
	types := func(got client.StartLivenessResponse) []string {
		var ts []string
		for _, s := range got.ChallengeDetails.Steps {
			ts = append(ts, s.ChallengeType)
		}
		return ts
	}

	later := map[string]int{}
	defaults := map[string]int{}
	for i := range 60 {
		r, got := start(acme, fmt.Sprintf("acme-%d", i))
		ts := types(got)
		if r.status != http.StatusOK || len(ts) != 3 || ts[0] != "nod" || got.ChallengeDetails.ChallengeType != "nod" {
			t.Fatalf("acme start %d: %d %v; want 3 steps starting with nod\n%s", i, r.status, ts, r.body)
		}
		for _, a := range ts[1:] {
			if !rules.Allows(biometric.ChallengeType(a)) || a == "nod" {
				t.Fatalf("acme start %d drew %v, outside its later actions", i, ts)
			}
			later[a]++
		}
		// The session keeps the challenge it was given.
		if s, err := h.store.Session(ctx, "acme", got.SessionID); err != nil || len(s.Challenge.Steps) != 3 {
			t.Fatalf("stored session: %+v, %v", s, err)
		}
		r, got = start(globex, fmt.Sprintf("globex-%d", i))
		if ts := types(got); r.status != http.StatusOK || len(ts) != 1 {
			t.Fatalf("globex start %d: %d %v; want the default's single step", i, r.status, ts)
		}
		defaults[types(got)[0]]++
	}
	if len(later) != 4 {
		t.Errorf("acme's later steps over 60 starts: %v; want all 4 of its actions", later)
	}
	if len(defaults) < 4 {
		t.Errorf("globex's steps over 60 starts: %v; want the default's draw from all actions", defaults)
	}

	// Requested steps win, within the tenant's actions.
	if r, got := start(acme, "acme-req", "turn_right", "nod"); r.status != http.StatusOK || !slices.Equal(types(got), []string{"turn_right", "nod"}) {
		t.Errorf("acme asking for turn_right,nod: %d %v\n%s", r.status, types(got), r.body)
	}
	r, _ := start(acme, "acme-blink", "nod", "blink")
	wantError(t, r, http.StatusBadRequest, "challenge_type_not_allowed")
	if e, _ := r.json(t)["error"].(map[string]any); e["field"] != "challenge_types" || !strings.Contains(fmt.Sprint(e["message"]), `"blink"`) {
		t.Errorf("error %v: want field challenge_types and a message naming blink", e)
	}
	if r, got := start(acme, "acme-blink"); r.status != http.StatusOK || got.Message != "Liveness session started successfully." {
		t.Errorf("the refused start's token: %d %q; want a new session (the refused start created none)", r.status, got.Message)
	}
	if r, got := start(globex, "globex-blink", "blink"); r.status != http.StatusOK || !slices.Equal(types(got), []string{"blink"}) {
		t.Errorf("globex (no policy) asking for blink: %d %v", r.status, types(got))
	}

	// Clearing the policy gives acme the default on its next start.
	if err := h.store.ClearTenantChallenges(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if r, got := start(acme, "acme-cleared"); r.status != http.StatusOK || len(types(got)) != 1 {
		t.Errorf("acme after clearing: %d %v; want the default's single step", r.status, types(got))
	}
	if r, _ := start(acme, "acme-cleared-blink", "blink"); r.status != http.StatusOK {
		t.Errorf("acme asking for blink after clearing: %d", r.status)
	}
}
