package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/everify/everify/client"
	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/evaldata"
	"github.com/everify/everify/internal/liveness"
)

// benchVideo is the default capture of `bench mixed`: a person blinking,
// filmed with a phone held upright.
const benchVideo = "video/live/blink-selfie-portrait.mp4"

// The routes `bench mixed` measures, in report order.
const (
	routeStart     = "POST liveness/start"
	routeFrames    = "POST liveness/{id}/frames"
	routeComplete  = "POST liveness/{id}/complete"
	routeResults   = "GET liveness/{id}/results"
	routeFaceMatch = "POST face-match"
)

var mixedRoutes = []string{routeStart, routeFrames, routeComplete, routeResults, routeFaceMatch}

// routeStats is what one route saw during a mixed load run. Latencies are
// those of the successful (2xx) answers.
type routeStats struct {
	Route      string         `json:"route"`
	Requests   int            `json:"requests"`
	Errors     int            `json:"errors"`
	ErrorCodes map[string]int `json:"error_codes,omitempty"`
	PerSecond  float64        `json:"requests_per_second"`
	P50        float64        `json:"p50_ms"`
	P99        float64        `json:"p99_ms"`
	Max        float64        `json:"max_ms"`
}

// sessionStats counts the liveness sessions of a run. A session is
// accepted when its capture was completed (202); an accepted session that
// is neither completed nor failed when the drain period ends is lost.
// Completion is the time from the 202 to the first poll that saw the
// session completed or failed.
type sessionStats struct {
	Started   int `json:"started"`  // start requests sent
	Accepted  int `json:"accepted"` // captures completed with 202
	Rejected  int `json:"rejected"` // started, but a request of the capture failed
	Completed int `json:"completed"`
	Live      int `json:"live"` // completed with is_live
	Failed    int `json:"failed"`
	Lost      int `json:"lost"`
	// Final counts the accepted sessions by the last status seen.
	Final         map[string]int `json:"final_status,omitempty"`
	PerSecond     float64        `json:"analysed_per_second"` // completed or failed, over the elapsed time
	CompletionP50 float64        `json:"completion_p50_s"`
	CompletionP99 float64        `json:"completion_p99_s"`
	CompletionMax float64        `json:"completion_max_s"`
	// FirstThird and LastThird are the median completion times of the
	// sessions started in the first and the last third of the load: a
	// backlog that grows shows as a last third far slower than the first.
	FirstThird float64 `json:"completion_first_third_s"`
	LastThird  float64 `json:"completion_last_third_s"`
}

// serverStats is one server process's memory and CPU use.
type serverStats struct {
	PID        int     `json:"pid"`
	RSS        float64 `json:"rss_mib"`
	PeakRSS    float64 `json:"peak_rss_mib"`
	CPUSeconds float64 `json:"cpu_seconds"` // user + system during the run
	Cores      float64 `json:"cores"`       // CPUSeconds over the elapsed time
}

// mixedReport is the outcome of `everify bench mixed`.
type mixedReport struct {
	URLs           []string      `json:"urls"`
	SessionRate    float64       `json:"session_rate"`
	FaceMatchRate  float64       `json:"facematch_rate"`
	LoadSeconds    float64       `json:"load_seconds"`
	ElapsedSeconds float64       `json:"elapsed_seconds"` // load and drain
	LoadAverage    [2]string     `json:"load_average"`    // the machine's 1-minute load average before and after
	Routes         []routeStats  `json:"routes"`
	Sessions       sessionStats  `json:"sessions"`
	Servers        []serverStats `json:"servers,omitempty"`
	// GeneratorCPU is this load generator's own CPU time (user + system),
	// which competes with the servers when they share the machine.
	GeneratorCPU float64  `json:"generator_cpu_seconds"`
	ServerErrors int      `json:"server_errors"` // 5xx answers
	Errors       int      `json:"errors"`        // every failed request, 5xx and transport included
	Sustained    bool     `json:"sustained"`
	Problems     []string `json:"problems,omitempty"`
}

