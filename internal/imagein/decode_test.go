package imagein

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/evaldata"
)

// wantErr fails unless err is a *biometric.Error of the given kind and code
// with a non-empty message, and returns it.
func wantErr(t *testing.T, err error, kind biometric.Kind, code string) *biometric.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s/%s", kind, code)
	}
	e, ok := err.(*biometric.Error)
	if !ok {
		t.Fatalf("error %T %v is not a *biometric.Error", err, err)
	}
	if e.Kind != kind || e.Code != code || e.Message == "" {
		t.Fatalf("got %s/%s %q, want %s/%s", e.Kind, e.Code, e.Message, kind, code)
	}
	return e
}

// checkQuadrants fails unless m shows the upright test pattern.
func checkQuadrants(t *testing.T, m *image.RGBA, w, h int) {
	t.Helper()
	if m.Rect != image.Rect(0, 0, w, h) {
		t.Fatalf("bounds %v, want %dx%d at the origin", m.Rect, w, h)
	}
	for _, q := range []struct {
		x, y int
		c    color.RGBA
	}{{w / 4, h / 4, colTL}, {3 * w / 4, h / 4, colTR}, {w / 4, 3 * h / 4, colBL}, {3 * w / 4, 3 * h / 4, colBR}} {
		if got := m.RGBAAt(q.x, q.y); !near(got, q.c, 40) {
			t.Errorf("pixel (%d,%d) = %v, want about %v", q.x, q.y, got, q.c)
		}
	}
}

func TestDecodeFormats(t *testing.T) {
	t.Parallel()
	up := pattern(48, 32)
	for _, tc := range []struct {
		name, format string
		data         []byte
	}{
		{"jpeg", "jpeg", encodeJPEG(t, up)},
		{"png", "png", encodePNG(t, up)},
		{"gray jpeg", "jpeg", encodeJPEG(t, toGray(up))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			img, err := Decode(tc.data, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if img.Format != tc.format || img.Orientation != 1 || !bytes.Equal(img.Data, tc.data) {
				t.Fatalf("format %q orientation %d, want %q 1 and the input bytes", img.Format, img.Orientation, tc.format)
			}
			if tc.name == "gray jpeg" {
				if img.RGBA.Rect.Dx() != 48 || img.RGBA.RGBAAt(0, 0).A != 255 {
					t.Fatalf("gray JPEG: bounds %v alpha %d", img.RGBA.Rect, img.RGBA.RGBAAt(0, 0).A)
				}
				return
			}
			checkQuadrants(t, img.RGBA, 48, 32)
		})
	}
}

func toGray(m image.Image) *image.Gray {
	g := image.NewGray(m.Bounds())
	for y := range m.Bounds().Dy() {
		for x := range m.Bounds().Dx() {
			g.Set(x, y, m.At(x, y))
		}
	}
	return g
}

func TestDecodeWebP(t *testing.T) {
	t.Parallel()
	c := color.RGBA{200, 100, 50, 255}
	img, err := Decode(losslessWebP(20, 10, c, nil), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if img.Format != "webp" || img.RGBA.Rect != image.Rect(0, 0, 20, 10) {
		t.Fatalf("format %q bounds %v, want webp 20x10", img.Format, img.RGBA.Rect)
	}
	if got := img.RGBA.RGBAAt(19, 9); got != c {
		t.Fatalf("pixel = %v, want %v", got, c)
	}
}

// A transparent PNG comes out opaque, transparent areas white, so that the
// pipeline can read RGB from Pix without looking at alpha.
func TestDecodeTransparentPNG(t *testing.T) {
	t.Parallel()
	m := image.NewNRGBA(image.Rect(0, 0, 4, 2))
	m.SetNRGBA(0, 0, color.NRGBA{255, 0, 0, 255})
	m.SetNRGBA(1, 0, color.NRGBA{0, 0, 255, 128}) // half-transparent blue
	img, err := Decode(encodePNG(t, m), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		x, y int
		want color.RGBA
	}{
		{0, 0, color.RGBA{255, 0, 0, 255}},
		{1, 0, color.RGBA{127, 127, 255, 255}},
		{3, 1, color.RGBA{255, 255, 255, 255}}, // fully transparent
	} {
		if got := img.RGBA.RGBAAt(tc.x, tc.y); !near(got, tc.want, 1) {
			t.Errorf("pixel (%d,%d) = %v, want %v", tc.x, tc.y, got, tc.want)
		}
	}
}

// Every EXIF orientation, in both TIFF byte orders and both integer types
// a writer may use, must come out upright. The stored image is built from
// the EXIF definitions (displayPos), independently of the code under test;
// the image is not square, so a transposition would also change the size.
func TestDecodeEXIFOrientation(t *testing.T) {
	t.Parallel()
	const w, h = 48, 32
	up := pattern(w, h)
	for o := 1; o <= 8; o++ {
		for _, bo := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
			for _, typ := range []uint16{tiffShort, tiffLong} {
				t.Run(fmt.Sprintf("o%d/%v/type%d", o, bo, typ), func(t *testing.T) {
					t.Parallel()
					data := withAPP1(encodeJPEG(t, storedFor(up, o)), tiffBlock(bo, o, typ))
					img, err := Decode(data, Limits{})
					if err != nil {
						t.Fatal(err)
					}
					if img.Orientation != o {
						t.Fatalf("orientation %d, want %d", img.Orientation, o)
					}
					checkQuadrants(t, img.RGBA, w, h)
				})
			}
		}
	}
}

