package storetest

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/everify/everify/internal/audit"
	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/seal"
	"github.com/everify/everify/internal/store"
)

// withSealer returns open, giving stores without a Sealer sealer.
func withSealer(open OpenFunc, sealer store.Sealer) OpenFunc {
	return func(t *testing.T, opts store.Options) *store.DB {
		if opts.Sealer == nil {
			opts.Sealer = sealer
		}
		return open(t, opts)
	}
}

// ringSealer is a store.Sealer whose keyring a test swaps.
type ringSealer struct{ ring atomic.Pointer[seal.Keyring] }

func newRingSealer(r *seal.Keyring) *ringSealer {
	s := &ringSealer{}
	s.ring.Store(r)
	return s
}

func (s *ringSealer) Seal(p, aad []byte) ([]byte, []byte, error) { return s.ring.Load().Seal(p, aad) }
func (s *ringSealer) Open(k, d, aad []byte) ([]byte, error)      { return s.ring.Load().Open(k, d, aad) }

// PlaintextSealer is a store.Sealer that does not encrypt: it stores the
// plaintext as the data part. It exists only so that tests can show that
// their search for plaintext finds it when it is there.
type PlaintextSealer struct{}

// Seal returns plaintext as the data part.
func (PlaintextSealer) Seal(plaintext, _ []byte) ([]byte, []byte, error) {
	return []byte("plaintext"), plaintext, nil
}

// Open returns the data part.
func (PlaintextSealer) Open(_, data, _ []byte) ([]byte, error) { return data, nil }

// photo encodes a real w×h photo-like image (gradients and noise, so that
// no two are alike and none compresses to nothing) as JPEG or PNG.
func photo(t *testing.T, w, h int, asPNG bool) []byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			n := uint8(rng.IntN(48))
			img.Set(x, y, color.RGBA{uint8(x*200/w) + n, uint8(y*180/h) + n, uint8((x+y)%64) + n, 255})
		}
	}
	var buf bytes.Buffer
	var err error
	if asPNG {
		err = png.Encode(&buf, img)
	} else {
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85})
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// StoreBiometrics stores through db what the service keeps of a person — a
// capture of real JPEG frames (some appended in a batch, the rest with the
// submission), a reference face (a real PNG) and a tenant's webhook
// signing secret — and returns the plaintexts, none of which may appear in
// the database's files. It reads them back to check that they open.
func StoreBiometrics(t *testing.T, db *store.DB) [][]byte {
	t.Helper()
	ctx := t.Context()
	s := mustCreate(t, db, newSession(uid("tenant_")))
	var frames []biometric.Frame
	var plaintexts [][]byte
	for i := range 6 {
		img := photo(t, 320, 240, false)
		frames = append(frames, biometric.Frame{Index: i, AtMS: int64(i) * 66, Image: img, ContentType: "image/jpeg"})
		plaintexts = append(plaintexts, img)
	}
	_, err := db.AppendFrames(ctx, s.ID, frames[:3], appendBatch(frames[:3]))
	mustNil(t, err, "AppendFrames")
	_, err = db.SubmitCapture(ctx, s.ID, &biometric.Capture{Frames: frames[3:]}, toProcessing)
	mustNil(t, err, "SubmitCapture")
	face := photo(t, 112, 112, true)
	mustNil(t, db.SaveReferenceFace(ctx, s.ID, face), "SaveReferenceFace")
	secret := []byte("whsec_" + uid("") + uid(""))
	mustNil(t, db.SetWebhook(ctx, s.Tenant, "https://hooks.example/everify", secret), "SetWebhook")
	plaintexts = append(plaintexts, face, secret)

	c, err := db.Capture(ctx, s.ID)
	mustNil(t, err, "Capture")
	for i, f := range c.Frames {
		if !bytes.Equal(f.Image, plaintexts[i]) {
			t.Fatalf("frame %d does not read back as stored", i)
		}
	}
	if got, err := db.ReferenceFace(ctx, s.ID); err != nil || !bytes.Equal(got, face) {
		t.Fatalf("the reference face does not read back as stored: %v", err)
	}
	if _, got, err := db.WebhookTarget(ctx, s.Tenant); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("the webhook secret does not read back as stored: %v", err)
	}
	return plaintexts
}

