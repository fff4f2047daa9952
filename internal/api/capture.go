package api

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"time"

	"github.com/everify/everify/client"
	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/imagein"
)

// The capture endpoints (docs/DESIGN.md, "Capture protocol"): the capture
// client uploads frames in numbered batches, completes the capture, and
// polls the session's status, all with the session token. Every batch is
// checked twice against the session: once as the request arrives, so that
// a repeated or misnumbered batch is refused before its frames are read,
// and again under the session's lock in the transaction that stores it.

// Limits of the capture requests that do not depend on the session.
const (
	// maxBatchFrames is the most frames one upload request may carry.
	maxBatchFrames = 60
	// maxMetaBytes bounds a batch's meta part.
	maxMetaBytes = 64 << 10
	// partOverhead is what the multipart framing of one frame may add.
	partOverhead = 1 << 10
	// maxFramePixels bounds a frame's declared size, as the analysis does.
	maxFramePixels = 4_000_000
	// statusGrace is how long after its deadline a session token may
	// still read its session's status, so that a capture submitted just in
	// time can follow its analysis.
	statusGrace = time.Hour
	// Limits of the completion's client object.
	maxClientEntries = 32
	maxClientKey     = 64
	maxClientValue   = 512
)

// defaultCapture holds the defaults of Config.Capture's zero fields.
var defaultCapture = biometric.CaptureParams{
	FPS: 15, Width: 640, Height: 480,
	MinFrames: 15, MaxFrames: 300,
	MinDurationMS: 2000, MaxDurationMS: 20000,
	MaxFrameBytes: 300 << 10,
	StepWindowMS:  5000,
}

