// Package imagein is the single door through which images enter everify:
// face-match URLs, inline base64 images and uploaded capture frames.
//
// URLs are fetched by a [Fetcher] whose dialer refuses internal addresses
// (loopback, private, link-local and cloud-metadata, multicast, reserved;
// IPv4 and IPv6, including IPv4 addresses embedded in IPv6) at the moment it
// connects, so DNS rebinding and redirects cannot route a fetch around the
// check; operators may allow named internal hosts or networks. [Decode] sniffs
// the bytes (JPEG, PNG, WebP), refuses images whose declared size is too
// large before decoding them, and returns upright pixels with the EXIF
// orientation applied.
//
// Every error returned to a caller is a *biometric.Error whose code and
// message can be shown to an API client.
package imagein

import "time"

// Defaults for the zero fields of [Limits].
const (
	DefaultMaxBytes     = 10 << 20 // 10 MiB of encoded image
	DefaultMaxPixels    = 40_000_000
	DefaultFetchTimeout = 10 * time.Second
	DefaultMaxRedirects = 3
)

// Limits bound what one image may cost. A zero field means its default, so
// the zero Limits is the default policy.
//
// Decoding holds 4 bytes per pixel of the result plus the decoder's own
// buffers, so MaxPixels is what bounds memory: at the default of 40
// megapixels one image needs about 160 MB while it is converted.
type Limits struct {
	// MaxBytes is the largest encoded image accepted, fetched or inline.
	MaxBytes int64
	// MaxPixels is the largest width×height accepted; it is checked against
	// the dimensions the file declares, before any pixel is decoded.
	MaxPixels int64
	// FetchTimeout bounds a whole URL fetch: connecting, redirects and
	// reading the body.
	FetchTimeout time.Duration
	// MaxRedirects is how many redirects a fetch may follow; a negative
	// value forbids redirects.
	MaxRedirects int
}

// withDefaults returns l with every zero (or negative, for sizes) field
// replaced by its default.
func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxPixels <= 0 {
		l.MaxPixels = DefaultMaxPixels
	}
	if l.FetchTimeout <= 0 {
		l.FetchTimeout = DefaultFetchTimeout
	}
	if l.MaxRedirects == 0 {
		l.MaxRedirects = DefaultMaxRedirects
	} else if l.MaxRedirects < 0 {
		l.MaxRedirects = 0
	}
	return l
}
