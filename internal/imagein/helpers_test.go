package imagein

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"
)

// Quadrant colours of the test pattern, far apart so that JPEG error
// cannot confuse them.
var (
	colTL = color.RGBA{230, 20, 20, 255}   // red
	colTR = color.RGBA{20, 200, 20, 255}   // green
	colBL = color.RGBA{20, 20, 230, 255}   // blue
	colBR = color.RGBA{240, 240, 240, 255} // white
)

// pattern returns a w×h image whose four quadrants have distinct colours,
// so that every flip and rotation of it is distinguishable.
func pattern(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := colTL
			switch {
			case x >= w/2 && y < h/2:
				c = colTR
			case x < w/2 && y >= h/2:
				c = colBL
			case x >= w/2 && y >= h/2:
				c = colBR
			}
			m.SetRGBA(x, y, c)
		}
	}
	return m
}

// displayPos says where the stored pixel (sx, sy) of an sw×sh image is
// shown for an EXIF orientation, written from the EXIF 2.3 definitions
// ("the 0th row represents the visual ... side, the 0th column the visual
// ... side") rather than from the code under test.
func displayPos(o, sx, sy, sw, sh int) (dx, dy int) {
	switch o {
	case 1: // row 0 top, column 0 left
		return sx, sy
	case 2: // row 0 top, column 0 right
		return sw - 1 - sx, sy
	case 3: // row 0 bottom, column 0 right
		return sw - 1 - sx, sh - 1 - sy
	case 4: // row 0 bottom, column 0 left
		return sx, sh - 1 - sy
	case 5: // row 0 left, column 0 top
		return sy, sx
	case 6: // row 0 right, column 0 top
		return sh - 1 - sy, sx
	case 7: // row 0 right, column 0 bottom
		return sh - 1 - sy, sw - 1 - sx
	case 8: // row 0 left, column 0 bottom
		return sy, sw - 1 - sx
	}
	panic("bad orientation")
}

// storedFor returns the image a camera would store so that, shown with
// orientation o, it looks like upright.
func storedFor(upright *image.RGBA, o int) *image.RGBA {
	uw, uh := upright.Rect.Dx(), upright.Rect.Dy()
	sw, sh := uw, uh
	if o >= 5 {
		sw, sh = uh, uw
	}
	s := image.NewRGBA(image.Rect(0, 0, sw, sh))
	for sy := range sh {
		for sx := range sw {
			dx, dy := displayPos(o, sx, sy, sw, sh)
			s.SetRGBA(sx, sy, upright.RGBAAt(dx, dy))
		}
	}
	return s
}

// tiffBlock builds an EXIF TIFF structure whose IFD0 holds a Make tag (so
// the parser must skip an entry and follow an offset) and, when
// orientation > 0, an Orientation tag of the given TIFF type.
func tiffBlock(bo binary.ByteOrder, orientation int, typ uint16) []byte {
	var b bytes.Buffer
	if bo == binary.LittleEndian {
		b.WriteString("II*\x00")
	} else {
		b.WriteString("MM\x00*")
	}
	w16 := func(v uint16) { _ = binary.Write(&b, bo, v) }
	w32 := func(v uint32) { _ = binary.Write(&b, bo, v) }
	w32(8) // IFD0 right after the header
	n := 1
	if orientation > 0 {
		n = 2
	}
	w16(uint16(n))
	maker := "TestCam\x00"
	makeOff := uint32(8 + 2 + 12*n + 4)
	w16(0x010F) // Make, ASCII, stored at makeOff
	w16(2)
	w32(uint32(len(maker)))
	w32(makeOff)
	if orientation > 0 {
		w16(tagOrientation)
		w16(typ)
		w32(1)
		if typ == tiffLong {
			w32(uint32(orientation))
		} else {
			w16(uint16(orientation))
			w16(0)
		}
	}
	w32(0) // no next IFD
	b.WriteString(maker)
	return b.Bytes()
}