// Needles returns what a search for plaintext at rest looks for: the PNG
// signature; JPEG's start of image followed by the marker Go's encoder
// writes next (a quantisation table) or by a JFIF header; and from each
// plaintext its first 32 bytes and three 32-byte windows from its body.
// (The bare 3-byte JPEG magic FF D8 FF is not searched for alone: random
// ciphertext holds it about once every 16 MiB.)
func Needles(plaintexts [][]byte) [][]byte {
	needles := [][]byte{
		{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'},
		{0xff, 0xd8, 0xff, 0xdb, 0x00, 0x84},
		{0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 'J', 'F', 'I', 'F'},
	}
	for _, p := range plaintexts {
		if len(p) < 64 {
			needles = append(needles, p)
			continue
		}
		needles = append(needles, p[:32])
		for _, at := range []int{len(p) / 4, len(p) / 2, 3 * len(p) / 4} {
			needles = append(needles, p[at:min(at+32, len(p))])
		}
	}
	return needles
}

// Find returns a description of every needle found in haystack, either
// as raw bytes or, when asHex, as lower-case hex (how PostgreSQL prints
// bytea).
func Find(haystack []byte, needles [][]byte, asHex bool) []string {
	var found []string
	for _, n := range needles {
		pattern := n
		if asHex {
			pattern = []byte(hex.EncodeToString(n))
		}
		if i := bytes.Index(haystack, pattern); i >= 0 {
			found = append(found, fmt.Sprintf("%x… at offset %d", n[:min(8, len(n))], i))
		}
	}
	return found
}

func testNoSealer(t *testing.T, open OpenFunc) {
	// open gives a store without a Sealer one; store.New itself must refuse.
	db := newStore(t, open, store.Options{})
	if _, err := store.New(db.SQL(), store.Dialect{Name: db.Dialect()}, store.Options{}); err == nil {
		t.Error("store.New without a Sealer succeeded")
	}
}

func testSealedAtRest(t *testing.T, open OpenFunc) {
	db := newStore(t, open, store.Options{})
	plaintexts := StoreBiometrics(t, db)
	needles := Needles(plaintexts)
	for _, table := range []string{"capture_frames", "reference_faces"} {
		rows, err := db.SQL().QueryContext(t.Context(), "SELECT image_key, image FROM "+table)
		mustNil(t, err, "select "+table)
		n := 0
		for rows.Next() {
			var key, data []byte
			mustNil(t, rows.Scan(&key, &data), "scan")
			if found := Find(append(key, data...), needles, false); len(found) > 0 {
				t.Errorf("%s holds plaintext: %v", table, found)
			}
			if id, err := seal.KeyID(key); err != nil || !strings.HasPrefix(id, "mk_") {
				t.Errorf("%s: the key part names master key %q (%v)", table, id, err)
			}
			n++
		}
		rows.Close()
		if n == 0 {
			t.Errorf("%s is empty", table)
		}
	}
}

func testSealedBlobsAreBound(t *testing.T, open OpenFunc) {
	db := newStore(t, open, store.Options{})
	ctx := t.Context()
	p := param(db)
	p2 := "?"
	if p == "$1" {
		p2 = "$2"
	}
	a := mustCreate(t, db, newSession(uid("tenant_")))
	b := mustCreate(t, db, newSession(a.Tenant))
	for _, s := range []*biometric.Session{a, b} {
		_, err := db.SubmitCapture(ctx, s.ID, newCapture(), toProcessing)
		mustNil(t, err, "SubmitCapture")
		mustNil(t, db.SaveReferenceFace(ctx, s.ID, photo(t, 64, 64, false)), "SaveReferenceFace")
	}
	exec := func(query string, args ...any) {
		t.Helper()
		_, err := db.SQL().ExecContext(ctx, query, args...)
		mustNil(t, err, query)
	}
	read := func(query string, args ...any) (key, data []byte) {
		t.Helper()
		mustNil(t, db.SQL().QueryRowContext(ctx, query, args...).Scan(&key, &data), query)
		return key, data
	}

	// Swapping two frames of one session between their rows.
	k0, d0 := read("SELECT image_key, image FROM capture_frames WHERE session_id = "+p+" AND idx = 0", a.ID)
	k1, d1 := read("SELECT image_key, image FROM capture_frames WHERE session_id = "+p+" AND idx = 1", a.ID)
	exec("UPDATE capture_frames SET image_key = "+p+", image = "+p2+" WHERE session_id = '"+a.ID+"' AND idx = 0", k1, d1)
	exec("UPDATE capture_frames SET image_key = "+p+", image = "+p2+" WHERE session_id = '"+a.ID+"' AND idx = 1", k0, d0)
	if _, err := db.Capture(ctx, a.ID); !biometric.IsKind(err, biometric.KindInternal) || !errors.Is(err, seal.ErrOpen) {
		t.Errorf("Capture after swapping two frames: err = %v, want an internal error from seal.ErrOpen", err)
	}

	// Swapping the reference faces of two sessions.
	ka, da := read("SELECT image_key, image FROM reference_faces WHERE session_id = "+p, a.ID)
	kb, dbb := read("SELECT image_key, image FROM reference_faces WHERE session_id = "+p, b.ID)
	exec("UPDATE reference_faces SET image_key = "+p+", image = "+p2+" WHERE session_id = '"+a.ID+"'", kb, dbb)
	if _, err := db.ReferenceFace(ctx, a.ID); !errors.Is(err, seal.ErrOpen) {
		t.Errorf("ReferenceFace with another session's face: err = %v, want seal.ErrOpen", err)
	}

	// Tampering with one byte of a sealed image.
	tampered := bytes.Clone(da)
	tampered[len(tampered)/2] ^= 0x40
	exec("UPDATE reference_faces SET image_key = "+p+", image = "+p2+" WHERE session_id = '"+a.ID+"'", ka, tampered)
	if _, err := db.ReferenceFace(ctx, a.ID); !errors.Is(err, seal.ErrOpen) {
		t.Errorf("ReferenceFace of a tampered image: err = %v, want seal.ErrOpen", err)
	}
	// Restoring the original opens again: the failures were the changes.
	exec("UPDATE reference_faces SET image_key = "+p+", image = "+p2+" WHERE session_id = '"+a.ID+"'", ka, da)
	if _, err := db.ReferenceFace(ctx, a.ID); err != nil {
		t.Errorf("ReferenceFace after restoring: %v", err)
	}
	if _, err := db.Capture(ctx, b.ID); err != nil {
		t.Errorf("Capture of the untouched session: %v", err)
	}
}

func testRewrapWhileReading(t *testing.T, open OpenFunc) {
	old := seal.NewKeyring()
	sealer := newRingSealer(old)
	db := newStore(t, open, store.Options{Sealer: sealer})
	ctx := t.Context()
	tenant := uid("tenant_")
	var sessions []*biometric.Session
	for range 4 {
		s := mustCreate(t, db, newSession(tenant))
		_, err := db.SubmitCapture(ctx, s.ID, newCapture(), toProcessing)
		mustNil(t, err, "SubmitCapture")
		mustNil(t, db.SaveReferenceFace(ctx, s.ID, photo(t, 48, 48, false)), "SaveReferenceFace")
		sessions = append(sessions, s)
	}
	mustNil(t, db.SetWebhook(ctx, tenant, "https://hooks.example/x", []byte("secret")), "SetWebhook")

	rotated, err := old.WithPrimary(seal.NewKey())
	mustNil(t, err, "WithPrimary")
	sealer.ring.Store(rotated)

	// Readers keep reading while the keys are re-wrapped in small batches.
	stop := make(chan struct{})
	var reads atomic.Int64
	var wg sync.WaitGroup
	readErrs := make(chan error, 100)
	for r := range 3 {
		wg.Go(func() {
			for i := r; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				s := sessions[i%len(sessions)]
				if _, err := db.Capture(ctx, s.ID); err != nil {
					readErrs <- fmt.Errorf("Capture: %w", err)
					return
				}
				if _, err := db.ReferenceFace(ctx, s.ID); err != nil {
					readErrs <- fmt.Errorf("ReferenceFace: %w", err)
					return
				}
				reads.Add(1)
			}
		})
	}
	// The rotation starts once the readers are reading, so that they
	// overlap it however fast it is.
	for deadline := time.Now().Add(10 * time.Second); reads.Load() == 0 && len(readErrs) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no read completed within 10 s")
		}
		time.Sleep(time.Millisecond)
	}
	// The database may be shared with tests sealing under other keyrings:
	// their keys are left alone (the service's own rewrap refuses keys it
	// cannot open).
	ours := func(key []byte) ([]byte, error) {
		if id, err := seal.KeyID(key); err != nil || !slices.Contains(rotated.IDs(), id) {
			return nil, err
		}
		return rotated.Rewrap(key)
	}
	replaced, err := db.RewrapKeys(ctx, ours, 3)
	close(stop)
	wg.Wait()
	close(readErrs)
	for err := range readErrs {
		t.Errorf("reading during the rotation: %v", err)
	}
	mustNil(t, err, "RewrapKeys")
	// Other tests' rows may be re-wrapped too (the database may be
	// shared); at least this test's 4×4 frames, 4 faces and 1 secret.
	if replaced < 21 {
		t.Errorf("RewrapKeys replaced %d keys, want at least 21", replaced)
	}
	usage, err := db.MasterKeyUsage(ctx, seal.KeyID)
	mustNil(t, err, "MasterKeyUsage")
	if usage[old.PrimaryID()] != 0 || usage[rotated.PrimaryID()] < 21 {
		t.Errorf("after rotation: %v; want nothing under %s", usage, old.PrimaryID())
	}

	// With the old key retired everything still opens.
	retired, err := rotated.Retire(old.PrimaryID())
	mustNil(t, err, "Retire")
	sealer.ring.Store(retired)
	for _, s := range sessions {
		if _, err := db.Capture(ctx, s.ID); err != nil {
			t.Errorf("Capture after retiring the old key: %v", err)
		}
		if _, err := db.ReferenceFace(ctx, s.ID); err != nil {
			t.Errorf("ReferenceFace after retiring the old key: %v", err)
		}
	}
	if _, _, err := db.WebhookTarget(ctx, tenant); err != nil {
		t.Errorf("WebhookTarget after retiring the old key: %v", err)
	}
	if n, err := db.RewrapKeys(ctx, ours, 100); err != nil || n != 0 {
		t.Errorf("a second rotation pass replaced %d keys (%v), want 0", n, err)
	}
}

