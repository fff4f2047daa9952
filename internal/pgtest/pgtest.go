// Package pgtest gives tests an empty PostgreSQL database of their own on
// the test server: $EVERIFY_TEST_DATABASE_URL, by default the local
// PostgreSQL that `make test` starts.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// DefaultServer is the test server when $EVERIFY_TEST_DATABASE_URL is unset.
const DefaultServer = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Server returns the URL of the test server.
func Server() string {
	if u := os.Getenv("EVERIFY_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultServer
}

// Database creates an empty database named prefix + a random suffix on the
// test server, drops it when the test ends, and returns its URL. Without a
// server the test fails under CI=true and is skipped otherwise, so that a
// CI run never passes by skipping.
func Database(tb testing.TB, prefix string) string {
	tb.Helper()
	server := Server()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("PostgreSQL is required under CI=true: %v", err)
		}
		tb.Skipf("PostgreSQL unreachable (set EVERIFY_TEST_DATABASE_URL): %v", err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	rand.Read(b)
	name := prefix + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		// Not the test's context: it is done by the time cleanups run.
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, server)
		if err != nil {
			tb.Error(err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			tb.Error(err)
		}
	})
	u, err := url.Parse(server)
	if err != nil {
		tb.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
