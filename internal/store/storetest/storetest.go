// Package storetest is the conformance suite that every database behind
// store.DB must pass: the sqlite and postgres packages run it against a real
// database. The tests do not assume an empty database: each one works in its
// own tenant and with its own IDs.
package storetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/seal"
	"github.com/everify/everify/internal/store"
	"github.com/google/go-cmp/cmp"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
)

// OpenFunc returns a migrated store with the given options for one test.
// The suite closes it.
type OpenFunc func(t *testing.T, opts store.Options) *store.DB

// Run runs the conformance suite against the stores that open returns.
// Stores opened without a Sealer get one over a keyring made for the run.
func Run(t *testing.T, open OpenFunc) {
	sealer := seal.NewSealer(seal.NewKeyring())
	open = withSealer(open, sealer)
	tests := []struct {
		name string
		run  func(*testing.T, OpenFunc)
	}{
		{"KeyRoundTrip", testKeyRoundTrip},
		{"KeyDuplicate", testKeyDuplicate},
		{"KeyNotFound", testKeyNotFound},
		{"ListKeys", testListKeys},
		{"RevokeKey", testRevokeKey},
		{"SessionRoundTrip", testSessionRoundTrip},
		{"SessionDefaults", testSessionDefaults},
		{"SessionIdempotent", testSessionIdempotent},
		{"SessionIdempotentConcurrent", testSessionIdempotentConcurrent},
		{"SessionDuplicateTokenHash", testSessionDuplicateTokenHash},
		{"SessionNotFound", testSessionNotFound},
		{"UpdateSession", testUpdateSession},
		{"UpdateSessionRollback", testUpdateSessionRollback},
		{"UpdateSessionNotFound", testUpdateSessionNotFound},
		{"UpdateSessionConcurrent", testUpdateSessionConcurrent},
		{"RotateSessionToken", testRotateSessionToken},
		{"SessionByID", testSessionByID},
		{"ExpireSessions", testExpireSessions},
		{"ReferenceFace", testReferenceFace},
		{"AppendFrames", testAppendFrames},
		{"AppendFramesCheckError", testAppendFramesCheckError},
		{"AppendFramesThenSubmit", testAppendFramesThenSubmit},
		{"SubmitCapture", testSubmitCapture},
		{"SubmitCaptureCheckError", testSubmitCaptureCheckError},
		{"SubmitCaptureHookError", testSubmitCaptureHookError},
		{"SubmitCaptureTwice", testSubmitCaptureTwice},
		{"SubmitCaptureConcurrent", testSubmitCaptureConcurrent},
		{"SubmitCaptureNotFound", testSubmitCaptureNotFound},
		{"SubmitCaptureDuplicateFrame", testSubmitCaptureDuplicateFrame},
		{"DeleteCapture", testDeleteCapture},
		{"SubmitHookEnqueuesRiverJob", testRiverJob},
		{"PingClose", testPingClose},
		{"NoSealer", testNoSealer},
		{"SealedAtRest", testSealedAtRest},
		{"SealedBlobsAreBound", testSealedBlobsAreBound},
		{"RewrapWhileReading", testRewrapWhileReading},
		{"CompleteSessionFace", testCompleteSessionFace},
		{"DeleteBiometrics", testDeleteBiometrics},
		{"DeleteBiometricsOpenSession", testDeleteBiometricsOpenSession},
		{"Retention", testRetention},
		{"AuditInTransaction", testAuditInTransaction},
		{"AuditEvents", testAuditEvents},
		{"AuditAppendOnly", testAuditAppendOnly},
		{"TakeToken", testTakeToken},
		{"TakeTokenConcurrent", testTakeTokenConcurrent},
		{"DeviceFailures", testDeviceFailures},
		{"Webhooks", testWebhooks},
		{"WebhookHook", testWebhookHook},
		{"TenantChallenges", testTenantChallenges},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, open)
		})
	}
}

