package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/everify/everify/internal/audit"
	"github.com/everify/everify/internal/auth"
	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/store"
)

// runKeys implements `everify keys create|list|revoke` for API keys and
// `everify keys new-master|master-status|rotate-master` for the master
// keyring (masterkeys.go).
func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runSubcommand(ctx, "keys", []command{
		{"create", "create an API key for a tenant; prints it once", runKeysCreate},
		{"list", "list the API keys (never their secrets)", runKeysList},
		{"revoke", "revoke an API key by its ID", runKeysRevoke},
		{"new-master", "print a new master key for a keyring ($EVERIFY_MASTER_KEY or a keyring file)", withoutContext(runNewMaster)},
		{"master-status", "where the keyring is, its keys, and how many stored objects each wraps", runMasterStatus},
		{"rotate-master", "add a master key and re-wrap every sealed data key under it", runRotateMaster},
	}, args, stdout, stderr)
}

// withoutContext adapts a sub-command that needs no context.
func withoutContext(run func(args []string, stdout, stderr io.Writer) error) func(context.Context, []string, io.Writer, io.Writer) error {
	return func(_ context.Context, args []string, stdout, stderr io.Writer) error {
		return run(args, stdout, stderr)
	}
}

// keyJSON is how `keys create --json` and `keys list --json` print a key.
// Key is set only by create: the secret is never stored.
type keyJSON struct {
	Key       string     `json:"key,omitempty"`
	ID        string     `json:"id"`
	Tenant    string     `json:"tenant"`
	Mode      string     `json:"mode"`
	Prefix    string     `json:"prefix"`
	Scopes    []string   `json:"scopes"`
	CreatedAt time.Time  `json:"created_at"`
	Revoked   bool       `json:"revoked"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

func toKeyJSON(k *biometric.APIKey) keyJSON {
	scopes := make([]string, len(k.Scopes))
	for i, s := range k.Scopes {
		scopes[i] = string(s)
	}
	return keyJSON{ID: k.ID, Tenant: k.Tenant, Mode: string(k.Mode), Prefix: k.Prefix, Scopes: scopes,
		CreatedAt: k.CreatedAt.UTC(), Revoked: k.Revoked(), RevokedAt: k.RevokedAt}
}

func runKeysCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keys create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := storeFlags(fs)
	tenant := fs.String("tenant", "", "tenant the key belongs to (required; lower-case letters, digits, . _ -)")
	scopes := fs.String("scopes", "", "comma-separated scopes: liveness, face_match (default: all)")
	test := fs.Bool("test", false, "create a test key (ev_test_…) instead of a live one (ev_live_…)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected arguments %v (flags go before arguments)", fs.Args())
	}
	if *tenant == "" {
		return usageErrorf("--tenant is required")
	}
	parsed, err := auth.ParseScopes(*scopes)
	if err != nil {
		return usageErrorf("%s", biometric.AsError(err).Message)
	}
	mode := biometric.KeyModeLive
	if *test {
		mode = biometric.KeyModeTest
	}
	secret, key, err := auth.NewKey(*tenant, mode, parsed, time.Now())
	if err != nil {
		return usageErrorf("%s", biometric.AsError(err).Message)
	}
	db, where, err := openStore(ctx, *dataDir, store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.CreateKey(ctx, key); err != nil {
		return fmt.Errorf("storing the key in %s: %w", where, err)
	}
	if err := db.AppendAudit(ctx, &audit.Event{Tenant: key.Tenant, KeyID: key.ID, Actor: audit.ActorOperator, Action: audit.ActionKeyCreate}); err != nil {
		return fmt.Errorf("recording the key's creation in the audit log: %w", err)
	}
	if *asJSON {
		out := toKeyJSON(key)
		out.Key = secret
		return writeJSON(stdout, out)
	}
	fmt.Fprintf(stdout, "%s\n\n", secret)
	fmt.Fprintf(stderr, "Created API key %s for tenant %q (scopes %s) in %s.\n"+
		"The key above is shown only now: store it in your backend's secrets. Revoke it with 'everify keys revoke %s'.\n",
		key.ID, key.Tenant, strings.Join(toKeyJSON(key).Scopes, ", "), where, key.ID)
	return nil
}

func runKeysList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keys list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := storeFlags(fs)
	tenant := fs.String("tenant", "", "list only this tenant's keys")
	asJSON := fs.Bool("json", false, "print a JSON array")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected arguments %v (flags go before arguments)", fs.Args())
	}
	db, _, err := openStore(ctx, *dataDir, store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	keys, err := db.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("listing keys: %w", err)
	}
	list := []keyJSON{}
	for _, k := range keys {
		if *tenant == "" || k.Tenant == *tenant {
			list = append(list, toKeyJSON(k))
		}
	}
	if *asJSON {
		return writeJSON(stdout, list)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTENANT\tMODE\tPREFIX\tSCOPES\tCREATED\tREVOKED")
	for _, k := range list {
		revoked := "-"
		if k.RevokedAt != nil {
			revoked = k.RevokedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s…\t%s\t%s\t%s\n", k.ID, k.Tenant, k.Mode, k.Prefix,
			strings.Join(k.Scopes, ","), k.CreatedAt.Format(time.RFC3339), revoked)
	}
	return tw.Flush()
}

func runKeysRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keys revoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := storeFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErrorf("need exactly one key ID (flags go before it), e.g. everify keys revoke --data-dir DIR key_…")
	}
	id := fs.Arg(0)
	db, where, err := openStore(ctx, *dataDir, store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	keys, err := db.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("listing keys: %w", err)
	}
	tenant := ""
	for _, k := range keys {
		if k.ID == id {
			tenant = k.Tenant
		}
	}
	err = db.RevokeKey(ctx, id, time.Now())
	if biometric.IsKind(err, biometric.KindNotFound) {
		return fmt.Errorf("no API key with ID %q in %s; 'everify keys list' shows the IDs", id, where)
	}
	if err != nil {
		return fmt.Errorf("revoking %s: %w", id, err)
	}
	if err := db.AppendAudit(ctx, &audit.Event{Tenant: tenant, KeyID: id, Actor: audit.ActorOperator, Action: audit.ActionKeyRevoke}); err != nil {
		return fmt.Errorf("recording the revocation in the audit log: %w", err)
	}
	fmt.Fprintf(stdout, "Revoked %s: requests with it are refused from now on.\n", id)
	return nil
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
