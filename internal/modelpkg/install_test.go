package modelpkg

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// installedDir returns the installed models directory (`make test` installs
// it first); it is required under CI=true.
func installedDir(t *testing.T) string {
	t.Helper()
	dir := DefaultDir()
	if _, err := ReadManifest(dir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return dir
}

// TestInstallIsIdempotent installs into the already-installed directory
// offline: nothing may be fetched or converted, and the set verifies.
func TestInstallIsIdempotent(t *testing.T) {
	dir := installedDir(t)
	var progress strings.Builder
	res, err := Install(context.Background(), dir, InstallOptions{Offline: true, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Fetched) > 0 || len(res.Converted) > 0 {
		t.Errorf("second install fetched %v and converted %v; want no work", res.Fetched, res.Converted)
	}
	if len(res.Kept) != len(Models) {
		t.Errorf("kept %d models, want %d", len(res.Kept), len(Models))
	}
	if !strings.Contains(progress.String(), "up to date") {
		t.Errorf("progress = %q, want an up-to-date message", progress.String())
	}
	if _, errs := Verify(dir); len(errs) > 0 {
		t.Errorf("verify: %v", errs)
	}
	m, _ := ReadManifest(dir)
	for _, e := range m.Models {
		if len(e.Inputs) == 0 || len(e.Outputs) == 0 || len(e.Sources) < 2 || len(e.SHA256) != 64 {
			t.Errorf("manifest entry %s incomplete: %+v", e.Name, e)
		}
	}
}

// TestVerifyDetectsChanges links an installed set into a fresh directory,
// replaces one model file with an altered copy and deletes a source file:
// Verify must report exactly those.
func TestVerifyDetectsChanges(t *testing.T) {
	dir := installedDir(t)
	m, err := ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	link := func(rel string) {
		dst := filepath.Join(tmp, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(dir, filepath.FromSlash(rel)), dst); err != nil {
			t.Fatal(err)
		}
	}
	link(ManifestName)
	link(m.Runtime.File)
	for _, e := range m.Models {
		link(e.File)
		for _, s := range e.Sources {
			link(s.Path)
		}
	}
	if _, errs := Verify(tmp); len(errs) > 0 {
		t.Fatalf("untouched copy: %v", errs)
	}
	victim := m.Models[len(m.Models)-1]
	data, err := os.ReadFile(filepath.Join(dir, victim.File))
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	os.Remove(filepath.Join(tmp, victim.File))
	if err := os.WriteFile(filepath.Join(tmp, victim.File), data, 0o644); err != nil {
		t.Fatal(err)
	}
	gone := m.Models[0].Sources[1].Path
	os.Remove(filepath.Join(tmp, filepath.FromSlash(gone)))
	_, errs := Verify(tmp)
	got := fmt.Sprint(errs)
	if len(errs) != 2 || !strings.Contains(got, victim.File) || !strings.Contains(got, filepath.Base(gone)) {
		t.Errorf("errors = %v, want two naming %s and %s", errs, victim.File, gone)
	}
}

// TestPackRejectsWrongChecksum fetches a real package (from the npm cache
// that the install filled) against a wrong pinned sha512: the error must
// say checksum mismatch.
func TestPackRejectsWrongChecksum(t *testing.T) {
	installedDir(t)
	p := FaceAPI
	p.Integrity = "sha512-" + strings.Repeat("A", 86) + "=="
	_, err := Pack(context.Background(), p, t.TempDir(), true)
	if !errors.Is(err, ErrIntegrity) || !strings.Contains(err.Error(), p.Integrity) {
		t.Fatalf("err = %v, want a checksum mismatch naming the pinned value", err)
	}
}
