// Package evaluate measures the liveness analysis the ISO/IEC 30107-3 way:
// it reads a manifest of bona fide and attack presentations, analyses
// each, and reports the bona fide presentation classification error rate
// (BPCER) and the attack presentation classification error rate (APCER)
// of every attack species. It also builds the development manifest from
// the shared evaluation data (dev.go).
package evaluate

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/everify/everify/internal/biometric"
)

// BonaFide is the label of bona fide presentations; every other label
// names an attack species.
const BonaFide = "bona_fide"

// Item is one line of a manifest: a presentation, its label and the
// challenge it answers.
type Item struct {
	// Path is a video, a directory of frames or a single image (turned
	// into a hand-held still-photo clip).
	Path string
	// Label is BonaFide or the attack species.
	Label     string
	Challenge []biometric.ChallengeType
	// FPS times a frame directory without timestamps and samples a
	// video; 0 means the default (15).
	FPS float64
}

// Attack reports whether the item is an attack presentation.
func (it Item) Attack() bool { return it.Label != BonaFide }

// ParseChallenge parses a list of challenge actions separated by commas,
// '+', ';', '|' or spaces.
func ParseChallenge(s string) ([]biometric.ChallengeType, error) {
	var out []biometric.ChallengeType
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(",+;| ", r) }) {
		t := biometric.ChallengeType(f)
		if !biometric.ValidChallenge(t) {
			return nil, fmt.Errorf("unknown challenge action %q (known: %v)", f, biometric.AllChallenges)
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, errors.New("empty challenge")
	}
	return out, nil
}

// ReadManifest reads a manifest: CSV lines "path,label,challenge[,fps]"
// (a header line starting with "path" and lines starting with '#' are
// skipped; a challenge of several actions is quoted or joined with '+').
// Relative paths are relative to the manifest's directory.
func ReadManifest(path string) ([]Item, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	items, err := ParseManifest(f, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return items, nil
}

// ParseManifest parses manifest lines from r, resolving relative paths
// against dir.
func ParseManifest(r io.Reader, dir string) ([]Item, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.Comment = '#'
	cr.TrimLeadingSpace = true
	var items []Item
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		if len(items) == 0 && strings.EqualFold(strings.TrimSpace(rec[0]), "path") {
			continue
		}
		if len(rec) < 3 || len(rec) > 4 {
			return nil, fmt.Errorf("line %d: want path,label,challenge[,fps], got %d fields", line, len(rec))
		}
		it := Item{Path: strings.TrimSpace(rec[0]), Label: strings.TrimSpace(rec[1])}
		if it.Path == "" || it.Label == "" {
			return nil, fmt.Errorf("line %d: empty path or label", line)
		}
		if !filepath.IsAbs(it.Path) {
			it.Path = filepath.Join(dir, it.Path)
		}
		if it.Challenge, err = ParseChallenge(rec[2]); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if len(rec) == 4 && strings.TrimSpace(rec[3]) != "" {
			if it.FPS, err = strconv.ParseFloat(strings.TrimSpace(rec[3]), 64); err != nil || it.FPS <= 0 {
				return nil, fmt.Errorf("line %d: fps %q is not a positive number", line, rec[3])
			}
		}
		items = append(items, it)
	}
	return items, nil
}

// WriteManifest writes items as a manifest that ReadManifest reads back.
func WriteManifest(w io.Writer, items []Item) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"path", "label", "challenge", "fps"}); err != nil {
		return err
	}
	for _, it := range items {
		steps := make([]string, len(it.Challenge))
		for i, c := range it.Challenge {
			steps[i] = string(c)
		}
		fps := ""
		if it.FPS > 0 {
			fps = strconv.FormatFloat(it.FPS, 'g', -1, 64)
		}
		if err := cw.Write([]string{it.Path, it.Label, strings.Join(steps, "+"), fps}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
