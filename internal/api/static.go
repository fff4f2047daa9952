package api

import (
	"net/http"

	"github.com/everify/everify/web"
)

// staticFiles serves the browser capture SDK (/sdk/…) and the demo page
// (/demo/…) embedded by package web.
var staticFiles = web.Handler()

// serveFiles is the handler of the static routes. Their paths are one
// segment deep (/sdk/{file}, /demo/{file}), which is all package web
// holds, so that they cannot overlap the API's own routes.
func serveFiles(w http.ResponseWriter, r *http.Request) error {
	staticFiles.ServeHTTP(w, r)
	return nil
}