func TestDecodeEXIFInPNGAndWebP(t *testing.T) {
	t.Parallel()
	const w, h = 48, 32
	up := pattern(w, h)
	tiff := tiffBlock(binary.BigEndian, 6, tiffShort)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"png eXIf", withPNGChunk(encodePNG(t, storedFor(up, 6)), "eXIf", tiff)},
		{"png eXIf with Exif prefix", withPNGChunk(encodePNG(t, storedFor(up, 6)), "eXIf", append([]byte("Exif\x00\x00"), tiff...))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			img, err := Decode(tc.data, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if img.Orientation != 6 {
				t.Fatalf("orientation %d, want 6", img.Orientation)
			}
			checkQuadrants(t, img.RGBA, w, h)
		})
	}
	t.Run("webp EXIF chunk", func(t *testing.T) {
		t.Parallel()
		img, err := Decode(losslessWebP(4, 2, colTL, tiffBlock(binary.LittleEndian, 8, tiffShort)), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if img.Orientation != 8 || img.RGBA.Rect != image.Rect(0, 0, 2, 4) {
			t.Fatalf("orientation %d bounds %v, want 8 and 2x4", img.Orientation, img.RGBA.Rect)
		}
	})
}

// Malformed EXIF is ignored, never fatal: the pixels are still good.
func TestDecodeMalformedEXIF(t *testing.T) {
	t.Parallel()
	jpg := encodeJPEG(t, pattern(48, 32))
	good := tiffBlock(binary.LittleEndian, 6, tiffShort)
	patch := func(off int, v ...byte) []byte {
		b := append([]byte{}, good...)
		copy(b[off:], v)
		return b
	}
	// The orientation entry is the second in IFD0: it starts at 8+2+12.
	const entry = 8 + 2 + 12
	for _, tc := range []struct {
		name string
		tiff []byte
	}{
		{"empty", nil},
		{"garbage", []byte("not a tiff block at all, just text")},
		{"bad byte order", patch(0, 'X', 'X')},
		{"IFD offset past end", patch(4, 0xff, 0xff, 0, 0)},
		{"IFD offset inside header", patch(4, 2, 0, 0, 0)},
		{"no entries", patch(8, 0, 0)},
		{"orientation 0", patch(entry+8, 0, 0)},
		{"orientation 9", patch(entry+8, 9, 0)},
		{"count 2", patch(entry+4, 2, 0, 0, 0)},
		{"ASCII type", patch(entry+2, 2, 0)},
		{"truncated", good[:entry+6]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			img, err := Decode(withAPP1(jpg, tc.tiff), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if img.Orientation != 1 {
				t.Fatalf("orientation %d, want 1", img.Orientation)
			}
			checkQuadrants(t, img.RGBA, 48, 32)
		})
	}
}

