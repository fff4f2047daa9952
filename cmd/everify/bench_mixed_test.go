package main

import (
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/everify/everify/client"
	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/evaldata"
)

func TestLatencyStats(t *testing.T) {
	if p50, p99, mx := latencyStats(nil); p50 != 0 || p99 != 0 || mx != 0 {
		t.Errorf("no samples: %v %v %v", p50, p99, mx)
	}
	var ds []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	p50, p99, mx := latencyStats(ds)
	if p50 != 51 || p99 != 99 || mx != 100 {
		t.Errorf("1..100 ms: p50 %v, p99 %v, max %v; want 51, 99, 100", p50, p99, mx)
	}
	if p50, p99, mx := latencyStats([]time.Duration{1500 * time.Microsecond}); p50 != 1.5 || p99 != 1.5 || mx != 1.5 {
		t.Errorf("one sample: %v %v %v", p50, p99, mx)
	}
}

func TestSummarizeRoute(t *testing.T) {
	ok := []time.Duration{10 * time.Millisecond, 30 * time.Millisecond, 20 * time.Millisecond}
	s := summarizeRoute(routeFrames, ok, map[string]int{"503": 2, "transport": 1}, 2)
	if s.Requests != 6 || s.Errors != 3 || s.PerSecond != 3 || s.P50 != 20 || s.Max != 30 {
		t.Errorf("got %+v", s)
	}
	if s.ErrorCodes["503"] != 2 || s.ErrorCodes["transport"] != 1 {
		t.Errorf("error codes %v", s.ErrorCodes)
	}
	if empty := summarizeRoute(routeStart, nil, nil, 10); empty.Requests != 0 || empty.Errors != 0 || empty.PerSecond != 0 {
		t.Errorf("no requests: %+v", empty)
	}
}

func TestSummarizeSessions(t *testing.T) {
	sec := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
	outs := []sessionOutcome{
		{startedAt: sec(1)}, // rejected
		{startedAt: sec(2), accepted: true, final: "completed", live: true, completion: sec(1)}, // first third
		{startedAt: sec(5), accepted: true, final: "failed", completion: sec(2)},
		{startedAt: sec(25), accepted: true, final: "completed", completion: sec(9)}, // last third
		{startedAt: sec(28), accepted: true, final: "processing", completion: sec(40)},
		{startedAt: sec(29), accepted: true, final: "expired", completion: sec(3)},
	}
	s := summarizeSessions(outs, sec(30), sec(50))
	want := sessionStats{Started: 6, Accepted: 5, Rejected: 1, Completed: 2, Live: 1, Failed: 1, Lost: 2}
	if s.Started != want.Started || s.Accepted != want.Accepted || s.Rejected != want.Rejected || s.Completed != want.Completed ||
		s.Live != want.Live || s.Failed != want.Failed || s.Lost != want.Lost {
		t.Errorf("counts %+v, want %+v", s, want)
	}
	if s.Final["processing"] != 1 || s.Final["expired"] != 1 || s.Final["completed"] != 2 {
		t.Errorf("final statuses %v", s.Final)
	}
	if s.PerSecond != 3.0/50 {
		t.Errorf("analysed/s %v, want %v", s.PerSecond, 3.0/50)
	}
	// Lost sessions have no completion time: the times are 1, 2 and 9 s.
	if s.CompletionP50 != 2 || s.CompletionMax != 9 {
		t.Errorf("completion p50 %v, max %v; want 2, 9", s.CompletionP50, s.CompletionMax)
	}
	if s.FirstThird != 2 || s.LastThird != 9 {
		t.Errorf("thirds %v, %v; want 2, 9 (the medians by start time)", s.FirstThird, s.LastThird)
	}
}

func TestCompletionGrowing(t *testing.T) {
	for _, c := range []struct {
		first, last float64
		want        bool
	}{
		{0.5, 0.75, false}, // poll granularity
		{0.25, 1.5, false}, // six times slower, but by little
		{1, 2.5, false},
		{1, 4, true},
		{3, 10, true},
		{3, 5.5, false},
	} {
		if got := completionGrowing(sessionStats{FirstThird: c.first, LastThird: c.last}); got != c.want {
			t.Errorf("first %v s, last %v s: growing %v, want %v", c.first, c.last, got, c.want)
		}
	}
}

func TestJudge(t *testing.T) {
	clean := func() mixedReport {
		return mixedReport{
			Routes:   []routeStats{{Route: routeStart, Requests: 10}, {Route: routeFaceMatch, Requests: 10}},
			Sessions: sessionStats{Accepted: 10, Completed: 10, FirstThird: 0.5, LastThird: 0.5},
		}
	}
	rep := clean()
	judge(&rep)
	if !rep.Sustained || rep.Errors != 0 || len(rep.Problems) != 0 {
		t.Errorf("clean run: %+v", rep)
	}

	rep = clean()
	rep.Routes[0].Errors, rep.Routes[0].ErrorCodes = 3, map[string]int{"500": 1, "503": 1, "409": 1}
	rep.Routes[1].Errors, rep.Routes[1].ErrorCodes = 1, map[string]int{"transport": 1}
	judge(&rep)
	if rep.Sustained || rep.ServerErrors != 2 || rep.Errors != 4 || len(rep.Problems) != 2 {
		t.Errorf("errors: sustained %v, 5xx %d, errors %d, problems %q", rep.Sustained, rep.ServerErrors, rep.Errors, rep.Problems)
	}

	rep = clean()
	rep.Sessions.Lost = 2
	judge(&rep)
	if rep.Sustained || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "2 lost sessions") {
		t.Errorf("lost sessions: %v %q", rep.Sustained, rep.Problems)
	}

	rep = clean()
	rep.Sessions.LastThird = 12
	judge(&rep)
	if rep.Sustained || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "kept growing") {
		t.Errorf("growing completion: %v %q", rep.Sustained, rep.Problems)
	}
}

