package facematch

import (
	"context"
	"fmt"

	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/imagein"
)

// Service is the face-match engine as the HTTP API uses it (the
// api.FaceMatcher interface): matches between decoded request images, and
// the reference faces of liveness sessions.
type Service struct {
	Engine *Engine
	// References holds the sessions' reference faces.
	References biometric.ReferenceFaceStore
	// Limits bound a stored reference image when it is decoded; the
	// default limits if zero.
	Limits imagein.Limits
}

// Match compares the face of source with that of target. Errors about an
// image are *biometric.Error with Field "source" or "target".
func (s *Service) Match(ctx context.Context, source, target *imagein.Image, threshold float64) (*biometric.MatchResult, error) {
	return s.Engine.Match(ctx, source.RGBA, target.RGBA, threshold)
}

// ReferenceImage loads and decodes the reference face kept for session
// sess. A session without one (its face was purged, or never kept) is a
// conflict: session_has_no_reference_face.
func (s *Service) ReferenceImage(ctx context.Context, sess *biometric.Session) (*imagein.Image, error) {
	data, err := s.References.ReferenceFace(ctx, sess.ID)
	if biometric.IsKind(err, biometric.KindNotFound) {
		e := biometric.Errorf(biometric.KindConflict, "session_has_no_reference_face",
			"The liveness session %s has no reference face (it was not kept or has been deleted); send the source image instead.", sess.ID)
		e.Field = "source_session_id"
		return nil, e
	}
	if err != nil {
		return nil, biometric.Wrap(err, "loading the reference face")
	}
	img, err := imagein.Decode(data, s.Limits)
	if err != nil {
		// A stored face that does not decode is our fault, not the
		// client's: hide the decoder's client-facing error.
		return nil, biometric.Wrap(fmt.Errorf("decoding the reference face of %s: %v", sess.ID, err), "facematch")
	}
	return img, nil
}