// newStore opens a store that is closed when the test ends.
func newStore(t *testing.T, open OpenFunc, opts store.Options) *store.DB {
	t.Helper()
	db := open(t, opts)
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// clock is a settable clock for store.Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// sast is a non-UTC zone: stored times must come back as the same instant.
var sast = time.FixedZone("SAST", 2*60*60)

// base is a time with a sub-millisecond part, which the store drops.
var base = time.Date(2025, 3, 14, 9, 26, 53, 589_793_238, sast)

// ms truncates t to what the store keeps.
func ms(t time.Time) time.Time { return t.Truncate(time.Millisecond) }

func msPtr(t time.Time) *time.Time {
	t = ms(t)
	return &t
}

// uid returns a unique identifier with the given prefix.
func uid(prefix string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// hash returns the SHA-256 of a fresh random value.
func hash() []byte {
	h := sha256.Sum256([]byte(uid("")))
	return h[:]
}

// wantKind fails the test unless err is an *biometric.Error of the given
// kind and code.
func wantKind(t *testing.T, err error, kind biometric.Kind, code string) {
	t.Helper()
	var e *biometric.Error
	if !errors.As(err, &e) || e.Kind != kind || e.Code != code {
		t.Fatalf("err = %v, want a %s error with code %q", err, kind, code)
	}
}

// wantNotFound fails the test unless err has kind not_found.
func wantNotFound(t *testing.T, err error) {
	t.Helper()
	if !biometric.IsKind(err, biometric.KindNotFound) {
		t.Fatalf("err = %v, want not_found", err)
	}
}

func mustNil(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// param is the first bind parameter in the store's dialect.
func param(db *store.DB) string {
	if db.Dialect() == store.Postgres {
		return "$1"
	}
	return "?"
}

func newKey(tenant string, created time.Time) *biometric.APIKey {
	return &biometric.APIKey{
		ID:        uid("key_"),
		Tenant:    tenant,
		Mode:      biometric.KeyModeTest,
		Prefix:    "ev_test_" + uid("")[:4],
		Hash:      hash(),
		Scopes:    []biometric.Scope{biometric.ScopeLiveness, biometric.ScopeFaceMatch},
		CreatedAt: created,
	}
}

func testKeyRoundTrip(t *testing.T, open OpenFunc) {
	db := newStore(t, open, store.Options{})
	ctx := t.Context()
	k := newKey(uid("tenant_"), base)
	k.RevokedAt = &[]time.Time{base.Add(time.Hour)}[0]
	unscoped := newKey(k.Tenant, base)
	unscoped.Scopes = nil
	for _, k := range []*biometric.APIKey{k, unscoped} {
		mustNil(t, db.CreateKey(ctx, k), "CreateKey")
		got, err := db.KeyByHash(ctx, k.Hash)
		mustNil(t, err, "KeyByHash")
		want := *k
		want.CreatedAt = ms(k.CreatedAt)
		if k.RevokedAt != nil {
			want.RevokedAt = msPtr(*k.RevokedAt)
		}
		if diff := cmp.Diff(&want, got); diff != "" {
			t.Errorf("KeyByHash mismatch (-want +got):\n%s", diff)
		}
		if got.CreatedAt.Location() != time.UTC {
			t.Errorf("CreatedAt is in %v, want UTC", got.CreatedAt.Location())
		}
	}
}

func testKeyDuplicate(t *testing.T, open OpenFunc) {
	db := newStore(t, open, store.Options{})
	ctx := t.Context()
	k := newKey(uid("tenant_"), base)
	mustNil(t, db.CreateKey(ctx, k), "CreateKey")

	sameID := newKey(k.Tenant, base)
	sameID.ID = k.ID
	wantKind(t, db.CreateKey(ctx, sameID), biometric.KindConflict, "api_key_exists")

	sameHash := newKey(k.Tenant, base)
	sameHash.Hash = k.Hash
	wantKind(t, db.CreateKey(ctx, sameHash), biometric.KindConflict, "api_key_exists")

	if _, err := db.KeyByHash(ctx, sameID.Hash); !biometric.IsKind(err, biometric.KindNotFound) {
		t.Errorf("the rejected key was stored (err = %v)", err)
	}
}

func testKeyNotFound(t *testing.T, open OpenFunc) {
	db := newStore(t, open, store.Options{})
	_, err := db.KeyByHash(t.Context(), hash())
	wantNotFound(t, err)
}

func testListKeys(t *testing.T, open OpenFunc) {
	db := newStore(t, open, store.Options{})
	ctx := t.Context()
	tenant := uid("tenant_")
	// Inserted out of order; listed oldest first.
	var keys []*biometric.APIKey
	for _, offset := range []time.Duration{2 * time.Second, 0, time.Second} {
		k := newKey(tenant, base.Add(offset))
		mustNil(t, db.CreateKey(ctx, k), "CreateKey")
		keys = append(keys, k)
	}
	all, err := db.ListKeys(ctx)
	mustNil(t, err, "ListKeys")
	var got []string
	for _, k := range all {
		if k.Tenant == tenant {
			got = append(got, k.ID)
		}
	}
	want := []string{keys[1].ID, keys[2].ID, keys[0].ID}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListKeys order mismatch (-want +got):\n%s", diff)
	}
}

func testRevokeKey(t *testing.T, open OpenFunc) {
	db := newStore(t, open, store.Options{})
	ctx := t.Context()
	k := newKey(uid("tenant_"), base)
	mustNil(t, db.CreateKey(ctx, k), "CreateKey")

	first := base.Add(time.Minute)
	mustNil(t, db.RevokeKey(ctx, k.ID, first), "RevokeKey")
	mustNil(t, db.RevokeKey(ctx, k.ID, first.Add(time.Hour)), "RevokeKey again")
	got, err := db.KeyByHash(ctx, k.Hash)
	mustNil(t, err, "KeyByHash")
	if !got.Revoked() || !got.RevokedAt.Equal(ms(first)) {
		t.Errorf("RevokedAt = %v, want the first revocation %v", got.RevokedAt, ms(first))
	}

	wantNotFound(t, db.RevokeKey(ctx, uid("key_"), first))
}

func newSession(tenant string) *biometric.Session {
	return &biometric.Session{
		ID:                 uid("liveness_session_"),
		Tenant:             tenant,
		KeyID:              uid("key_"),
		ClientSessionToken: uid("cst_"),
		Status:             biometric.StatusCreated,
		Challenge: biometric.Challenge{
			Steps: []biometric.ChallengeStep{
				{Type: biometric.ChallengeBlink, Instructions: biometric.ChallengeInstructions[biometric.ChallengeBlink]},
				{Type: biometric.ChallengeTurnLeft, Instructions: biometric.ChallengeInstructions[biometric.ChallengeTurnLeft]},
			},
			Nonce:         "n0nce",
			LightSequence: []biometric.LightColor{{Color: "#ff0000", DurationMS: 450}, {Color: "#00ffff", DurationMS: 600}},
		},
		TokenHash:        hash(),
		CreatedAt:        base,
		UpdatedAt:        base,
		ExpiresAt:        base.Add(10 * time.Minute),
		Metadata:         map[string]string{"purpose": "onboarding", "name": "Thandiwe Ngcobo ñ ✓"},
		ConsentReference: "consent-42 ñ",
		DeviceID:         uid("device_"),
		CaptureParams: biometric.CaptureParams{FPS: 15, Width: 640, Height: 480, MinFrames: 20, MaxFrames: 300,
			MinDurationMS: 2000, MaxDurationMS: 20000, MaxFrameBytes: 300 << 10, StepWindowMS: 5000},
	}
}

// result is a liveness result with every field set.
func result() *biometric.LivenessResult {
	return &biometric.LivenessResult{
		LivenessScore:        87.25,
		IsLive:               true,
		SpoofAttemptDetected: false,
		Reasons:              []string{"challenge_completed"},
		Checks: []biometric.Check{
			{Name: "challenge", Score: 100, Passed: true},
			{Name: "antispoof", Score: 71.5, Passed: true, Detail: "model v3"},
			{Name: "planar_motion", Score: 12, Passed: false, Attack: true},
		},
		Steps: []biometric.StepResult{{Type: biometric.ChallengeBlink, Seen: true, PromptMS: 120, SeenMS: 840}},
		ReferenceFace: &biometric.FaceInfo{
			Box:        biometric.Box{X: 10.5, Y: 20, Width: 100, Height: 120},
			Confidence: 99.1,
			Landmarks:  biometric.Landmarks{LeftEye: biometric.Point{X: 70, Y: 60}, RightEye: biometric.Point{X: 40, Y: 61}},
			Pose:       biometric.Pose{Yaw: -3.5, Pitch: 1, Roll: 0.25},
			Quality:    biometric.Quality{FaceSize: 100, Sharpness: 55, Brightness: 48, Score: 80},
		},
		ModelVersion: "test-1",
	}
}

// stored is what the store gives back for s: its times to the millisecond.
func stored(s *biometric.Session) *biometric.Session {
	c := *s
	c.CreatedAt, c.UpdatedAt, c.ExpiresAt = ms(s.CreatedAt), ms(s.UpdatedAt), ms(s.ExpiresAt)
	if s.CompletedAt != nil {
		c.CompletedAt = msPtr(*s.CompletedAt)
	}
	return &c
}

func mustCreate(t *testing.T, db *store.DB, s *biometric.Session) *biometric.Session {
	t.Helper()
	got, created, err := db.CreateSession(t.Context(), s)
	mustNil(t, err, "CreateSession")
	if !created {
		t.Fatalf("CreateSession(%s): created = false, want true", s.ID)
	}
	return got
}

func testSessionRoundTrip(t *testing.T, open OpenFunc) {
	db := newStore(t, open, store.Options{})
	ctx := t.Context()
	// Every field set, including those only an update sets.
	s := newSession(uid("tenant_"))
	s.Status = biometric.StatusCompleted
	s.UpdatedAt = base.Add(time.Second)
	s.CompletedAt = &[]time.Time{base.Add(2 * time.Second)}[0]
	s.Result = result()
	s.Failure = &biometric.Failure{Code: "poor_quality", Message: "Too dark.", Retryable: true}
	want := stored(s)

	got := mustCreate(t, db, s)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CreateSession mismatch (-want +got):\n%s", diff)
	}
	got, err := db.Session(ctx, s.Tenant, s.ID)
	mustNil(t, err, "Session")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Session mismatch (-want +got):\n%s", diff)
	}
	got, err = db.SessionByTokenHash(ctx, s.TokenHash)
	mustNil(t, err, "SessionByTokenHash")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SessionByTokenHash mismatch (-want +got):\n%s", diff)
	}
}

