package sqlite_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/seal"
	"github.com/everify/everify/internal/store"
	"github.com/everify/everify/internal/store/sqlite"
	"github.com/everify/everify/internal/store/storetest"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

// sealer seals what the tests outside the conformance suite store.
var sealer = seal.NewSealer(seal.NewKeyring())

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, opts store.Options) *store.DB {
		db, err := sqlite.Open(t.Context(), t.TempDir(), opts)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return db
	})
}

func mustOpen(t *testing.T, dir string) *store.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), dir, store.Options{Sealer: sealer})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	mustOpen(t, dir)
	for path, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, filepath.Join(dir, sqlite.FileName): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s has mode %v, want %v", path, fi.Mode(), want)
		}
	}
}

func TestPragmas(t *testing.T) {
	db := mustOpen(t, t.TempDir())
	for pragma, want := range map[string]string{"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "15000"} {
		var got string
		if err := db.SQL().QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", pragma, err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
}

// TestMigrateIdempotent opens the same directory twice, one after the
// other, and checks that every migration is recorded once and that River has
// nothing left to apply.
func TestMigrateIdempotent(t *testing.T) {
	dir := t.TempDir()
	mustOpen(t, dir).Close()
	db := mustOpen(t, dir)
	var n, distinct int
	if err := db.SQL().QueryRowContext(t.Context(), "SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_migrations").Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n == 0 || n != distinct {
		t.Errorf("schema_migrations has %d rows for %d versions", n, distinct)
	}
	wantRiverMigrated(t, db)
}

// TestMigrateConcurrent opens a fresh directory from several goroutines at
// once: they must take turns migrating.
func TestMigrateConcurrent(t *testing.T) {
	dir := t.TempDir()
	const n = 4
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			db, err := sqlite.Open(t.Context(), dir, store.Options{Sealer: sealer})
			if err == nil {
				db.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open #%d: %v", i, err)
		}
	}
	wantRiverMigrated(t, mustOpen(t, dir))
}

