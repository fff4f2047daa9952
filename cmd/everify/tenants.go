package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/everify/everify/internal/audit"
	"github.com/everify/everify/internal/auth"
	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/imagein"
	"github.com/everify/everify/internal/liveness"
	"github.com/everify/everify/internal/store"
)

// webhookSecretPrefix starts every webhook signing secret.
const webhookSecretPrefix = "whsec_"

// runTenants implements `everify tenants
// set-webhook|remove-webhook|set-challenge|clear-challenge|list`.
func runTenants(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runSubcommand(ctx, "tenants", []command{
		{"set-webhook", "sign and post a tenant's finished sessions to its URL", runSetWebhook},
		{"remove-webhook", "stop a tenant's webhook", runRemoveWebhook},
		{"set-challenge", "set a tenant's own challenge policy (steps, allowed actions)", runSetChallenge},
		{"clear-challenge", "give a tenant the server's default challenge policy again", runClearChallenge},
		{"list", "list tenants with their webhook and challenge policy", runTenantsList},
	}, args, stdout, stderr)
}

// webhookJSON is how `tenants set-webhook --json`, `tenants set-challenge
// --json` and `tenants list --json` print a tenant, its webhook and its
// challenge policy. Secret is set only by set-webhook: it is shown once.
type webhookJSON struct {
	Tenant    string         `json:"tenant"`
	URL       string         `json:"webhook_url,omitempty"`
	Secret    string         `json:"secret,omitempty"`
	CreatedAt time.Time      `json:"webhook_set_at,omitzero"`
	Challenge *challengeJSON `json:"challenge,omitempty"`
}

// challengeJSON is a tenant's challenge policy; a tenant without one gets
// the server's default.
type challengeJSON struct {
	Steps       int                       `json:"steps"`
	First       []biometric.ChallengeType `json:"first,omitempty"`
	Actions     []biometric.ChallengeType `json:"actions"`
	ScreenLight bool                      `json:"screen_light,omitempty"`
	SetAt       time.Time                 `json:"set_at,omitzero"`
}

// newChallengeJSON returns rules set at the given time as JSON.
func newChallengeJSON(rules biometric.ChallengeRules, at time.Time) *challengeJSON {
	return &challengeJSON{Steps: rules.Steps, First: rules.First, Actions: rules.Actions, ScreenLight: rules.ScreenLight, SetAt: at}
}

func runSetWebhook(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tenants set-webhook", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := storeFlags(fs)
	tenant := fs.String("tenant", "", "tenant whose finished sessions are posted (required)")
	target := fs.String("url", "", "https URL that receives the signed events (required)")
	allow := fs.String("webhook-allow", "", "comma-separated internal hosts, IPs or CIDRs the URL may reach, as given to 'serve --webhook-allow'")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected arguments %v (flags go before arguments)", fs.Args())
	}
	if err := auth.ValidateTenant(*tenant); err != nil {
		return usageErrorf("--tenant: %s", biometric.AsError(err).Message)
	}
	if *target == "" {
		return usageErrorf("--url is required")
	}
	guard, err := imagein.NewFetcher(imagein.Options{Allow: splitList(*allow)})
	if err != nil {
		return usageErrorf("--webhook-allow: %v", err)
	}
	// The same URL policy as image URLs; the host's addresses are checked
	// again on every delivery.
	if err := guard.CheckURL(*target); err != nil {
		return usageErrorf("--url: %s", webhookURLProblem(err))
	}
	if u, _ := url.Parse(*target); u.Scheme != "https" {
		fmt.Fprintf(stderr, "Warning: %s is not https: the events (liveness decisions) would cross the network unencrypted.\n", *target)
	}
	secret := webhookSecretPrefix + auth.RandomString(40)
	db, where, err := openStore(ctx, *dataDir, store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.SetWebhook(ctx, *tenant, *target, []byte(secret)); err != nil {
		return fmt.Errorf("storing the webhook in %s: %w", where, err)
	}
	if err := db.AppendAudit(ctx, &audit.Event{Tenant: *tenant, Actor: audit.ActorOperator, Action: audit.ActionWebhookSet}); err != nil {
		return fmt.Errorf("recording the webhook in the audit log: %w", err)
	}
	if *asJSON {
		return writeJSON(stdout, webhookJSON{Tenant: *tenant, URL: *target, Secret: secret, CreatedAt: time.Now().UTC()})
	}
	fmt.Fprintf(stdout, "%s\n\n", secret)
	fmt.Fprintf(stderr, "Tenant %q's finished sessions will be posted to %s, signed with the secret above (header Everify-Signature: "+
		"t=<unix time>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">).\nThe secret is shown only now: give it to the tenant. "+
		"Setting the webhook again makes a new secret.\n", *tenant, *target)
	return nil
}