// runBenchMixed implements `everify bench mixed`.
func runBenchMixed(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench mixed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: everify bench mixed --url URL[,URL…] --key KEY --rate R [flags]

Drives a mixed workload against one or more replicas for --duration, open
loop: --rate liveness sessions start per second, each on a random replica;
each uploads real frames (--video, sampled with ffmpeg, or --frames) in
batches paced like a live capture on the next replica, completes there,
and polls its results on random replicas until it is completed or failed.
Alongside, --facematch-rate face matches per second with two inline
images. After the load, accepted captures get --drain to finish; one that
does not is lost. Prints per route the requests, errors, throughput and
latency p50/p99/max, the sessions' fate and completion times, and with
--server-pid each server's peak memory and CPU. Exits 1 when any request
failed (a 5xx, a transport error or any other non-2xx) or a session was
lost.

Flags:`)
		fs.PrintDefaults()
	}
	urls := fs.String("url", "", "the replicas' base URLs, comma-separated, e.g. http://127.0.0.1:8080")
	key := fs.String("key", os.Getenv("EVERIFY_API_KEY"), "API key ($EVERIFY_API_KEY)")
	duration := fs.Duration("duration", 60*time.Second, "how long new sessions and face matches start")
	rate := fs.Float64("rate", 0.5, "liveness sessions started per second")
	faceRate := fs.Float64("facematch-rate", 0, "face matches per second (default: --rate)")
	drain := fs.Duration("drain", 60*time.Second, "after the load, how long accepted captures may take to finish")
	poll := fs.Duration("poll", 250*time.Millisecond, "interval between results polls of one session")
	data := evaldata.Dir()
	video := fs.String("video", filepath.Join(data, benchVideo), "video whose first --frame-count frames (at 15 fps) are the capture")
	framesDir := fs.String("frames", "", "directory of capture frames (file-name order, 15 fps), instead of --video")
	frameCount := fs.Int("frame-count", 45, "frames per capture")
	batchSize := fs.Int("batch", 15, "frames per upload batch")
	challenge := fs.String("challenge", "blink", "the challenge the sessions ask for")
	source := fs.String("source", filepath.Join(data, benchSourceImage), "face-match source image")
	target := fs.String("target", filepath.Join(data, benchTargetImage), "face-match target image")
	pids := fs.String("server-pid", "", "the servers' process ids, comma-separated: report their memory and CPU (Linux)")
	asJSON := fs.Bool("json", false, "print JSON")
	reportFile := fs.String("report", "", "also write the JSON report to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !flagSet(fs, "facematch-rate") {
		*faceRate = *rate
	}
	switch {
	case *urls == "" || *key == "" || fs.NArg() > 0:
		return usageErrorf("give --url and --key (and no arguments)")
	case *rate <= 0 || *faceRate < 0 || *duration <= 0 || *drain < 0 || *poll <= 0:
		return usageErrorf("--rate and --duration must be positive, --facematch-rate and --drain not negative")
	case *frameCount < 1 || *batchSize < 1:
		return usageErrorf("--frame-count and --batch must be positive")
	}
	pidList, err := parsePIDs(*pids)
	if err != nil {
		return usageErrorf("--server-pid: %v", err)
	}
	frames, err := benchFrames(ctx, *video, *framesDir, *frameCount)
	if err != nil {
		return err
	}
	var replicas []string
	for _, u := range splitList(*urls) {
		replicas = append(replicas, strings.TrimRight(u, "/"))
	}
	if len(replicas) == 0 {
		return usageErrorf("--url lists no URL")
	}
	g := &mixedLoad{
		urls:      replicas,
		key:       *key,
		challenge: *challenge,
		poll:      *poll,
		hc:        &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: time.Minute},
		rec:       newRecorder(),
		run:       fmt.Sprintf("%08x", rand.Uint32()),
	}
	g.batches, g.batchType = frameBatches(frames, *batchSize)
	if *faceRate > 0 {
		if g.faceBody, err = faceMatchBody(*source, *target); err != nil {
			return fmt.Errorf("face-match images: %w (give --source and --target, or set EVERIFY_EVAL_DATA)", err)
		}
	}
	rep := g.drive(ctx, *rate, *faceRate, *duration, *drain, pidList)
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := writeMixed(stdout, rep, *asJSON, *reportFile); err != nil {
		return err
	}
	if rep.Errors > 0 || rep.Sessions.Lost > 0 {
		return fmt.Errorf("%s", strings.Join(rep.Problems, "; "))
	}
	return nil
}

// writeMixed prints the report (as JSON or as Markdown tables) and writes
// its JSON to file when one is named.
func writeMixed(stdout io.Writer, rep mixedReport, asJSON bool, file string) error {
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	js = append(js, '\n')
	if file != "" {
		if err := os.WriteFile(file, js, 0o644); err != nil {
			return err
		}
	}
	if asJSON {
		_, err = stdout.Write(js)
		return err
	}
	printMixed(stdout, rep)
	return nil
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// parsePIDs parses a comma-separated list of process ids.
func parsePIDs(s string) ([]int, error) {
	var pids []int
	for _, f := range splitList(s) {
		pid, err := strconv.Atoi(f)
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("%q is not a process id", f)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// benchFrames loads the capture: the first n frames of dir, or of video
// sampled at liveness.DefaultFPS (ffmpeg decodes into a temporary
// directory that it removes).
func benchFrames(ctx context.Context, video, dir string, n int) ([]biometric.Frame, error) {
	var frames []biometric.Frame
	var err error
	if dir != "" {
		frames, err = liveness.ReadFrameDir(dir, liveness.DefaultFPS)
	} else {
		frames, err = liveness.DecodeVideo(ctx, video, liveness.VideoOptions{MaxFrames: n})
	}
	if err != nil {
		return nil, fmt.Errorf("capture frames: %w (give --video or --frames, or set EVERIFY_EVAL_DATA)", err)
	}
	if len(frames) < n {
		return nil, fmt.Errorf("capture frames: %d frames, --frame-count asks for %d", len(frames), n)
	}
	return frames[:n], nil
}

// frameBatch is one prepared upload: its multipart body, and when its last
// frame was captured (the batch is sent no earlier than that after the
// capture started, as a live capture would).
type frameBatch struct {
	body   []byte
	frames int
	lastMS int64
}

// frameBatches builds the multipart upload bodies of frames, size frames
// to a batch, as the browser SDK sends them: a meta part, then one frame
// part per frame. Every session sends the same bodies, so they are built
// once; the boundary is fixed and returned in the content type.
func frameBatches(frames []biometric.Frame, size int) ([]frameBatch, string) {
	const boundary = "everify-bench-mixed-boundary"
	var batches []frameBatch
	for b := 0; b*size < len(frames); b++ {
		part := frames[b*size : min((b+1)*size, len(frames))]
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		w.SetBoundary(boundary)
		meta := client.FrameBatchMeta{Batch: b}
		for _, f := range part {
			meta.Frames = append(meta.Frames, client.FrameMeta{Index: f.Index, CapturedAtMS: f.AtMS})
		}
		mw, _ := w.CreateFormField("meta")
		json.NewEncoder(mw).Encode(meta)
		for _, f := range part {
			h := textproto.MIMEHeader{}
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="frame"; filename="%06d.jpg"`, f.Index))
			h.Set("Content-Type", cmp.Or(f.ContentType, "image/jpeg"))
			fw, _ := w.CreatePart(h)
			fw.Write(f.Image)
		}
		w.Close()
		batches = append(batches, frameBatch{body: buf.Bytes(), frames: len(part), lastMS: part[len(part)-1].AtMS})
	}
	return batches, "multipart/form-data; boundary=" + boundary
}

