package seal

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	r := NewKeyring()
	plaintext := append([]byte("\xff\xd8\xff\xdb"), random(20000)...)
	aad := []byte("frame|liveness_session_x|3")
	key, data, err := r.Seal(plaintext, aad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, plaintext[:16]) || bytes.Contains(key, plaintext[:16]) {
		t.Fatal("the sealed parts contain the plaintext")
	}
	if id, err := KeyID(key); err != nil || id != r.PrimaryID() {
		t.Errorf("KeyID = %q, %v; want the primary %s", id, err, r.PrimaryID())
	}
	got, err := r.Open(key, data, aad)
	if err != nil || !bytes.Equal(got, plaintext) {
		t.Fatalf("Open = %d bytes, %v; want the %d plaintext bytes", len(got), err, len(plaintext))
	}
	// Sealing the same plaintext twice gives unrelated envelopes.
	key2, data2, _ := r.Seal(plaintext, aad)
	if bytes.Equal(key, key2) || bytes.Equal(data, data2) {
		t.Error("two seals of the same plaintext are equal")
	}
	// The empty plaintext seals too.
	k, d, err := r.Seal(nil, aad)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := r.Open(k, d, aad); err != nil || len(got) != 0 {
		t.Errorf("empty plaintext: %q, %v", got, err)
	}
}

func TestOpenRefusesTampering(t *testing.T) {
	t.Parallel()
	r := NewKeyring()
	aad := []byte("reference_face|s1")
	key, data, err := r.Seal(random(1000), aad)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, otherData, err := r.Seal(random(1000), []byte("reference_face|s2"))
	if err != nil {
		t.Fatal(err)
	}
	flip := func(b []byte, i int) []byte {
		c := bytes.Clone(b)
		c[i] ^= 1
		return c
	}
	for name, tc := range map[string]struct{ key, data, aad []byte }{
		"data bit flipped":        {key, flip(data, len(data)/2), aad},
		"tag bit flipped":         {key, flip(data, len(data)-1), aad},
		"nonce bit flipped":       {key, flip(data, 3), aad},
		"wrapped key bit flipped": {flip(key, len(key)-5), data, aad},
		"key id changed":          {flip(key, 4), data, aad},
		"another object's aad":    {key, data, []byte("reference_face|s2")},
		"another object's key":    {otherKey, data, aad},
		"both parts swapped in":   {otherKey, otherData, aad},
		"truncated data":          {key, data[:10], aad},
		"empty key":               {nil, data, aad},
		"version changed":         {key, flip(data, 0), aad},
	} {
		if _, err := r.Open(tc.key, tc.data, tc.aad); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: Open err = %v, want ErrOpen", name, err)
		}
	}
	// A keyring without the master key cannot open it.
	if _, err := NewKeyring().Open(key, data, aad); !errors.Is(err, ErrOpen) || !strings.Contains(err.Error(), r.PrimaryID()) {
		t.Errorf("foreign keyring: err = %v, want ErrOpen naming %s", err, r.PrimaryID())
	}
}

func TestRewrap(t *testing.T) {
	t.Parallel()
	old := NewKeyring()
	aad := []byte("frame|s|0")
	plaintext := random(5000)
	key, data, err := old.Seal(plaintext, aad)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := old.WithPrimary(NewKey())
	if err != nil {
		t.Fatal(err)
	}
	if rotated.PrimaryID() == old.PrimaryID() || len(rotated.IDs()) != 2 || rotated.IDs()[1] != old.PrimaryID() {
		t.Fatalf("rotated keyring ids %v, old primary %s", rotated.IDs(), old.PrimaryID())
	}
	// Before the rewrap the rotated keyring opens the old envelope.
	if got, err := rotated.Open(key, data, aad); err != nil || !bytes.Equal(got, plaintext) {
		t.Fatalf("rotated keyring, old envelope: %v", err)
	}
	newKey, err := rotated.Rewrap(key)
	if err != nil || newKey == nil {
		t.Fatalf("Rewrap = %v, %v", newKey, err)
	}
	if id, _ := KeyID(newKey); id != rotated.PrimaryID() {
		t.Errorf("re-wrapped under %s, want %s", id, rotated.PrimaryID())
	}
	if again, err := rotated.Rewrap(newKey); err != nil || again != nil {
		t.Errorf("re-wrapping a key under the primary = %v, %v; want nil, nil", again, err)
	}
	retired, err := rotated.Retire(old.PrimaryID())
	if err != nil {
		t.Fatal(err)
	}
	// The data part is unchanged and opens with the new wrapped key alone.
	if got, err := retired.Open(newKey, data, aad); err != nil || !bytes.Equal(got, plaintext) {
		t.Errorf("after rewrap and retirement: %v", err)
	}
	if _, err := retired.Open(key, data, aad); !errors.Is(err, ErrOpen) {
		t.Errorf("the old wrapped key still opens after its master key was retired: %v", err)
	}
	if _, err := retired.Retire(retired.PrimaryID()); err == nil {
		t.Error("retiring the primary succeeded")
	}
	if _, err := rotated.WithPrimary(strings.Fields(rotated.Format())[len(strings.Fields(rotated.Format()))-1]); err == nil {
		t.Error("adding a key that is in the keyring already succeeded")
	}
}