// captureParams fills p's zero fields with the defaults and checks that the
// result is consistent.
func captureParams(p biometric.CaptureParams) (biometric.CaptureParams, error) {
	d := defaultCapture
	p.FPS = cmp.Or(p.FPS, d.FPS)
	p.Width = cmp.Or(p.Width, d.Width)
	p.Height = cmp.Or(p.Height, d.Height)
	p.MinFrames = cmp.Or(p.MinFrames, d.MinFrames)
	p.MaxFrames = cmp.Or(p.MaxFrames, d.MaxFrames)
	p.MinDurationMS = cmp.Or(p.MinDurationMS, d.MinDurationMS)
	p.MaxDurationMS = cmp.Or(p.MaxDurationMS, d.MaxDurationMS)
	p.MaxFrameBytes = cmp.Or(p.MaxFrameBytes, d.MaxFrameBytes)
	p.StepWindowMS = cmp.Or(p.StepWindowMS, d.StepWindowMS)
	var problems []string
	check := func(ok bool, format string, args ...any) {
		if !ok {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	check(p.FPS >= 1 && p.FPS <= 60, "fps %d is not within 1-60", p.FPS)
	check(p.Width >= 64 && p.Height >= 64 && int64(p.Width)*int64(p.Height) <= maxFramePixels,
		"frame size %dx%d is not within 64x64 and %d pixels", p.Width, p.Height, maxFramePixels)
	check(p.MinFrames >= 1 && p.MinFrames <= p.MaxFrames, "min frames %d is not within 1 and max frames %d", p.MinFrames, p.MaxFrames)
	check(p.MaxFrames <= 3000, "max frames %d is over 3000", p.MaxFrames)
	check(p.MinDurationMS >= 0 && p.MinDurationMS <= p.MaxDurationMS,
		"min duration %d ms is not within 0 and max duration %d ms", p.MinDurationMS, p.MaxDurationMS)
	check(p.MaxDurationMS <= 120_000, "max duration %d ms is over 2 minutes", p.MaxDurationMS)
	check(p.MaxFrameBytes >= 4<<10 && p.MaxFrameBytes <= 4<<20, "max frame bytes %d is not within 4 KiB and 4 MiB", p.MaxFrameBytes)
	check(p.StepWindowMS > 0, "step window %d ms is not positive", p.StepWindowMS)
	if len(problems) > 0 {
		return p, fmt.Errorf("api.New: capture parameters: %s", strings.Join(problems, "; "))
	}
	return p, nil
}

// frameBatchLimit is the frames route's body limit: a full batch of the
// largest frames, and the meta part.
func frameBatchLimit(p biometric.CaptureParams) int64 {
	return maxBatchFrames*(p.MaxFrameBytes+partOverhead) + maxMetaBytes
}

// wireCapture is the start response's capture object for sess.
func wireCapture(sess *biometric.Session) *client.CaptureSettings {
	p := sess.CaptureParams
	base := "/v1/biometrics/liveness/" + sess.ID
	return &client.CaptureSettings{
		FPS: p.FPS, Width: p.Width, Height: p.Height,
		MinFrames: p.MinFrames, MaxFrames: p.MaxFrames,
		MinDurationMS: p.MinDurationMS, MaxDurationMS: p.MaxDurationMS,
		MaxFrameBytes: p.MaxFrameBytes, StepWindowMS: p.StepWindowMS,
		MaxBatchFrames: maxBatchFrames,
		UploadURL:      base + "/frames",
		CompleteURL:    base + "/complete",
		StatusURL:      base + "/status",
	}
}

// uploadFrames stores one batch of frames: a multipart body whose first
// part, meta, numbers the batch and describes its frames, followed by one
// frame part per frame.
func (s *Server) uploadFrames(w http.ResponseWriter, r *http.Request) error {
	sess, now := sessionOf(r), s.now()
	if err := captureOpen(sess, now); err != nil {
		return err
	}
	parts, err := r.MultipartReader()
	if err != nil {
		return biometric.Errorf(biometric.KindUnsupportedMedia, "unsupported_media_type",
			"Frames must be sent as multipart/form-data (got %q): a meta part, then one frame part per frame.", r.Header.Get("Content-Type"))
	}
	meta, err := readBatchMeta(parts)
	if err != nil {
		return err
	}
	if _, err := checkBatch(sess, meta); err != nil {
		return err
	}
	frames, err := readFrames(parts, meta, sess.CaptureParams.MaxFrameBytes)
	if err != nil {
		return err
	}
	saved, err := s.store.AppendFrames(r.Context(), sess.ID, frames, acceptBatch(meta, frames, now))
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, client.FrameBatchResponse{
		RequestID:      requestID(r.Context()),
		SessionID:      saved.ID,
		Status:         string(saved.Status),
		Batch:          meta.Batch,
		FramesReceived: saved.Upload.Frames,
		BytesReceived:  saved.Upload.Bytes,
		Message:        fmt.Sprintf("Batch %d received: %d frames so far.", meta.Batch, saved.Upload.Frames),
	})
	return nil
}

// acceptBatch returns AppendFrames' check: it checks the batch again
// against the locked session and counts it in the session's upload; the
// first batch moves the session to in_progress.
func acceptBatch(meta *client.FrameBatchMeta, frames []biometric.Frame, now time.Time) func(*biometric.Session) error {
	return func(x *biometric.Session) error {
		if err := captureOpen(x, now); err != nil {
			return err
		}
		last, err := checkBatch(x, meta)
		if err != nil {
			return err
		}
		x.Upload.Batches++
		x.Upload.Frames += len(frames)
		for _, f := range frames {
			x.Upload.Bytes += int64(len(f.Image))
		}
		x.Upload.LastAtMS = last
		if x.Status == biometric.StatusCreated {
			x.Status = biometric.StatusInProgress
		}
		return nil
	}
}

// captureOpen returns nil while sess still accepts frames and its
// completion: a 409 once its capture was submitted, a 410 once it expired.
func captureOpen(sess *biometric.Session, now time.Time) error {
	switch {
	case sess.Status == biometric.StatusProcessing || sess.Status == biometric.StatusCompleted || sess.Status == biometric.StatusFailed:
		return biometric.Errorf(biometric.KindConflict, "capture_already_complete",
			"This session's capture was already completed (the session is %s); start a new session to capture again.", sess.Status)
	case sess.Status == biometric.StatusExpired || !now.Before(sess.ExpiresAt):
		return biometric.Errorf(biometric.KindGone, "session_expired",
			"The session expired at %s before its capture was completed; start a new session.", sess.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return nil
}

// readBatchMeta reads the meta part, which must come first, and checks
// what can be checked without the session.
func readBatchMeta(parts *multipart.Reader) (*client.FrameBatchMeta, error) {
	part, err := parts.NextPart()
	if err != nil {
		return nil, multipartError(err, "The body has no parts; send a meta part, then one frame part per frame.")
	}
	defer part.Close()
	if part.FormName() != "meta" {
		return nil, invalidField("meta", "invalid_frame_batch",
			"The first part must be named meta (got %q): the JSON description of the batch, before its frames.", part.FormName())
	}
	var meta client.FrameBatchMeta
	if err := decodeStrict(io.LimitReader(part, maxMetaBytes), &meta); err != nil {
		e := *biometric.AsError(err)
		e.Message, e.Field = "The meta part: "+e.Message, "meta"
		return nil, &e
	}
	switch {
	case meta.Batch < 0:
		return nil, invalidField("meta.batch", "invalid_frame_batch", "meta.batch is %d; batches are numbered 0, 1, 2, …", meta.Batch)
	case len(meta.Frames) == 0:
		return nil, invalidField("meta.frames", "invalid_frame_batch", "meta.frames is empty; a batch holds at least one frame.")
	case len(meta.Frames) > maxBatchFrames:
		e := biometric.Errorf(biometric.KindTooLarge, "batch_too_large",
			"The batch has %d frames; send at most %d frames per request.", len(meta.Frames), maxBatchFrames)
		e.Field = "meta.frames"
		return nil, e
	}
	return &meta, nil
}

// checkBatch checks a batch against the session's upload so far and its
// capture parameters, and returns the capture time of the batch's last
// frame.
func checkBatch(sess *biometric.Session, meta *client.FrameBatchMeta) (lastAtMS int64, err error) {
	up, p := sess.Upload, sess.CaptureParams
	switch {
	case meta.Batch < up.Batches:
		return 0, biometric.Errorf(biometric.KindConflict, "batch_already_received",
			"Batch %d was already received; continue with batch %d.", meta.Batch, up.Batches)
	case meta.Batch > up.Batches:
		return 0, biometric.Errorf(biometric.KindConflict, "batch_out_of_order",
			"Batch %d arrived before batch %d; send the batches in order, without gaps.", meta.Batch, up.Batches)
	case up.Frames+len(meta.Frames) > p.MaxFrames:
		return 0, biometric.Errorf(biometric.KindTooLarge, "too_many_frames",
			"This batch would bring the capture to %d frames; a capture has at most %d.", up.Frames+len(meta.Frames), p.MaxFrames)
	}
	last := int64(-1) // the first frame may be captured at 0 ms
	if up.Frames > 0 {
		last = up.LastAtMS
	}
	for i, f := range meta.Frames {
		if want := up.Frames + i; f.Index != want {
			return 0, invalidField("meta.frames", "invalid_frame_index",
				"Frame %d of the batch has index %d, but %d was expected: frame indices start at 0 and continue across batches.", i, f.Index, want)
		}
		if f.CapturedAtMS <= last {
			return 0, invalidField("meta.frames", "invalid_frame_time",
				"Frame %d was captured at %d ms, not after the frame before it (%d ms): capture times must increase.", f.Index, f.CapturedAtMS, last)
		}
		if f.CapturedAtMS > captureEndMS(p) {
			return 0, invalidField("meta.frames", "capture_too_long",
				"Frame %d was captured at %d ms, after the capture's limit of %d ms; stop recording at the limit.", f.Index, f.CapturedAtMS, p.MaxDurationMS)
		}
		last = f.CapturedAtMS
	}
	return last, nil
}

// captureEndMS is the latest capture time accepted: max_duration_ms and one
// frame interval of slack, for a frame grabbed just before the limit and
// stamped just after it.
func captureEndMS(p biometric.CaptureParams) int64 {
	return p.MaxDurationMS + 1000/int64(p.FPS)
}

// readFrames reads one frame part per entry of meta.Frames and checks that
// each is a JPEG, PNG or WebP image within the limits.
func readFrames(parts *multipart.Reader, meta *client.FrameBatchMeta, maxBytes int64) ([]biometric.Frame, error) {
	frames := make([]biometric.Frame, 0, len(meta.Frames))
	for {
		part, err := parts.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, multipartError(err, "")
		}
		if part.FormName() != "frame" {
			return nil, invalidField(part.FormName(), "invalid_frame_batch",
				"Unexpected part %q; after meta, send only parts named frame.", part.FormName())
		}
		if len(frames) == len(meta.Frames) {
			return nil, invalidField("frame", "invalid_frame_batch",
				"The batch has more frame parts than the %d frames meta describes.", len(meta.Frames))
		}
		f, err := readFrame(part, meta.Frames[len(frames)], maxBytes)
		if err != nil {
			return nil, err
		}
		frames = append(frames, f)
	}
	if len(frames) != len(meta.Frames) {
		return nil, invalidField("frame", "invalid_frame_batch",
			"The batch has %d frame parts but meta describes %d frames.", len(frames), len(meta.Frames))
	}
	return frames, nil
}

// readFrame reads and checks one frame part.
func readFrame(part *multipart.Part, m client.FrameMeta, maxBytes int64) (biometric.Frame, error) {
	defer part.Close()
	data, err := io.ReadAll(io.LimitReader(part, maxBytes+1))
	if err != nil {
		return biometric.Frame{}, multipartError(err, "")
	}
	if int64(len(data)) > maxBytes {
		e := biometric.Errorf(biometric.KindTooLarge, "frame_too_large",
			"Frame %d is larger than this session's limit of %s per frame; encode frames at a lower quality or size.", m.Index, byteSize(maxBytes))
		e.Field = "frame"
		return biometric.Frame{}, e
	}
	img, err := imagein.Decode(data, imagein.Limits{MaxBytes: maxBytes, MaxPixels: maxFramePixels})
	if err != nil {
		e := *biometric.AsError(err)
		e.Message, e.Field = fmt.Sprintf("Frame %d: %s", m.Index, e.Message), "frame"
		return biometric.Frame{}, &e
	}
	return biometric.Frame{Index: m.Index, AtMS: m.CapturedAtMS, Image: data, ContentType: "image/" + img.Format}, nil
}

// multipartError explains a body that could not be read as multipart.
func multipartError(err error, msg string) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return bodyTooLarge(tooLarge.Limit)
	}
	if msg == "" {
		msg = "The multipart body is malformed or truncated; send a meta part, then one frame part per frame."
	}
	return &biometric.Error{Kind: biometric.KindInvalid, Code: "invalid_frame_batch", Message: msg, Err: err}
}