// Real camera photos carry EXIF in both byte orders. Their orientation is
// 1; rewriting that value in memory to 6 must turn the very same pixels
// 90° clockwise, compared pixel for pixel.
func TestDecodeRealPhotoEXIF(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"img21.jpg", "img14.jpg"} { // big-endian and little-endian EXIF
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(evaldata.Require(t, "deepface-unit/"+name))
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			upright, err := Decode(data, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if upright.Orientation != 1 || upright.RGBA.Rect != image.Rect(0, 0, cfg.Width, cfg.Height) {
				t.Fatalf("orientation %d bounds %v, want 1 and %dx%d", upright.Orientation, upright.RGBA.Rect, cfg.Width, cfg.Height)
			}
			rotated, err := Decode(setOrientation(t, data, 6), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if rotated.Orientation != 6 || rotated.RGBA.Rect != image.Rect(0, 0, cfg.Height, cfg.Width) {
				t.Fatalf("orientation %d bounds %v, want 6 and %dx%d", rotated.Orientation, rotated.RGBA.Rect, cfg.Height, cfg.Width)
			}
			for sy := 0; sy < cfg.Height; sy += 7 {
				for sx := 0; sx < cfg.Width; sx += 5 {
					dx, dy := displayPos(6, sx, sy, cfg.Width, cfg.Height)
					if a, b := upright.RGBA.RGBAAt(sx, sy), rotated.RGBA.RGBAAt(dx, dy); a != b {
						t.Fatalf("stored (%d,%d) = %v but displayed (%d,%d) = %v", sx, sy, a, dx, dy, b)
					}
				}
			}
		})
	}
}

// setOrientation returns a copy of a JPEG whose IFD0 Orientation (a SHORT)
// is rewritten to o.
func setOrientation(t *testing.T, data []byte, o uint16) []byte {
	t.Helper()
	out := append([]byte{}, data...)
	tiff := jpegEXIF(out)
	if tiff == nil {
		t.Fatal("no EXIF block")
	}
	var bo binary.ByteOrder = binary.BigEndian
	if tiff[0] == 'I' {
		bo = binary.LittleEndian
	}
	ifd := bo.Uint32(tiff[4:])
	for i := range uint32(bo.Uint16(tiff[ifd:])) {
		e := tiff[ifd+2+12*i:]
		if bo.Uint16(e) == tagOrientation {
			bo.PutUint16(e[8:], o) // tiff aliases out
			return out
		}
	}
	t.Fatal("no Orientation tag")
	return nil
}

// Truncation anywhere after the signature must give 422, never a panic,
// a hang or a half-grey image passed off as valid.
func TestDecodeTruncated(t *testing.T) {
	t.Parallel()
	up := pattern(64, 48)
	for _, tc := range []struct {
		name string
		data []byte
		// keep is how many trailing bytes may be missing while the decoder
		// still has every pixel (the JPEG end-of-image marker, PNG's IEND).
		keep int
	}{
		{"jpeg", encodeJPEG(t, up), 2},
		{"png", encodePNG(t, up), 12},
		{"webp", losslessWebP(64, 48, colTR, nil), 5}, // the zero padding losslessWebP appends
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := len(tc.data)
			for cut := 12; cut < n-tc.keep; cut++ {
				_, err := Decode(tc.data[:cut], Limits{})
				if err == nil {
					t.Fatalf("%d of %d bytes decoded without error", cut, n)
				}
				if k := biometric.KindOf(err); k != biometric.KindUnprocessable {
					t.Fatalf("%d of %d bytes: %v, want kind unprocessable", cut, n, err)
				}
			}
		})
	}
}

