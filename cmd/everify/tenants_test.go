package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/everify/everify/client"
	"github.com/everify/everify/internal/seal"
)

// TestTenantsChallengeErrors checks set-challenge's and clear-challenge's
// refusals: each names the flag at fault and what to do.
func TestTenantsChallengeErrors(t *testing.T) {
	t.Setenv(databaseURLEnv, "")
	t.Setenv(masterKeyEnv, "")
	t.Setenv(masterKeyFileEnv, "")
	dir := t.TempDir()
	set := []string{"tenants", "set-challenge", "--data-dir", dir}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"tenants", "promote"}, 2, "set-challenge, clear-challenge"},
		{append(set, "--steps", "1", "--actions", "blink"), 2, "--tenant"},
		{append(set, "--tenant", "Bad Name", "--steps", "1", "--actions", "blink"), 2, "--tenant"},
		{append(set, "--tenant", "acme", "--steps", "1"), 2, "--actions is required"},
		{append(set, "--tenant", "acme", "--actions", "blink"), 2, "--steps is required"},
		{append(set, "--tenant", "acme", "--steps", "1", "--actions", "blink,wink"), 2, `--actions: Action "wink" is not known; use any of blink,turn_left,turn_right,smile,open_mouth,nod`},
		{append(set, "--tenant", "acme", "--steps", "1", "--actions", "blink,blink"), 2, `--actions: Action "blink" is listed twice`},
		{append(set, "--tenant", "acme", "--steps", "1", "--actions", "blink", "--first", "frown"), 2, `--first: Action "frown" is not known`},
		{append(set, "--tenant", "acme", "--steps", "0", "--actions", "blink"), 2, "--steps: A challenge needs at least 1 step"},
		{append(set, "--tenant", "acme", "--steps", "3", "--actions", "blink,nod"), 2, "--steps: 3 steps need 3 different actions, but only 2 are allowed (blink,nod)"},
		{append(set, "--tenant", "acme", "--steps", "3", "--first", "blink", "--actions", "blink,nod"), 2, "--steps: A challenge that starts with blink can have at most 2 steps (blink, then nod, each once)"},
		{append(set, "--tenant", "acme", "--steps", "1", "--actions", "blink", "extra"), 2, "flags go before arguments"},
		{[]string{"tenants", "clear-challenge", "--data-dir", dir}, 2, "need --tenant"},
		{[]string{"tenants", "clear-challenge", "--data-dir", dir, "--tenant", "acme"}, 1, `tenant "acme" has no challenge policy`},
	} {
		code, _, errOut := run(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("everify %s: exit %d, stderr %q; want %d and %q", strings.Join(tc.args, " "), code, errOut, tc.code, tc.want)
		}
	}
	// Nothing was stored by the refusals.
	code, out, errOut := run(t, "tenants", "list", "--data-dir", dir, "--json")
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("tenants list after refusals: exit %d: %s%s", code, out, errOut)
	}
}

// TestTenantsChallengeSQLite sets a tenant's challenge policy with the CLI
// and checks that a running server honours it on SQLite.
func TestTenantsChallengeSQLite(t *testing.T) {
	t.Setenv(databaseURLEnv, "")
	t.Setenv(masterKeyEnv, "")
	t.Setenv(masterKeyFileEnv, "")
	testTenantsChallenge(t, "--data-dir", t.TempDir())
}

// TestTenantsChallengePostgres is TestTenantsChallengeSQLite on
// PostgreSQL ($DATABASE_URL).
func TestTenantsChallengePostgres(t *testing.T) {
	t.Setenv(databaseURLEnv, freshPostgres(t))
	t.Setenv(masterKeyEnv, seal.NewKey())
	t.Setenv(masterKeyFileEnv, "")
	testTenantsChallenge(t)
}

// challengeSteps returns the step types of a started session.
func challengeSteps(s *client.StartLivenessResponse) []string {
	var ts []string
	if s == nil {
		return nil
	}
	for _, st := range s.ChallengeDetails.Steps {
		ts = append(ts, st.ChallengeType)
	}
	return ts
}

