package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/everify/everify/client"
	"github.com/everify/everify/internal/audit"
	"github.com/everify/everify/internal/seal"
	"github.com/everify/everify/internal/store"
	"github.com/everify/everify/internal/store/sqlite"
)

// noMasterKeyEnv clears the master key variables, so that the SQLite data
// directory's own keyring file is used.
func noMasterKeyEnv(t *testing.T) {
	t.Setenv(databaseURLEnv, "")
	t.Setenv(masterKeyEnv, "")
	t.Setenv(masterKeyFileEnv, "")
}

// TestMasterKeyLocations checks where the master keyring comes from: a new
// SQLite data directory gets its own key file (0600); a data directory
// with a database but no key file is refused; PostgreSQL without a key is
// refused; both variables at once are refused; a key in the environment
// is used as given.
func TestMasterKeyLocations(t *testing.T) {
	noMasterKeyEnv(t)
	dir := filepath.Join(t.TempDir(), "data")
	createKey(t, "--data-dir", dir, "--tenant", "acme")
	fi, err := os.Stat(filepath.Join(dir, masterKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("master key file: %v, %v; want mode 0600", fi, err)
	}
	ring, err := seal.ReadFile(filepath.Join(dir, masterKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	// The same directory opens with the same key again.
	createKey(t, "--data-dir", dir, "--tenant", "acme")
	if again, _ := seal.ReadFile(filepath.Join(dir, masterKeyFile)); again.PrimaryID() != ring.PrimaryID() {
		t.Errorf("the key changed from %s to %s", ring.PrimaryID(), again.PrimaryID())
	}

	if err := os.Remove(filepath.Join(dir, masterKeyFile)); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := run(t, "keys", "list", "--data-dir", dir)
	if code != 1 || !strings.Contains(errOut, "no master key file") {
		t.Errorf("a database without its key: exit %d: %s", code, errOut)
	}

	t.Setenv(databaseURLEnv, "postgres://nobody@127.0.0.1:1/none?sslmode=disable")
	code, _, errOut = run(t, "keys", "list")
	if code != 1 || !strings.Contains(errOut, "PostgreSQL needs a master key") {
		t.Errorf("PostgreSQL without a key: exit %d: %s", code, errOut)
	}
	t.Setenv(masterKeyEnv, seal.NewKey())
	t.Setenv(masterKeyFileEnv, "/nonexistent")
	code, _, errOut = run(t, "keys", "list")
	if code != 1 || !strings.Contains(errOut, "set one") {
		t.Errorf("both variables: exit %d: %s", code, errOut)
	}

	// A key from the environment seals a new data directory; no file is made.
	t.Setenv(databaseURLEnv, "")
	t.Setenv(masterKeyFileEnv, "")
	envDir := t.TempDir()
	createKey(t, "--data-dir", envDir, "--tenant", "acme")
	if _, err := os.Stat(filepath.Join(envDir, masterKeyFile)); !os.IsNotExist(err) {
		t.Errorf("a key file was made although $%s is set: %v", masterKeyEnv, err)
	}
	t.Setenv(masterKeyEnv, "not a key")
	if code, _, errOut := run(t, "keys", "list", "--data-dir", envDir); code != 1 || !strings.Contains(errOut, masterKeyEnv) {
		t.Errorf("a malformed $%s: exit %d: %s", masterKeyEnv, code, errOut)
	}
}

// TestRotateMasterWhileServing stores frames through a running server,
// rotates the master key with the CLI, and checks that the frames still
// open, that nothing is sealed under the old key any more (the old key is
// retired from the file), and that the running server seals new frames
// under the new key.
func TestRotateMasterWhileServing(t *testing.T) {
	noMasterKeyEnv(t)
	dir := t.TempDir()
	k := createKey(t, "--data-dir", dir, "--tenant", "acme")
	keyFile := filepath.Join(dir, masterKeyFile)
	before, err := seal.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, "--data-dir", dir)
	c := client.New(srv.url, k.Key)
	started, err := c.StartLiveness(t.Context(), &client.StartLivenessRequest{ClientSessionToken: "rotate-1"})
	if err != nil {
		t.Fatal(err)
	}
	if code := uploadFrames(t, srv.url, started, 0, 0, 10); code != 200 {
		t.Fatalf("batch 0: %d", code)
	}

	code, out, errOut := run(t, "keys", "rotate-master", "--data-dir", dir, "--wait", "3s")
	if code != 0 {
		t.Fatalf("rotate-master: exit %d: %s%s", code, out, errOut)
	}
	after, err := seal.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if ids := after.IDs(); len(ids) != 1 || ids[0] == before.PrimaryID() {
		t.Errorf("keyring after rotation %v; want one new key (the old %s retired)", ids, before.PrimaryID())
	}
	if !strings.Contains(out, "Re-wrapped 10 data keys") || !strings.Contains(out, "Retired the old keys") {
		t.Errorf("rotate-master output:\n%s", out)
	}

	// The running server seals under the new key without a restart.
	if code := uploadFrames(t, srv.url, started, 1, 10, 20); code != 200 {
		t.Fatalf("batch 1 after the rotation: %d", code)
	}
	code, out, errOut = run(t, "keys", "master-status", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, after.PrimaryID()+"  primary (seals)  30") {
		t.Errorf("master-status: exit %d:\n%s%s", code, out, errOut)
	}

	// Every frame opens with the new keyring alone.
	sealer, err := seal.OpenFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(t.Context(), dir, store.Options{Sealer: sealer})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var frames int
	if err := db.SQL().QueryRowContext(t.Context(), "SELECT COUNT(*) FROM capture_frames WHERE session_id = ?", started.SessionID).Scan(&frames); err != nil {
		t.Fatal(err)
	}
	if frames != 30 {
		t.Fatalf("%d frames stored, want 30", frames)
	}
	if code := postJSON(t, srv.url+started.Capture.CompleteURL, started.SessionToken, map[string]any{"frame_count": 30}, &client.CaptureStatusResponse{}); code != 202 {
		t.Fatalf("complete: %d", code)
	}
	capture, err := db.Capture(t.Context(), started.SessionID)
	if err != nil || len(capture.Frames) != 30 || !bytes.Equal(capture.Frames[0].Image, jpegBytes) || !bytes.Equal(capture.Frames[29].Image, jpegBytes) {
		t.Errorf("reading the frames with the new key: %v", err)
	}

	// From $EVERIFY_MASTER_KEY the command can only re-wrap.
	t.Setenv(masterKeyEnv, seal.NewKey())
	if code, _, errOut := run(t, "keys", "rotate-master", "--data-dir", t.TempDir()); code != 2 || !strings.Contains(errOut, "--rewrap-only") {
		t.Errorf("rotate-master with an environment keyring: exit %d: %s", code, errOut)
	}
}

// TestAuditExport exports the audit records of a few requests as JSON
// lines, with the --since, --until and --tenant filters.
func TestAuditExport(t *testing.T) {
	noMasterKeyEnv(t)
	dir := t.TempDir()
	k := createKey(t, "--data-dir", dir, "--tenant", "acme")
	srv := serve(t, "--data-dir", dir)
	c := client.New(srv.url, k.Key)
	started, err := c.StartLiveness(t.Context(), &client.StartLivenessRequest{ClientSessionToken: "audit-1", ConsentReference: "consent-9"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.LivenessResults(t.Context(), started.SessionID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteBiometrics(t.Context(), started.SessionID); err != nil {
		t.Fatal(err)
	}

	export := func(args ...string) []audit.Event {
		t.Helper()
		code, out, errOut := run(t, append([]string{"audit", "export", "--data-dir", dir}, args...)...)
		if code != 0 {
			t.Fatalf("audit export %v: exit %d: %s", args, code, errOut)
		}
		var events []audit.Event
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			var ev audit.Event
			dec := json.NewDecoder(strings.NewReader(sc.Text()))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&ev); err != nil {
				t.Fatalf("line %q: %v", sc.Text(), err)
			}
			events = append(events, ev)
		}
		return events
	}
	all := export("--since", "1h")
	var actions []string
	for _, ev := range all {
		actions = append(actions, ev.Action)
		if strings.Contains(ev.Decision+ev.Outcome+ev.Route, k.Key) {
			t.Errorf("a record holds the API key: %+v", ev)
		}
	}
	want := []string{audit.ActionKeyCreate, audit.ActionStart, audit.ActionResults, audit.ActionDelete}
	if strings.Join(actions, ",") != strings.Join(want, ",") {
		t.Errorf("exported actions %v, want %v", actions, want)
	}
	for _, ev := range all[1:] {
		if ev.Tenant != "acme" || ev.KeyID != k.ID || ev.SessionID != started.SessionID || ev.Actor != audit.ActorAPIKey {
			t.Errorf("record %+v", ev)
		}
	}
	if got := export("--since", time.Now().Add(time.Hour).Format(time.RFC3339)); len(got) != 0 {
		t.Errorf("--since in the future exported %d records", len(got))
	}
	if got := export("--until", "2000-01-01"); len(got) != 0 {
		t.Errorf("--until 2000 exported %d records", len(got))
	}
	if got := export("--tenant", "globex"); len(got) != 0 {
		t.Errorf("--tenant globex exported %d records", len(got))
	}
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	if code, _, errOut := run(t, "audit", "export", "--data-dir", dir, "--output", file); code != 0 {
		t.Fatalf("--output: %s", errOut)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() == 0 {
		t.Errorf("export file: %v, %v", fi, err)
	}
	if code, _, errOut := run(t, "audit", "export", "--data-dir", dir, "--since", "yesterday"); code != 2 || !strings.Contains(errOut, "--since") {
		t.Errorf("a bad --since: exit %d: %s", code, errOut)
	}
}

// TestTenantsWebhook sets, lists and removes a webhook with the CLI: the
// secret is printed once and stored sealed; an internal URL needs the
// allowlist.
func TestTenantsWebhook(t *testing.T) {
	noMasterKeyEnv(t)
	dir := t.TempDir()
	createKey(t, "--data-dir", dir, "--tenant", "acme")
	code, _, errOut := run(t, "tenants", "set-webhook", "--data-dir", dir, "--tenant", "acme", "--url", "http://127.0.0.1:9/hook")
	if code != 2 || !strings.Contains(errOut, "internal or reserved") {
		t.Errorf("an internal URL without the allowlist: exit %d: %s", code, errOut)
	}
	code, _, errOut = run(t, "tenants", "set-webhook", "--data-dir", dir, "--tenant", "acme", "--url", "ftp://hooks.example/x")
	if code != 2 {
		t.Errorf("an ftp URL: exit %d: %s", code, errOut)
	}
	code, out, errOut := run(t, "tenants", "set-webhook", "--data-dir", dir, "--tenant", "acme",
		"--url", "http://127.0.0.1:9/hook", "--webhook-allow", "127.0.0.1", "--json")
	if code != 0 {
		t.Fatalf("set-webhook: exit %d: %s", code, errOut)
	}
	var set webhookJSON
	if err := json.Unmarshal([]byte(out), &set); err != nil || !strings.HasPrefix(set.Secret, webhookSecretPrefix) || set.URL != "http://127.0.0.1:9/hook" {
		t.Fatalf("set-webhook printed %s (%v)", out, err)
	}
	if !strings.Contains(errOut, "not https") {
		t.Errorf("no warning about http: %s", errOut)
	}
	if raw, _ := os.ReadFile(filepath.Join(dir, sqlite.FileName)); bytes.Contains(raw, []byte(set.Secret)) {
		t.Error("the signing secret is stored in the clear")
	}
	code, out, _ = run(t, "tenants", "list", "--data-dir", dir, "--json")
	var list []webhookJSON
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || len(list) != 1 || list[0].URL != set.URL || list[0].Secret != "" {
		t.Errorf("tenants list: exit %d: %s", code, out)
	}
	if code, _, errOut := run(t, "tenants", "remove-webhook", "--data-dir", dir, "--tenant", "acme"); code != 0 {
		t.Errorf("remove-webhook: %s", errOut)
	}
	if code, _, _ := run(t, "tenants", "remove-webhook", "--data-dir", dir, "--tenant", "acme"); code != 1 {
		t.Errorf("removing a missing webhook: exit %d", code)
	}
}

// TestRateLimitAcrossReplicasPostgres starts two servers on one PostgreSQL
// database with a small per-key limit: requests to both draw on one
// bucket, and the one over it is answered 429 with Retry-After.
func TestRateLimitAcrossReplicasPostgres(t *testing.T) {
	u := freshPostgres(t)
	t.Setenv(databaseURLEnv, u)
	t.Setenv(masterKeyEnv, seal.NewKey())
	t.Setenv(masterKeyFileEnv, "")
	k := createKey(t, "--tenant", "acme")
	a, b := serve(t, "--rate-limit", "0.1", "--rate-burst", "3"), serve(t, "--rate-limit", "0.1", "--rate-burst", "3")
	get := func(s *served) *http.Response {
		req, _ := http.NewRequest("GET", s.url+"/v1/biometrics/liveness/liveness_session_none/results", nil)
		req.Header.Set("X-API-Key", k.Key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for i, s := range []*served{a, b, a} {
		if resp := get(s); resp.StatusCode != 404 {
			t.Fatalf("request %d within the burst: %d", i, resp.StatusCode)
		}
	}
	resp := get(b)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("the 4th request, on the other replica: %d, Retry-After %q; want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}
