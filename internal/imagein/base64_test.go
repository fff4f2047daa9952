package imagein

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/everify/everify/internal/biometric"
)

func TestDecodeBase64Variants(t *testing.T) {
	t.Parallel()
	// Bytes whose encodings use every alphabet-specific character
	// (0xfb 0xff → "+/" or "-_") and need padding.
	raw := append(encodeJPEG(t, pattern(16, 16)), 0xfb, 0xff, 0xfe, 0x3e, 0x3f)
	if len(raw)%3 == 0 {
		raw = append(raw, 0)
	}
	std := base64.StdEncoding.EncodeToString(raw)
	if !strings.ContainsAny(std, "+/") || !strings.HasSuffix(std, "=") {
		t.Fatalf("test data should exercise + / and padding: %q", std[len(std)-8:])
	}
	wrapped := func(s string, n int) string {
		var b strings.Builder
		for i := 0; i < len(s); i += n {
			b.WriteString(s[i:min(i+n, len(s))])
			b.WriteString("\r\n")
		}
		return b.String()
	}
	for name, s := range map[string]string{
		"std padded":         std,
		"std raw":            base64.RawStdEncoding.EncodeToString(raw),
		"url padded":         base64.URLEncoding.EncodeToString(raw),
		"url raw":            base64.RawURLEncoding.EncodeToString(raw),
		"MIME line breaks":   wrapped(std, 76),
		"spaces and tabs":    " \t" + std[:10] + " " + std[10:] + "\n",
		"data URL":           "data:image/jpeg;base64," + std,
		"data URL upper":     "DATA:image/jpeg;BASE64," + std,
		"data URL, params":   "data:image/jpeg;name=selfie.jpg;base64," + wrapped(std, 64),
		"data URL, url-safe": "data:image/png;base64," + base64.RawURLEncoding.EncodeToString(raw),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeBase64(s, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, raw) {
				t.Fatalf("decoded %d bytes, want the %d original bytes", len(got), len(raw))
			}
		})
	}
}

func TestDecodeBase64Invalid(t *testing.T) {
	t.Parallel()
	for name, s := range map[string]string{
		"empty":             "",
		"whitespace only":   " \n\t ",
		"padding only":      "==",
		"bad character":     "/9j/4AAQ*kZJRg==",
		"mixed alphabets":   "ab+c-d_e/f==",
		"padding in middle": "QUJD=REVG",
		"one stray char":    "QUJDR",
		"data URL no comma": "data:image/png;base64",
		"data URL not b64":  "data:image/png,%89PNG%0D%0A",
		"data URL empty":    "data:image/png;base64,",
		"URL instead":       "https://example.com/selfie.jpg",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeBase64(s, Limits{})
			wantErr(t, err, biometric.KindInvalid, "invalid_base64_image")
		})
	}
}

func TestDecodeBase64TooLarge(t *testing.T) {
	t.Parallel()
	raw := bytes.Repeat([]byte{1, 2, 3}, 400) // 1200 bytes
	s := base64.StdEncoding.EncodeToString(raw)
	if _, err := DecodeBase64(s, Limits{MaxBytes: 1200}); err != nil {
		t.Fatalf("exactly at the limit: %v", err)
	}
	wantErr(t, ignoreBytes(DecodeBase64(s, Limits{MaxBytes: 1199})), biometric.KindTooLarge, "image_too_large")
	wantErr(t, ignoreBytes(DecodeBase64(s+"AQ", Limits{MaxBytes: 1200})), biometric.KindTooLarge, "image_too_large")
}

func ignoreBytes(_ []byte, err error) error { return err }
