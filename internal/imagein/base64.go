package imagein

import (
	"encoding/base64"
	"strings"

	"github.com/everify/everify/internal/biometric"
)

// DecodeBase64 decodes an inline image: plain base64 in the standard or the
// URL-safe alphabet, padded or not, with any whitespace (line breaks from
// MIME encoders included), or a data URL "data:<type>;base64,<data>". The
// declared media type of a data URL is ignored: Decode sniffs the bytes.
//
// Errors are *biometric.Error: KindInvalid (invalid_base64_image) for text
// that is not base64, and KindTooLarge (image_too_large) when the decoded
// image would exceed lim.MaxBytes, which is checked before decoding.
func DecodeBase64(s string, lim Limits) ([]byte, error) {
	lim = lim.withDefaults()
	s = strings.TrimSpace(s)
	if rest, ok := cutPrefixFold(s, "data:"); ok {
		meta, payload, found := strings.Cut(rest, ",")
		if !found {
			return nil, invalidBase64("The data URL has no comma before its data.")
		}
		if !strings.HasSuffix(strings.ToLower(meta), ";base64") {
			return nil, invalidBase64("The data URL must be base64-encoded (data:image/jpeg;base64,...).")
		}
		s = payload
	}
	// Whitespace and padding carry no data; removing them lets one strict
	// decoder handle every variant.
	clean := make([]byte, 0, len(s))
	urlSafe, std := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case ' ', '\t', '\r', '\n', '\f', '\v':
			continue
		case '-', '_':
			urlSafe = true
		case '+', '/':
			std = true
		}
		clean = append(clean, c)
	}
	if urlSafe && std {
		return nil, invalidBase64("The base64 data mixes the standard (+/) and URL-safe (-_) alphabets.")
	}
	clean = trimPadding(clean)
	if len(clean) == 0 {
		return nil, invalidBase64("The base64 image is empty.")
	}
	if n := int64(len(clean)) / 4 * 3; n > lim.MaxBytes {
		return nil, tooLarge(n, lim.MaxBytes)
	}
	enc := base64.RawStdEncoding
	if urlSafe {
		enc = base64.RawURLEncoding
	}
	out := make([]byte, enc.DecodedLen(len(clean)))
	n, err := enc.Decode(out, clean)
	if err != nil {
		return nil, &biometric.Error{Kind: biometric.KindInvalid, Code: "invalid_base64_image",
			Message: "The image is not valid base64; send the file's bytes base64-encoded, optionally as a data URL.", Err: err}
	}
	if int64(n) > lim.MaxBytes {
		return nil, tooLarge(int64(n), lim.MaxBytes)
	}
	return out[:n], nil
}

// trimPadding removes up to two trailing '=' characters.
func trimPadding(b []byte) []byte {
	for range 2 {
		if len(b) > 0 && b[len(b)-1] == '=' {
			b = b[:len(b)-1]
		}
	}
	return b
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

func invalidBase64(msg string) *biometric.Error {
	return biometric.Errorf(biometric.KindInvalid, "invalid_base64_image", "%s", msg)
}
