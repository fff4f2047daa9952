package facematch_test

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"testing"

	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/facematch"
)

// refStore is an in-memory biometric.ReferenceFaceStore.
type refStore map[string][]byte

func (s refStore) SaveReferenceFace(_ context.Context, id string, img []byte) error {
	s[id] = img
	return nil
}

func (s refStore) ReferenceFace(_ context.Context, id string) ([]byte, error) {
	if b, ok := s[id]; ok {
		return b, nil
	}
	return nil, biometric.ErrNotFound
}

func TestReferenceImage(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 20, 10))); err != nil {
		t.Fatal(err)
	}
	svc := &facematch.Service{References: refStore{
		"liveness_session_a": buf.Bytes(),
		"liveness_session_b": []byte("\x89PNG\r\n\x1a\nbroken"),
	}}
	ctx := context.Background()
	img, err := svc.ReferenceImage(ctx, &biometric.Session{ID: "liveness_session_a"})
	if err != nil || img.RGBA.Bounds().Dx() != 20 || img.RGBA.Bounds().Dy() != 10 {
		t.Fatalf("stored face: %v, %v", img, err)
	}
	_, err = svc.ReferenceImage(ctx, &biometric.Session{ID: "liveness_session_x"})
	if e := biometric.AsError(err); e.Kind != biometric.KindConflict || e.Code != "session_has_no_reference_face" || e.Field != "source_session_id" {
		t.Errorf("missing face: %v (%s, field %q)", err, e.Kind, e.Field)
	}
	// A stored face that does not decode is the server's fault: an
	// internal error, not the client's image_unreadable.
	_, err = svc.ReferenceImage(ctx, &biometric.Session{ID: "liveness_session_b"})
	if e := biometric.AsError(err); e.Kind != biometric.KindInternal {
		t.Errorf("corrupt face: %v (%s), want an internal error", err, e.Kind)
	}
}
