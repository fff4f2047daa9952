package biometric_test

import (
	"strings"
	"testing"

	"github.com/everify/everify/internal/biometric"
)

func types(s string) []biometric.ChallengeType {
	var ts []biometric.ChallengeType
	for t := range strings.SplitSeq(s, ",") {
		if t != "" {
			ts = append(ts, biometric.ChallengeType(t))
		}
	}
	return ts
}

func TestChallengeRulesMaxSteps(t *testing.T) {
	for _, tc := range []struct {
		first, actions string
		want           int
	}{
		{"", "blink", 1},
		{"", "blink,turn_left,turn_right", 3},
		{"blink", "turn_left,turn_right", 3},       // blink is not among the later actions
		{"blink", "blink,turn_left,turn_right", 3}, // it is
		{"blink,nod", "blink,turn_left", 2},        // starting with blink leaves turn_left only
		{"smile", "", 1},
		{"", "", 0},
	} {
		r := biometric.ChallengeRules{First: types(tc.first), Actions: types(tc.actions)}
		if got := r.MaxSteps(); got != tc.want {
			t.Errorf("first %q, actions %q: MaxSteps = %d, want %d", tc.first, tc.actions, got, tc.want)
		}
	}
}

func TestChallengeRulesValidate(t *testing.T) {
	for _, tc := range []struct {
		steps          int
		first, actions string
		field, want    string // want "" = valid
	}{
		{2, "blink", "turn_left,turn_right", "", ""},
		{6, "", "blink,turn_left,turn_right,smile,open_mouth,nod", "", ""},
		{1, "", "nod", "", ""},
		{1, "", "", "actions", "at least one action"},
		{1, "", "blink,wink", "actions", `"wink" is not known`},
		{1, "", "blink,blink", "actions", `"blink" is listed twice`},
		{1, "frown", "blink", "first", `"frown" is not known`},
		{0, "", "blink", "steps", "at least 1 step"},
		{-3, "", "blink", "steps", "at least 1 step"},
		{3, "", "blink,nod", "steps", "3 steps need 3 different actions, but only 2 are allowed (blink,nod)"},
		{3, "blink,nod", "blink,turn_left", "steps", "starts with blink can have at most 2 steps"},
		{4, "blink", "blink,turn_left,turn_right", "steps", "starts with blink can have at most 3 steps"},
	} {
		r := biometric.ChallengeRules{Steps: tc.steps, First: types(tc.first), Actions: types(tc.actions)}
		err := r.Validate()
		if tc.want == "" {
			if err != nil {
				t.Errorf("%+v: %v, want valid", r, err)
			}
			continue
		}
		e := biometric.AsError(err)
		if err == nil || e.Kind != biometric.KindInvalid || e.Code != "invalid_challenge_policy" || e.Field != tc.field || !strings.Contains(e.Message, tc.want) {
			t.Errorf("%+v: %v (field %q); want an invalid_challenge_policy error on %s saying %q", r, err, e.Field, tc.field, tc.want)
		}
	}
}

func TestChallengeRulesAllowed(t *testing.T) {
	r := biometric.ChallengeRules{Steps: 2, First: types("blink,nod"), Actions: types("turn_left,blink")}
	if got := biometric.JoinChallenges(r.Allowed()); got != "blink,nod,turn_left" {
		t.Errorf("Allowed = %s", got)
	}
	for _, a := range types("blink,nod,turn_left") {
		if !r.Allows(a) {
			t.Errorf("Allows(%s) = false", a)
		}
	}
	if r.Allows(biometric.ChallengeSmile) {
		t.Error("Allows(smile) = true")
	}
	if got := r.String(); got != "2 steps: blink,nod, then turn_left,blink" {
		t.Errorf("String = %q", got)
	}
	if got := (biometric.ChallengeRules{Steps: 1, Actions: types("smile")}).String(); got != "1 step of smile" {
		t.Errorf("String = %q", got)
	}
}