// encodeJPEG encodes m at high quality.
func encodeJPEG(t testing.TB, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// withAPP1 inserts an EXIF APP1 segment holding tiff right after the SOI
// marker of a JPEG.
func withAPP1(jpg, tiff []byte) []byte {
	payload := append([]byte("Exif\x00\x00"), tiff...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(2+len(payload)))
	seg = append(seg, payload...)
	out := append([]byte{}, jpg[:2]...)
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

// encodePNG encodes m as PNG.
func encodePNG(t testing.TB, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pngChunk frames data as a PNG chunk with its CRC.
func pngChunk(typ string, data []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	out = append(out, typ...)
	out = append(out, data...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(append([]byte(typ), data...)))
}

// withPNGChunk inserts a chunk right after a PNG's IHDR chunk.
func withPNGChunk(p []byte, typ string, data []byte) []byte {
	const afterIHDR = 8 + 8 + 13 + 4
	out := append([]byte{}, p[:afterIHDR]...)
	out = append(out, pngChunk(typ, data)...)
	return append(out, p[afterIHDR:]...)
}

// pngHeaderOnly returns a PNG signature, an IHDR declaring w×h 8-bit RGBA
// and an IEND: a decompression bomb's declaration without its payload.
func pngHeaderOnly(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 6, 0, 0, 0)
	out := append([]byte("\x89PNG\r\n\x1a\n"), pngChunk("IHDR", ihdr)...)
	return append(out, pngChunk("IEND", nil)...)
}

// bitWriter packs bits least-significant first, as VP8L requires.
type bitWriter struct {
	buf   []byte
	nbits uint
}

func (w *bitWriter) write(v uint32, n uint) {
	for i := range n {
		if w.nbits%8 == 0 {
			w.buf = append(w.buf, 0)
		}
		if v>>i&1 == 1 {
			w.buf[len(w.buf)-1] |= 1 << (w.nbits % 8)
		}
		w.nbits++
	}
}

// losslessWebP builds a w×h single-colour lossless (VP8L) WebP by hand: the
// standard library has no WebP encoder. Each of the five prefix codes is a
// "simple" code with one 8-bit symbol, so every pixel costs zero bits and
// any size takes a few bytes — which also makes it a compact bomb. When
// exif is non-nil the file uses the extended (VP8X) layout with an EXIF
// chunk.
func losslessWebP(w, h int, c color.RGBA, exif []byte) []byte {
	var bw bitWriter
	bw.write(0x2f, 8) // VP8L signature
	bw.write(uint32(w-1), 14)
	bw.write(uint32(h-1), 14)
	bw.write(0, 1)                                       // alpha not used
	bw.write(0, 3)                                       // version
	bw.write(0, 1)                                       // no transform
	bw.write(0, 1)                                       // no colour cache
	bw.write(0, 1)                                       // no meta prefix codes
	for _, sym := range []uint8{c.G, c.R, c.B, 255, 0} { // green, red, blue, alpha, distance
		bw.write(1, 1) // simple code
		bw.write(0, 1) // one symbol
		bw.write(1, 1) // 8-bit symbol
		bw.write(uint32(sym), 8)
	}
	vp8l := append(bw.buf, 0, 0, 0, 0)

	chunk := func(id string, data []byte) []byte {
		out := append([]byte(id), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
		out = append(out, data...)
		if len(data)%2 == 1 {
			out = append(out, 0)
		}
		return out
	}
	var body []byte
	if exif != nil {
		x := make([]byte, 10)
		x[0] = 0x08 // EXIF present
		put24 := func(b []byte, v int) { b[0], b[1], b[2] = byte(v), byte(v>>8), byte(v>>16) }
		put24(x[4:], w-1)
		put24(x[7:], h-1)
		body = append(body, chunk("VP8X", x)...)
	}
	body = append(body, chunk("VP8L", vp8l)...)
	if exif != nil {
		body = append(body, chunk("EXIF", exif)...)
	}
	out := []byte("RIFF")
	out = binary.LittleEndian.AppendUint32(out, uint32(4+len(body)))
	out = append(out, "WEBP"...)
	return append(out, body...)
}

// near reports whether two colours differ by at most tol in every channel.
func near(a, b color.RGBA, tol int) bool {
	d := func(x, y uint8) bool { v := int(x) - int(y); return v <= tol && v >= -tol }
	return d(a.R, b.R) && d(a.G, b.G) && d(a.B, b.B) && d(a.A, b.A)
}
