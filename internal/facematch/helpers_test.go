package facematch_test

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/jpeg"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/everify/everify/internal/evaldata"
	"github.com/everify/everify/internal/facematch"
	"github.com/everify/everify/internal/imagein"
	"github.com/everify/everify/internal/vision/faceapi"
	"github.com/everify/everify/internal/vision/visiontest"
)

// engineModels are the models the default engine loads.
var engineModels = []string{"blazeface-front", "blazeface-back", "facemesh", faceapi.EmbedderModel}

var engines struct {
	mu sync.Mutex
	m  map[*facematch.Calibration]*facematch.Engine
}

// engineWith returns an engine on the installed models with calibration
// cal (the default if nil), built once per calibration for the test binary.
func engineWith(tb testing.TB, cal *facematch.Calibration) *facematch.Engine {
	tb.Helper()
	rt := visiontest.Runtime(tb, engineModels...)
	engines.mu.Lock()
	defer engines.mu.Unlock()
	if e, ok := engines.m[cal]; ok {
		return e
	}
	e, err := facematch.New(rt, facematch.Options{Calibration: cal})
	if err != nil {
		tb.Fatal(err)
	}
	if engines.m == nil {
		engines.m = map[*facematch.Calibration]*facematch.Engine{}
	}
	engines.m[cal] = e
	return e
}

// processCPU is the CPU time (user and system) the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadImage reads an evaluation image through imagein, as the API does.
func loadImage(tb testing.TB, rel string) *imagein.Image {
	tb.Helper()
	data, err := os.ReadFile(evaldata.Require(tb, rel))
	if err != nil {
		tb.Fatal(err)
	}
	img, err := imagein.Decode(data, imagein.Limits{})
	if err != nil {
		tb.Fatalf("%s: %v", rel, err)
	}
	return img
}

// encodeJPEG encodes img at quality 95 and, when orientation is not 0,
// adds an EXIF block declaring that orientation (1-8).
func encodeJPEG(tb testing.TB, img image.Image, orientation int) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		tb.Fatal(err)
	}
	data := buf.Bytes()
	if orientation == 0 {
		return data
	}
	// APP1 "Exif\0\0" + a little-endian TIFF header and one IFD with the
	// Orientation tag (0x0112, SHORT, count 1).
	var tiff bytes.Buffer
	le := binary.LittleEndian
	tiff.WriteString("II")
	binary.Write(&tiff, le, uint16(42))
	binary.Write(&tiff, le, uint32(8))
	binary.Write(&tiff, le, uint16(1))
	binary.Write(&tiff, le, uint16(0x0112))
	binary.Write(&tiff, le, uint16(3))
	binary.Write(&tiff, le, uint32(1))
	binary.Write(&tiff, le, uint16(orientation))
	binary.Write(&tiff, le, uint16(0))
	binary.Write(&tiff, le, uint32(0)) // no next IFD
	payload := append([]byte("Exif\x00\x00"), tiff.Bytes()...)
	app1 := []byte{0xFF, 0xE1, byte((len(payload) + 2) >> 8), byte(len(payload) + 2)}
	out := append([]byte{}, data[:2]...) // SOI
	out = append(out, app1...)
	out = append(out, payload...)
	return append(out, data[2:]...)
}

// rotateCW returns img turned a quarter turn clockwise.
func rotateCW(img *image.RGBA) *image.RGBA {
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dy(), b.Dx()))
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			out.Set(b.Dy()-1-y, x, img.At(b.Min.X+x, b.Min.Y+y))
		}
	}
	return out
}
