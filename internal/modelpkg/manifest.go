package modelpkg

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// ManifestName is the manifest's file name in the models directory.
const ManifestName = "manifest.json"

// manifestFormat is the version of the manifest's layout.
const manifestFormat = 1

// Manifest records what `everify models install` put in a models directory
// and where it came from, with the checksums `everify models verify`
// re-checks. Paths are relative to the models directory, with slashes.
type Manifest struct {
	Format int `json:"format"`
	// Converter is the converter version that wrote the models.
	Converter string       `json:"converter"`
	Runtime   RuntimeEntry `json:"runtime"`
	Models    []ModelEntry `json:"models"`
}

// RuntimeEntry is the installed ONNX Runtime library.
type RuntimeEntry struct {
	File      string `json:"file"`
	Package   string `json:"package"`
	Integrity string `json:"integrity"`
	Source    string `json:"source"` // path inside the package
	SHA256    string `json:"sha256"`
}

// FileSum is a file and its checksum.
type FileSum struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// TensorEntry is a model input or output: its name and shape (-1 for a
// dimension fixed only at run time, such as the batch size).
type TensorEntry struct {
	Name  string  `json:"name"`
	Shape []int64 `json:"shape"`
}

// ModelEntry is one installed model.
type ModelEntry struct {
	Name      string `json:"name"`
	File      string `json:"file"`
	SHA256    string `json:"sha256"`
	Package   string `json:"package"`
	Integrity string `json:"integrity"`
	// Source is the main source file inside the package; Sources are all
	// source files as extracted into the models directory.
	Source     string        `json:"source"`
	Sources    []FileSum     `json:"sources"`
	Inputs     []TensorEntry `json:"inputs"`
	Outputs    []TensorEntry `json:"outputs"`
	InputRange [2]float32    `json:"input_range"`
	Use        string        `json:"use"`
}

// Model returns the named entry.
func (m *Manifest) Model(name string) (ModelEntry, bool) {
	for _, e := range m.Models {
		if e.Name == name {
			return e, true
		}
	}
	return ModelEntry{}, false
}

// ReadManifest reads dir's manifest. A missing manifest gives an error
// that wraps os.ErrNotExist and says how to install.
func ReadManifest(dir string) (*Manifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no models installed in %s (run 'everify models install'): %w", dir, err)
	}
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ManifestName), err)
	}
	if m.Format != manifestFormat {
		return nil, fmt.Errorf("%s: format %d, this everify reads %d (run 'everify models install')", filepath.Join(dir, ManifestName), m.Format, manifestFormat)
	}
	return &m, nil
}

// writeManifest writes m unless the file already says exactly that.
func writeManifest(dir string, m *Manifest) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	path := filepath.Join(dir, ManifestName)
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	return writeFileAtomic(path, bytes.NewReader(data), 0o644)
}

// fileSHA256 returns the hex sha256 of a file.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// checkFile reports whether dir/rel exists with the given sha256.
func checkFile(dir, rel, sum string) error {
	got, err := fileSHA256(filepath.Join(dir, filepath.FromSlash(rel)))
	if err != nil {
		return err
	}
	if got != sum {
		return fmt.Errorf("%s: sha256 %s, manifest says %s", rel, got, sum)
	}
	return nil
}

// Verify re-checks an installed set: the manifest lists every model of
// Models, and every file it names (models, sources, runtime library) is
// present with its recorded sha256. It returns one error per problem.
func Verify(dir string) (*Manifest, []error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, []error{err}
	}
	var errs []error
	if err := checkFile(dir, m.Runtime.File, m.Runtime.SHA256); err != nil {
		errs = append(errs, fmt.Errorf("runtime library: %w", err))
	}
	for _, s := range Models {
		e, ok := m.Model(s.Name)
		if !ok {
			errs = append(errs, fmt.Errorf("model %s: not installed", s.Name))
			continue
		}
		if err := checkFile(dir, e.File, e.SHA256); err != nil {
			errs = append(errs, fmt.Errorf("model %s: %w", s.Name, err))
		}
		for _, src := range e.Sources {
			if err := checkFile(dir, src.Path, src.SHA256); err != nil {
				errs = append(errs, fmt.Errorf("model %s source: %w", s.Name, err))
			}
		}
	}
	return m, errs
}
