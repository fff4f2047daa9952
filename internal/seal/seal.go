// Package seal encrypts everify's biometric artefacts at rest with envelope
// encryption. Every object (a frame, a reference face, a webhook secret)
// gets its own random 256-bit data key; the object is encrypted with
// AES-256-GCM under that data key, and the data key is encrypted ("wrapped")
// with AES-256-GCM under a master key. The result has two parts, stored in
// two columns:
//
//	key  = version(1) | len(id)(1) | master key id | nonce(12) | wrapped data key(32+16)
//	data = version(1) | nonce(12) | ciphertext | tag(16)
//
// The data part's additional authenticated data is the caller's object
// binding (for example the session id and frame index), so a sealed object
// moved to another row does not open. Keeping the wrapped key apart from the
// data lets a master-key rotation rewrite only the small key parts (Rewrap)
// and never the images.
//
// Master keys come from a Keyring: its first key seals new objects, the
// others only open what they sealed before, until a rotation has re-wrapped
// those objects. A master key's id is derived from the key itself (a
// fingerprint), so ids cannot disagree with keys.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// version is the first byte of both parts of an envelope.
const version = 1

// Sizes of the envelope's fields.
const (
	dataKeySize   = 32
	nonceSize     = 12
	tagSize       = 16
	wrappedSize   = dataKeySize + tagSize
	maxKeyIDSize  = 64
	minDataLength = 1 + nonceSize + tagSize
)

// Domain separators of the two AES-GCM uses, so that neither ciphertext can
// be passed off as the other.
const (
	wrapAAD = "everify/seal/v1 data-key "
	dataAAD = "everify/seal/v1 object "
)

// ErrOpen is returned (wrapped) when an envelope does not open: it was
// tampered with, belongs to another object, or was sealed under a master key
// that the keyring does not hold.
var ErrOpen = errors.New("seal: the sealed object does not open")

// Seal encrypts plaintext under a fresh data key wrapped by the keyring's
// primary master key, bound to aad (which Open must be given again).
func (r *Keyring) Seal(plaintext, aad []byte) (key, data []byte, err error) {
	primary := r.keys[0]
	dek := make([]byte, dataKeySize)
	rand.Read(dek)
	defer clear(dek)

	key = wrap(primary, dek)
	gcm, err := newGCM(dek)
	if err != nil {
		return nil, nil, err
	}
	data = make([]byte, 1+nonceSize, 1+nonceSize+len(plaintext)+tagSize)
	data[0] = version
	rand.Read(data[1 : 1+nonceSize])
	data = gcm.Seal(data, data[1:1+nonceSize], plaintext, objectAAD(aad))
	return key, data, nil
}

// Open decrypts an envelope sealed with aad. It fails with ErrOpen when the
// envelope was altered, was sealed for another aad, or its master key is not
// in the keyring.
func (r *Keyring) Open(key, data, aad []byte) ([]byte, error) {
	dek, err := r.unwrap(key)
	if err != nil {
		return nil, err
	}
	defer clear(dek)
	if len(data) < minDataLength || data[0] != version {
		return nil, fmt.Errorf("%w: malformed data part (%d bytes)", ErrOpen, len(data))
	}
	gcm, err := newGCM(dek)
	if err != nil {
		return nil, err
	}
	plaintext, err := gcm.Open(nil, data[1:1+nonceSize], data[1+nonceSize:], objectAAD(aad))
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed (tampered, or sealed for another object)", ErrOpen)
	}
	return plaintext, nil
}

// Rewrap returns key's data key wrapped under the primary master key, or
// nil when key is wrapped under it already. The data part is unchanged.
func (r *Keyring) Rewrap(key []byte) ([]byte, error) {
	id, err := KeyID(key)
	if err != nil {
		return nil, err
	}
	if id == r.keys[0].id {
		return nil, nil
	}
	dek, err := r.unwrap(key)
	if err != nil {
		return nil, err
	}
	defer clear(dek)
	return wrap(r.keys[0], dek), nil
}

// KeyID returns the id of the master key that wrapped key.
func KeyID(key []byte) (string, error) {
	if len(key) < 2 || key[0] != version {
		return "", fmt.Errorf("%w: malformed key part", ErrOpen)
	}
	n := int(key[1])
	if n == 0 || n > maxKeyIDSize || len(key) != 2+n+nonceSize+wrappedSize {
		return "", fmt.Errorf("%w: malformed key part (%d bytes)", ErrOpen, len(key))
	}
	return string(key[2 : 2+n]), nil
}

// wrap encrypts dek under master into a key part.
func wrap(master *masterKey, dek []byte) []byte {
	key := make([]byte, 0, 2+len(master.id)+nonceSize+wrappedSize)
	key = append(key, version, byte(len(master.id)))
	key = append(key, master.id...)
	nonce := make([]byte, nonceSize)
	rand.Read(nonce)
	key = append(key, nonce...)
	return master.aead.Seal(key, nonce, dek, []byte(wrapAAD+master.id))
}

// unwrap returns the data key of a key part.
func (r *Keyring) unwrap(key []byte) ([]byte, error) {
	id, err := KeyID(key)
	if err != nil {
		return nil, err
	}
	master := r.byID(id)
	if master == nil {
		return nil, fmt.Errorf("%w: master key %s is not in the keyring", ErrOpen, id)
	}
	body := key[2+len(id):]
	dek, err := master.aead.Open(nil, body[:nonceSize], body[nonceSize:], []byte(wrapAAD+id))
	if err != nil {
		return nil, fmt.Errorf("%w: the wrapped data key does not open under master key %s", ErrOpen, id)
	}
	return dek, nil
}

// objectAAD is the additional data of an object's encryption.
func objectAAD(aad []byte) []byte {
	return append([]byte(dataAAD), aad...)
}

// newGCM returns AES-256-GCM under key.
func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return gcm, nil
}
