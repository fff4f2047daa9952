package imagein

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/everify/everify/internal/biometric"
)

// fuzzLimits keeps each fuzz input cheap: a megapixel at most.
var fuzzLimits = Limits{MaxBytes: 1 << 20, MaxPixels: 1 << 20}

// FuzzDecode feeds arbitrary bytes to Decode: it must never panic, must
// keep to the pixel limit, and must fail only with client errors.
func FuzzDecode(f *testing.F) {
	up := pattern(24, 16)
	jpg := encodeJPEG(f, storedFor(up, 6))
	f.Add(withAPP1(jpg, tiffBlock(binary.BigEndian, 6, tiffShort)))
	f.Add(withAPP1(jpg, tiffBlock(binary.LittleEndian, 3, tiffLong)))
	f.Add(jpg[:len(jpg)/2])
	f.Add(withPNGChunk(encodePNG(f, up), "eXIf", tiffBlock(binary.LittleEndian, 8, tiffShort)))
	f.Add(losslessWebP(8, 4, colTR, tiffBlock(binary.BigEndian, 5, tiffShort)))
	f.Add(losslessWebP(8, 4, colBL, nil))
	f.Add(pngHeaderOnly(100000, 100000))
	f.Add([]byte("GIF89a"))
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := Decode(data, fuzzLimits)
		if err != nil {
			var e *biometric.Error
			if !errors.As(err, &e) || e.Code == "" || e.Message == "" {
				t.Fatalf("error %v is not a client error", err)
			}
			switch e.Kind {
			case biometric.KindTooLarge, biometric.KindUnsupportedMedia, biometric.KindUnprocessable:
			default:
				t.Fatalf("unexpected kind %s: %v", e.Kind, err)
			}
			return
		}
		b := img.RGBA.Rect
		if b.Min.X != 0 || b.Min.Y != 0 || b.Empty() || int64(b.Dx())*int64(b.Dy()) > fuzzLimits.MaxPixels {
			t.Fatalf("bounds %v out of limits", b)
		}
		if img.Orientation < 1 || img.Orientation > 8 || len(img.RGBA.Pix) < 4*b.Dx()*b.Dy() {
			t.Fatalf("orientation %d, %d pixel bytes for %v", img.Orientation, len(img.RGBA.Pix), b)
		}
	})
}

// FuzzDecodeBase64 checks that no input panics or escapes as a non-client
// error, and that every encoding of any bytes decodes back to them.
func FuzzDecodeBase64(f *testing.F) {
	f.Add("data:image/jpeg;base64,/9j/4AAQSkZJRg==")
	f.Add("/9j/4AAQ\r\nSkZJRg")
	f.Add("-_-_")
	f.Add("data:,")
	f.Add("====")
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := DecodeBase64(s, fuzzLimits); err != nil {
			k := biometric.KindOf(err)
			if k != biometric.KindInvalid && k != biometric.KindTooLarge {
				t.Fatalf("unexpected error kind %s: %v", k, err)
			}
		}
		raw := []byte(s)
		if len(raw) == 0 || int64(len(raw)) > fuzzLimits.MaxBytes {
			return
		}
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			got, err := DecodeBase64("data:image/png;base64,"+enc.EncodeToString(raw), fuzzLimits)
			if err != nil || !bytes.Equal(got, raw) {
				t.Fatalf("round trip of %q failed: %v", raw, err)
			}
		}
	})
}

// FuzzOrientation feeds arbitrary bytes to the metadata walkers, which run
// on every accepted image before anything else validates the metadata.
func FuzzOrientation(f *testing.F) {
	f.Add(withAPP1([]byte{0xFF, 0xD8, 0xFF, 0xD9}, tiffBlock(binary.BigEndian, 6, tiffShort)))
	f.Add(tiffBlock(binary.LittleEndian, 7, tiffLong))
	f.Add(withPNGChunk(pngHeaderOnly(1, 1), "eXIf", tiffBlock(binary.LittleEndian, 2, tiffShort)))
	f.Add(losslessWebP(1, 1, colTL, tiffBlock(binary.BigEndian, 4, tiffShort)))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, locate := range []func([]byte) []byte{jpegEXIF, pngEXIF, webpEXIF, func(b []byte) []byte { return b }} {
			if o := tiffOrientation(locate(data)); o < 1 || o > 8 {
				t.Fatalf("orientation %d", o)
			}
		}
	})
}