func testCompleteSessionFace(t *testing.T, open OpenFunc) {
	db := newStore(t, open, store.Options{})
	ctx := t.Context()
	face := photo(t, 64, 64, false)
	finish := func(s *biometric.Session, live bool) func(*biometric.Session) error {
		return func(x *biometric.Session) error {
			if x.Status != biometric.StatusProcessing {
				return errors.New("not processing")
			}
			r := result()
			r.IsLive = live
			x.Status, x.Result = biometric.StatusCompleted, r
			return nil
		}
	}
	live := newSession(uid("tenant_"))
	live.Status = biometric.StatusProcessing
	mustCreate(t, db, live)
	_, err := db.CompleteSession(ctx, live.ID, face, finish(live, true))
	mustNil(t, err, "CompleteSession")
	if got, err := db.ReferenceFace(ctx, live.ID); err != nil || !bytes.Equal(got, face) {
		t.Errorf("live session's face: %v", err)
	}
	// Not live: no face is kept.
	spoof := newSession(live.Tenant)
	spoof.Status = biometric.StatusProcessing
	mustCreate(t, db, spoof)
	_, err = db.CompleteSession(ctx, spoof.ID, face, finish(spoof, false))
	mustNil(t, err, "CompleteSession")
	_, err = db.ReferenceFace(ctx, spoof.ID)
	wantNotFound(t, err)
	// fn refusing (the session is no longer processing): nothing is kept.
	_, err = db.CompleteSession(ctx, spoof.ID, face, finish(spoof, true))
	if err == nil {
		t.Fatal("CompleteSession of a completed session succeeded")
	}
	_, err = db.ReferenceFace(ctx, spoof.ID)
	wantNotFound(t, err)
}