// completeCapture submits the session's capture for analysis: the session
// moves to processing and its analysis job is queued in one transaction.
func (s *Server) completeCapture(w http.ResponseWriter, r *http.Request) error {
	sess, now := sessionOf(r), s.now()
	var req client.CompleteCaptureRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if err := captureOpen(sess, now); err != nil {
		return err
	}
	prompts, err := checkPrompts(req.Prompts, len(sess.Challenge.Steps), captureEndMS(sess.CaptureParams))
	if err != nil {
		return err
	}
	if err := checkClientInfo(req.Client); err != nil {
		return err
	}
	light, err := checkLight(req.Light, sess.Challenge.LightSequence, captureEndMS(sess.CaptureParams))
	if err != nil {
		return err
	}
	c := &biometric.Capture{PromptsMS: prompts, Client: req.Client, Light: light}
	saved, err := s.store.SubmitCapture(r.Context(), sess.ID, c, func(x *biometric.Session) error {
		if err := captureOpen(x, now); err != nil {
			return err
		}
		if err := checkComplete(x, req.FrameCount); err != nil {
			return err
		}
		x.Status = biometric.StatusProcessing
		return nil
	})
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusAccepted, captureStatusResponse(r, saved))
	return nil
}

// checkComplete checks that the capture the client completes is the one
// the server holds, and that it is long enough.
func checkComplete(x *biometric.Session, frameCount int) error {
	up, p := x.Upload, x.CaptureParams
	if frameCount != up.Frames {
		return biometric.Errorf(biometric.KindConflict, "frame_count_mismatch",
			"frame_count is %d but the server received %d frames; upload the missing batches before completing.", frameCount, up.Frames)
	}
	if up.Frames < p.MinFrames || up.LastAtMS < p.MinDurationMS {
		return biometric.Errorf(biometric.KindUnprocessable, "capture_too_short",
			"The capture has %d frames over %d ms; it needs at least %d frames over %d ms. Start a new session and record longer.",
			up.Frames, up.LastAtMS, p.MinFrames, p.MinDurationMS)
	}
	return nil
}