func testSessionDefaults(t *testing.T, open OpenFunc) {
	clk := &clock{now: base.Add(time.Hour)}
	db := newStore(t, open, store.Options{Now: clk.Now})
	s := newSession(uid("tenant_"))
	s.Metadata = nil
	s.CreatedAt, s.UpdatedAt = time.Time{}, time.Time{}
	got := mustCreate(t, db, s)
	now := ms(clk.Now())
	if !got.CreatedAt.Equal(now) || !got.UpdatedAt.Equal(now) {
		t.Errorf("CreatedAt, UpdatedAt = %v, %v; want both %v (the store's clock)", got.CreatedAt, got.UpdatedAt, now)
	}
	if got.Metadata != nil || got.Result != nil || got.Failure != nil || got.CompletedAt != nil {
		t.Errorf("unset fields came back set: %+v", got)
	}
}

func testSessionIdempotent(t *testing.T, open OpenFunc) {
	db := newStore(t, open, store.Options{})
	ctx := t.Context()
	first := newSession(uid("tenant_"))
	mustCreate(t, db, first)

	again := newSession(first.Tenant)
	again.ClientSessionToken = first.ClientSessionToken
	got, created, err := db.CreateSession(ctx, again)
	mustNil(t, err, "CreateSession again")
	if created {
		t.Error("second CreateSession with the same token: created = true")
	}
	if diff := cmp.Diff(stored(first), got); diff != "" {
		t.Errorf("second CreateSession did not return the first session (-want +got):\n%s", diff)
	}
	_, err = db.Session(ctx, again.Tenant, again.ID)
	wantNotFound(t, err)
	_, err = db.SessionByTokenHash(ctx, again.TokenHash)
	wantNotFound(t, err)

	// The same token in another tenant is another session.
	other := newSession(uid("tenant_"))
	other.ClientSessionToken = first.ClientSessionToken
	if got := mustCreate(t, db, other); got.ID != other.ID {
		t.Errorf("other tenant's session has ID %s, want %s", got.ID, other.ID)
	}
}

func testSessionIdempotentConcurrent(t *testing.T, open OpenFunc) {
	db := newStore(t, open, store.Options{})
	ctx := t.Context()
	tenant, token := uid("tenant_"), uid("cst_")
	const n = 8
	var (
		wg      sync.WaitGroup
		ids     [n]string
		created [n]bool
		errs    [n]error
		tried   [n]*biometric.Session
	)
	for i := range n {
		tried[i] = newSession(tenant)
		tried[i].ClientSessionToken = token
		wg.Go(func() {
			var got *biometric.Session
			got, created[i], errs[i] = db.CreateSession(ctx, tried[i])
			if got != nil {
				ids[i] = got.ID
			}
		})
	}
	wg.Wait()
	winners := 0
	for i := range n {
		mustNil(t, errs[i], fmt.Sprintf("CreateSession #%d", i))
		if created[i] {
			winners++
			if ids[i] != tried[i].ID {
				t.Errorf("the creating call got session %s, want its own %s", ids[i], tried[i].ID)
			}
		}
		if ids[i] != ids[0] {
			t.Errorf("call #%d got session %s, call #0 got %s", i, ids[i], ids[0])
		}
	}
	if winners != 1 {
		t.Errorf("%d calls report created=true, want 1", winners)
	}
	for i := range n {
		_, err := db.Session(ctx, tenant, tried[i].ID)
		if stored := tried[i].ID == ids[0]; stored != (err == nil) {
			t.Errorf("session %s: Session err = %v, want it stored: %v", tried[i].ID, err, stored)
		}
	}
}

