package liveness

import (
	"fmt"
	"strings"

	"github.com/everify/everify/internal/biometric"
)

// matchSteps decides which challenge steps were answered: step i is seen
// when its action occurs inside its window (after its prompt and within
// the step window; anywhere in the capture without prompt times) and after
// the previous step was seen, so that the steps are answered in the
// requested order. The earliest qualifying occurrence is taken, which
// leaves the most room for the steps after it.
func matchSteps(steps []biometric.ChallengeStep, events map[biometric.ChallengeType][]event, prompts []int64, params biometric.CaptureParams, start, end int64) []biometric.StepResult {
	out := make([]biometric.StepResult, len(steps))
	after := start - 1 // the time the previous step was seen
	for i, st := range steps {
		out[i].Type = st.Type
		from, to := stepWindow(params, i, prompts, start, end)
		if i < len(prompts) {
			out[i].PromptMS = prompts[i]
		}
		for _, e := range events[st.Type] {
			if e.Start >= from && e.Start <= to && e.Start > after {
				out[i].Seen, out[i].SeenMS = true, e.Start
				after = e.Start
				break
			}
		}
		if !out[i].Seen {
			// Later steps cannot be in order without this one.
			for j := i + 1; j < len(steps); j++ {
				out[j].Type = steps[j].Type
				if j < len(prompts) {
					out[j].PromptMS = prompts[j]
				}
			}
			break
		}
	}
	return out
}

// challengeCheck summarises the step results: passed when every step was
// seen; the score is the share of steps seen. A missed step is no evidence
// of an attack by itself.
func challengeCheck(res []biometric.StepResult) biometric.Check {
	c := biometric.Check{Name: CheckChallenge, Passed: true}
	seen := 0
	var missed []string
	for _, r := range res {
		if r.Seen {
			seen++
		} else {
			c.Passed = false
			missed = append(missed, string(r.Type))
		}
	}
	if len(res) == 0 {
		c.Score = 0
		c.Passed = false
		c.Detail = "the challenge has no steps"
		return c
	}
	// All steps seen: 100. Otherwise below 50 in proportion.
	if c.Passed {
		c.Score = 100
		c.Detail = fmt.Sprintf("all %d step(s) answered in order", len(res))
	} else {
		c.Score = float64(int(1000*0.49*float64(seen)/float64(len(res)))) / 10
		c.Detail = fmt.Sprintf("%d of %d step(s) answered in order; not seen: %s", seen, len(res), strings.Join(missed, ", "))
	}
	return c
}