// webhookURLProblem is the image fetcher's refusal of a URL, in words
// about webhooks.
func webhookURLProblem(err error) string {
	switch e := biometric.AsError(err); e.Code {
	case "image_url_blocked":
		return "the URL leads to an internal or reserved address; allow the host with --webhook-allow here and in 'serve --webhook-allow' if it is meant"
	default:
		return "the URL must be an absolute http(s) URL without credentials: " + e.Message
	}
}

func runRemoveWebhook(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runTenantReset(ctx, args, stdout, stderr, tenantReset{
		command: "remove-webhook",
		what:    "webhook",
		reset:   (*store.DB).RemoveWebhook,
		missing: "tenant %q has no webhook in %s",
		action:  audit.ActionWebhookRemove,
		done:    "Removed tenant %q's webhook; deliveries still queued for it are dropped.",
	})
}

// tenantReset describes a sub-command that takes one setting away from a
// tenant: remove-webhook, clear-challenge.
type tenantReset struct {
	command string                                         // the sub-command's name
	what    string                                         // the setting, for messages
	reset   func(*store.DB, context.Context, string) error // takes it away; KindNotFound when unset
	missing string                                         // error when unset: tenant, where
	action  string                                         // the audit action
	done    string                                         // printed when done: tenant
}

// runTenantReset runs a tenantReset sub-command: `everify tenants
// COMMAND --tenant NAME`, recorded in the audit log.
func runTenantReset(ctx context.Context, args []string, stdout, stderr io.Writer, r tenantReset) error {
	fs := flag.NewFlagSet("tenants "+r.command, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := storeFlags(fs)
	tenant := fs.String("tenant", "", "tenant whose "+r.what+" is taken away (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || *tenant == "" {
		return usageErrorf("need --tenant and no arguments")
	}
	db, where, err := openStore(ctx, *dataDir, store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	err = r.reset(db, ctx, *tenant)
	if biometric.IsKind(err, biometric.KindNotFound) {
		return fmt.Errorf(r.missing, *tenant, where)
	}
	if err != nil {
		return fmt.Errorf("taking away the %s: %w", r.what, err)
	}
	if err := db.AppendAudit(ctx, &audit.Event{Tenant: *tenant, Actor: audit.ActorOperator, Action: r.action}); err != nil {
		return fmt.Errorf("recording it in the audit log: %w", err)
	}
	fmt.Fprintf(stdout, r.done+"\n", *tenant)
	return nil
}

func runTenantsList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tenants list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := storeFlags(fs)
	asJSON := fs.Bool("json", false, "print a JSON array")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected arguments %v", fs.Args())
	}
	db, _, err := openStore(ctx, *dataDir, store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	list, err := listTenants(ctx, db)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, list)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tWEBHOOK\tSET\tCHALLENGE")
	for _, w := range list {
		url, set, challenge := "-", "-", "default"
		if w.URL != "" {
			url, set = w.URL, w.CreatedAt.Format(time.RFC3339)
		}
		if c := w.Challenge; c != nil {
			challenge = biometric.ChallengeRules{Steps: c.Steps, First: c.First, Actions: c.Actions}.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", w.Tenant, url, set, challenge)
	}
	return tw.Flush()
}

// listTenants returns every tenant that has a key, a webhook or a
// challenge policy, by name, with its webhook and policy.
func listTenants(ctx context.Context, db *store.DB) ([]webhookJSON, error) {
	hooks, err := db.Webhooks(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing webhooks: %w", err)
	}
	keys, err := db.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing keys: %w", err)
	}
	challenges, err := db.ListTenantChallenges(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing challenge policies: %w", err)
	}
	byTenant := map[string]*webhookJSON{}
	tenant := func(name string) *webhookJSON {
		if byTenant[name] == nil {
			byTenant[name] = &webhookJSON{Tenant: name}
		}
		return byTenant[name]
	}
	for _, k := range keys {
		tenant(k.Tenant)
	}
	for _, w := range hooks {
		t := tenant(w.Tenant)
		t.URL, t.CreatedAt = w.URL, w.CreatedAt
	}
	for _, c := range challenges {
		tenant(c.Tenant).Challenge = newChallengeJSON(c.Rules, c.SetAt)
	}
	list := []webhookJSON{}
	for _, name := range slices.Sorted(maps.Keys(byTenant)) {
		list = append(list, *byTenant[name])
	}
	return list, nil
}