func testSessionDuplicateTokenHash(t *testing.T, open OpenFunc) {
	db := newStore(t, open, store.Options{})
	first := newSession(uid("tenant_"))
	mustCreate(t, db, first)
	clash := newSession(first.Tenant)
	clash.TokenHash = first.TokenHash
	_, _, err := db.CreateSession(t.Context(), clash)
	wantKind(t, err, biometric.KindConflict, "session_exists")
}

func testSessionNotFound(t *testing.T, open OpenFunc) {
	db := newStore(t, open, store.Options{})
	ctx := t.Context()
	s := mustCreate(t, db, newSession(uid("tenant_")))
	_, err := db.Session(ctx, uid("tenant_"), s.ID)
	wantNotFound(t, err)
	_, err = db.Session(ctx, s.Tenant, uid("liveness_session_"))
	wantNotFound(t, err)
	_, err = db.SessionByTokenHash(ctx, hash())
	wantNotFound(t, err)
}

func testUpdateSession(t *testing.T, open OpenFunc) {
	clk := &clock{now: base}
	db := newStore(t, open, store.Options{Now: clk.Now})
	ctx := t.Context()
	s := mustCreate(t, db, newSession(uid("tenant_")))
	want := stored(s)

	later := base.Add(90*time.Second + 123456*time.Nanosecond)
	clk.Set(later)
	got, err := db.UpdateSession(ctx, s.ID, func(s *biometric.Session) error {
		s.Status = biometric.StatusCompleted
		s.CompletedAt = &later
		s.Result = result()
		s.Metadata["attempt"] = "2"
		s.Tenant = "someone_else" // identity is not updatable
		s.ConsentReference, s.DeviceID = "changed", "changed"
		s.BiometricsDeletedAt = &later
		return nil
	})
	mustNil(t, err, "UpdateSession")
	want.Status = biometric.StatusCompleted
	want.CompletedAt = msPtr(later)
	want.UpdatedAt = ms(later)
	want.Result = result()
	want.Metadata["attempt"] = "2"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("UpdateSession result mismatch (-want +got):\n%s", diff)
	}
	reread, err := db.Session(ctx, s.Tenant, s.ID)
	mustNil(t, err, "Session")
	if diff := cmp.Diff(want, reread); diff != "" {
		t.Errorf("session after UpdateSession mismatch (-want +got):\n%s", diff)
	}
}

func testUpdateSessionRollback(t *testing.T, open OpenFunc) {
	clk := &clock{now: base}
	db := newStore(t, open, store.Options{Now: clk.Now})
	ctx := t.Context()
	s := mustCreate(t, db, newSession(uid("tenant_")))
	clk.Set(base.Add(time.Hour))
	errStop := biometric.Errorf(biometric.KindConflict, "session_expired", "expired")
	_, err := db.UpdateSession(ctx, s.ID, func(s *biometric.Session) error {
		s.Status = biometric.StatusFailed
		s.Failure = &biometric.Failure{Code: "x"}
		return errStop
	})
	if err != errStop {
		t.Fatalf("UpdateSession err = %v, want fn's error itself", err)
	}
	got, err := db.Session(ctx, s.Tenant, s.ID)
	mustNil(t, err, "Session")
	if diff := cmp.Diff(s, got); diff != "" {
		t.Errorf("fn's error did not roll back (-want +got):\n%s", diff)
	}
}

func testUpdateSessionNotFound(t *testing.T, open OpenFunc) {
	db := newStore(t, open, store.Options{})
	called := false
	_, err := db.UpdateSession(t.Context(), uid("liveness_session_"), func(*biometric.Session) error {
		called = true
		return nil
	})
	wantNotFound(t, err)
	if called {
		t.Error("fn was called for an unknown session")
	}
}

