package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/everify/everify/internal/seal"
	"github.com/everify/everify/internal/store"
	"github.com/everify/everify/internal/store/postgres"
	"github.com/everify/everify/internal/store/storetest"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivermigrate"
)

// server is the PostgreSQL server the tests use; they create their
// databases on it.
var server = func() string {
	if u := os.Getenv("EVERIFY_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}()

// testURL is the URL of the database created for this test binary, and
// unreachable why it could not be created.
var testURL, unreachable string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	u, drop, err := createDatabase(ctx)
	if err != nil {
		unreachable = err.Error()
		return m.Run()
	}
	defer func() {
		if err := drop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	testURL = u
	return m.Run()
}

// databaseURL returns the test database's URL; without a server the test
// fails under CI=true and is skipped otherwise.
func databaseURL(t *testing.T) string {
	t.Helper()
	if testURL == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required under CI=true: %s", unreachable)
		}
		t.Skipf("PostgreSQL unreachable (set EVERIFY_TEST_DATABASE_URL): %s", unreachable)
	}
	return testURL
}

// createDatabase creates a database with a unique name on the server and
// returns its URL and a function that drops it.
func createDatabase(ctx context.Context) (string, func() error, error) {
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		return "", nil, fmt.Errorf("connect to %s: %w", server, err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	rand.Read(b)
	name := "everify_test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	u, err := url.Parse(server)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() error {
		// Not ctx: a test's context is done by the time its cleanups run.
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, server)
		if err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		return nil
	}
	return u.String(), drop, nil
}

// sealer seals what the tests outside the conformance suite store.
var sealer = seal.NewSealer(seal.NewKeyring())

func TestConformance(t *testing.T) {
	u := databaseURL(t)
	storetest.Run(t, func(t *testing.T, opts store.Options) *store.DB {
		db, err := postgres.Open(t.Context(), u, opts)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return db
	})
}

// freshDatabase creates an empty database for one test.
func freshDatabase(t *testing.T) string {
	t.Helper()
	databaseURL(t)
	u, drop, err := createDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := drop(); err != nil {
			t.Error(err)
		}
	})
	return u
}

// TestMigrateIdempotent migrates a fresh database with Migrate twice and
// Open twice.
func TestMigrateIdempotent(t *testing.T) {
	u := freshDatabase(t)
	for i := range 2 {
		if err := postgres.Migrate(t.Context(), u); err != nil {
			t.Fatalf("Migrate #%d: %v", i+1, err)
		}
	}
	for i := range 2 {
		db, err := postgres.Open(t.Context(), u, store.Options{Sealer: sealer})
		if err != nil {
			t.Fatalf("Open #%d: %v", i+1, err)
		}
		wantMigrated(t, db)
		db.Close()
	}
}

// TestMigrateConcurrent migrates a fresh database from several goroutines
// at once, as replicas starting together do.
func TestMigrateConcurrent(t *testing.T) {
	u := freshDatabase(t)
	const n = 4
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if i%2 == 0 {
				errs[i] = postgres.Migrate(t.Context(), u)
				return
			}
			db, err := postgres.Open(t.Context(), u, store.Options{Sealer: sealer})
			if err == nil {
				db.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migrator #%d: %v", i, err)
		}
	}
	db, err := postgres.Open(t.Context(), u, store.Options{Sealer: sealer})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	wantMigrated(t, db)
}

// wantMigrated checks that each of our migrations is recorded once and
// that River has nothing left to apply.
func wantMigrated(t *testing.T, db *store.DB) {
	t.Helper()
	var n, distinct int
	if err := db.SQL().QueryRowContext(t.Context(), "SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_migrations").Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n == 0 || n != distinct {
		t.Errorf("schema_migrations has %d rows for %d versions", n, distinct)
	}
	migrator, err := rivermigrate.New(riverdatabasesql.New(db.SQL()), nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := migrator.Validate(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK {
		t.Errorf("River migrations pending: %v", res.Messages)
	}
}

func TestOpenUnreachable(t *testing.T) {
	_, err := postgres.Open(t.Context(), "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", store.Options{Sealer: sealer})
	if err == nil {
		t.Fatal("Open of a closed port succeeded")
	}
}

// TestNoPlaintextAtRest stores real JPEG frames, a PNG reference face and a
// webhook secret in a fresh database, dumps every table as text (bytea
// shows as hex) and searches the dump for them: nothing is found. The same
// search over a store that does not encrypt finds them.
func TestNoPlaintextAtRest(t *testing.T) {
	search := func(t *testing.T, sealer store.Sealer) []string {
		t.Helper()
		db, err := postgres.Open(t.Context(), freshDatabase(t), store.Options{Sealer: sealer})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		needles := storetest.Needles(storetest.StoreBiometrics(t, db))
		return storetest.Find(dumpTables(t, db), needles, true)
	}
	if found := search(t, sealer); len(found) > 0 {
		t.Errorf("plaintext found at rest in the database: %v", found)
	}
	if found := search(t, storetest.PlaintextSealer{}); len(found) == 0 {
		t.Error("the search found nothing in a store that does not encrypt: it cannot be trusted")
	}
}

// dumpTables returns every row of every table in the database's schemas
// (ours and River's), each as PostgreSQL's text form of the row.
func dumpTables(t *testing.T, db *store.DB) []byte {
	t.Helper()
	ctx := t.Context()
	rows, err := db.SQL().QueryContext(ctx, `SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables
		WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	if len(tables) < 5 {
		t.Fatalf("only %d tables: %v", len(tables), tables)
	}
	var dump []byte
	for _, table := range tables {
		rows, err := db.SQL().QueryContext(ctx, "SELECT t::text FROM "+table+" t")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var row string
			if err := rows.Scan(&row); err != nil {
				t.Fatal(err)
			}
			dump = append(append(dump, row...), '\n')
		}
		rows.Close()
	}
	return dump
}

// BenchmarkTakeToken is the per-request cost of the rate limit shared by
// replicas: one conditional upsert on PostgreSQL.
func BenchmarkTakeToken(b *testing.B) {
	if testURL == "" {
		b.Skipf("PostgreSQL unreachable: %s", unreachable)
	}
	db, err := postgres.Open(context.Background(), testURL, store.Options{Sealer: sealer})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	for b.Loop() {
		if _, err := db.TakeToken(context.Background(), "bench", 1e6, 1e6, now); err != nil {
			b.Fatal(err)
		}
	}
}