// completedWithFace returns a session of tenant that is completed, live,
// with a capture and a reference face.
func completedWithFace(t *testing.T, db *store.DB, tenant string) *biometric.Session {
	t.Helper()
	ctx := t.Context()
	s := mustCreate(t, db, newSession(tenant))
	_, err := db.SubmitCapture(ctx, s.ID, newCapture(), toProcessing)
	mustNil(t, err, "SubmitCapture")
	got, err := db.CompleteSession(ctx, s.ID, photo(t, 64, 64, false), func(x *biometric.Session) error {
		now := time.Now()
		x.Status, x.Result, x.CompletedAt = biometric.StatusCompleted, result(), &now
		return nil
	})
	mustNil(t, err, "CompleteSession")
	return got
}

func testDeleteBiometrics(t *testing.T, open OpenFunc) {
	clk := &clock{now: base}
	db := newStore(t, open, store.Options{Now: clk.Now})
	ctx := t.Context()
	s := completedWithFace(t, db, uid("tenant_"))
	other := completedWithFace(t, db, s.Tenant)

	_, err := db.DeleteBiometrics(ctx, uid("tenant_"), s.ID)
	wantNotFound(t, err)

	clk.Set(base.Add(time.Hour))
	got, err := db.DeleteBiometrics(ctx, s.Tenant, s.ID)
	mustNil(t, err, "DeleteBiometrics")
	if got.BiometricsDeletedAt == nil || !got.BiometricsDeletedAt.Equal(ms(clk.Now())) {
		t.Errorf("BiometricsDeletedAt = %v, want %v", got.BiometricsDeletedAt, ms(clk.Now()))
	}
	if got.Status != biometric.StatusCompleted || got.Result == nil || !got.Result.IsLive || got.Result.LivenessScore != result().LivenessScore {
		t.Errorf("the decision did not survive: %s %+v", got.Status, got.Result)
	}
	if got.Result.ReferenceFace != nil {
		t.Errorf("the face's landmarks survived: %+v", got.Result.ReferenceFace)
	}
	_, err = db.Capture(ctx, s.ID)
	wantNotFound(t, err)
	_, err = db.ReferenceFace(ctx, s.ID)
	wantNotFound(t, err)
	var frames int
	mustNil(t, db.SQL().QueryRowContext(ctx, "SELECT COUNT(*) FROM capture_frames WHERE session_id = "+param(db), s.ID).Scan(&frames), "count")
	if frames != 0 {
		t.Errorf("%d frames left", frames)
	}

	// Again: nothing changes, not even the time.
	clk.Set(base.Add(2 * time.Hour))
	again, err := db.DeleteBiometrics(ctx, s.Tenant, s.ID)
	mustNil(t, err, "DeleteBiometrics again")
	if !again.BiometricsDeletedAt.Equal(*got.BiometricsDeletedAt) || again.Status != got.Status {
		t.Errorf("a second deletion changed the session: %v %s", again.BiometricsDeletedAt, again.Status)
	}
	// The other session keeps everything.
	if _, err := db.ReferenceFace(ctx, other.ID); err != nil {
		t.Errorf("another session's face: %v", err)
	}
	if _, err := db.Capture(ctx, other.ID); err != nil {
		t.Errorf("another session's capture: %v", err)
	}
}

func testDeleteBiometricsOpenSession(t *testing.T, open OpenFunc) {
	db := newStore(t, open, store.Options{})
	ctx := t.Context()
	s := mustCreate(t, db, newSession(uid("tenant_")))
	c := newCapture()
	_, err := db.AppendFrames(ctx, s.ID, c.Frames, appendBatch(c.Frames))
	mustNil(t, err, "AppendFrames")
	got, err := db.DeleteBiometrics(ctx, s.Tenant, s.ID)
	mustNil(t, err, "DeleteBiometrics")
	if got.Status != biometric.StatusFailed || got.Failure == nil || got.Failure.Code != "biometrics_deleted" || got.CompletedAt == nil {
		t.Errorf("an open session after deletion: %s %+v", got.Status, got.Failure)
	}
	var frames int
	mustNil(t, db.SQL().QueryRowContext(ctx, "SELECT COUNT(*) FROM capture_frames WHERE session_id = "+param(db), s.ID).Scan(&frames), "count")
	if frames != 0 {
		t.Errorf("%d appended frames left", frames)
	}
}