func testUpdateSessionConcurrent(t *testing.T, open OpenFunc) {
	db := newStore(t, open, store.Options{})
	ctx := t.Context()
	s := newSession(uid("tenant_"))
	s.Metadata = map[string]string{"n": "0"}
	mustCreate(t, db, s)
	const n = 10
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = db.UpdateSession(ctx, s.ID, func(s *biometric.Session) error {
				var v int
				fmt.Sscan(s.Metadata["n"], &v)
				s.Metadata["n"] = fmt.Sprint(v + 1)
				return nil
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		mustNil(t, err, fmt.Sprintf("UpdateSession #%d", i))
	}
	got, err := db.Session(ctx, s.Tenant, s.ID)
	mustNil(t, err, "Session")
	if got.Metadata["n"] != fmt.Sprint(n) {
		t.Errorf("after %d concurrent increments n = %s: updates were lost", n, got.Metadata["n"])
	}
}

func testRotateSessionToken(t *testing.T, open OpenFunc) {
	db := newStore(t, open, store.Options{})
	ctx := t.Context()
	s := mustCreate(t, db, newSession(uid("tenant_")))
	other := mustCreate(t, db, newSession(s.Tenant))
	oldHash, newHash := s.TokenHash, hash()

	got, err := db.UpdateSession(ctx, s.ID, func(x *biometric.Session) error {
		x.TokenHash = newHash
		return nil
	})
	mustNil(t, err, "UpdateSession rotating the token")
	if !slices.Equal(got.TokenHash, newHash) {
		t.Errorf("TokenHash after rotation = %x, want %x", got.TokenHash, newHash)
	}
	_, err = db.SessionByTokenHash(ctx, oldHash)
	wantNotFound(t, err)
	byNew, err := db.SessionByTokenHash(ctx, newHash)
	mustNil(t, err, "SessionByTokenHash(new)")
	if byNew.ID != s.ID {
		t.Errorf("the new token finds session %s, want %s", byNew.ID, s.ID)
	}

	// Another session's token hash is refused, and nothing changes.
	_, err = db.UpdateSession(ctx, s.ID, func(x *biometric.Session) error {
		x.TokenHash = other.TokenHash
		x.Status = biometric.StatusInProgress
		return nil
	})
	wantKind(t, err, biometric.KindConflict, "session_exists")
	after, err := db.Session(ctx, s.Tenant, s.ID)
	mustNil(t, err, "Session")
	if !slices.Equal(after.TokenHash, newHash) || after.Status != biometric.StatusCreated {
		t.Errorf("a refused rotation changed the session: token %x, status %s", after.TokenHash, after.Status)
	}
}

func testSessionByID(t *testing.T, open OpenFunc) {
	db := newStore(t, open, store.Options{})
	s := mustCreate(t, db, newSession(uid("tenant_")))
	got, err := db.SessionByID(t.Context(), s.ID)
	mustNil(t, err, "SessionByID")
	if diff := cmp.Diff(s, got); diff != "" {
		t.Errorf("SessionByID mismatch (-want +got):\n%s", diff)
	}
	_, err = db.SessionByID(t.Context(), uid("liveness_session_"))
	wantNotFound(t, err)
}

func testExpireSessions(t *testing.T, open OpenFunc) {
	clk := &clock{now: base}
	db := newStore(t, open, store.Options{Now: clk.Now})
	ctx := t.Context()
	// Deadlines decades before every other test's, so that the sweep below
	// touches no session but these (the database may be shared).
	deadline := time.Date(1990, 1, 1, 12, 0, 0, 0, time.UTC)
	tenant := uid("tenant_")
	create := func(status biometric.SessionStatus, expires time.Time) *biometric.Session {
		s := newSession(tenant)
		s.Status, s.ExpiresAt = status, expires
		return mustCreate(t, db, s)
	}
	due := []*biometric.Session{
		create(biometric.StatusCreated, deadline),
		create(biometric.StatusInProgress, deadline.Add(-time.Minute)),
	}
	kept := map[*biometric.Session]biometric.SessionStatus{
		create(biometric.StatusCreated, deadline.Add(time.Millisecond)): biometric.StatusCreated,    // not yet due
		create(biometric.StatusProcessing, deadline.Add(-time.Hour)):    biometric.StatusProcessing, // submitted: never expires
		create(biometric.StatusCompleted, deadline.Add(-time.Hour)):     biometric.StatusCompleted,
	}

	clk.Set(base.Add(time.Hour))
	n, err := db.ExpireSessions(ctx, deadline)
	mustNil(t, err, "ExpireSessions")
	if n != int64(len(due)) {
		t.Errorf("ExpireSessions moved %d sessions, want %d", n, len(due))
	}
	for _, s := range due {
		got, err := db.Session(ctx, tenant, s.ID)
		mustNil(t, err, "Session")
		if got.Status != biometric.StatusExpired || !got.UpdatedAt.Equal(ms(clk.Now())) {
			t.Errorf("due session (was %s): status %s, updated %v; want expired at %v", s.Status, got.Status, got.UpdatedAt, ms(clk.Now()))
		}
	}
	for s, want := range kept {
		got, err := db.Session(ctx, tenant, s.ID)
		mustNil(t, err, "Session")
		if got.Status != want {
			t.Errorf("session %s expiring at %v: status %s, want %s", s.Status, s.ExpiresAt, got.Status, want)
		}
	}
	if n, err := db.ExpireSessions(ctx, deadline); err != nil || n != 0 {
		t.Errorf("a second sweep moved %d sessions (err %v), want 0", n, err)
	}
}

func testReferenceFace(t *testing.T, open OpenFunc) {
	db := newStore(t, open, store.Options{})
	ctx := t.Context()
	s := mustCreate(t, db, newSession(uid("tenant_")))
	_, err := db.ReferenceFace(ctx, s.ID)
	wantNotFound(t, err)

	first := make([]byte, 5000)
	rand.Read(first)
	mustNil(t, db.SaveReferenceFace(ctx, s.ID, first), "SaveReferenceFace")
	got, err := db.ReferenceFace(ctx, s.ID)
	mustNil(t, err, "ReferenceFace")
	if !slices.Equal(got, first) {
		t.Errorf("ReferenceFace returned %d bytes that differ from the %d saved", len(got), len(first))
	}
	// Saving again (a retried analysis) replaces the image.
	second := []byte("\xff\xd8\xff second image")
	mustNil(t, db.SaveReferenceFace(ctx, s.ID, second), "SaveReferenceFace again")
	if got, err = db.ReferenceFace(ctx, s.ID); err != nil || !slices.Equal(got, second) {
		t.Errorf("ReferenceFace after replacing = %q, %v; want %q", got, err, second)
	}
	// Deleting the capture keeps the reference face.
	mustNil(t, db.DeleteCapture(ctx, s.ID), "DeleteCapture")
	if _, err := db.ReferenceFace(ctx, s.ID); err != nil {
		t.Errorf("ReferenceFace after DeleteCapture: %v", err)
	}
	wantNotFound(t, db.SaveReferenceFace(ctx, uid("liveness_session_"), first))
}

// newCapture returns a capture whose frames are listed out of index order.
func newCapture() *biometric.Capture {
	c := &biometric.Capture{
		PromptsMS: []int64{0, 1500},
		Client:    map[string]string{"user_agent": "Mozilla/5.0 test", "screen": "390x844"},
		Light:     []biometric.LightShown{{Index: 0, Color: "#ff0000", ShownAtMS: 16, HiddenAtMS: 470}, {Index: 1, Color: "#00ffff", ShownAtMS: 470, HiddenAtMS: 1071}},
	}
	for _, i := range []int{2, 0, 3, 1} {
		img := make([]byte, 1000+i)
		rand.Read(img)
		c.Frames = append(c.Frames, biometric.Frame{Index: i, AtMS: int64(i) * 200, Image: img, ContentType: "image/jpeg"})
	}
	return c
}

// toProcessing is the check a capture upload normally runs.
func toProcessing(s *biometric.Session) error {
	if s.Status != biometric.StatusCreated && s.Status != biometric.StatusInProgress {
		return biometric.Errorf(biometric.KindConflict, "capture_not_allowed", "session is %s", s.Status)
	}
	s.Status = biometric.StatusProcessing
	return nil
}

func allow(*biometric.Session) error { return nil }

func testSubmitCapture(t *testing.T, open OpenFunc) {
	clk := &clock{now: base}
	var (
		db           *store.DB
		hooked       []string
		capturesInTx int
	)
	db = newStore(t, open, store.Options{Now: clk.Now, SubmitHook: func(ctx context.Context, tx *sql.Tx, id string) error {
		hooked = append(hooked, id)
		// The hook runs in the transaction that stored the capture.
		return tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM captures WHERE session_id = "+param(db), id).Scan(&capturesInTx)
	}})
	ctx := t.Context()
	s := mustCreate(t, db, newSession(uid("tenant_")))
	c := newCapture()

	clk.Set(base.Add(time.Minute))
	var checked *biometric.Session
	got, err := db.SubmitCapture(ctx, s.ID, c, func(s *biometric.Session) error {
		checked = stored(s)
		return toProcessing(s)
	})
	mustNil(t, err, "SubmitCapture")
	if diff := cmp.Diff(stored(s), checked); diff != "" {
		t.Errorf("check got the wrong session (-want +got):\n%s", diff)
	}
	if got.Status != biometric.StatusProcessing || !got.UpdatedAt.Equal(ms(clk.Now())) {
		t.Errorf("SubmitCapture returned status %s updated %v, want processing at %v", got.Status, got.UpdatedAt, ms(clk.Now()))
	}
	if diff := cmp.Diff([]string{s.ID}, hooked); diff != "" {
		t.Errorf("hook calls mismatch (-want +got):\n%s", diff)
	}
	if capturesInTx != 1 {
		t.Errorf("the hook saw %d captures in its transaction, want 1", capturesInTx)
	}
	reread, err := db.Session(ctx, s.Tenant, s.ID)
	mustNil(t, err, "Session")
	if diff := cmp.Diff(got, reread); diff != "" {
		t.Errorf("saved session mismatch (-want +got):\n%s", diff)
	}

	gotCapture, err := db.Capture(ctx, s.ID)
	mustNil(t, err, "Capture")
	if diff := cmp.Diff(inIndexOrder(c), gotCapture); diff != "" {
		t.Errorf("Capture mismatch (-want +got):\n%s", diff)
	}
}

// inIndexOrder returns c with its frames sorted by index, as Capture
// returns them.
func inIndexOrder(c *biometric.Capture) *biometric.Capture {
	sorted := *c
	sorted.Frames = slices.SortedFunc(slices.Values(c.Frames), func(a, b biometric.Frame) int { return a.Index - b.Index })
	return &sorted
}

// appendBatch is the check a batch upload normally runs: it counts the
// batch into s.Upload and moves the session to in_progress.
func appendBatch(frames []biometric.Frame) func(*biometric.Session) error {
	return func(s *biometric.Session) error {
		s.Status = biometric.StatusInProgress
		s.Upload.Batches++
		s.Upload.Frames += len(frames)
		return nil
	}
}

func testAppendFrames(t *testing.T, open OpenFunc) {
	db := newStore(t, open, store.Options{})
	ctx := t.Context()
	s := mustCreate(t, db, newSession(uid("tenant_")))
	c := newCapture()
	first, second := c.Frames[:2], c.Frames[2:]

	got, err := db.AppendFrames(ctx, s.ID, first, appendBatch(first))
	mustNil(t, err, "AppendFrames")
	if got.Status != biometric.StatusInProgress || got.Upload.Batches != 1 || got.Upload.Frames != 2 {
		t.Errorf("after one batch: status %s upload %+v, want in_progress with 1 batch of 2 frames", got.Status, got.Upload)
	}
	got, err = db.AppendFrames(ctx, s.ID, second, appendBatch(second))
	mustNil(t, err, "AppendFrames")
	if got.Upload.Batches != 2 || got.Upload.Frames != 4 {
		t.Errorf("after two batches: upload %+v, want 2 batches of 4 frames", got.Upload)
	}
	reread, err := db.Session(ctx, s.Tenant, s.ID)
	mustNil(t, err, "Session")
	if diff := cmp.Diff(got, reread); diff != "" {
		t.Errorf("saved session mismatch (-want +got):\n%s", diff)
	}
	// Frames alone are not a capture until it is submitted.
	if _, err := db.Capture(ctx, s.ID); !errors.Is(err, biometric.ErrNotFound) {
		t.Errorf("Capture before submit: err = %v, want ErrNotFound", err)
	}
	// A frame index stored before is refused, and nothing of that batch is kept.
	again := []biometric.Frame{{Index: 4, AtMS: 900, Image: []byte{1}, ContentType: "image/jpeg"}, first[0]}
	_, err = db.AppendFrames(ctx, s.ID, again, appendBatch(again))
	if biometric.KindOf(err) != biometric.KindInvalid {
		t.Errorf("re-appending frame %d: err = %v, want an invalid (duplicate_frame_index) error", first[0].Index, err)
	}
	reread, err = db.Session(ctx, s.Tenant, s.ID)
	mustNil(t, err, "Session")
	if reread.Upload.Batches != 2 {
		t.Errorf("a refused batch was counted: upload %+v", reread.Upload)
	}
}

func testAppendFramesCheckError(t *testing.T, open OpenFunc) {
	db := newStore(t, open, store.Options{})
	ctx := t.Context()
	s := mustCreate(t, db, newSession(uid("tenant_")))
	refuse := biometric.Errorf(biometric.KindConflict, "batch_out_of_order", "no")
	c := newCapture()
	_, err := db.AppendFrames(ctx, s.ID, c.Frames, func(s *biometric.Session) error {
		s.Status = biometric.StatusInProgress
		return refuse
	})
	if err != refuse {
		t.Fatalf("AppendFrames err = %v, want check's error itself", err)
	}
	// Nothing was stored: the same frames can be appended now.
	got, err := db.AppendFrames(ctx, s.ID, c.Frames, appendBatch(c.Frames))
	mustNil(t, err, "AppendFrames after a refused batch")
	if got.Upload.Frames != len(c.Frames) {
		t.Errorf("upload %+v, want %d frames", got.Upload, len(c.Frames))
	}
	if _, err := db.AppendFrames(ctx, uid("liveness_session_"), c.Frames, allow); !errors.Is(err, biometric.ErrNotFound) {
		t.Errorf("AppendFrames to an unknown session: err = %v, want ErrNotFound", err)
	}
}

func testAppendFramesThenSubmit(t *testing.T, open OpenFunc) {
	db := newStore(t, open, store.Options{})
	ctx := t.Context()
	s := mustCreate(t, db, newSession(uid("tenant_")))
	c := newCapture()
	for _, f := range c.Frames {
		batch := []biometric.Frame{f}
		_, err := db.AppendFrames(ctx, s.ID, batch, appendBatch(batch))
		mustNil(t, err, "AppendFrames")
	}
	meta := &biometric.Capture{PromptsMS: c.PromptsMS, Client: c.Client, Light: c.Light}
	_, err := db.SubmitCapture(ctx, s.ID, meta, toProcessing)
	mustNil(t, err, "SubmitCapture")
	got, err := db.Capture(ctx, s.ID)
	mustNil(t, err, "Capture")
	if diff := cmp.Diff(inIndexOrder(c), got); diff != "" {
		t.Errorf("Capture mismatch (-want +got):\n%s", diff)
	}
	mustNil(t, db.DeleteCapture(ctx, s.ID), "DeleteCapture")
	if _, err := db.Capture(ctx, s.ID); !errors.Is(err, biometric.ErrNotFound) {
		t.Errorf("Capture after delete: err = %v, want ErrNotFound", err)
	}
	var n int
	mustNil(t, db.SQL().QueryRowContext(ctx, "SELECT COUNT(*) FROM capture_frames WHERE session_id = "+param(db), s.ID).Scan(&n), "count frames")
	if n != 0 {
		t.Errorf("%d appended frames survived DeleteCapture", n)
	}
}

func testSubmitCaptureCheckError(t *testing.T, open OpenFunc) {
	hookCalled := false
	db := newStore(t, open, store.Options{SubmitHook: func(context.Context, *sql.Tx, string) error {
		hookCalled = true
		return nil
	}})
	ctx := t.Context()
	s := mustCreate(t, db, newSession(uid("tenant_")))
	errReject := errors.New("rejected")
	_, err := db.SubmitCapture(ctx, s.ID, newCapture(), func(s *biometric.Session) error {
		s.Status = biometric.StatusProcessing
		return errReject
	})
	if err != errReject {
		t.Fatalf("SubmitCapture err = %v, want check's error itself", err)
	}
	if hookCalled {
		t.Error("the hook ran although check failed")
	}
	wantNothingStored(t, db, s)
}

func testSubmitCaptureHookError(t *testing.T, open OpenFunc) {
	errHook := errors.New("queue full")
	db := newStore(t, open, store.Options{SubmitHook: func(context.Context, *sql.Tx, string) error { return errHook }})
	s := mustCreate(t, db, newSession(uid("tenant_")))
	_, err := db.SubmitCapture(t.Context(), s.ID, newCapture(), toProcessing)
	if err != errHook {
		t.Fatalf("SubmitCapture err = %v, want the hook's error itself", err)
	}
	wantNothingStored(t, db, s)
}

// wantNothingStored checks that s has no capture and is as created.
func wantNothingStored(t *testing.T, db *store.DB, s *biometric.Session) {
	t.Helper()
	_, err := db.Capture(t.Context(), s.ID)
	wantNotFound(t, err)
	got, err := db.Session(t.Context(), s.Tenant, s.ID)
	mustNil(t, err, "Session")
	if diff := cmp.Diff(s, got); diff != "" {
		t.Errorf("the failed submit changed the session (-want +got):\n%s", diff)
	}
}

func testSubmitCaptureTwice(t *testing.T, open OpenFunc) {
	db := newStore(t, open, store.Options{})
	ctx := t.Context()
	s := mustCreate(t, db, newSession(uid("tenant_")))
	first := newCapture()
	_, err := db.SubmitCapture(ctx, s.ID, first, toProcessing)
	mustNil(t, err, "SubmitCapture")

	// The usual check refuses; a check that lets it through meets the store's own guard.
	_, err = db.SubmitCapture(ctx, s.ID, newCapture(), toProcessing)
	wantKind(t, err, biometric.KindConflict, "capture_not_allowed")
	_, err = db.SubmitCapture(ctx, s.ID, newCapture(), allow)
	wantKind(t, err, biometric.KindConflict, "capture_already_submitted")

	got, err := db.Capture(ctx, s.ID)
	mustNil(t, err, "Capture")
	if diff := cmp.Diff(inIndexOrder(first), got); diff != "" {
		t.Errorf("the rejected second capture changed the first (-want +got):\n%s", diff)
	}
}

func testSubmitCaptureConcurrent(t *testing.T, open OpenFunc) {
	db := newStore(t, open, store.Options{})
	ctx := t.Context()
	s := mustCreate(t, db, newSession(uid("tenant_")))
	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, errs[i] = db.SubmitCapture(ctx, s.ID, newCapture(), allow) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
			continue
		}
		wantKind(t, err, biometric.KindConflict, "capture_already_submitted")
	}
	if ok != 1 {
		t.Errorf("%d concurrent submits succeeded, want 1", ok)
	}
}

