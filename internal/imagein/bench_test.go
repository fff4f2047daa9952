package imagein

import (
	"encoding/base64"
	"encoding/binary"
	"image"
	"testing"
)

// photoLike returns a 640x480 image with smooth gradients and detail, so
// that JPEG coding costs what a webcam frame costs (a flat pattern would
// compress to nothing).
func photoLike() *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for y := range 480 {
		for x := range 640 {
			i := m.PixOffset(x, y)
			m.Pix[i] = uint8(x * 255 / 639)
			m.Pix[i+1] = uint8(y * 255 / 479)
			m.Pix[i+2] = uint8((x*x + 3*y*y) >> 6)
			m.Pix[i+3] = 255
		}
	}
	return m
}

func BenchmarkDecodeJPEG640x480(b *testing.B) {
	data := encodeJPEG(b, photoLike())
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Decode(data, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeJPEG640x480Rotated(b *testing.B) {
	data := withAPP1(encodeJPEG(b, photoLike()), tiffBlock(binary.BigEndian, 6, tiffShort))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Decode(data, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOrient640x480(b *testing.B) {
	src := photoLike()
	for _, o := range []int{3, 6} {
		b.Run(map[int]string{3: "rotate180", 6: "rotate90"}[o], func(b *testing.B) {
			for b.Loop() {
				orient(src, o)
			}
		})
	}
}

func BenchmarkDecodeBase64(b *testing.B) {
	s := "data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(encodeJPEG(b, photoLike()))
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		if _, err := DecodeBase64(s, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}