// recorder collects the outcome of every request, by route.
type recorder struct {
	mu     sync.Mutex
	ok     map[string][]time.Duration
	errors map[string]map[string]int // route → code → count
}

func newRecorder() *recorder {
	return &recorder{ok: map[string][]time.Duration{}, errors: map[string]map[string]int{}}
}

// record notes one request of route: its latency when code is "" (a 2xx),
// else its error code (the HTTP status, or "transport").
func (r *recorder) record(route string, d time.Duration, code string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if code == "" {
		r.ok[route] = append(r.ok[route], d)
		return
	}
	if r.errors[route] == nil {
		r.errors[route] = map[string]int{}
	}
	r.errors[route][code]++
}

// routes summarises every route over seconds.
func (r *recorder) routes(seconds float64) []routeStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []routeStats
	for _, name := range mixedRoutes {
		out = append(out, summarizeRoute(name, r.ok[name], r.errors[name], seconds))
	}
	return out
}

// summarizeRoute computes a route's statistics from its successful
// latencies and its error counts.
func summarizeRoute(name string, ok []time.Duration, errs map[string]int, seconds float64) routeStats {
	s := routeStats{Route: name, ErrorCodes: maps.Clone(errs)}
	for _, n := range errs {
		s.Errors += n
	}
	s.Requests = len(ok) + s.Errors
	if seconds > 0 {
		s.PerSecond = float64(s.Requests) / seconds
	}
	s.P50, s.P99, s.Max = latencyStats(ok)
	return s
}

// latencyStats returns the p50, p99 and maximum of ds in milliseconds,
// nearest rank below as `bench facematch` reports them (zeros when ds is
// empty). It sorts ds.
func latencyStats(ds []time.Duration) (p50, p99, top float64) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	slices.Sort(ds)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return ms(ds[len(ds)/2]), ms(ds[(len(ds)-1)*99/100]), ms(ds[len(ds)-1])
}