func runSetChallenge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tenants set-challenge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := storeFlags(fs)
	tenant := fs.String("tenant", "", "tenant whose new sessions get this challenge policy (required)")
	steps := fs.Int("steps", 0, "number of steps of a server-chosen challenge, 1 to the number of actions (required)")
	actions := fs.String("actions", "", "comma-separated actions the steps are drawn from (required): "+biometric.JoinChallenges(biometric.AllChallenges))
	first := fs.String("first", "", "comma-separated actions the first step is drawn from (default: --actions); the seed's challenge_details shows the first step alone")
	screenLight := fs.Bool("screen-light", false, "also give every session the screen-light challenge (a colour sequence the face must reflect; see docs/LIVENESS.md)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected arguments %v (flags go before arguments)", fs.Args())
	}
	if err := auth.ValidateTenant(*tenant); err != nil {
		return usageErrorf("--tenant: %s", biometric.AsError(err).Message)
	}
	if *actions == "" {
		return usageErrorf("--actions is required: a comma-separated list of %s", biometric.JoinChallenges(biometric.AllChallenges))
	}
	if !stepsGiven(fs) {
		return usageErrorf("--steps is required: how many steps a server-chosen challenge has")
	}
	rules := biometric.ChallengeRules{Steps: *steps, First: parseActions(*first), Actions: parseActions(*actions), ScreenLight: *screenLight}
	if err := rules.Validate(); err != nil {
		e := biometric.AsError(err)
		return usageErrorf("--%s: %s", e.Field, e.Message)
	}
	db, where, err := openStore(ctx, *dataDir, store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.SetTenantChallenges(ctx, *tenant, rules); err != nil {
		return fmt.Errorf("storing the challenge policy in %s: %w", where, err)
	}
	if err := db.AppendAudit(ctx, &audit.Event{Tenant: *tenant, Actor: audit.ActorOperator, Action: audit.ActionChallengeSet}); err != nil {
		return fmt.Errorf("recording the challenge policy in the audit log: %w", err)
	}
	if weak := weakerActions(rules.Allowed()); len(weak) > 0 {
		fmt.Fprintf(stderr, "Warning: a replayed recording answers %s more easily than blink and head turns (see docs/LIVENESS.md).\n",
			biometric.JoinChallenges(weak))
	}
	if *asJSON {
		return writeJSON(stdout, webhookJSON{Tenant: *tenant, Challenge: newChallengeJSON(rules, time.Now().UTC())})
	}
	fmt.Fprintf(stdout, "Tenant %q's new sessions get %s.\nA start request may ask only for %s. Running servers apply it from their next start.\n",
		*tenant, rules, biometric.JoinChallenges(rules.Allowed()))
	return nil
}

func runClearChallenge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runTenantReset(ctx, args, stdout, stderr, tenantReset{
		command: "clear-challenge",
		what:    "challenge policy",
		reset:   (*store.DB).ClearTenantChallenges,
		missing: "tenant %q has no challenge policy in %s; it already gets the server's default",
		action:  audit.ActionChallengeClear,
		done:    "Cleared tenant %q's challenge policy; its new sessions get the server's default.",
	})
}

// parseActions splits a comma-separated list of actions, ignoring spaces
// and empty entries; Validate checks the names.
func parseActions(list string) []biometric.ChallengeType {
	var ts []biometric.ChallengeType
	for a := range strings.SplitSeq(list, ",") {
		if a = strings.TrimSpace(a); a != "" {
			ts = append(ts, biometric.ChallengeType(a))
		}
	}
	return ts
}

// weakerActions returns the actions among ts that the default policy
// leaves out: a replayed recording answers them more easily
// (docs/LIVENESS.md).
func weakerActions(ts []biometric.ChallengeType) []biometric.ChallengeType {
	def := liveness.DefaultPolicy().Rules()
	var weak []biometric.ChallengeType
	for _, t := range ts {
		if !def.Allows(t) {
			weak = append(weak, t)
		}
	}
	return weak
}

// stepsGiven reports whether --steps was given (--steps 0 is then a
// validation error rather than a missing flag).
func stepsGiven(fs *flag.FlagSet) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == "steps" })
	return set
}
