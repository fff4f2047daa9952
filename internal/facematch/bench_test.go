package facematch_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/everify/everify/internal/evaldata"
	"github.com/everify/everify/internal/facematch"
	"github.com/everify/everify/internal/imagein"
)

// Two 640x480 webcam captures of the same person, the form a selfie and
// a photo of a document arrive in.
const (
	benchSource = "nuaa-train/live/0001/0001_00_00_01_0.jpg"
	benchTarget = "nuaa-train/live/0001/0001_00_00_01_112.jpg"
)

// BenchmarkMatch measures one face match of two in-memory 640x480 JPEGs,
// everything the API does after receiving the bytes: decode both (EXIF
// orientation included) concurrently, as the API does, then for each
// image, concurrently, detection, landmarks, quality and embedding; then
// the calibrated score. It reports the wall-clock p50 and p99 per match
// (the goal is a p50 of at most 40 ms) and the CPU time per match summed
// over all threads (cpu-ms/op), for each model profile.
//
//	go test -run '^$' -bench Match -benchtime 200x ./internal/facematch
func BenchmarkMatch(b *testing.B) {
	src, tgt := benchJPEG(b, benchSource), benchJPEG(b, benchTarget)
	for _, profile := range facematch.Profiles {
		b.Run(profile, func(b *testing.B) {
			cal, err := facematch.ProfileCalibration(profile)
			if err != nil {
				b.Fatal(err)
			}
			eng := engineWith(b, cal)
			ctx := context.Background()
			if err := match(ctx, eng, src, tgt); err != nil { // warm-up: sessions, buffers
				b.Fatal(err)
			}
			var lat []time.Duration
			cpu0 := processCPU()
			for b.Loop() {
				t0 := time.Now()
				if err := match(ctx, eng, src, tgt); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
			reportLatency(b, lat)
		})
	}
}

// BenchmarkMatchParallel runs matches of the default profile from four
// goroutines at once, as a server with four clients does, and reports
// matches per second.
func BenchmarkMatchParallel(b *testing.B) {
	src, tgt := benchJPEG(b, benchSource), benchJPEG(b, benchTarget)
	eng := engineWith(b, nil)
	ctx := context.Background()
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(4)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			t0 := time.Now()
			if err := match(ctx, eng, src, tgt); err != nil {
				b.Error(err)
				return
			}
			mu.Lock()
			lat = append(lat, time.Since(t0))
			mu.Unlock()
		}
	})
	b.ReportMetric(float64(len(lat))/time.Since(start).Seconds(), "matches/s")
	reportLatency(b, lat)
}

// match decodes the two JPEGs concurrently and matches them.
func match(ctx context.Context, eng *facematch.Engine, src, tgt []byte) error {
	var imgs [2]*imagein.Image
	var errs [2]error
	var wg sync.WaitGroup
	for i, data := range [][]byte{src, tgt} {
		wg.Go(func() { imgs[i], errs[i] = imagein.Decode(data, imagein.Limits{}) })
	}
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return err
	}
	_, err := eng.Match(ctx, imgs[0].RGBA, imgs[1].RGBA, 80)
	return err
}

func benchJPEG(b *testing.B, rel string) []byte {
	b.Helper()
	data, err := os.ReadFile(evaldata.Require(b, rel))
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// reportLatency reports the p50 and p99 of lat in milliseconds.
func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}