// sessionOutcome is what became of one virtual session.
type sessionOutcome struct {
	startedAt  time.Duration // since the load started
	accepted   bool
	final      string // the last status seen, for accepted sessions
	live       bool
	completion time.Duration // from the 202 to the terminal status
}

// terminal reports whether a session status is final for an accepted
// capture: its analysis finished either way.
func terminal(status string) bool {
	return status == "completed" || status == "failed"
}

// summarizeSessions counts the sessions' fates; load is the length of the
// load window, which splits the sessions into thirds by start time.
func summarizeSessions(outs []sessionOutcome, load, elapsed time.Duration) sessionStats {
	s := sessionStats{Started: len(outs), Final: map[string]int{}}
	var all, first, last []time.Duration
	for _, o := range outs {
		if !o.accepted {
			s.Rejected++
			continue
		}
		s.Accepted++
		s.Final[cmp.Or(o.final, "unknown")]++
		switch o.final {
		case "completed":
			s.Completed++
			if o.live {
				s.Live++
			}
		case "failed":
			s.Failed++
		default:
			s.Lost++
			continue
		}
		all = append(all, o.completion)
		switch {
		case o.startedAt < load/3:
			first = append(first, o.completion)
		case o.startedAt >= load*2/3:
			last = append(last, o.completion)
		}
	}
	if elapsed > 0 {
		s.PerSecond = float64(s.Completed+s.Failed) / elapsed.Seconds()
	}
	p50, p99, mx := latencyStats(all)
	s.CompletionP50, s.CompletionP99, s.CompletionMax = p50/1000, p99/1000, mx/1000
	f, _, _ := latencyStats(first)
	l, _, _ := latencyStats(last)
	s.FirstThird, s.LastThird = f/1000, l/1000
	return s
}

// completionGrowing reports whether the completion time grew during the
// load (a backlog building up): the last third's median more than twice
// the first third's and more than 2 s above it.
func completionGrowing(s sessionStats) bool {
	return s.LastThird > 2*s.FirstThird && s.LastThird-s.FirstThird > 2
}

// judge fills the report's error totals, problems and verdict. A run is
// sustained when every request succeeded, no accepted session was lost
// and completion times did not keep growing.
func judge(rep *mixedReport) {
	rep.ServerErrors, rep.Errors = 0, 0
	codes := map[string]int{}
	for _, r := range rep.Routes {
		rep.Errors += r.Errors
		for code, n := range r.ErrorCodes {
			codes[code] += n
			if strings.HasPrefix(code, "5") {
				rep.ServerErrors += n
			}
		}
	}
	rep.Problems = nil
	if rep.ServerErrors > 0 {
		rep.Problems = append(rep.Problems, fmt.Sprintf("%d server errors (5xx)", rep.ServerErrors))
	}
	if n := rep.Errors - rep.ServerErrors; n > 0 {
		rep.Problems = append(rep.Problems, fmt.Sprintf("%d other failed requests %v", n, codes))
	}
	if n := rep.Sessions.Lost; n > 0 {
		rep.Problems = append(rep.Problems, fmt.Sprintf("%d lost sessions (accepted, not finished within the drain period)", n))
	}
	if completionGrowing(rep.Sessions) {
		rep.Problems = append(rep.Problems, fmt.Sprintf("completion time kept growing (median %.1f s in the first third, %.1f s in the last)",
			rep.Sessions.FirstThird, rep.Sessions.LastThird))
	}
	rep.Sustained = len(rep.Problems) == 0
}

// mixedLoad drives one mixed run.
type mixedLoad struct {
	urls      []string
	key       string
	challenge string
	poll      time.Duration
	batches   []frameBatch
	batchType string
	faceBody  []byte
	hc        *http.Client
	rec       *recorder
	run       string // makes this run's client_session_tokens unique
}

