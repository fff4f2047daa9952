package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/everify/everify/client"
	"github.com/everify/everify/internal/audit"
	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/imagein"
)

// DefaultThreshold is the face-match threshold when a request gives none.
const DefaultThreshold = 80.0

// maxImageURL is the longest image URL accepted.
const maxImageURL = 2048

var errEngineUnavailable = biometric.Errorf(biometric.KindUnavailable, "face_match_engine_unavailable",
	"The face-match engine is not installed in this build of everify: the request and both images are valid, but no match can be computed.")

// faceMatch validates the request fully, loads both images (concurrently),
// and asks the engine for the match.
func (s *Server) faceMatch(w http.ResponseWriter, r *http.Request) error {
	var req client.FaceMatchRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	threshold := DefaultThreshold
	if req.Threshold != nil {
		threshold = *req.Threshold
		if threshold < 0 || threshold > 100 {
			return invalidField("threshold", "invalid_threshold", "threshold must be between 0 and 100 (got %g); leave it out for the default of %g.", threshold, DefaultThreshold)
		}
	}
	source, target, err := imageSources(&req)
	if err != nil {
		return err
	}
	ctx := r.Context()
	var session *biometric.Session
	if req.SourceSessionID != "" {
		if p := audit.PendingFrom(ctx); p != nil && len(req.SourceSessionID) <= maxAuditSessionID {
			p.Update(func(ev *audit.Event) { ev.SessionID = req.SourceSessionID })
		}
		if session, err = s.sourceSession(ctx, apiKeyOf(r).Tenant, req.SourceSessionID); err != nil {
			return err
		}
	}
	sources := []imagein.Source{target}
	if session == nil {
		sources = append(sources, source)
	}
	images, err := s.loadImages(ctx, sources)
	if err != nil {
		return err
	}
	if s.matcher == nil {
		return errEngineUnavailable
	}
	var src *imagein.Image
	if session != nil {
		if src, err = s.matcher.ReferenceImage(ctx, session); err != nil {
			return err
		}
	} else {
		src = images[1]
	}
	res, err := s.matcher.Match(ctx, src, images[0], threshold)
	if err != nil {
		sourceField := source.Field
		if session != nil {
			sourceField = "source_session_id"
		}
		return imageFieldError(err, sourceField, target.Field)
	}
	decision := "no_match"
	if res.IsMatch {
		decision = "match"
	}
	setDecision(ctx, decision)
	s.writeJSON(w, r, http.StatusOK, client.FaceMatchResponse{
		RequestID: requestID(ctx),
		Status:    "completed",
		Result:    wireMatchResult(res),
		Message:   "Face matching completed successfully.",
	})
	return nil
}

// imageSources checks that the request gives exactly one source form and
// one target form, and that URLs are absolute http(s) URLs. The source is
// the zero Source when it is a session.
func imageSources(req *client.FaceMatchRequest) (source, target imagein.Source, err error) {
	source, err = oneImage("source", req.SourceImageURL, req.SourceImageBase64, req.SourceSessionID)
	if err != nil {
		return source, target, err
	}
	target, err = oneImage("target", req.TargetImageURL, req.TargetImageBase64, "")
	return source, target, err
}

// oneImage returns the single image source among side's fields.
func oneImage(side, rawURL, b64, sessionID string) (imagein.Source, error) {
	fields := []string{side + "_image_url", side + "_image_base64"}
	if side == "source" {
		fields = append(fields, "source_session_id")
	}
	var given []string
	for i, v := range []string{rawURL, b64, sessionID}[:len(fields)] {
		if v != "" {
			given = append(given, fields[i])
		}
	}
	switch len(given) {
	case 0:
		return imagein.Source{}, invalidField(fields[0], "missing_"+side+"_image",
			"Give the %s image as one of %s.", side, strings.Join(fields, ", "))
	case 1:
	default:
		return imagein.Source{}, invalidField(given[1], "ambiguous_"+side+"_image",
			"Give the %s image in one form only; the request has %s.", side, strings.Join(given, " and "))
	}
	switch {
	case rawURL != "":
		if err := checkImageURL(rawURL); err != nil {
			err.Field = fields[0]
			return imagein.Source{}, err
		}
		return imagein.Source{URL: rawURL, Field: fields[0]}, nil
	case b64 != "":
		return imagein.Source{Base64: b64, Field: fields[1]}, nil
	}
	return imagein.Source{}, nil
}

// checkImageURL requires an absolute http or https URL with a host, so that
// a malformed request is refused before any image is fetched. The image
// fetcher applies the full destination policy.
func checkImageURL(raw string) *biometric.Error {
	if len(raw) > maxImageURL {
		return biometric.Errorf(biometric.KindInvalid, "image_url_invalid", "The image URL is longer than %d characters.", maxImageURL)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return biometric.Errorf(biometric.KindInvalid, "image_url_invalid",
			"The image URL must be an absolute http or https URL, such as https://example.com/selfie.jpg.")
	}
	return nil
}

// sourceSession returns the tenant's session used as a match source: it
// must be completed and judged live.
func (s *Server) sourceSession(ctx context.Context, tenant, id string) (*biometric.Session, error) {
	sess, err := s.tenantSession(ctx, tenant, id)
	if err != nil {
		if e := biometric.AsError(err); e.Kind == biometric.KindNotFound {
			return nil, invalidFieldKind(biometric.KindNotFound, "source_session_id", e.Code, e.Message)
		}
		return nil, err
	}
	if sess.Status != biometric.StatusCompleted || sess.Result == nil {
		return nil, invalidFieldKind(biometric.KindConflict, "source_session_id", "session_not_completed",
			"The liveness session is "+string(sess.Status)+"; a face match can use it as the source once it is completed.")
	}
	if !sess.Result.IsLive {
		return nil, invalidFieldKind(biometric.KindConflict, "source_session_id", "session_not_live",
			"The liveness session did not pass the liveness check, so its face cannot be used as a match source.")
	}
	if sess.BiometricsDeletedAt != nil {
		return nil, invalidFieldKind(biometric.KindGone, "source_session_id", "session_biometrics_deleted",
			"The liveness session's face was deleted (on request, or after the retention period), so it cannot be a match source; run a new liveness session.")
	}
	return sess, nil
}

func invalidFieldKind(kind biometric.Kind, field, code, msg string) *biometric.Error {
	return &biometric.Error{Kind: kind, Code: code, Message: msg, Field: field}
}

// loadImages loads the sources concurrently. When one fails the others are
// cancelled, and the first failure is returned.
func (s *Server) loadImages(ctx context.Context, sources []imagein.Source) ([]*imagein.Image, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	images := make([]*imagein.Image, len(sources))
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for i, src := range sources {
		wg.Go(func() {
			img, err := s.images.Load(ctx, src)
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
					cancel()
				}
				mu.Unlock()
				return
			}
			images[i] = img
		})
	}
	wg.Wait()
	return images, first
}

// imageFieldError names the request field of the image at fault in a
// FaceMatcher error, which names only its side ("source" or "target").
func imageFieldError(err error, sourceField, targetField string) error {
	var e *biometric.Error
	if !errors.As(err, &e) {
		return err
	}
	switch e.Field {
	case "source":
		e.Field = sourceField
	case "target":
		e.Field = targetField
	}
	return err
}
