package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/everify/everify/client"
	"github.com/everify/everify/internal/evaldata"
)

// runBench implements `everify bench`: load generators for a running
// server.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runSubcommand(ctx, "bench", []command{
		{"facematch", "closed-loop load of POST face-match with inline images", runBenchFaceMatch},
		{"mixed", "open-loop mixed load: liveness sessions across replicas and face matches", runBenchMixed},
	}, args, stdout, stderr)
}

// Default bench images: two 640x480 webcam captures of one person.
const (
	benchSourceImage = "nuaa-train/live/0001/0001_00_00_01_0.jpg"
	benchTargetImage = "nuaa-train/live/0001/0001_00_00_01_112.jpg"
)

// loadResult is the outcome of a load run.
type loadResult struct {
	URL         string         `json:"url"`
	Concurrency int            `json:"concurrency"`
	Seconds     float64        `json:"seconds"`
	Requests    int            `json:"requests"`
	Errors      int            `json:"errors"`
	ErrorCodes  map[string]int `json:"error_codes,omitempty"`
	PerSecond   float64        `json:"requests_per_second"`
	P50         float64        `json:"p50_ms"`
	P99         float64        `json:"p99_ms"`
	Max         float64        `json:"max_ms"`
	// RSS and PeakRSS are the server's resident memory at the end and its
	// peak (VmRSS, VmHWM), in MiB, when its process id was given.
	RSS     float64 `json:"rss_mib,omitempty"`
	PeakRSS float64 `json:"peak_rss_mib,omitempty"`
}

// runBenchFaceMatch implements `everify bench facematch`.
func runBenchFaceMatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench facematch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: everify bench facematch --url URL --key KEY [flags]

Sends POST /v1/biometrics/face-match requests with two inline (base64) JPEGs
from --concurrency clients for --duration after a warm-up, and prints the
requests per second, the latency p50/p99/max, the errors (any answer but 200
counts) and, with --server-pid, the server's resident memory.

Flags:`)
		fs.PrintDefaults()
	}
	url := fs.String("url", "", "the server's base URL, e.g. http://127.0.0.1:8080")
	key := fs.String("key", os.Getenv("EVERIFY_API_KEY"), "API key ($EVERIFY_API_KEY)")
	data := evaldata.Dir()
	source := fs.String("source", filepath.Join(data, benchSourceImage), "source image")
	target := fs.String("target", filepath.Join(data, benchTargetImage), "target image")
	conc := fs.Int("concurrency", 4, "concurrent clients")
	duration := fs.Duration("duration", 30*time.Second, "how long to measure")
	warmup := fs.Duration("warmup", 3*time.Second, "load before measuring, not counted")
	pid := fs.Int("server-pid", 0, "report this process's resident memory (Linux)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *url == "" || *key == "" || fs.NArg() > 0 || *conc < 1 {
		return usageErrorf("give --url and --key (and no arguments)")
	}
	body, err := faceMatchBody(*source, *target)
	if err != nil {
		return err
	}
	endpoint := strings.TrimRight(*url, "/") + "/v1/biometrics/face-match"
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *conc}, Timeout: time.Minute}
	post := func() (time.Duration, string) {
		t0 := time.Now()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
		if err != nil {
			return 0, "request"
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-API-Key", *key)
		resp, err := hc.Do(req)
		if err != nil {
			return 0, "transport"
		}
		defer resp.Body.Close()
		var out client.FaceMatchResponse
		derr := json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode != http.StatusOK || derr != nil || out.Result == nil {
			return 0, strconv.Itoa(resp.StatusCode)
		}
		return time.Since(t0), ""
	}
	// Warm-up, then the measured window.
	load(*conc, time.Now().Add(*warmup), post, nil)
	res := loadResult{URL: *url, Concurrency: *conc, ErrorCodes: map[string]int{}}
	var lat []time.Duration
	start := time.Now()
	load(*conc, start.Add(*duration), post, func(d time.Duration, code string) {
		if code != "" {
			res.Errors++
			res.ErrorCodes[code]++
			return
		}
		lat = append(lat, d)
	})
	res.Seconds = time.Since(start).Seconds()
	if err := ctx.Err(); err != nil {
		return err
	}
	res.Requests = len(lat) + res.Errors
	res.PerSecond = float64(len(lat)) / res.Seconds
	res.P50, res.P99, res.Max = latencyStats(lat)
	if *pid > 0 {
		res.RSS, res.PeakRSS = processMemory(*pid)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	fmt.Fprintf(stdout, "face-match, %d clients, %.0f s: %d requests, %.1f/s, %d errors %v; latency p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
		res.Concurrency, res.Seconds, res.Requests, res.PerSecond, res.Errors, res.ErrorCodes, res.P50, res.P99, res.Max)
	if res.PeakRSS > 0 {
		fmt.Fprintf(stdout, "server memory: RSS %.0f MiB, peak %.0f MiB\n", res.RSS, res.PeakRSS)
	}
	return nil
}

// load runs post from n goroutines until deadline, reporting each outcome
// to record (serialised) when it is not nil.
func load(n int, deadline time.Time, post func() (time.Duration, string), record func(time.Duration, string)) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				d, code := post()
				if record != nil {
					mu.Lock()
					record(d, code)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
}

// faceMatchBody builds the request body with both images inline.
func faceMatchBody(source, target string) ([]byte, error) {
	var enc [2]string
	for i, f := range []string{source, target} {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		enc[i] = base64.StdEncoding.EncodeToString(data)
	}
	return json.Marshal(client.FaceMatchRequest{SourceImageBase64: enc[0], TargetImageBase64: enc[1]})
}

// processMemory returns a process's current and peak resident memory in
// MiB from /proc (zeros where unavailable).
func processMemory(pid int) (rss, peak float64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) < 1 {
			continue
		}
		kb, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			rss = kb / 1024
		case "VmHWM":
			peak = kb / 1024
		}
	}
	return rss, peak
}
