package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/everify/everify/internal/auth"
	"github.com/everify/everify/internal/biometric"
)

// demoTenant is the tenant of the keys that `serve --demo` creates.
const demoTenant = "demo"

// createDemoKey creates a fresh test key for the demo tenant (keys are
// shown only once, so every --demo start makes a new one). The demo page
// acts as this key through the server; the key itself never reaches it.
func createDemoKey(ctx context.Context, keys biometric.KeyStore) (secret string, key *biometric.APIKey, err error) {
	secret, key, err = auth.NewKey(demoTenant, biometric.KeyModeTest, nil, time.Now())
	if err != nil {
		return "", nil, err
	}
	if err := keys.CreateKey(ctx, key); err != nil {
		return "", nil, fmt.Errorf("creating the demo key: %w", err)
	}
	return secret, key, nil
}

// printDemo prints the demo key with the URLs to try and a request to copy.
func printDemo(w io.Writer, base, secret string, key *biometric.APIKey) {
	fmt.Fprintf(w, `
Demo API key (tenant %q, key %s; shown only now, a new one on every --demo start):

    %s

API:        %s/v1/biometrics/…
Docs:       %s/docs
Demo page:  %s/demo/

Try it:

    curl -s -X POST %s/v1/biometrics/liveness/start \
      -H 'X-API-Key: %s' -H 'Content-Type: application/json' \
      -d '{"client_session_token": "demo-1"}'

`, demoTenant, key.ID, secret, base, base, base, base, secret)
}
