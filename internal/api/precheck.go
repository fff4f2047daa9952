package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/everify/everify/client"
	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/imagein"
)

// The framing pre-check (POST …/precheck): before recording, the capture
// client sends small preview frames, one at a time, and shows the
// instructions that come back ("Move closer", …) until the face is well
// placed in its oval. Nothing of a pre-check is stored: the frame is
// decoded, checked and dropped, and the route is not audited (the access
// log records the request, as for …/status). Each session may run at most
// maxPrechecks of them.

// FramingChecker judges the framing of one preview frame. A Server without
// one answers the pre-check route with 503 framing_check_unavailable, and
// the capture client falls back to its own light checks.
type FramingChecker interface {
	// CheckFraming returns the verdict on req's frame. It returns an error
	// only when the check itself failed (a model error, a cancelled
	// context); a frame without a usable face is a verdict.
	CheckFraming(ctx context.Context, req biometric.FramingRequest) (*biometric.Framing, error)
}

// Limits of the pre-check.
const (
	// maxPrecheckBytes bounds the preview frame: a 320-pixel-wide JPEG is
	// about 10-30 KiB.
	maxPrecheckBytes = 256 << 10
	// maxPrecheckPixels bounds its size: the check needs no more than a
	// 320-pixel-wide preview, and larger frames only cost more.
	maxPrecheckPixels = 1_000_000
	// precheckBodyLimit is the route's body limit: the frame, the small
	// fields and the multipart framing.
	precheckBodyLimit = maxPrecheckBytes + 8<<10
	// maxPrecheckField bounds the oval and frame_size parts.
	maxPrecheckField = 128
	// maxPrechecks is the most pre-checks a session may run: half of
	// them at once, the rest released evenly over the session's lifetime
	// (one every ten seconds in a ten-minute session).
	maxPrechecks = 120
)

// precheckResponse is the pre-check route's answer.
type precheckResponse struct {
	RequestID    string           `json:"request_id"`
	SessionID    string           `json:"session_id"`
	Message      string           `json:"message"`
	FaceFound    bool             `json:"face_found"`
	Faces        int              `json:"faces"`
	Framing      string           `json:"framing"`
	Instructions string           `json:"instructions"`
	Face         *client.FaceInfo `json:"face,omitempty"`
}

// errFramingUnavailable answers the pre-check on a server without a face
// engine.
var errFramingUnavailable = biometric.Errorf(biometric.KindUnavailable, "framing_check_unavailable",
	"This server checks no framing (it runs without a face engine); go on with the capture, whose analysis checks the framing.")

// precheck checks the framing of one preview frame of the session's
// capture client.
func (s *Server) precheck(w http.ResponseWriter, r *http.Request) error {
	sess := sessionOf(r)
	if err := captureOpen(sess, s.now()); err != nil {
		return err
	}
	if s.framing == nil {
		return errFramingUnavailable
	}
	if err := s.takePrecheck(r.Context(), sess); err != nil {
		return err
	}
	in, err := readPrecheck(r)
	if err != nil {
		return err
	}
	img, err := imagein.Decode(in.frame, imagein.Limits{MaxBytes: maxPrecheckBytes, MaxPixels: maxPrecheckPixels})
	if err != nil {
		e := *biometric.AsError(err)
		e.Message, e.Field = "The preview frame: "+e.Message, "frame"
		return &e
	}
	req, err := framingRequest(img, in, sess.CaptureParams)
	if err != nil {
		return err
	}
	f, err := s.framing.CheckFraming(r.Context(), req)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, precheckResponse{
		RequestID:    requestID(r.Context()),
		SessionID:    sess.ID,
		Message:      fmt.Sprintf("Framing checked: %s.", f.Verdict),
		FaceFound:    f.Face != nil,
		Faces:        f.Faces,
		Framing:      f.Verdict,
		Instructions: f.Instructions,
		Face:         wireFace(f.Face),
	})
	return nil
}

// takePrecheck counts one pre-check against the session's allowance, a
// token bucket of maxPrechecks/2 released at once and one more every
// 2·TTL/maxPrechecks, so that no session runs more than maxPrechecks in
// its lifetime and the bucket empties within a TTL of the last one. Past
// it: 429 precheck_limit_reached.
func (s *Server) takePrecheck(ctx context.Context, sess *biometric.Session) error {
	ttl := sess.ExpiresAt.Sub(sess.CreatedAt)
	if ttl <= 0 {
		ttl = s.sessionTTL
	}
	every := 2 * ttl / maxPrechecks
	wait, err := s.limiter.TakeToken(ctx, "precheck:"+sess.ID, float64(time.Second)/float64(every), maxPrechecks/2, s.now())
	if err != nil || wait <= 0 {
		return err
	}
	s.metrics.refused.WithLabelValues("precheck_limit_reached").Inc()
	e := biometric.Errorf(biometric.KindRateLimited, "precheck_limit_reached",
		"This session has used its framing checks (%d at once, then one every %s); start the capture, whose analysis checks the framing, or wait.",
		maxPrechecks/2, every.Round(time.Second))
	e.RetryAfter = wait
	return e
}

// precheckInput is what a pre-check request carries.
type precheckInput struct {
	frame     []byte
	oval      *biometric.Oval
	frameSize [2]int // width, height of the capture's frames; zero if not sent
}

// precheckBodyHelp says what a pre-check's body holds.
const precheckBodyHelp = `send multipart/form-data with one part named frame (a JPEG, PNG or WebP preview frame), and optionally oval ("cx,cy,rx,ry" in the frame's pixels) and frame_size ("WIDTHxHEIGHT" of the frames the capture will record)`

