package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/everify/everify/internal/audit"
	"github.com/everify/everify/internal/auth"
	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/imagein"
	"github.com/everify/everify/internal/store"
)

// webhookSecretPrefix starts every webhook signing secret.
const webhookSecretPrefix = "whsec_"

// runTenants implements `everify tenants set-webhook|remove-webhook|list`.
func runTenants(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageErrorf("need a subcommand: set-webhook, remove-webhook or list")
	}
	switch args[0] {
	case "set-webhook":
		return runSetWebhook(ctx, args[1:], stdout, stderr)
	case "remove-webhook":
		return runRemoveWebhook(ctx, args[1:], stdout, stderr)
	case "list":
		return runTenantsList(ctx, args[1:], stdout, stderr)
	}
	return usageErrorf("unknown subcommand %q (want set-webhook, remove-webhook or list)", args[0])
}

// webhookJSON is how `tenants set-webhook --json` and `tenants list
// --json` print a tenant and its webhook. Secret is set only by
// set-webhook: it is shown once.
type webhookJSON struct {
	Tenant    string    `json:"tenant"`
	URL       string    `json:"webhook_url,omitempty"`
	Secret    string    `json:"secret,omitempty"`
	CreatedAt time.Time `json:"webhook_set_at,omitzero"`
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
	fs := flag.NewFlagSet("tenants remove-webhook", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := storeFlags(fs)
	tenant := fs.String("tenant", "", "tenant whose webhook is removed (required)")
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
	err = db.RemoveWebhook(ctx, *tenant)
	if biometric.IsKind(err, biometric.KindNotFound) {
		return fmt.Errorf("tenant %q has no webhook in %s", *tenant, where)
	}
	if err != nil {
		return fmt.Errorf("removing the webhook: %w", err)
	}
	if err := db.AppendAudit(ctx, &audit.Event{Tenant: *tenant, Actor: audit.ActorOperator, Action: audit.ActionWebhookRemove}); err != nil {
		return fmt.Errorf("recording the removal in the audit log: %w", err)
	}
	fmt.Fprintf(stdout, "Removed tenant %q's webhook; deliveries still queued for it are dropped.\n", *tenant)
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
	hooks, err := db.Webhooks(ctx)
	if err != nil {
		return fmt.Errorf("listing webhooks: %w", err)
	}
	keys, err := db.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("listing keys: %w", err)
	}
	// Every tenant that has a key or a webhook, by name.
	byTenant := map[string]webhookJSON{}
	for _, k := range keys {
		byTenant[k.Tenant] = webhookJSON{Tenant: k.Tenant}
	}
	for _, w := range hooks {
		byTenant[w.Tenant] = webhookJSON{Tenant: w.Tenant, URL: w.URL, CreatedAt: w.CreatedAt}
	}
	list := []webhookJSON{}
	for _, name := range slices.Sorted(maps.Keys(byTenant)) {
		list = append(list, byTenant[name])
	}
	if *asJSON {
		return writeJSON(stdout, list)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tWEBHOOK\tSET")
	for _, w := range list {
		url, set := "-", "-"
		if w.URL != "" {
			url, set = w.URL, w.CreatedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", w.Tenant, url, set)
	}
	return tw.Flush()
}