func TestDecodeUnsupportedType(t *testing.T) {
	t.Parallel()
	var gifBuf bytes.Buffer
	if err := gif.Encode(&gifBuf, pattern(8, 8), nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, data, says string
	}{
		{"gif", gifBuf.String(), "GIF"},
		{"html error page", "<!DOCTYPE html><html><body>404 Not Found</body></html>", "text/html"},
		{"json", `{"error": "forbidden"}`, "text/plain"},
		{"pdf", "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "PDF"},
		{"heic", "\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "HEIC"},
		{"avif", "\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1", "AVIF"},
		{"tiff", "II*\x00\x08\x00\x00\x00\x00\x00", "TIFF"},
		{"bmp", "BM\x36\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00", "BMP"},
		{"wav", "RIFF\x24\x00\x00\x00WAVEfmt ", "not WebP"},
		{"random", "\x13\x37\xc0\xde\x00\x01\x02\x03\x04\x05", "not in a recognised image format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Decode([]byte(tc.data), Limits{})
			e := wantErr(t, err, biometric.KindUnsupportedMedia, "unsupported_image_type")
			if !strings.Contains(e.Message, tc.says) || !strings.Contains(e.Message, "JPEG, PNG and WebP") {
				t.Fatalf("message %q should name %q and the accepted types", e.Message, tc.says)
			}
		})
	}
	t.Run("arithmetic-coded jpeg", func(t *testing.T) {
		t.Parallel()
		data := encodeJPEG(t, pattern(16, 16))
		i := bytes.Index(data, []byte{0xFF, 0xC0}) // baseline SOF → SOF9, arithmetic coding
		data[i+1] = 0xC9
		wantErr(t, ignoreResult(Decode(data, Limits{})), biometric.KindUnsupportedMedia, "unsupported_image_type")
	})
}

func ignoreResult(_ *Image, err error) error { return err }

func TestDecodeUnreadable(t *testing.T) {
	t.Parallel()
	wantErr(t, ignoreResult(Decode(nil, Limits{})), biometric.KindUnprocessable, "image_unreadable")
	jpegGarbage := append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, bytes.Repeat([]byte("garbage!"), 20)...)
	wantErr(t, ignoreResult(Decode(jpegGarbage, Limits{})), biometric.KindUnprocessable, "image_unreadable")
	pngBadCRC := encodePNG(t, pattern(8, 8))
	pngBadCRC[30] ^= 0xff // inside IHDR's CRC
	wantErr(t, ignoreResult(Decode(pngBadCRC, Limits{})), biometric.KindUnprocessable, "image_unreadable")
	wantErr(t, ignoreResult(Decode(pngHeaderOnly(0, 10), Limits{})), biometric.KindUnprocessable, "image_unreadable")
}

// Decompression bombs: a few hundred bytes that declare billions of pixels
// are refused from the header, before pixel memory is allocated.
func TestDecodeBombs(t *testing.T) {
	// Not parallel: it measures this goroutine's allocations.
	jpegBomb := encodeJPEG(t, pattern(16, 16))
	sof := bytes.Index(jpegBomb, []byte{0xFF, 0xC0})
	binary.BigEndian.PutUint16(jpegBomb[sof+5:], 65500) // height
	binary.BigEndian.PutUint16(jpegBomb[sof+7:], 65500) // width
	for _, tc := range []struct {
		name, dims string
		data       []byte
	}{
		{"png 100000x100000", "100000x100000", pngHeaderOnly(100000, 100000)},
		{"jpeg 65500x65500", "65500x65500", jpegBomb},
		{"webp 16384x16384", "16384x16384", losslessWebP(16384, 16384, colBR, nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := Decode(tc.data, Limits{})
			runtime.ReadMemStats(&after)
			e := wantErr(t, err, biometric.KindTooLarge, "image_too_many_pixels")
			if !strings.Contains(e.Message, tc.dims) {
				t.Errorf("message %q should give the declared size %s", e.Message, tc.dims)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
				t.Errorf("refusing a %d-byte bomb allocated %d bytes", len(tc.data), alloc)
			}
		})
	}
	// The WebP bomb is real: within a limit that admits it, it decodes.
	img, err := Decode(losslessWebP(1000, 1000, colBR, nil), Limits{})
	if err != nil || img.RGBA.Rect.Dx() != 1000 {
		t.Fatalf("1000x1000 solid WebP: %v", err)
	}
}

func TestDecodeLimits(t *testing.T) {
	t.Parallel()
	data := encodeJPEG(t, pattern(48, 32))
	if _, err := Decode(data, Limits{MaxPixels: 48 * 32}); err != nil {
		t.Fatalf("exactly at the pixel limit: %v", err)
	}
	wantErr(t, ignoreResult(Decode(data, Limits{MaxPixels: 48*32 - 1})), biometric.KindTooLarge, "image_too_many_pixels")
	if _, err := Decode(data, Limits{MaxBytes: int64(len(data))}); err != nil {
		t.Fatalf("exactly at the byte limit: %v", err)
	}
	wantErr(t, ignoreResult(Decode(data, Limits{MaxBytes: int64(len(data)) - 1})), biometric.KindTooLarge, "image_too_large")
}