func TestParseKeyring(t *testing.T) {
	t.Parallel()
	a, b := NewKey(), NewKey()
	ra, _ := ParseKeyring(a)
	rb, _ := ParseKeyring(b)
	for name, text := range map[string]string{
		"comma":         a + "," + b,
		"lines":         "# comment\n" + a + "\n\n" + b + "  # old\n",
		"with ids":      ra.PrimaryID() + " " + a + "\n" + rb.PrimaryID() + " " + b + "\n",
		"crlf and tabs": a + "\r\n\t" + b,
	} {
		r, err := ParseKeyring(text)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if ids := r.IDs(); len(ids) != 2 || ids[0] != ra.PrimaryID() || ids[1] != rb.PrimaryID() {
			t.Errorf("%s: ids %v, want [%s %s]", name, ids, ra.PrimaryID(), rb.PrimaryID())
		}
	}
	for name, text := range map[string]string{
		"empty":       "# nothing\n",
		"short key":   "AAAA",
		"not base64":  strings.Repeat("!", 44),
		"wrong id":    rb.PrimaryID() + " " + a,
		"dangling id": a + "\n" + rb.PrimaryID(),
		"twice":       a + "," + a,
	} {
		if _, err := ParseKeyring(text); err == nil {
			t.Errorf("%s: ParseKeyring(%q) succeeded", name, text)
		} else if strings.Contains(err.Error(), a) || strings.Contains(err.Error(), b) {
			t.Errorf("%s: the error shows a key: %v", name, err)
		}
	}
	// Format round-trips.
	r, _ := ParseKeyring(a + "," + b)
	back, err := ParseKeyring(r.Format())
	if err != nil || strings.Join(back.IDs(), ",") != strings.Join(r.IDs(), ",") {
		t.Errorf("Format round trip: %v, %v", back, err)
	}
}

func TestKeyringFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "master.key")
	first, err := CreateFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keyring file mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	if _, err := CreateFile(path); err == nil {
		t.Error("CreateFile over an existing file succeeded")
	}
	s, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	aad := []byte("x")
	key, data, err := s.Seal([]byte("hello"), aad)
	if err != nil {
		t.Fatal(err)
	}

	// Another process rotates the file: Open of an envelope sealed under
	// the new key reloads at once, and sealing picks up the new primary.
	rotated, err := first.WithPrimary(NewKey())
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, rotated); err != nil {
		t.Fatal(err)
	}
	other := NewSealer(rotated)
	k2, d2, err := other.Seal([]byte("world"), aad)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Open(k2, d2, aad); err != nil || string(got) != "world" {
		t.Fatalf("Open of an envelope under the rotated-in key: %q, %v", got, err)
	}
	if got, err := s.Open(key, data, aad); err != nil || string(got) != "hello" {
		t.Fatalf("Open of the old envelope: %q, %v", got, err)
	}
	k3, _, err := s.Seal([]byte("again"), aad)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := KeyID(k3); id != rotated.PrimaryID() {
		t.Errorf("sealed under %s after the file changed, want the new primary %s", id, rotated.PrimaryID())
	}

	// A world-readable keyring file is refused.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFile(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("OpenFile of a 0644 keyring: %v", err)
	}
}

func TestSealerReloadsAfterInterval(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "master.key")
	first, err := CreateFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rotated, _ := first.WithPrimary(NewKey())
	if err := WriteFile(path, rotated); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * reloadEvery)
	for {
		r, err := s.Keyring()
		if err != nil {
			t.Fatal(err)
		}
		if r.PrimaryID() == rotated.PrimaryID() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Sealer still seals under %s %v after the file changed", r.PrimaryID(), 3*reloadEvery)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// BenchmarkSealFrame seals and opens a camera-sized frame (30 KiB, about a
// 640x480 JPEG), as every stored frame is.
func BenchmarkSealFrame(b *testing.B) {
	r := NewKeyring()
	frame := random(30 << 10)
	aad := []byte("capture_frame\x00liveness_session_x\x0017")
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		key, data, err := r.Seal(frame, aad)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.Open(key, data, aad); err != nil {
			b.Fatal(err)
		}
	}
}