// drive runs the load for duration and lets accepted captures finish for
// up to drain, then reports.
func (g *mixedLoad) drive(ctx context.Context, rate, faceRate float64, duration, drain time.Duration, pids []int) mixedReport {
	rep := mixedReport{URLs: g.urls, SessionRate: rate, FaceMatchRate: faceRate, LoadSeconds: duration.Seconds()}
	rep.LoadAverage[0] = loadAverage()
	cpu0 := make([]float64, len(pids))
	for i, pid := range pids {
		cpu0[i] = processCPU(pid)
	}
	self0 := processCPU(os.Getpid())
	start := time.Now()
	end, drainEnd := start.Add(duration), start.Add(duration+drain)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		outs []sessionOutcome
	)
	if faceRate > 0 {
		wg.Go(func() {
			arrivals(ctx, start, end, faceRate, func(int) { wg.Go(func() { g.faceMatch(ctx) }) })
		})
	}
	arrivals(ctx, start, end, rate, func(n int) {
		wg.Go(func() {
			o := g.session(ctx, n, start, drainEnd)
			mu.Lock()
			outs = append(outs, o)
			mu.Unlock()
		})
	})
	wg.Wait()
	elapsed := time.Since(start)
	rep.ElapsedSeconds = elapsed.Seconds()
	rep.LoadAverage[1] = loadAverage()
	rep.Routes = g.rec.routes(elapsed.Seconds())
	rep.Sessions = summarizeSessions(outs, duration, elapsed)
	rep.GeneratorCPU = processCPU(os.Getpid()) - self0
	for i, pid := range pids {
		s := serverStats{PID: pid, CPUSeconds: processCPU(pid) - cpu0[i]}
		s.RSS, s.PeakRSS = processMemory(pid)
		s.Cores = s.CPUSeconds / elapsed.Seconds()
		rep.Servers = append(rep.Servers, s)
	}
	judge(&rep)
	return rep
}

// arrivals calls fire(0), fire(1), … at rate per second from start until
// end, open loop: on schedule whatever the server does.
func arrivals(ctx context.Context, start, end time.Time, rate float64, fire func(n int)) {
	for n := 0; ; n++ {
		at := start.Add(time.Duration(float64(n) / rate * float64(time.Second)))
		if !at.Before(end) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(at)):
		}
		fire(n)
	}
}

// replica returns the replica k places after the session's first one.
func (g *mixedLoad) replica(first, k int) string {
	return g.urls[(first+k)%len(g.urls)]
}

// session runs virtual session n: start on a random replica, upload the
// frames and complete on the next one, then poll the results on random
// replicas until the session is completed or failed, or drainEnd.
func (g *mixedLoad) session(ctx context.Context, n int, loadStart, drainEnd time.Time) sessionOutcome {
	o := sessionOutcome{startedAt: time.Since(loadStart)}
	first := rand.IntN(len(g.urls))
	startReq, _ := json.Marshal(client.StartLivenessRequest{
		ClientSessionToken: fmt.Sprintf("load-%s-%d", g.run, n),
		ChallengeTypes:     []string{g.challenge},
	})
	var started client.StartLivenessResponse
	if !g.call(ctx, routeStart, http.MethodPost, g.replica(first, 0)+"/v1/biometrics/liveness/start",
		g.keyAuth, bytes.NewReader(startReq), "application/json", &started) {
		return o
	}
	if started.Capture == nil || started.SessionToken == "" {
		g.rec.record(routeStart, 0, "no_capture")
		return o
	}
	bearer := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+started.SessionToken) }
	captureStart := time.Now()
	for _, b := range g.batches {
		sleepCtx(ctx, time.Until(captureStart.Add(time.Duration(b.lastMS)*time.Millisecond)))
		var ack client.FrameBatchResponse
		if !g.call(ctx, routeFrames, http.MethodPost, g.replica(first, 1)+started.Capture.UploadURL,
			bearer, bytes.NewReader(b.body), g.batchType, &ack) {
			return o
		}
	}
	frames := 0
	for _, b := range g.batches {
		frames += b.frames
	}
	completeReq, _ := json.Marshal(client.CompleteCaptureRequest{FrameCount: frames, Client: map[string]string{"agent": "everify-bench-mixed"}})
	var done client.CaptureStatusResponse
	if !g.call(ctx, routeComplete, http.MethodPost, g.replica(first, 1)+started.Capture.CompleteURL,
		bearer, bytes.NewReader(completeReq), "application/json", &done) {
		return o
	}
	accepted := time.Now()
	o.accepted, o.final = true, done.Status
	for !terminal(o.final) && o.final != "expired" && time.Now().Add(g.poll).Before(drainEnd) && ctx.Err() == nil {
		sleepCtx(ctx, g.poll)
		var res client.LivenessResultsResponse
		url := g.urls[rand.IntN(len(g.urls))] + "/v1/biometrics/liveness/" + started.SessionID + "/results"
		if g.call(ctx, routeResults, http.MethodGet, url, g.keyAuth, nil, "", &res) {
			o.final = res.Status
			o.live = res.Result != nil && res.Result.IsLive
		}
	}
	o.completion = time.Since(accepted)
	return o
}

