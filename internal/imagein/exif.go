package imagein

import (
	"encoding/binary"
	"image"
)

// The EXIF block is a TIFF structure: a byte-order mark, the offset of the
// first image file directory (IFD0), and 12-byte entries of tag, type,
// count and value. Only IFD0's Orientation tag is read. Every offset is
// bounds-checked; anything malformed means "no orientation" (1), never an
// error, because the pixels themselves are fine.

const (
	tagOrientation = 0x0112
	tiffShort      = 3
	tiffLong       = 4
)

// tiffOrientation returns the Orientation (1-8) recorded in IFD0 of the TIFF
// block b, or 1 when b records none or is malformed.
func tiffOrientation(b []byte) int {
	if len(b) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(b[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return 1
	}
	ifd := uint64(bo.Uint32(b[4:8]))
	if ifd < 8 || ifd+2 > uint64(len(b)) {
		return 1
	}
	n := uint64(bo.Uint16(b[ifd:]))
	for i := range n {
		e := ifd + 2 + 12*i
		if e+12 > uint64(len(b)) {
			return 1
		}
		if bo.Uint16(b[e:]) != tagOrientation {
			continue
		}
		if bo.Uint32(b[e+4:]) != 1 { // count
			return 1
		}
		var v uint32
		switch bo.Uint16(b[e+2:]) {
		case tiffShort:
			v = uint32(bo.Uint16(b[e+8:]))
		case tiffLong:
			v = bo.Uint32(b[e+8:])
		default:
			return 1
		}
		if v < 1 || v > 8 {
			return 1
		}
		return int(v)
	}
	return 1
}

// jpegEXIF returns the TIFF block of the first EXIF APP1 segment of a JPEG,
// or nil. It walks the marker segments that precede the image data.
func jpegEXIF(b []byte) []byte {
	if len(b) < 2 || b[0] != 0xFF || b[1] != 0xD8 {
		return nil
	}
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xFF {
			return nil
		}
		m := b[i+1]
		switch {
		case m == 0xFF: // fill byte before a marker
			i++
			continue
		case m == 0x01 || m >= 0xD0 && m <= 0xD8: // markers without a length
			i += 2
			continue
		case m == 0xDA || m == 0xD9: // start of scan, end of image: no metadata beyond
			return nil
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return nil
		}
		seg := b[i+4 : i+2+n]
		if m == 0xE1 && len(seg) >= 6 && string(seg[:6]) == "Exif\x00\x00" {
			return seg[6:]
		}
		i += 2 + n
	}
	return nil
}

// pngEXIF returns the contents of a PNG's eXIf chunk, or nil.
func pngEXIF(b []byte) []byte {
	for i := uint64(8); i+8 <= uint64(len(b)); {
		n := uint64(binary.BigEndian.Uint32(b[i:]))
		end := i + 8 + n
		if end+4 > uint64(len(b)) {
			return nil
		}
		switch string(b[i+4 : i+8]) {
		case "eXIf":
			return trimExifHeader(b[i+8 : end])
		case "IEND":
			return nil
		}
		i = end + 4 // skip the CRC
	}
	return nil
}

// webpEXIF returns the contents of a WebP file's EXIF chunk, or nil.
func webpEXIF(b []byte) []byte {
	for i := uint64(12); i+8 <= uint64(len(b)); {
		n := uint64(binary.LittleEndian.Uint32(b[i+4:]))
		end := i + 8 + n
		if end > uint64(len(b)) {
			return nil
		}
		if string(b[i:i+4]) == "EXIF" {
			return trimExifHeader(b[i+8 : end])
		}
		i = end + n&1 // chunks are padded to an even length
	}
	return nil
}

// trimExifHeader drops the JPEG-style "Exif\0\0" prefix that some writers
// put in PNG and WebP EXIF chunks although those formats do not use it.
func trimExifHeader(b []byte) []byte {
	if len(b) >= 6 && string(b[:6]) == "Exif\x00\x00" {
		return b[6:]
	}
	return b
}

// orient returns src turned upright for the given EXIF orientation; src
// must have its bounds at the origin. Orientation 1 (or an unknown value)
// returns src itself.
//
// For destination pixel (x, y) the source pixel is (sx, sy) with
// sx = ax*x + bx*y + cx and sy = ay*x + by*y + cy, where W and H are the
// source's width and height:
//
//	2 mirror horizontal     sx = W-1-x, sy = y
//	3 rotate 180            sx = W-1-x, sy = H-1-y
//	4 mirror vertical       sx = x,     sy = H-1-y
//	5 transpose             sx = y,     sy = x
//	6 rotate 90 clockwise   sx = y,     sy = H-1-x
//	7 transverse            sx = W-1-y, sy = H-1-x
//	8 rotate 90 anticlock.  sx = W-1-y, sy = x
func orient(src *image.RGBA, o int) *image.RGBA {
	w, h := src.Rect.Dx(), src.Rect.Dy()
	var ax, bx, cx, ay, by, cy int
	switch o {
	case 2:
		ax, cx, by = -1, w-1, 1
	case 3:
		ax, cx, by, cy = -1, w-1, -1, h-1
	case 4:
		ax, by, cy = 1, -1, h-1
	case 5:
		bx, ay = 1, 1
	case 6:
		bx, ay, cy = 1, -1, h-1
	case 7:
		bx, cx, ay, cy = -1, w-1, -1, h-1
	case 8:
		bx, cx, ay = -1, w-1, 1
	default:
		return src
	}
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	// The source offset is linear in x along a destination row.
	step := ay*src.Stride + 4*ax
	for y := range dh {
		s := (by*y+cy)*src.Stride + 4*(bx*y+cx)
		row := dst.Pix[y*dst.Stride : y*dst.Stride+4*dw]
		for d := 0; d < len(row); d += 4 {
			copy(row[d:d+4], src.Pix[s:s+4])
			s += step
		}
	}
	return dst
}
