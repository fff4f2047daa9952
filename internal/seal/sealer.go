package seal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// reloadEvery is how often a file-backed Sealer looks at its keyring file
// for changes when it seals.
const reloadEvery = 2 * time.Second

// Sealer seals and opens objects with a keyring that may change while it
// runs: a keyring read from a file is reloaded when the file changes (as
// `everify keys rotate-master` changes it), so that a running server seals
// under a new primary key, and opens objects re-wrapped under it, without a
// restart. It is safe for concurrent use.
type Sealer struct {
	path string // "" for a fixed keyring

	mu      sync.Mutex
	ring    *Keyring
	read    os.FileInfo // the keyring file as it was when read
	checked time.Time
}

// NewSealer returns a Sealer with a fixed keyring (one from an environment
// variable, say).
func NewSealer(r *Keyring) *Sealer { return &Sealer{ring: r} }

// OpenFile returns a Sealer over the keyring file at path, which it
// reloads when the file changes.
func OpenFile(path string) (*Sealer, error) {
	s := &Sealer{path: path}
	if err := s.reload(true); err != nil {
		return nil, err
	}
	return s, nil
}

// Path returns the keyring file's path, or "" for a fixed keyring.
func (s *Sealer) Path() string { return s.path }

// Keyring returns the current keyring (reloaded first if its file changed).
func (s *Sealer) Keyring() (*Keyring, error) {
	if err := s.reload(false); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ring, nil
}

// Reload reads the keyring file again now, if it changed.
func (s *Sealer) Reload() error { return s.reload(true) }

// Seal encrypts plaintext under the primary master key, bound to aad.
func (s *Sealer) Seal(plaintext, aad []byte) (key, data []byte, err error) {
	r, err := s.Keyring()
	if err != nil {
		return nil, nil, err
	}
	return r.Seal(plaintext, aad)
}

// Open decrypts an envelope sealed with aad. When its master key is not in
// the keyring, the keyring file (if any) is read again at once: another
// process may have rotated it.
func (s *Sealer) Open(key, data, aad []byte) ([]byte, error) {
	r, err := s.Keyring()
	if err != nil {
		return nil, err
	}
	plaintext, err := r.Open(key, data, aad)
	if err == nil || s.path == "" || !s.unknownKey(r, key) {
		return plaintext, err
	}
	if rerr := s.reload(true); rerr != nil {
		return nil, errors.Join(err, rerr)
	}
	if r, err = s.Keyring(); err != nil {
		return nil, err
	}
	return r.Open(key, data, aad)
}

// Rewrap returns key re-wrapped under the primary master key, or nil when it
// is wrapped under it already.
func (s *Sealer) Rewrap(key []byte) ([]byte, error) {
	r, err := s.Keyring()
	if err != nil {
		return nil, err
	}
	return r.Rewrap(key)
}

// unknownKey reports whether key names a master key that r lacks.
func (s *Sealer) unknownKey(r *Keyring, key []byte) bool {
	id, err := KeyID(key)
	return err == nil && r.byID(id) == nil
}

// reload reads the keyring file again if it changed since it was last
// read; unless force, it looks at the file at most every reloadEvery. An
// unreadable or invalid file is an error: sealing under a keyring that the
// operator meant to replace would be worse than failing.
func (s *Sealer) reload(force bool) error {
	if s.path == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if !force && s.ring != nil && now.Sub(s.checked) < reloadEvery {
		return nil
	}
	s.checked = now
	fi, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("seal: master keyring file: %w", err)
	}
	// A rewrite replaces the file (a new inode), so this also catches two
	// versions of the same size written within one clock tick.
	if s.ring != nil && os.SameFile(fi, s.read) && fi.ModTime().Equal(s.read.ModTime()) && fi.Size() == s.read.Size() {
		return nil
	}
	r, err := ReadFile(s.path)
	if err != nil {
		return err
	}
	s.ring, s.read = r, fi
	return nil
}

// ReadFile reads the keyring file at path. A file that others may read is
// refused: it holds the master keys.
func ReadFile(path string) (*Keyring, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("seal: master keyring file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("seal: master keyring file %s has mode %v; it must be readable by its owner only (chmod 600)", path, fi.Mode().Perm())
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("seal: master keyring file: %w", err)
	}
	r, err := ParseKeyring(string(text))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// CreateFile creates the keyring file at path, mode 0600, with one new
// master key. It fails if the file exists.
func CreateFile(path string) (*Keyring, error) {
	r := NewKeyring()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("seal: creating the master keyring file: %w", err)
	}
	if _, err := f.WriteString(r.Format()); err != nil {
		f.Close()
		return nil, fmt.Errorf("seal: writing the master keyring file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("seal: writing the master keyring file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("seal: writing the master keyring file: %w", err)
	}
	return r, nil
}

// WriteFile replaces the keyring file at path with r atomically (a new
// file, mode 0600, renamed over the old one), so that a reader sees the old
// keyring or the new one, never a mix.
func WriteFile(path string, r *Keyring) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".master-keyring-*")
	if err != nil {
		return fmt.Errorf("seal: writing the master keyring file: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("seal: writing the master keyring file: %w", err)
	}
	if _, err := tmp.WriteString(r.Format()); err != nil {
		tmp.Close()
		return fmt.Errorf("seal: writing the master keyring file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("seal: writing the master keyring file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("seal: writing the master keyring file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("seal: replacing the master keyring file: %w", err)
	}
	return nil
}