func testSubmitCaptureNotFound(t *testing.T, open OpenFunc) {
	db := newStore(t, open, store.Options{})
	called := false
	_, err := db.SubmitCapture(t.Context(), uid("liveness_session_"), newCapture(), func(*biometric.Session) error {
		called = true
		return nil
	})
	wantNotFound(t, err)
	if called {
		t.Error("check was called for an unknown session")
	}
}

func testSubmitCaptureDuplicateFrame(t *testing.T, open OpenFunc) {
	db := newStore(t, open, store.Options{})
	s := mustCreate(t, db, newSession(uid("tenant_")))
	c := newCapture()
	c.Frames[1].Index = c.Frames[0].Index
	_, err := db.SubmitCapture(t.Context(), s.ID, c, toProcessing)
	wantKind(t, err, biometric.KindInvalid, "duplicate_frame_index")
	wantNothingStored(t, db, s)
}

func testDeleteCapture(t *testing.T, open OpenFunc) {
	db := newStore(t, open, store.Options{})
	ctx := t.Context()
	s := mustCreate(t, db, newSession(uid("tenant_")))
	_, err := db.SubmitCapture(ctx, s.ID, newCapture(), toProcessing)
	mustNil(t, err, "SubmitCapture")

	mustNil(t, db.DeleteCapture(ctx, s.ID), "DeleteCapture")
	_, err = db.Capture(ctx, s.ID)
	wantNotFound(t, err)
	mustNil(t, db.DeleteCapture(ctx, s.ID), "DeleteCapture again")
	mustNil(t, db.DeleteCapture(ctx, uid("liveness_session_")), "DeleteCapture of an unknown session")

	var frames int
	err = db.SQL().QueryRowContext(ctx, "SELECT COUNT(*) FROM capture_frames WHERE session_id = "+param(db), s.ID).Scan(&frames)
	mustNil(t, err, "count frames")
	if frames != 0 {
		t.Errorf("%d frames left after DeleteCapture", frames)
	}
	got, err := db.Session(ctx, s.Tenant, s.ID)
	mustNil(t, err, "Session after DeleteCapture")
	if got.Status != biometric.StatusProcessing {
		t.Errorf("DeleteCapture changed the session's status to %s", got.Status)
	}
}

