package api

import (
	"context"
	"net/http"
	"time"

	"github.com/everify/everify/client"
	"github.com/everify/everify/internal/biometric"
)

// IndexResponse is the body of GET /: where to find the documentation.
type IndexResponse struct {
	RequestID  string `json:"request_id"`
	Service    string `json:"service"`
	DocsURL    string `json:"docs_url"`
	OpenAPIURL string `json:"openapi_url"`
	Message    string `json:"message"`
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) error {
	s.writeJSON(w, r, http.StatusOK, IndexResponse{
		RequestID:  requestID(r.Context()),
		Service:    "everify",
		DocsURL:    "/docs",
		OpenAPIURL: "/openapi.yaml",
		Message:    "everify selfie liveness and face match API; see /docs.",
	})
	return nil
}

// healthz answers 200 while the process serves HTTP.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	s.writeJSON(w, r, http.StatusOK, client.StatusResponse{RequestID: requestID(r.Context()), Status: "ok", Message: "everify is running."})
	return nil
}

// readyz answers 200 when the store answers within readyTimeout, and 503
// store_unavailable otherwise.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		return &biometric.Error{Kind: biometric.KindUnavailable, Code: "store_unavailable",
			Message: "The database is not reachable; this instance is not ready to serve requests.", Err: err, RetryAfter: time.Second}
	}
	s.writeJSON(w, r, http.StatusOK, client.StatusResponse{RequestID: requestID(r.Context()), Status: "ok", Message: "everify is ready: the store is reachable."})
	return nil
}