// ancient is a time decades before every other test's sessions. The
// retention test purges everything before it and a day after, so it is the
// one test that creates sessions then (the database may be shared).
var ancient = time.Date(1985, 6, 1, 12, 0, 0, 0, time.UTC)

// testRetention checks the three purges in turn: biometrics after their
// retention, then decisions and audit records after theirs.
func testRetention(t *testing.T, open OpenFunc) {
	clk := &clock{now: ancient}
	db := newStore(t, open, store.Options{Now: clk.Now})
	ctx := t.Context()
	tenant := uid("tenant_")
	var old []*biometric.Session
	for i := range 3 {
		s := newSession(tenant)
		s.CreatedAt, s.UpdatedAt = ancient.Add(time.Duration(i)*time.Minute), ancient
		s.Status = biometric.StatusProcessing
		mustCreate(t, db, s)
		_, err := db.SubmitCapture(ctx, s.ID, newCapture(), allow)
		mustNil(t, err, "SubmitCapture")
		done, err := db.CompleteSession(ctx, s.ID, photo(t, 32, 32, false), func(x *biometric.Session) error {
			x.Status, x.Result = biometric.StatusCompleted, result()
			return nil
		})
		mustNil(t, err, "CompleteSession")
		old = append(old, done)
	}
	recent := newSession(tenant)
	recent.CreatedAt = ancient.Add(48 * time.Hour)
	mustCreate(t, db, recent)
	_, err := db.SubmitCapture(ctx, recent.ID, newCapture(), toProcessing)
	mustNil(t, err, "SubmitCapture")

	// Biometrics older than a day go, two sessions per call.
	clk.Set(ancient.Add(50 * time.Hour))
	cutoff := ancient.Add(24 * time.Hour)
	n, err := db.PurgeBiometrics(ctx, cutoff, 2)
	mustNil(t, err, "PurgeBiometrics")
	if n != 2 {
		t.Fatalf("PurgeBiometrics(limit 2) purged %d", n)
	}
	if n, err = db.PurgeBiometrics(ctx, cutoff, 2); err != nil || n != 1 {
		t.Fatalf("the second PurgeBiometrics purged %d (%v), want the last 1", n, err)
	}
	for _, s := range old {
		got, err := db.Session(ctx, tenant, s.ID)
		mustNil(t, err, "Session")
		if got.BiometricsDeletedAt == nil || got.Status != biometric.StatusCompleted || got.Result == nil || got.Result.ReferenceFace != nil {
			t.Errorf("purged session: deleted %v, status %s, result %+v", got.BiometricsDeletedAt, got.Status, got.Result)
		}
		_, err = db.Capture(ctx, s.ID)
		wantNotFound(t, err)
		_, err = db.ReferenceFace(ctx, s.ID)
		wantNotFound(t, err)
	}
	if _, err := db.Capture(ctx, recent.ID); err != nil {
		t.Errorf("a recent session's capture was purged: %v", err)
	}
	var purged []string
	mustNil(t, db.AuditEvents(ctx, store.AuditFilter{Tenant: tenant}, func(ev *audit.Event) error {
		if ev.Action == audit.ActionPurged && ev.Actor == audit.ActorSystem && ev.KeyID != "" {
			purged = append(purged, ev.SessionID)
		}
		return nil
	}), "AuditEvents")
	slices.Sort(purged)
	var want []string
	for _, s := range old {
		want = append(want, s.ID)
	}
	slices.Sort(want)
	if !slices.Equal(purged, want) {
		t.Errorf("biometrics.purged records for %v, want %v", purged, want)
	}

	// Decisions older than their retention go once their biometrics are
	// gone; a session still holding biometrics stays.
	kept := newSession(tenant)
	kept.CreatedAt = ancient.Add(-time.Hour)
	mustCreate(t, db, kept)
	clk.Set(ancient.Add(100 * 24 * time.Hour))
	n64, err := db.PurgeSessions(ctx, ancient.Add(10*time.Minute), 1000)
	mustNil(t, err, "PurgeSessions")
	if n64 != 3 {
		t.Errorf("PurgeSessions deleted %d sessions, want 3", n64)
	}
	for _, s := range old {
		_, err = db.Session(ctx, tenant, s.ID)
		wantNotFound(t, err)
	}
	for _, s := range []*biometric.Session{kept, recent} {
		if _, err := db.Session(ctx, tenant, s.ID); err != nil {
			t.Errorf("session %s was deleted: %v", s.ID, err)
		}
	}

	// Audit records older than their retention go.
	mustNil(t, db.AppendAudit(ctx, &audit.Event{At: ancient.Add(-time.Hour), Tenant: tenant, Actor: audit.ActorSystem, Action: "test.old"}), "AppendAudit")
	mustNil(t, db.AppendAudit(ctx, &audit.Event{At: ancient.Add(72 * time.Hour), Tenant: tenant, Actor: audit.ActorSystem, Action: "test.new"}), "AppendAudit")
	_, err = db.PurgeAudit(ctx, ancient.Add(60*time.Hour), 1000)
	mustNil(t, err, "PurgeAudit")
	var actions []string
	mustNil(t, db.AuditEvents(ctx, store.AuditFilter{Tenant: tenant}, func(ev *audit.Event) error {
		actions = append(actions, ev.Action)
		return nil
	}), "AuditEvents")
	if !slices.Equal(actions, []string{"test.new"}) {
		t.Errorf("audit actions after the purge: %v; want only test.new", actions)
	}
}