// testTenantsChallenge runs the set-challenge scenario with the given
// store flags: one tenant gets its own policy, another keeps the default;
// list shows both; a served start honours the policy, refuses requests
// outside it, and goes back to the default once it is cleared, without a
// restart.
func testTenantsChallenge(t *testing.T, storeArgs ...string) {
	cli := func(args ...string) (int, string, string) {
		t.Helper()
		// Flags before arguments: the store flags go after the subcommand.
		return run(t, append(append(args[:2:2], storeArgs...), args[2:]...)...)
	}
	acme := createKey(t, append(storeArgs, "--tenant", "acme")...)
	globex := createKey(t, append(storeArgs, "--tenant", "globex")...)

	code, out, errOut := cli("tenants", "set-challenge", "--tenant", "acme", "--steps", "2", "--actions", "smile, nod", "--json")
	if code != 0 {
		t.Fatalf("set-challenge: exit %d: %s", code, errOut)
	}
	var set webhookJSON
	if err := json.Unmarshal([]byte(out), &set); err != nil || set.Tenant != "acme" || set.Challenge == nil ||
		set.Challenge.Steps != 2 || fmt.Sprint(set.Challenge.Actions) != "[smile nod]" || set.Challenge.First != nil {
		t.Fatalf("set-challenge --json printed %s (%v)", out, err)
	}
	if !strings.Contains(errOut, "Warning: a replayed recording answers smile,nod more easily") {
		t.Errorf("set-challenge did not warn about smile and nod: %q", errOut)
	}

	code, out, errOut = cli("tenants", "list", "--json")
	var list []webhookJSON
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || len(list) != 2 {
		t.Fatalf("tenants list --json: exit %d: %s%s", code, out, errOut)
	}
	if c := list[0].Challenge; list[0].Tenant != "acme" || c == nil || c.Steps != 2 || c.SetAt.IsZero() || list[1].Tenant != "globex" || list[1].Challenge != nil {
		t.Errorf("tenants list --json: %s", out)
	}
	code, out, _ = cli("tenants", "list")
	if code != 0 || !strings.Contains(out, "CHALLENGE") || !regexpLine(out, `^acme\s.*2 steps of smile,nod$`) || !regexpLine(out, `^globex\s.*default$`) {
		t.Errorf("tenants list:\n%s", out)
	}

	srv := serve(t, append(storeArgs, "--rate-limit", "0")...)
	ctx := t.Context()
	ca, cg := client.New(srv.url, acme.Key), client.New(srv.url, globex.Key)
	orders := map[string]bool{}
	for i := range 20 {
		s, err := ca.StartLiveness(ctx, &client.StartLivenessRequest{ClientSessionToken: fmt.Sprintf("acme-%d", i)})
		if err != nil {
			t.Fatalf("acme start %d: %v", i, err)
		}
		steps := challengeSteps(s)
		if len(steps) != 2 || !slices.Contains(steps, "smile") || !slices.Contains(steps, "nod") {
			t.Fatalf("acme start %d: steps %v; want smile and nod", i, steps)
		}
		orders[strings.Join(steps, ",")] = true
		s, err = cg.StartLiveness(ctx, &client.StartLivenessRequest{ClientSessionToken: fmt.Sprintf("globex-%d", i)})
		if steps := challengeSteps(s); err != nil || len(steps) != 2 || steps[0] != "blink" || !strings.HasPrefix(steps[1], "turn_") {
			t.Fatalf("globex start %d: %v, %v; want the default blink then a turn", i, steps, err)
		}
	}
	if len(orders) != 2 {
		t.Errorf("acme's 20 challenges came in the orders %v; want both", orders)
	}
	_, err := ca.StartLiveness(ctx, &client.StartLivenessRequest{ClientSessionToken: "acme-blink", ChallengeTypes: []string{"blink"}})
	wantAPIError(t, err, 400, "challenge_type_not_allowed")
	if s, err := ca.StartLiveness(ctx, &client.StartLivenessRequest{ClientSessionToken: "acme-nod", ChallengeTypes: []string{"nod"}}); err != nil || fmt.Sprint(challengeSteps(s)) != "[nod]" {
		t.Errorf("acme asking for nod: %v, %v", s, err)
	}

	// Cleared while the server runs: the next start gets the default.
	if code, out, errOut := cli("tenants", "clear-challenge", "--tenant", "acme"); code != 0 || !strings.Contains(out, "server's default") {
		t.Fatalf("clear-challenge: exit %d: %s%s", code, out, errOut)
	}
	s, err := ca.StartLiveness(ctx, &client.StartLivenessRequest{ClientSessionToken: "acme-cleared"})
	if steps := challengeSteps(s); err != nil || len(steps) != 2 || steps[0] != "blink" {
		t.Errorf("acme after clear-challenge: %v, %v; want the default", steps, err)
	}

	// Both changes are in the audit log.
	code, out, errOut = cli("audit", "export", "--tenant", "acme")
	if code != 0 || !strings.Contains(out, `"tenant.challenge_set"`) || !strings.Contains(out, `"tenant.challenge_clear"`) {
		t.Errorf("audit export: exit %d: %s%s", code, out, errOut)
	}
}

// regexpLine reports whether a line of text matches pattern.
func regexpLine(text, pattern string) bool {
	return regexp.MustCompile(`(?m)` + pattern).MatchString(text)
}