func wantRiverMigrated(t *testing.T, db *store.DB) {
	t.Helper()
	migrator, err := rivermigrate.New(riversqlite.New(db.SQL()), nil)
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

// writers is how many goroutines write through each store in the sharing
// tests, and writes how many sessions each of them writes.
const writers, writes = 4, 15

// TestSharedDataDir writes through two stores on the same directory at the
// same time, as `everify keys create` does beside a running server.
func TestSharedDataDir(t *testing.T) {
	dir := t.TempDir()
	a, b := mustOpen(t, dir), mustOpen(t, dir)
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers)
	for i, db := range []*store.DB{a, b} {
		for w := range writers {
			wg.Go(func() { errs <- write(t.Context(), db, fmt.Sprintf("store%d-writer%d", i, w)) })
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	wantCounts(t, a, 2*writers)
}

// TestSharedDataDirProcesses does the same from two processes: this test
// binary, re-run as a helper, writes while this process writes too.
func TestSharedDataDirProcesses(t *testing.T) {
	if dir := os.Getenv("EVERIFY_SQLITE_HELPER_DIR"); dir != "" {
		helperWriter(t, dir)
		return
	}
	dir := t.TempDir()
	db := mustOpen(t, dir)
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestSharedDataDirProcesses$", "-test.count=1")
	cmd.Env = append(os.Environ(), "EVERIFY_SQLITE_HELPER_DIR="+dir)
	var out []byte
	done := make(chan error, 1)
	go func() {
		var err error
		out, err = cmd.CombinedOutput()
		done <- err
	}()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() { errs <- write(t.Context(), db, fmt.Sprintf("parent-writer%d", w)) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("helper process: %v\n%s", err, out)
	}
	wantCounts(t, db, 2*writers)
}

// helperWriter is the child side of TestSharedDataDirProcesses.
func helperWriter(t *testing.T, dir string) {
	db := mustOpen(t, dir)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			if err := write(t.Context(), db, "child-writer"+strconv.Itoa(w)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

// write creates an API key and `writes` sessions named after who, and
// updates each session once.
func write(ctx context.Context, db *store.DB, who string) error {
	key := &biometric.APIKey{ID: "key_" + who, Tenant: who, Mode: biometric.KeyModeTest, Prefix: who, Hash: sum(who), CreatedAt: time.Now()}
	if err := db.CreateKey(ctx, key); err != nil {
		return fmt.Errorf("%s: CreateKey: %w", who, err)
	}
	for i := range writes {
		id := fmt.Sprintf("%s-%d", who, i)
		s := &biometric.Session{ID: id, Tenant: who, KeyID: key.ID, ClientSessionToken: id, Status: biometric.StatusCreated,
			TokenHash: sum(id), CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Minute)}
		if _, _, err := db.CreateSession(ctx, s); err != nil {
			return fmt.Errorf("%s: CreateSession: %w", id, err)
		}
		if _, err := db.UpdateSession(ctx, id, func(s *biometric.Session) error {
			s.Status = biometric.StatusInProgress
			return nil
		}); err != nil {
			return fmt.Errorf("%s: UpdateSession: %w", id, err)
		}
	}
	return nil
}

func sum(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// wantCounts checks that every writer's key and sessions arrived.
func wantCounts(t *testing.T, db *store.DB, writerCount int) {
	t.Helper()
	var keys, sessions int
	q := func(query string, n *int) {
		if err := db.SQL().QueryRowContext(t.Context(), query).Scan(n); err != nil {
			t.Fatal(err)
		}
	}
	q("SELECT COUNT(*) FROM api_keys", &keys)
	q("SELECT COUNT(*) FROM sessions WHERE status = 'in_progress'", &sessions)
	if keys != writerCount || sessions != writerCount*writes {
		t.Errorf("%d keys and %d updated sessions, want %d and %d", keys, sessions, writerCount, writerCount*writes)
	}
}

// TestNoPlaintextAtRest stores real JPEG frames, a PNG reference face and a
// webhook secret, and then searches every file of the data directory (the
// database, its WAL and shared memory, the lock file) for them: nothing is
// found. The same search over a store that does not encrypt finds them, so
// that a search that finds nothing proves something.
func TestNoPlaintextAtRest(t *testing.T) {
	search := func(t *testing.T, sealer store.Sealer) []string {
		t.Helper()
		dir := t.TempDir()
		db, err := sqlite.Open(t.Context(), dir, store.Options{Sealer: sealer})
		if err != nil {
			t.Fatal(err)
		}
		needles := storetest.Needles(storetest.StoreBiometrics(t, db))
		// Search while the data may sit in the WAL, and after closing
		// has checkpointed it into the database file.
		found := searchDir(t, dir, needles)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		return append(found, searchDir(t, dir, needles)...)
	}
	if found := search(t, sealer); len(found) > 0 {
		t.Errorf("plaintext found at rest in the data directory: %v", found)
	}
	if found := search(t, storetest.PlaintextSealer{}); len(found) == 0 {
		t.Error("the search found nothing in a store that does not encrypt: it cannot be trusted")
	}
}

// searchDir searches every file under dir for the needles.
func searchDir(t *testing.T, dir string, needles [][]byte) []string {
	t.Helper()
	var found []string
	files := 0
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for _, f := range storetest.Find(data, needles, false) {
			found = append(found, filepath.Base(path)+": "+f)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatal("the data directory holds no files")
	}
	return found
}

// TestMayHoldSealed tells a data directory that may hold sealed objects
// (migrated to sealing) from one that cannot (missing, or migrated only
// to the schema before sealing).
func TestMayHoldSealed(t *testing.T) {
	ctx := t.Context()
	if got, err := sqlite.MayHoldSealed(ctx, t.TempDir()); err != nil || got {
		t.Errorf("an empty directory: %v, %v", got, err)
	}
	dir := t.TempDir()
	mustOpen(t, dir).Close()
	if got, err := sqlite.MayHoldSealed(ctx, dir); err != nil || !got {
		t.Errorf("a migrated store: %v, %v", got, err)
	}
	// A database from before sealing: migrations 1 and 2 only.
	old := t.TempDir()
	db, err := sql.Open("sqlite", filepath.Join(old, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at INTEGER);
		INSERT INTO schema_migrations VALUES (1, '0001_init.sql', 0), (2, '0002_capture.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	if got, err := sqlite.MayHoldSealed(ctx, old); err != nil || got {
		t.Errorf("a database from before sealing: %v, %v", got, err)
	}
}

// TestStorageFullAndReadOnly makes writes fail as a full disk and a
// read-only database do (max_page_count, query_only): they are 503s with
// the codes storage_full and storage_read_only, not internal errors, and
// once the condition is gone writes work again.
func TestStorageFullAndReadOnly(t *testing.T) {
	db := mustOpen(t, t.TempDir())
	db.SQL().SetMaxOpenConns(1) // the pragmas below hold for one connection
	ctx := t.Context()
	exec := func(q string) {
		t.Helper()
		if _, err := db.SQL().ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	session := func(token string) *biometric.Session {
		now := time.Now()
		return &biometric.Session{ID: "liveness_session_" + token, Tenant: "acme", KeyID: "key_1", ClientSessionToken: token,
			Status: biometric.StatusCreated, TokenHash: []byte("hash-" + token), CreatedAt: now, ExpiresAt: now.Add(time.Hour),
			Challenge: biometric.Challenge{Steps: []biometric.ChallengeStep{{Type: biometric.ChallengeBlink, Instructions: "Blink"}}},
			Metadata:  map[string]string{"padding": strings.Repeat("x", 64<<10)}}
	}
	wantCode := func(err error, code string) {
		t.Helper()
		e := biometric.AsError(err)
		if e.Kind != biometric.KindUnavailable || e.Code != code || e.RetryAfter != 0 {
			t.Errorf("err = %v (kind %s); want %s %s without Retry-After", err, e.Kind, biometric.KindUnavailable, code)
		}
	}

	var pages int
	if err := db.SQL().QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	exec(fmt.Sprintf("PRAGMA max_page_count = %d", pages))
	_, _, err := db.CreateSession(ctx, session("full"))
	wantCode(err, "storage_full")

	exec("PRAGMA max_page_count = 1073741823")
	exec("PRAGMA query_only = 1")
	_, _, err = db.CreateSession(ctx, session("readonly"))
	wantCode(err, "storage_read_only")
	if _, err := db.SessionByID(ctx, "liveness_session_none"); !biometric.IsKind(err, biometric.KindNotFound) {
		t.Errorf("a read on the read-only database: %v, want not found", err)
	}

	exec("PRAGMA query_only = 0")
	if _, _, err := db.CreateSession(ctx, session("after")); err != nil {
		t.Errorf("a write once the database takes writes again: %v", err)
	}
}
