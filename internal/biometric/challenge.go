package biometric

import (
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"strings"
)

// ChallengeRules is a tenant's challenge policy, set by the operator: how
// many steps a server-chosen challenge has and which actions they are
// drawn from. The first step is drawn from First (Actions when First is
// empty), the others, distinct, from Actions. A start request that names
// its own steps may use any of the allowed actions (First and Actions).
type ChallengeRules struct {
	Steps   int             `json:"steps"`
	First   []ChallengeType `json:"first,omitempty"`
	Actions []ChallengeType `json:"actions"`
	// ScreenLight asks for the screen-light challenge on every session
	// (a light sequence, as a start request's screen_light does).
	ScreenLight bool `json:"screen_light,omitempty"`
}

// FirstActions returns the actions the first step is drawn from.
func (r ChallengeRules) FirstActions() []ChallengeType {
	if len(r.First) > 0 {
		return r.First
	}
	return r.Actions
}

// Allows reports whether t is one of the rules' actions (in First or
// Actions).
func (r ChallengeRules) Allows(t ChallengeType) bool {
	return slices.Contains(r.Actions, t) || slices.Contains(r.First, t)
}

// Allowed returns the rules' actions (First, then the rest of Actions),
// each once.
func (r ChallengeRules) Allowed() []ChallengeType {
	all := slices.Clone(r.First)
	for _, t := range r.Actions {
		if !slices.Contains(all, t) {
			all = append(all, t)
		}
	}
	return all
}

// MaxSteps returns the most steps every drawn challenge can have: one
// first step and then the Actions other than it, for the first action that
// leaves the fewest.
func (r ChallengeRules) MaxSteps() int {
	steps, _ := r.limit()
	return steps
}

// limit returns MaxSteps and the first action that bounds it ("" when
// every first action leaves the same number).
func (r ChallengeRules) limit() (int, ChallengeType) {
	first := r.FirstActions()
	if len(first) == 0 {
		return 0, ""
	}
	most, least := -1, -1
	var by ChallengeType
	for _, f := range first {
		n := 1 + len(r.Actions)
		if slices.Contains(r.Actions, f) {
			n--
		}
		if least < 0 || n < least {
			least, by = n, f
		}
		most = max(most, n)
	}
	if most == least {
		by = ""
	}
	return least, by
}

// Validate checks that the rules name known actions, each once per list,
// and that Steps is between 1 and MaxSteps. Its errors are invalid
// *Errors whose Field is "steps", "actions" or "first".
func (r ChallengeRules) Validate() error {
	if len(r.Actions) == 0 {
		return ruleError("actions", "A challenge policy needs at least one action; choose from %s.", JoinChallenges(AllChallenges))
	}
	if err := checkActionList("actions", r.Actions); err != nil {
		return err
	}
	if err := checkActionList("first", r.First); err != nil {
		return err
	}
	if r.Steps < 1 {
		return ruleError("steps", "A challenge needs at least 1 step, not %d.", r.Steps)
	}
	most, by := r.limit()
	if r.Steps <= most {
		return nil
	}
	if by == "" && len(r.First) == 0 {
		return ruleError("steps", "%d steps need %d different actions, but only %d are allowed (%s); ask for fewer steps or allow more actions.",
			r.Steps, r.Steps, most, JoinChallenges(r.Actions))
	}
	if by == "" {
		by = r.First[0]
	}
	others := slices.DeleteFunc(slices.Clone(r.Actions), func(t ChallengeType) bool { return t == by })
	return ruleError("steps", "A challenge that starts with %s can have at most %d steps (%s, then %s, each once); ask for fewer steps or allow more actions.",
		by, most, by, JoinChallenges(others))
}

// checkActionList requires known actions, each listed once.
func checkActionList(field string, list []ChallengeType) error {
	for i, t := range list {
		if !ValidChallenge(t) {
			return ruleError(field, "Action %q is not known; use any of %s.", t, JoinChallenges(AllChallenges))
		}
		if slices.Contains(list[:i], t) {
			return ruleError(field, "Action %q is listed twice.", t)
		}
	}
	return nil
}

// ruleError is an invalid_challenge_policy error about field.
func ruleError(field, format string, args ...any) *Error {
	e := Errorf(KindInvalid, "invalid_challenge_policy", format, args...)
	e.Field = field
	return e
}

// String describes the rules in one line, for example "2 steps: blink,
// then turn_left,turn_right".
func (r ChallengeRules) String() string {
	var s string
	if len(r.First) == 0 || r.Steps == 1 {
		s = fmt.Sprintf("%d %s of %s", r.Steps, plural(r.Steps, "step"), JoinChallenges(r.FirstActions()))
	} else {
		s = fmt.Sprintf("%d %s: %s, then %s", r.Steps, plural(r.Steps, "step"), JoinChallenges(r.First), JoinChallenges(r.Actions))
	}
	if r.ScreenLight {
		s += "; screen light"
	}
	return s
}

// plural returns word, with an s unless n is 1.
func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// JoinChallenges returns the actions separated by commas.
func JoinChallenges(ts []ChallengeType) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ",")
}

// Draw picks a server-chosen challenge's steps: the first uniformly from
// FirstActions, then distinct others from Actions until Steps, reading
// its randomness from src (crypto/rand.Reader in the service).
func (r ChallengeRules) Draw(src io.Reader) ([]ChallengeType, error) {
	first := r.FirstActions()
	if len(first) == 0 {
		return nil, fmt.Errorf("challenge rules have no actions")
	}
	k, err := uniform(src, len(first))
	if err != nil {
		return nil, err
	}
	types := []ChallengeType{first[k]}
	rest := slices.DeleteFunc(slices.Clone(r.Actions), func(t ChallengeType) bool { return t == types[0] })
	for len(types) < r.Steps && len(rest) > 0 {
		if k, err = uniform(src, len(rest)); err != nil {
			return nil, err
		}
		types = append(types, rest[k])
		rest = slices.Delete(rest, k, k+1)
	}
	return types, nil
}

// uniform returns an integer in [0, n) read from src, each equally likely
// (rejection sampling).
func uniform(src io.Reader, n int) (int, error) {
	limit := ^uint32(0) - ^uint32(0)%uint32(n)
	var b [4]byte
	for {
		if _, err := io.ReadFull(src, b[:]); err != nil {
			return 0, fmt.Errorf("drawing a challenge: %w", err)
		}
		if v := binary.BigEndian.Uint32(b[:]); v < limit {
			return int(v % uint32(n)), nil
		}
	}
}