func TestParsePIDs(t *testing.T) {
	if got, err := parsePIDs(" 12, 345 ,"); err != nil || len(got) != 2 || got[0] != 12 || got[1] != 345 {
		t.Errorf("parsePIDs = %v, %v", got, err)
	}
	if got, err := parsePIDs(""); err != nil || got != nil {
		t.Errorf("empty: %v, %v", got, err)
	}
	for _, bad := range []string{"x", "12,-3", "0"} {
		if _, err := parsePIDs(bad); err == nil {
			t.Errorf("parsePIDs(%q) accepted", bad)
		}
	}
}

// TestFrameBatches reads the prepared upload bodies back as the server
// does: numbered batches, a meta part first, one frame part per frame.
func TestFrameBatches(t *testing.T) {
	var frames []biometric.Frame
	for i := range 7 {
		frames = append(frames, biometric.Frame{Index: i, AtMS: int64(i) * 66, Image: []byte("jpeg-" + strconv.Itoa(i))})
	}
	batches, ctype := frameBatches(frames, 3)
	if len(batches) != 3 {
		t.Fatalf("%d batches, want 3", len(batches))
	}
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil || mt != "multipart/form-data" {
		t.Fatalf("content type %q: %v", ctype, err)
	}
	next := 0
	for b, batch := range batches {
		r := multipart.NewReader(strings.NewReader(string(batch.body)), params["boundary"])
		part, err := r.NextPart()
		if err != nil || part.FormName() != "meta" {
			t.Fatalf("batch %d: first part %v, %v", b, part, err)
		}
		var meta client.FrameBatchMeta
		if err := json.NewDecoder(part).Decode(&meta); err != nil || meta.Batch != b {
			t.Fatalf("batch %d: meta %+v, %v", b, meta, err)
		}
		for _, fm := range meta.Frames {
			part, err := r.NextPart()
			if err != nil || part.FormName() != "frame" || part.Header.Get("Content-Type") != "image/jpeg" {
				t.Fatalf("batch %d, frame %d: %v, %v", b, fm.Index, part, err)
			}
			data, _ := io.ReadAll(part)
			if fm.Index != next || fm.CapturedAtMS != int64(next)*66 || string(data) != "jpeg-"+strconv.Itoa(next) {
				t.Errorf("batch %d: frame %+v with %q, want frame %d", b, fm, data, next)
			}
			next++
		}
		if _, err := r.NextPart(); err != io.EOF {
			t.Errorf("batch %d: more parts than frames (%v)", b, err)
		}
		if batch.frames != len(meta.Frames) || batch.lastMS != int64(next-1)*66 {
			t.Errorf("batch %d: frames %d, last %d ms", b, batch.frames, batch.lastMS)
		}
	}
	if next != 7 {
		t.Errorf("%d frames in all, want 7", next)
	}
}

// TestBenchMixedSmoke runs `everify bench mixed` briefly against an
// in-process server with the real models, so that the load generator's
// path stays working; `make loadtest` runs it for real.
func TestBenchMixedSmoke(t *testing.T) {
	t.Setenv(databaseURLEnv, "")
	video := evaldata.Require(t, benchVideo)
	source, target := evaldata.Require(t, benchSourceImage), evaldata.Require(t, benchTargetImage)
	dir := t.TempDir()
	k := createKey(t, "--data-dir", dir, "--tenant", "load")
	srv := serve(t, "--data-dir", dir, "--rate-limit", "0")
	common := []string{"bench", "mixed", "--url", srv.url, "--video", video, "--source", source, "--target", target, "--json"}

	code, out, errOut := run(t, append(common, "--key", k.Key, "--duration", "3s", "--rate", "1", "--drain", "60s",
		"--server-pid", strconv.Itoa(os.Getpid()))...)
	if code != 0 {
		t.Fatalf("bench mixed: exit %d: %s\n%s\nserver log:\n%s", code, errOut, out, srv.logs)
	}
	var rep mixedReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("bench mixed --json printed %q: %v", out, err)
	}
	s := rep.Sessions
	if s.Started != 3 || s.Accepted != 3 || s.Lost != 0 || s.Completed+s.Failed != 3 || !rep.Sustained {
		t.Errorf("sessions %+v, sustained %v, problems %q", s, rep.Sustained, rep.Problems)
	}
	if s.Live != s.Completed {
		t.Errorf("%d of %d completed sessions of a person blinking were live", s.Live, s.Completed)
	}
	wantRequests := map[string]int{routeStart: 3, routeFrames: 9, routeComplete: 3, routeFaceMatch: 3}
	for _, r := range rep.Routes {
		if w, ok := wantRequests[r.Route]; (ok && r.Requests != w) || r.Requests == 0 || r.Errors != 0 || r.P50 <= 0 {
			t.Errorf("route %+v (want %d requests)", r, w)
		}
	}
	if len(rep.Servers) != 1 || rep.Servers[0].PeakRSS <= 0 || rep.Servers[0].CPUSeconds <= 0 {
		t.Errorf("servers %+v", rep.Servers)
	}

	// A refused key: every start fails, so the run fails and says why.
	code, out, errOut = run(t, append(common, "--key", "ev_live_wrong", "--duration", "1s", "--rate", "2", "--facematch-rate", "0")...)
	if err := json.Unmarshal([]byte(out), &rep); code != 1 || err != nil || rep.Sustained || rep.Routes[0].ErrorCodes["401"] != 2 {
		t.Errorf("wrong key: exit %d, %s; report %+v (%v)", code, errOut, rep.Routes, err)
	}
}