// checkPrompts turns the prompts into Capture.PromptsMS: either none, or
// one per challenge step, each shown by endMS.
func checkPrompts(prompts []client.PromptShown, steps int, endMS int64) ([]int64, error) {
	if len(prompts) == 0 {
		return nil, nil
	}
	out := make([]int64, steps)
	seen := make([]bool, steps)
	for _, p := range prompts {
		if p.Step < 0 || p.Step >= steps || seen[p.Step] {
			return nil, invalidField("prompts", "invalid_prompts",
				"prompts must list each of the challenge's %d steps (0-%d) once; step %d is unknown or repeated.", steps, steps-1, p.Step)
		}
		if p.ShownAtMS < 0 || p.ShownAtMS > endMS {
			return nil, invalidField("prompts", "invalid_prompts",
				"The prompt of step %d was shown at %d ms, outside the capture (0-%d ms).", p.Step, p.ShownAtMS, endMS)
		}
		seen[p.Step] = true
		out[p.Step] = p.ShownAtMS
	}
	if len(prompts) != steps {
		return nil, invalidField("prompts", "invalid_prompts",
			"prompts lists %d of the challenge's %d steps; list every step, or leave prompts out.", len(prompts), steps)
	}
	return out, nil
}

// checkLight turns the client's light report into Capture.Light: none
// when the session issued no light sequence; otherwise the colours the
// client showed, each at most once and in order, with the issued colour,
// within the capture and one after the other. A report that leaves
// colours out (or is missing) is accepted: the analysis judges it.
func checkLight(light []client.LightShown, seq []biometric.LightColor, endMS int64) ([]biometric.LightShown, error) {
	if len(light) == 0 {
		return nil, nil
	}
	if len(seq) == 0 {
		return nil, invalidField("light", "light_not_issued",
			"This session has no light_sequence (start it with screen_light: true to get one); leave light out.")
	}
	out := make([]biometric.LightShown, 0, len(light))
	prevIndex, prevHidden := -1, int64(0)
	for _, l := range light {
		switch {
		case l.Index < 0 || l.Index >= len(seq) || l.Index <= prevIndex:
			return nil, invalidField("light", "invalid_light",
				"light must list colours of the light_sequence (indices 0-%d) in order, each once; index %d is unknown, repeated or out of order.", len(seq)-1, l.Index)
		case !strings.EqualFold(l.Color, seq[l.Index].Color):
			return nil, invalidField("light", "light_color_mismatch",
				"Colour %d of the light_sequence is %s, not %q; report the colours as issued.", l.Index, seq[l.Index].Color, l.Color)
		case l.ShownAtMS < 0 || l.HiddenAtMS > endMS || l.HiddenAtMS < l.ShownAtMS:
			return nil, invalidField("light", "invalid_light",
				"Colour %d was shown at %d ms and hidden at %d ms; both must be within the capture (0-%d ms), hidden no earlier than shown.", l.Index, l.ShownAtMS, l.HiddenAtMS, endMS)
		case l.ShownAtMS < prevHidden:
			return nil, invalidField("light", "invalid_light",
				"Colour %d was shown at %d ms, before the previous colour was hidden (%d ms); the colours are shown one after the other.", l.Index, l.ShownAtMS, prevHidden)
		}
		prevIndex, prevHidden = l.Index, l.HiddenAtMS
		out = append(out, biometric.LightShown{Index: l.Index, Color: seq[l.Index].Color, ShownAtMS: l.ShownAtMS, HiddenAtMS: l.HiddenAtMS})
	}
	return out, nil
}