// analysisArgs is a River job like the one the jobs package enqueues.
type analysisArgs struct {
	SessionID string `json:"session_id"`
}

func (analysisArgs) Kind() string { return "storetest_analysis" }

// riverDriver returns River's driver for db's dialect.
func riverDriver(db *store.DB) riverdriver.Driver[*sql.Tx] {
	if db.Dialect() == store.Postgres {
		return riverdatabasesql.New(db.SQL())
	}
	return riversqlite.New(db.SQL())
}

func testRiverJob(t *testing.T, open OpenFunc) {
	var client *river.Client[*sql.Tx]
	failHook := false
	db := newStore(t, open, store.Options{SubmitHook: func(ctx context.Context, tx *sql.Tx, id string) error {
		if _, err := client.InsertTx(ctx, tx, analysisArgs{SessionID: id}, nil); err != nil {
			return err
		}
		if failHook {
			return errors.New("fail after insert")
		}
		return nil
	}})
	ctx := t.Context()
	var err error
	client, err = river.NewClient(riverDriver(db), &river.Config{})
	mustNil(t, err, "river.NewClient")

	ok := mustCreate(t, db, newSession(uid("tenant_")))
	_, err = db.SubmitCapture(ctx, ok.ID, newCapture(), toProcessing)
	mustNil(t, err, "SubmitCapture")

	failHook = true
	rolledBack := mustCreate(t, db, newSession(uid("tenant_")))
	if _, err := db.SubmitCapture(ctx, rolledBack.ID, newCapture(), toProcessing); err == nil {
		t.Fatal("SubmitCapture succeeded although the hook failed")
	}

	jobs := riverJobs(t, client)
	if jobs[ok.ID] != 1 {
		t.Errorf("%d jobs for the submitted session, want 1", jobs[ok.ID])
	}
	if jobs[rolledBack.ID] != 0 {
		t.Errorf("%d jobs for the rolled-back submit, want 0", jobs[rolledBack.ID])
	}
}

// riverJobs counts the storetest jobs in River's table, by session.
func riverJobs(t *testing.T, client *river.Client[*sql.Tx]) map[string]int {
	t.Helper()
	res, err := client.JobList(t.Context(), river.NewJobListParams().Kinds(analysisArgs{}.Kind()).First(10000))
	mustNil(t, err, "list river jobs")
	jobs := map[string]int{}
	for _, job := range res.Jobs {
		var args analysisArgs
		mustNil(t, json.Unmarshal(job.EncodedArgs, &args), "decode river job args")
		jobs[args.SessionID]++
	}
	return jobs
}

func testPingClose(t *testing.T, open OpenFunc) {
	db := open(t, store.Options{})
	mustNil(t, db.Ping(t.Context()), "Ping")
	mustNil(t, db.Close(), "Close")
	if err := db.Ping(t.Context()); err == nil {
		t.Error("Ping after Close succeeded")
	}
}
