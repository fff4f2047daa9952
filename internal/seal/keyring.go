package seal

import (
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Keyring is an ordered, immutable set of master keys. The first key is the
// primary: it wraps the data keys of everything sealed from now on. The
// others only unwrap data keys that they wrapped before.
type Keyring struct {
	keys []*masterKey
}

// masterKey is one 256-bit master key.
type masterKey struct {
	id     string
	secret []byte
	aead   cipher.AEAD
}

// masterKeySize is the size of a master key in bytes (AES-256).
const masterKeySize = 32

// NewKey returns a new random master key, base64-encoded, in the form that
// ParseKeyring reads.
func NewKey() string {
	b := make([]byte, masterKeySize)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// NewKeyring returns a keyring holding one new random master key.
func NewKeyring() *Keyring {
	r, err := ParseKeyring(NewKey())
	if err != nil {
		panic(err) // a fresh key always parses
	}
	return r
}

// ParseKeyring reads a keyring: master keys separated by newlines, commas or
// spaces, the primary first. Each key is 32 bytes in standard base64,
// optionally preceded by its id ("mk_… BASE64"), which must then match the
// key. Text from a '#' to the end of the line is a comment.
func ParseKeyring(text string) (*Keyring, error) {
	var (
		r       Keyring
		pending string // an id waiting for its key
		line    int
	)
	for l := range strings.SplitSeq(text, "\n") {
		line++
		l, _, _ = strings.Cut(l, "#")
		for field := range strings.FieldsFuncSeq(l, func(c rune) bool { return c == ',' || c == ' ' || c == '\t' || c == '\r' }) {
			if strings.HasPrefix(field, "mk_") {
				if pending != "" {
					return nil, fmt.Errorf("seal: keyring line %d: key id %s is not followed by its key", line, pending)
				}
				pending = field
				continue
			}
			k, err := parseKey(field)
			if err != nil {
				return nil, fmt.Errorf("seal: keyring line %d: %w", line, err)
			}
			if pending != "" && pending != k.id {
				return nil, fmt.Errorf("seal: keyring line %d: the key's id is %s, not %s (a key was changed or pasted beside the wrong id)", line, k.id, pending)
			}
			pending = ""
			if r.byID(k.id) != nil {
				return nil, fmt.Errorf("seal: keyring line %d: master key %s is listed twice", line, k.id)
			}
			r.keys = append(r.keys, k)
		}
	}
	if pending != "" {
		return nil, fmt.Errorf("seal: keyring: key id %s is not followed by its key", pending)
	}
	if len(r.keys) == 0 {
		return nil, errors.New("seal: the keyring holds no master key")
	}
	return &r, nil
}

// parseKey decodes one base64 master key.
func parseKey(s string) (*masterKey, error) {
	secret, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(secret) != masterKeySize {
		return nil, fmt.Errorf("a master key must be %d bytes in standard base64 (%d characters, as `everify keys new-master` prints)",
			masterKeySize, base64.StdEncoding.EncodedLen(masterKeySize))
	}
	aead, err := newGCM(secret)
	if err != nil {
		return nil, err
	}
	return &masterKey{id: fingerprint(secret), secret: secret, aead: aead}, nil
}

// fingerprint derives a master key's public id from the key.
func fingerprint(secret []byte) string {
	h := sha256.New()
	h.Write([]byte("everify/seal master key id\x00"))
	h.Write(secret)
	return "mk_" + hex.EncodeToString(h.Sum(nil)[:8])
}

// PrimaryID returns the id of the primary master key.
func (r *Keyring) PrimaryID() string { return r.keys[0].id }

// IDs returns the ids of the master keys, the primary first.
func (r *Keyring) IDs() []string {
	ids := make([]string, len(r.keys))
	for i, k := range r.keys {
		ids[i] = k.id
	}
	return ids
}

// byID returns the master key with the given id, or nil.
func (r *Keyring) byID(id string) *masterKey {
	for _, k := range r.keys {
		if subtle.ConstantTimeCompare([]byte(k.id), []byte(id)) == 1 {
			return k
		}
	}
	return nil
}

// WithPrimary returns a keyring whose primary is the base64 master key
// newKey, followed by r's keys: new objects are sealed under newKey, and
// everything sealed before still opens.
func (r *Keyring) WithPrimary(newKey string) (*Keyring, error) {
	k, err := parseKey(newKey)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	if r.byID(k.id) != nil {
		return nil, fmt.Errorf("seal: master key %s is in the keyring already", k.id)
	}
	return &Keyring{keys: append([]*masterKey{k}, r.keys...)}, nil
}

// Retire returns a keyring without the master keys with the given ids. The
// primary cannot be retired.
func (r *Keyring) Retire(ids ...string) (*Keyring, error) {
	if slices.Contains(ids, r.PrimaryID()) {
		return nil, fmt.Errorf("seal: the primary master key %s cannot be retired", r.PrimaryID())
	}
	kept := &Keyring{}
	for _, k := range r.keys {
		if !slices.Contains(ids, k.id) {
			kept.keys = append(kept.keys, k)
		}
	}
	return kept, nil
}

// Format returns the keyring as ParseKeyring reads it, one "id key" line
// per master key under a comment that explains the file. It holds the
// secrets.
func (r *Keyring) Format() string {
	var b strings.Builder
	b.WriteString("# everify master keys. Keep this file secret and back it up apart from the database:\n")
	b.WriteString("# without it, sealed images cannot be opened. The first key seals new data; the\n")
	b.WriteString("# others only open data sealed before (`everify keys rotate-master` re-wraps it).\n")
	for _, k := range r.keys {
		fmt.Fprintf(&b, "%s %s\n", k.id, base64.StdEncoding.EncodeToString(k.secret))
	}
	return b.String()
}
