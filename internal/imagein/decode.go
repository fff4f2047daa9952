package imagein

import (
	"bytes"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"strings"

	"golang.org/x/image/webp"

	"github.com/everify/everify/internal/biometric"
)

// Image is a decoded image, ready for the vision pipeline.
type Image struct {
	// RGBA holds the pixels upright (the EXIF orientation applied) and
	// opaque (transparent areas composited onto white); its bounds start
	// at (0, 0), so pixel (x, y) is at RGBA.Pix[y*RGBA.Stride+4*x:].
	RGBA *image.RGBA
	// Format is "jpeg", "png" or "webp".
	Format string
	// Orientation is the EXIF orientation the file declared, 1-8 (1 when
	// it declared none); it has already been applied to RGBA.
	Orientation int
	// Data is the encoded image as received.
	Data []byte
}

// format is one accepted encoding.
type format struct {
	name         string
	magic        func([]byte) bool
	decodeConfig func(io.Reader) (image.Config, error)
	decode       func(io.Reader) (image.Image, error)
	exif         func([]byte) []byte // locates the EXIF (TIFF) block, nil if none
}

var formats = []format{
	{
		name:         "jpeg",
		magic:        func(b []byte) bool { return bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF}) },
		decodeConfig: jpeg.DecodeConfig,
		decode:       jpeg.Decode,
		exif:         jpegEXIF,
	},
	{
		name:         "png",
		magic:        func(b []byte) bool { return bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) },
		decodeConfig: png.DecodeConfig,
		decode:       png.Decode,
		exif:         pngEXIF,
	},
	{
		name:         "webp",
		magic:        func(b []byte) bool { return len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP" },
		decodeConfig: webp.DecodeConfig,
		decode:       webp.Decode,
		exif:         webpEXIF,
	},
}

// Decode checks and decodes an encoded image. It identifies the format from
// the bytes themselves (never from a declared content type), refuses images
// over lim's byte and pixel limits — the pixel count is read from the
// header, before any pixel memory is allocated — and applies the EXIF
// orientation. Zero fields of lim take their defaults.
//
// Errors are *biometric.Error: KindTooLarge (image_too_large,
// image_too_many_pixels), KindUnsupportedMedia (unsupported_image_type) and
// KindUnprocessable (image_unreadable) for empty, truncated or corrupt data.
func Decode(data []byte, lim Limits) (*Image, error) {
	lim = lim.withDefaults()
	if len(data) == 0 {
		return nil, biometric.Errorf(biometric.KindUnprocessable, "image_unreadable", "The image is empty (0 bytes).")
	}
	if int64(len(data)) > lim.MaxBytes {
		return nil, tooLarge(int64(len(data)), lim.MaxBytes)
	}
	f := sniff(data)
	if f == nil {
		return nil, biometric.Errorf(biometric.KindUnsupportedMedia, "unsupported_image_type",
			"Only JPEG, PNG and WebP images are accepted, and this data %s.", describe(data))
	}
	cfg, err := f.decodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, undecodable(f.name, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, undecodable(f.name, fmt.Errorf("declared size %dx%d", cfg.Width, cfg.Height))
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > lim.MaxPixels {
		return nil, biometric.Errorf(biometric.KindTooLarge, "image_too_many_pixels",
			"The image is %dx%d pixels (%.1f megapixels), over the %.1f megapixel limit; send a smaller image.",
			cfg.Width, cfg.Height, float64(px)/1e6, float64(lim.MaxPixels)/1e6)
	}
	src, err := f.decode(bytes.NewReader(data))
	if err != nil {
		return nil, undecodable(f.name, err)
	}
	if b := src.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		// Never trust a decoder to allocate only what the header declared.
		return nil, undecodable(f.name, fmt.Errorf("decoded %v, header declared %dx%d", b, cfg.Width, cfg.Height))
	}
	o := tiffOrientation(f.exif(data))
	return &Image{RGBA: orient(toRGBA(src), o), Format: f.name, Orientation: o, Data: data}, nil
}

func sniff(data []byte) *format {
	for i := range formats {
		if formats[i].magic(data) {
			return &formats[i]
		}
	}
	return nil
}

// describe says what unsupported data looks like, for the error message.
func describe(data []byte) string {
	has := func(p string) bool { return bytes.HasPrefix(data, []byte(p)) }
	switch {
	case has("GIF87a"), has("GIF89a"):
		return "is a GIF image"
	case has("BM"):
		return "is a BMP image"
	case has("II*\x00"), has("MM\x00*"):
		return "is a TIFF image"
	case has("%PDF-"):
		return "is a PDF document"
	case has("RIFF"):
		return "is a RIFF file that is not WebP"
	case len(data) >= 12 && string(data[4:8]) == "ftyp":
		switch string(data[8:12]) {
		case "heic", "heix", "hevc", "heim", "heis", "mif1", "msf1":
			return "is a HEIC/HEIF image"
		case "avif", "avis":
			return "is an AVIF image"
		}
		return "is an ISO media file (such as MP4 or HEIF)"
	}
	ct, _, _ := strings.Cut(http.DetectContentType(data), ";")
	if ct == "application/octet-stream" {
		return "is not in a recognised image format"
	}
	return "is " + ct + " content"
}

// undecodable reports a file that has a supported signature but cannot be
// decoded. Features the decoders do not implement (arithmetic-coded or
// 12-bit JPEG, for instance) are 415; everything else is truncation or
// corruption, 422.
func undecodable(name string, err error) error {
	switch err.(type) {
	case jpeg.UnsupportedError, png.UnsupportedError:
		return &biometric.Error{Kind: biometric.KindUnsupportedMedia, Code: "unsupported_image_type",
			Message: fmt.Sprintf("The %s image uses an encoding feature that is not supported; re-save it as a standard JPEG, PNG or WebP.", strings.ToUpper(name)),
			Err:     err}
	}
	return &biometric.Error{Kind: biometric.KindUnprocessable, Code: "image_unreadable",
		Message: fmt.Sprintf("The %s image is truncated or corrupt and could not be decoded; send the complete file.", strings.ToUpper(name)),
		Err:     err}
}

// toRGBA converts src to an opaque *image.RGBA with bounds at the origin,
// compositing any transparency onto white. An image that already is one is
// returned as it is.
func toRGBA(src image.Image) *image.RGBA {
	b := src.Bounds()
	opaque := false
	if o, ok := src.(interface{ Opaque() bool }); ok {
		opaque = o.Opaque()
	}
	if m, ok := src.(*image.RGBA); ok && b.Min == (image.Point{}) && opaque {
		return m
	}
	dst := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	if opaque {
		draw.Draw(dst, dst.Rect, src, b.Min, draw.Src)
	} else {
		draw.Draw(dst, dst.Rect, image.White, image.Point{}, draw.Src)
		draw.Draw(dst, dst.Rect, src, b.Min, draw.Over)
	}
	return dst
}