func testAuditInTransaction(t *testing.T, open OpenFunc) {
	clk := &clock{now: base}
	db := newStore(t, open, store.Options{Now: clk.Now})
	tenant := uid("tenant_")
	ev := audit.Event{Tenant: tenant, KeyID: "key_x", Actor: audit.ActorAPIKey, Action: audit.ActionStart, RequestID: uid("req_")}

	s := mustCreate(t, db, newSession(tenant))
	// A write that fails records nothing and leaves the event unclaimed.
	ctx, pending := audit.WithPending(t.Context(), ev, true)
	_, err := db.UpdateSession(ctx, s.ID, func(*biometric.Session) error { return errors.New("refused") })
	if err == nil {
		t.Fatal("UpdateSession succeeded")
	}
	if _, ok := pending.Claim(); !ok {
		t.Error("a rolled-back write claimed the event")
	}
	// A write that commits records the event with it, once.
	ctx, pending = audit.WithPending(t.Context(), ev, true)
	clk.Set(base.Add(time.Minute))
	_, err = db.UpdateSession(ctx, s.ID, func(x *biometric.Session) error { x.Status = biometric.StatusInProgress; return nil })
	mustNil(t, err, "UpdateSession")
	_, err = db.UpdateSession(ctx, s.ID, func(*biometric.Session) error { return nil })
	mustNil(t, err, "UpdateSession")
	if _, ok := pending.Claim(); ok {
		t.Error("the committed write did not claim the event")
	}
	// A non-transactional event is left to its owner.
	ctx, pending = audit.WithPending(t.Context(), ev, false)
	_, err = db.UpdateSession(ctx, s.ID, func(*biometric.Session) error { return nil })
	mustNil(t, err, "UpdateSession")
	if _, ok := pending.Claim(); !ok {
		t.Error("a write claimed a non-transactional event")
	}
	var got []*audit.Event
	mustNil(t, db.AuditEvents(t.Context(), store.AuditFilter{Tenant: tenant}, func(e *audit.Event) error {
		got = append(got, e)
		return nil
	}), "AuditEvents")
	if len(got) != 1 {
		t.Fatalf("%d audit records, want 1: %+v", len(got), got)
	}
	// The event named no session: the store records the one it wrote.
	want := ev
	want.ID, want.At, want.Outcome, want.SessionID = got[0].ID, ms(base.Add(time.Minute)).UTC(), audit.OutcomeOK, s.ID
	if *got[0] != want {
		t.Errorf("audit record %+v, want %+v", *got[0], want)
	}
}

func testAuditEvents(t *testing.T, open OpenFunc) {
	db := newStore(t, open, store.Options{})
	ctx := t.Context()
	tenant, other := uid("tenant_"), uid("tenant_")
	base := ms(base)
	// More than a page, so that paging is exercised.
	const n = 1200
	tx, err := db.SQL().BeginTx(ctx, nil)
	mustNil(t, err, "begin")
	for i := range n {
		at := base.Add(time.Duration(i) * time.Second)
		who := tenant
		if i%100 == 0 {
			who = other
		}
		q := "INSERT INTO audit_log (at, tenant, key_id, actor, action, route, session_id, request_id, outcome, decision) VALUES (" +
			fmt.Sprintf("%d, '%s', 'key_a', 'api_key', 'liveness.results', '', 's%d', '', 'ok', '')", at.UnixMilli(), who, i)
		_, err := tx.ExecContext(ctx, q)
		mustNil(t, err, "insert audit")
	}
	mustNil(t, tx.Commit(), "commit")

	var ids []int64
	var last string
	mustNil(t, db.AuditEvents(ctx, store.AuditFilter{Tenant: tenant, Since: base.Add(10 * time.Second), Until: base.Add(1110 * time.Second)},
		func(ev *audit.Event) error {
			ids = append(ids, ev.ID)
			last = ev.SessionID
			if ev.Tenant != tenant || ev.At.Before(base.Add(10*time.Second)) || !ev.At.Before(base.Add(1110*time.Second)) {
				t.Errorf("record outside the filter: %+v", ev)
			}
			return nil
		}), "AuditEvents")
	// Seconds 10..1109 are 1100 records, 11 of which (100, 200, … 1100) are the other tenant's.
	if len(ids) != 1089 || last != "s1109" {
		t.Errorf("%d records ending with %s, want 1089 ending with s1109", len(ids), last)
	}
	if !slices.IsSorted(ids) {
		t.Error("records are not in insertion order")
	}
	errStop := errors.New("stop")
	calls := 0
	err = db.AuditEvents(ctx, store.AuditFilter{Tenant: tenant}, func(*audit.Event) error { calls++; return errStop })
	if !errors.Is(err, errStop) || calls != 1 {
		t.Errorf("fn's error: %v after %d calls", err, calls)
	}
}

