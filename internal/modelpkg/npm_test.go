package modelpkg

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeTarball(t *testing.T, files map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: "package/" + name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	gz.Close()
	p := filepath.Join(t.TempDir(), "pkg-1.0.0.tgz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVerifyIntegrity(t *testing.T) {
	p := writeTarball(t, map[string]string{"a.txt": "hello"})
	data, _ := os.ReadFile(p)
	sum := sha512.Sum512(data)
	good := "sha512-" + base64.StdEncoding.EncodeToString(sum[:])
	if err := VerifyIntegrity(p, good); err != nil {
		t.Fatalf("matching checksum: %v", err)
	}
	sum[0] ^= 1
	bad := "sha512-" + base64.StdEncoding.EncodeToString(sum[:])
	err := VerifyIntegrity(p, bad)
	if !errors.Is(err, ErrIntegrity) || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), good) {
		t.Fatalf("mismatch: err = %v, want ErrIntegrity naming both checksums", err)
	}
	if err := VerifyIntegrity(p, "sha1-abc"); err == nil {
		t.Fatal("sha1 integrity accepted")
	}
}

func TestExtractOnlyNamedFiles(t *testing.T) {
	p := writeTarball(t, map[string]string{"models/a.json": "A", "models/a.bin": "B", "models/other.bin": "C"})
	dest := t.TempDir()
	if err := Extract(p, []string{"models/a.json", "models/a.bin"}, dest); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"models/a.json": "A", "models/a.bin": "B"} {
		got, err := os.ReadFile(filepath.Join(dest, name))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dest, "models/other.bin")); !os.IsNotExist(err) {
		t.Errorf("unrequested file extracted (stat err %v)", err)
	}
	err := Extract(p, []string{"models/missing.bin"}, dest)
	if err == nil || !strings.Contains(err.Error(), "models/missing.bin") {
		t.Errorf("missing file: err = %v, want one naming it", err)
	}
}