// faceMatch sends one face match with both images inline.
func (g *mixedLoad) faceMatch(ctx context.Context) {
	var out client.FaceMatchResponse
	if g.call(ctx, routeFaceMatch, http.MethodPost, g.urls[rand.IntN(len(g.urls))]+"/v1/biometrics/face-match",
		g.keyAuth, bytes.NewReader(g.faceBody), "application/json", &out) && out.Result == nil {
		g.rec.record(routeFaceMatch, 0, "no_result")
	}
}

// keyAuth authenticates a request with the API key.
func (g *mixedLoad) keyAuth(r *http.Request) { r.Header.Set("X-API-Key", g.key) }

// call sends one request of route, records its outcome and decodes a 2xx
// answer into out; it reports whether the request succeeded.
func (g *mixedLoad) call(ctx context.Context, route, method, url string, auth func(*http.Request), body io.Reader, contentType string, out any) bool {
	t0 := time.Now()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		g.rec.record(route, 0, "request")
		return false
	}
	auth(req)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := g.hc.Do(req)
	if err != nil {
		g.rec.record(route, 0, "transport")
		return false
	}
	defer resp.Body.Close()
	derr := json.NewDecoder(resp.Body).Decode(out)
	io.Copy(io.Discard, resp.Body)
	switch {
	case resp.StatusCode/100 != 2:
		g.rec.record(route, 0, strconv.Itoa(resp.StatusCode))
		return false
	case derr != nil:
		g.rec.record(route, 0, "bad_json")
		return false
	}
	g.rec.record(route, time.Since(t0), "")
	return true
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// processCPU returns a process's user and system CPU time in seconds
// from /proc/PID/stat (0 where unavailable), assuming the usual 100
// clock ticks per second.
func processCPU(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: fields count from
	// after its closing parenthesis (state is field 3, utime 14, stime 15).
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return (ut + st) / 100
}

// loadAverage returns the machine's 1-minute load average ("" where
// unavailable).
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// printMixed prints the report as Markdown tables.
func printMixed(w io.Writer, rep mixedReport) {
	fmt.Fprintf(w, "mixed load on %d replica(s): %.2f sessions/s and %.2f face matches/s for %.0f s, %.0f s in all with the drain; load average %s → %s\n\n",
		len(rep.URLs), rep.SessionRate, rep.FaceMatchRate, rep.LoadSeconds, rep.ElapsedSeconds, rep.LoadAverage[0], rep.LoadAverage[1])
	fmt.Fprintln(w, "| route | requests | errors | req/s | p50 ms | p99 ms | max ms |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|")
	for _, r := range rep.Routes {
		errs := strconv.Itoa(r.Errors)
		if r.Errors > 0 {
			errs += fmt.Sprintf(" %v", r.ErrorCodes)
		}
		fmt.Fprintf(w, "| %s | %d | %s | %.2f | %.1f | %.1f | %.1f |\n", r.Route, r.Requests, errs, r.PerSecond, r.P50, r.P99, r.Max)
	}
	s := rep.Sessions
	fmt.Fprintf(w, "\nsessions: %d started, %d accepted, %d completed (%d live), %d failed, %d lost, %d rejected; %.2f analysed/s\n",
		s.Started, s.Accepted, s.Completed, s.Live, s.Failed, s.Lost, s.Rejected, s.PerSecond)
	fmt.Fprintf(w, "completion (202 → result): p50 %.1f s, p99 %.1f s, max %.1f s; median %.1f s in the first third, %.1f s in the last\n",
		s.CompletionP50, s.CompletionP99, s.CompletionMax, s.FirstThird, s.LastThird)
	for _, sv := range rep.Servers {
		fmt.Fprintf(w, "server pid %d: peak RSS %.0f MiB (now %.0f MiB), CPU %.1f s (%.2f cores)\n", sv.PID, sv.PeakRSS, sv.RSS, sv.CPUSeconds, sv.Cores)
	}
	fmt.Fprintf(w, "load generator: CPU %.1f s (%.2f cores)\n", rep.GeneratorCPU, rep.GeneratorCPU/max(rep.ElapsedSeconds, 1e-9))
	if rep.Sustained {
		fmt.Fprintln(w, "verdict: sustained (no failed request, no lost session, completion time steady)")
	} else {
		fmt.Fprintf(w, "verdict: NOT sustained: %s\n", strings.Join(rep.Problems, "; "))
	}
}