func testAuditAppendOnly(t *testing.T, open OpenFunc) {
	db := newStore(t, open, store.Options{})
	tenant := uid("tenant_")
	mustNil(t, db.AppendAudit(t.Context(), &audit.Event{Tenant: tenant, Actor: audit.ActorSystem, Action: "test"}), "AppendAudit")
	_, err := db.SQL().ExecContext(t.Context(), "UPDATE audit_log SET outcome = 'forged' WHERE tenant = "+param(db), tenant)
	if err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Errorf("UPDATE of audit_log: %v, want it refused as append-only", err)
	}
}

func testTakeToken(t *testing.T, open OpenFunc) {
	db := newStore(t, open, store.Options{})
	ctx := t.Context()
	bucket := uid("key_")
	now := base
	take := func() time.Duration {
		t.Helper()
		wait, err := db.TakeToken(ctx, bucket, 2, 3, now)
		mustNil(t, err, "TakeToken")
		return wait
	}
	for i := range 3 {
		if w := take(); w != 0 {
			t.Fatalf("request %d within the burst of 3 waits %v", i, w)
		}
	}
	if w := take(); w != 500*time.Millisecond {
		t.Errorf("the 4th request at once waits %v, want 500ms (one token at 2/s)", w)
	}
	now = now.Add(499 * time.Millisecond)
	if w := take(); w != time.Millisecond {
		t.Errorf("1 ms before the next token: wait %v, want 1ms", w)
	}
	now = now.Add(time.Millisecond)
	if w := take(); w != 0 {
		t.Errorf("when the next token is due: wait %v", w)
	}
	// A long pause refills the bucket to its burst, no more.
	now = now.Add(time.Hour)
	for i := range 3 {
		if w := take(); w != 0 {
			t.Fatalf("after a pause, request %d waits %v", i, w)
		}
	}
	if w := take(); w == 0 {
		t.Error("the bucket held more than its burst after a pause")
	}
	// Buckets are separate; a zero rate means no limit.
	if w, err := db.TakeToken(ctx, uid("key_"), 2, 3, now); err != nil || w != 0 {
		t.Errorf("another bucket: %v, %v", w, err)
	}
	if w, err := db.TakeToken(ctx, bucket, 0, 0, now); err != nil || w != 0 {
		t.Errorf("no limit: %v, %v", w, err)
	}
	// Purging drops full buckets only.
	_, err := db.PurgeRateLimits(ctx, now.Add(-time.Hour))
	mustNil(t, err, "PurgeRateLimits")
	if w := take(); w == 0 {
		t.Error("PurgeRateLimits dropped a bucket that was not full")
	}
	idle := uid("key_")
	_, err = db.TakeToken(ctx, idle, 2, 3, ancient)
	mustNil(t, err, "TakeToken")
	_, err = db.PurgeRateLimits(ctx, ancient.Add(time.Second))
	mustNil(t, err, "PurgeRateLimits")
	var rows int
	mustNil(t, db.SQL().QueryRowContext(ctx, "SELECT COUNT(*) FROM rate_limits WHERE bucket = "+param(db), idle).Scan(&rows), "count")
	if rows != 0 {
		t.Error("PurgeRateLimits kept a bucket that was full again")
	}
}

func testTakeTokenConcurrent(t *testing.T, open OpenFunc) {
	db := newStore(t, open, store.Options{})
	bucket := uid("key_")
	const n, burst = 16, 5
	var allowed atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			wait, err := db.TakeToken(context.WithoutCancel(t.Context()), bucket, 1, burst, base)
			if err != nil {
				errs <- err
				return
			}
			if wait == 0 {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("TakeToken: %v", err)
	}
	if allowed.Load() != burst {
		t.Errorf("%d of %d concurrent requests were allowed, want exactly the burst of %d", allowed.Load(), n, burst)
	}
}

func testDeviceFailures(t *testing.T, open OpenFunc) {
	db := newStore(t, open, store.Options{})
	ctx := t.Context()
	tenant, device := uid("tenant_"), uid("device_")
	decide := func(dev string, live bool, at time.Time) {
		t.Helper()
		s := newSession(tenant)
		s.DeviceID = dev
		mustCreate(t, db, s)
		_, err := db.UpdateSession(ctx, s.ID, func(x *biometric.Session) error {
			r := result()
			r.IsLive = live
			x.Status, x.Result, x.CompletedAt = biometric.StatusCompleted, r, &at
			return nil
		})
		mustNil(t, err, "UpdateSession")
	}
	check := func(wantStreak int, wantLast time.Time) {
		t.Helper()
		streak, last, err := db.DeviceFailures(ctx, tenant, device, 5)
		mustNil(t, err, "DeviceFailures")
		if streak != wantStreak || !last.Equal(ms(wantLast)) {
			t.Errorf("DeviceFailures = %d, %v; want %d, %v", streak, last, wantStreak, ms(wantLast))
		}
	}
	check(0, time.Time{})
	decide(device, false, base)
	decide(device, true, base.Add(time.Minute))
	check(0, time.Time{})
	for i := range 3 {
		decide(device, false, base.Add(time.Duration(2+i)*time.Minute))
	}
	decide(uid("device_"), false, base.Add(10*time.Minute)) // another device
	// Failed without a decision, and undecided sessions, do not count.
	s := newSession(tenant)
	s.DeviceID = device
	mustCreate(t, db, s)
	check(3, base.Add(4*time.Minute))
	for i := range 4 {
		decide(device, false, base.Add(time.Duration(5+i)*time.Minute))
	}
	check(5, base.Add(8*time.Minute)) // capped at max
	if streak, _, err := db.DeviceFailures(ctx, uid("tenant_"), device, 5); err != nil || streak != 0 {
		t.Errorf("another tenant's device with the same id: %d, %v", streak, err)
	}
}