// checkClientInfo bounds what the client may say about itself.
func checkClientInfo(info map[string]string) error {
	if len(info) > maxClientEntries {
		return invalidField("client", "invalid_client_info", "client has %d entries; at most %d are allowed.", len(info), maxClientEntries)
	}
	for k, v := range info {
		if k == "" || len(k) > maxClientKey || len(v) > maxClientValue {
			return invalidField("client", "invalid_client_info",
				"client keys must be 1-%d bytes and values at most %d bytes.", maxClientKey, maxClientValue)
		}
	}
	return nil
}

// captureStatus reports the session's status to its capture client, which
// may follow the analysis until statusGrace after the session's deadline.
func (s *Server) captureStatus(w http.ResponseWriter, r *http.Request) error {
	sess := sessionOf(r)
	if !s.now().Before(sess.ExpiresAt.Add(statusGrace)) {
		return biometric.Errorf(biometric.KindUnauthenticated, "expired_session_token",
			"The session token has expired together with its session; start a new liveness session.")
	}
	sess, err := s.expireIfDue(r.Context(), sess)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, captureStatusResponse(r, sess))
	return nil
}

// captureStatusResponse is what a capture client learns about sess: its
// status and why it failed, never the liveness decision.
func captureStatusResponse(r *http.Request, sess *biometric.Session) client.CaptureStatusResponse {
	resp := client.CaptureStatusResponse{
		RequestID:      requestID(r.Context()),
		SessionID:      sess.ID,
		Status:         string(sess.Status),
		FramesReceived: sess.Upload.Frames,
		ExpiresAt:      sess.ExpiresAt.UTC(),
		Message:        statusMessage(sess),
	}
	switch sess.Status {
	case biometric.StatusCompleted:
		resp.Message = "The capture has been analysed; the service that started the session reads the result."
	case biometric.StatusFailed:
		if f := sess.Failure; f != nil {
			resp.Failure = &client.Failure{Code: f.Code, Message: f.Message, Retryable: f.Retryable}
		}
	}
	return resp
}
