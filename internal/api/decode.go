package api

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/everify/everify/internal/biometric"
)

// decodeJSON reads the request body into v strictly: the Content-Type must
// be application/json (415 otherwise), the body one JSON object with no
// unknown fields and nothing after it (400), within the route's size limit
// (413).
func decodeJSON(r *http.Request, v any) error {
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || mt != "application/json" {
		return biometric.Errorf(biometric.KindUnsupportedMedia, "unsupported_media_type",
			"The request body must be JSON sent with 'Content-Type: application/json' (got %q).", ct)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return biometric.Errorf(biometric.KindUnsupportedMedia, "unsupported_media_type",
			"The request body must be UTF-8 JSON (got charset %q).", cs)
	}
	return decodeStrict(r.Body, v)
}

// decodeStrict reads body into v: one JSON object with no unknown fields
// and nothing after it (400), within the size limit of the reader (413).
func decodeStrict(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return bodyTooLarge(tooLarge.Limit)
		}
		return biometric.Errorf(biometric.KindInvalid, "invalid_json",
			"The request body must hold a single JSON object with nothing after it.")
	}
	return nil
}

// decodeError explains why a body could not be decoded.
func decodeError(err error) error {
	var (
		tooLarge  *http.MaxBytesError
		syntax    *json.SyntaxError
		typeError *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooLarge):
		return bodyTooLarge(tooLarge.Limit)
	case errors.Is(err, io.EOF):
		return biometric.Errorf(biometric.KindInvalid, "invalid_json", "The request body is empty; send a JSON object.")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return biometric.Errorf(biometric.KindInvalid, "invalid_json", "The request body ends in the middle of the JSON value.")
	case errors.As(err, &syntax):
		return biometric.Errorf(biometric.KindInvalid, "invalid_json",
			"The request body is not valid JSON (at byte %d: %s).", syntax.Offset, strings.TrimPrefix(syntax.Error(), "json: "))
	case errors.As(err, &typeError):
		if typeError.Field == "" {
			return biometric.Errorf(biometric.KindInvalid, "invalid_json",
				"The request body must be a JSON object, not a JSON %s.", typeError.Value)
		}
		e := biometric.Errorf(biometric.KindInvalid, "invalid_field_type",
			"Field %q has the wrong type (a JSON %s is not accepted there); see the API documentation.", typeError.Field, typeError.Value)
		e.Field = typeError.Field
		return e
	}
	if name, ok := unknownField(err); ok {
		e := biometric.Errorf(biometric.KindInvalid, "unknown_field",
			"Field %q is not part of this request; check its spelling against the API documentation.", name)
		e.Field = name
		return e
	}
	return biometric.Errorf(biometric.KindInvalid, "invalid_json", "The request body could not be read as the expected JSON object.")
}

// unknownField extracts the field name from encoding/json's unknown-field
// error, which has no type of its own.
func unknownField(err error) (string, bool) {
	msg := err.Error()
	i := strings.Index(msg, "unknown field ")
	if i < 0 {
		return "", false
	}
	name := strings.TrimSpace(msg[i+len("unknown field "):])
	return strings.Trim(name, `"`), true
}