// readPrecheck reads the multipart body: the frame part, and the optional
// oval and frame_size parts, in any order.
func readPrecheck(r *http.Request) (*precheckInput, error) {
	parts, err := r.MultipartReader()
	if err != nil {
		return nil, biometric.Errorf(biometric.KindUnsupportedMedia, "unsupported_media_type",
			"A pre-check is sent as multipart/form-data (got %q): %s.", r.Header.Get("Content-Type"), precheckBodyHelp)
	}
	in := &precheckInput{}
	seen := map[string]bool{}
	for {
		part, err := parts.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, precheckBodyError(err)
		}
		name := part.FormName()
		if seen[name] {
			part.Close()
			return nil, invalidField(name, "invalid_precheck", "The part %q appears twice; %s.", name, precheckBodyHelp)
		}
		seen[name] = true
		err = readPrecheckPart(part, name, in)
		part.Close()
		if err != nil {
			return nil, err
		}
	}
	if in.frame == nil {
		return nil, invalidField("frame", "invalid_precheck", "The body has no frame part; %s.", precheckBodyHelp)
	}
	return in, nil
}

// readPrecheckPart reads one part into in.
func readPrecheckPart(part *multipart.Part, name string, in *precheckInput) error {
	limit := int64(maxPrecheckField)
	if name == "frame" {
		limit = maxPrecheckBytes
	}
	data, err := io.ReadAll(io.LimitReader(part, limit+1))
	if err != nil {
		return precheckBodyError(err)
	}
	if int64(len(data)) > limit && name == "frame" {
		e := biometric.Errorf(biometric.KindTooLarge, "frame_too_large",
			"The preview frame is larger than %s; send a smaller one (320 pixels wide is enough).", byteSize(maxPrecheckBytes))
		e.Field = "frame"
		return e
	}
	if int64(len(data)) > limit {
		return invalidField(name, "invalid_precheck", "The %s part is longer than %d bytes.", name, maxPrecheckField)
	}
	switch name {
	case "frame":
		in.frame = data
	case "oval":
		o, err := parseOval(string(data))
		if err != nil {
			return err
		}
		in.oval = o
	case "frame_size":
		w, h, err := parseFrameSize(string(data))
		if err != nil {
			return err
		}
		in.frameSize = [2]int{w, h}
	default:
		return invalidField(name, "invalid_precheck", "Unexpected part %q; %s.", name, precheckBodyHelp)
	}
	return nil
}

// precheckBodyError explains a body that could not be read as multipart.
func precheckBodyError(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return bodyTooLarge(tooLarge.Limit)
	}
	return &biometric.Error{Kind: biometric.KindInvalid, Code: "invalid_precheck", Err: err,
		Message: "The multipart body is malformed or truncated; " + precheckBodyHelp + "."}
}

// parseOval parses "cx,cy,rx,ry": four finite numbers, positive radii.
func parseOval(s string) (*biometric.Oval, error) {
	bad := invalidField("oval", "invalid_precheck",
		"oval is %q; send \"cx,cy,rx,ry\": the oval's centre and radii in the frame's pixels, radii above 0.", s)
	f := strings.Split(strings.TrimSpace(s), ",")
	if len(f) != 4 {
		return nil, bad
	}
	var v [4]float64
	for i, x := range f {
		n, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
			return nil, bad
		}
		v[i] = n
	}
	if v[2] <= 0 || v[3] <= 0 {
		return nil, bad
	}
	return &biometric.Oval{CX: v[0], CY: v[1], RX: v[2], RY: v[3]}, nil
}

// parseFrameSize parses "WIDTHxHEIGHT" within the capture's frame limits.
func parseFrameSize(s string) (w, h int, err error) {
	ws, hs, ok := strings.Cut(strings.TrimSpace(s), "x")
	w, errW := strconv.Atoi(ws)
	h, errH := strconv.Atoi(hs)
	if !ok || errW != nil || errH != nil || w < 16 || h < 16 || int64(w)*int64(h) > maxFramePixels {
		return 0, 0, invalidField("frame_size", "invalid_precheck",
			"frame_size is %q; send \"WIDTHxHEIGHT\" of the frames the capture will record (at least 16x16, at most %d pixels).", s, maxFramePixels)
	}
	return w, h, nil
}

// framingRequest checks the oval against the decoded frame and works out
// the frame's scale: the capture's frames are frame_size when the client
// sent it, else the session's capture size.
func framingRequest(img *imagein.Image, in *precheckInput, p biometric.CaptureParams) (biometric.FramingRequest, error) {
	b := img.RGBA.Bounds()
	w, h := b.Dx(), b.Dy()
	if o := in.oval; o != nil && (o.CX < 0 || o.CY < 0 || o.CX > float64(w) || o.CY > float64(h) || o.RX > float64(w) || o.RY > float64(h)) {
		return biometric.FramingRequest{}, invalidField("oval", "invalid_precheck",
			"The oval (centre %g,%g, radii %g,%g) does not lie in the %dx%d frame; send it in the pixels of the frame sent.", o.CX, o.CY, o.RX, o.RY, w, h)
	}
	long := max(p.Width, p.Height)
	if in.frameSize[0] > 0 {
		long = max(in.frameSize[0], in.frameSize[1])
	}
	return biometric.FramingRequest{Image: img.RGBA, Oval: in.oval, Scale: float64(long) / float64(max(w, h))}, nil
}