func testWebhooks(t *testing.T, open OpenFunc) {
	db := newStore(t, open, store.Options{})
	ctx := t.Context()
	tenant := uid("tenant_")
	_, _, err := db.WebhookTarget(ctx, tenant)
	wantNotFound(t, err)
	mustNil(t, db.SetWebhook(ctx, tenant, "https://a.example/hook", []byte("first")), "SetWebhook")
	mustNil(t, db.SetWebhook(ctx, tenant, "https://b.example/hook", []byte("second")), "SetWebhook again")
	url, secret, err := db.WebhookTarget(ctx, tenant)
	mustNil(t, err, "WebhookTarget")
	if url != "https://b.example/hook" || string(secret) != "second" {
		t.Errorf("WebhookTarget = %s, %q", url, secret)
	}
	list, err := db.Webhooks(ctx)
	mustNil(t, err, "Webhooks")
	if !slices.ContainsFunc(list, func(w store.WebhookInfo) bool { return w.Tenant == tenant && w.URL == url }) {
		t.Errorf("Webhooks does not list %s", tenant)
	}
	var raw []byte
	mustNil(t, db.SQL().QueryRowContext(ctx, "SELECT secret FROM tenant_webhooks WHERE tenant = "+param(db), tenant).Scan(&raw), "select")
	if bytes.Contains(raw, []byte("second")) {
		t.Error("the webhook secret is stored in the clear")
	}
	mustNil(t, db.RemoveWebhook(ctx, tenant), "RemoveWebhook")
	wantNotFound(t, db.RemoveWebhook(ctx, tenant))
	_, _, err = db.WebhookTarget(ctx, tenant)
	wantNotFound(t, err)
}

func testWebhookHook(t *testing.T, open OpenFunc) {
	var (
		mu     sync.Mutex
		hooked []string
		fail   error
	)
	var db *store.DB
	db = newStore(t, open, store.Options{WebhookHook: func(ctx context.Context, tx *sql.Tx, s *biometric.Session) error {
		mu.Lock()
		defer mu.Unlock()
		// The hook sees the session as it will be saved, in the transaction.
		var status string
		if err := tx.QueryRowContext(ctx, "SELECT status FROM sessions WHERE id = "+param(db), s.ID).Scan(&status); err != nil {
			return err
		}
		hooked = append(hooked, s.ID+":"+string(s.Status)+":"+status)
		return fail
	}})
	ctx := t.Context()
	with, without := uid("tenant_"), uid("tenant_")
	mustNil(t, db.SetWebhook(ctx, with, "https://hooks.example/x", []byte("s")), "SetWebhook")
	complete := func(x *biometric.Session) error {
		x.Status, x.Result = biometric.StatusCompleted, result()
		return nil
	}
	a := mustCreate(t, db, newSession(with))
	b := mustCreate(t, db, newSession(without))
	_, err := db.UpdateSession(ctx, a.ID, func(x *biometric.Session) error { x.Status = biometric.StatusProcessing; return nil })
	mustNil(t, err, "UpdateSession")
	_, err = db.UpdateSession(ctx, a.ID, complete)
	mustNil(t, err, "UpdateSession")
	_, err = db.UpdateSession(ctx, a.ID, complete) // completed again: no transition
	mustNil(t, err, "UpdateSession")
	_, err = db.UpdateSession(ctx, b.ID, complete)
	mustNil(t, err, "UpdateSession")
	want := []string{a.ID + ":completed:completed"}
	if !slices.Equal(hooked, want) {
		t.Errorf("hook calls %v, want %v", hooked, want)
	}

	// A failing hook rolls the completion back.
	c := mustCreate(t, db, newSession(with))
	fail = errors.New("queue down")
	_, err = db.UpdateSession(ctx, c.ID, func(x *biometric.Session) error {
		x.Status, x.Failure = biometric.StatusFailed, &biometric.Failure{Code: "x"}
		return nil
	})
	if !errors.Is(err, fail) {
		t.Fatalf("UpdateSession with a failing hook: %v", err)
	}
	got, err := db.Session(ctx, with, c.ID)
	mustNil(t, err, "Session")
	if got.Status != biometric.StatusCreated {
		t.Errorf("the failed hook left the session %s", got.Status)
	}
}
