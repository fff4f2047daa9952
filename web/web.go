// Package web is the browser side of everify: the capture SDK
// (sdk/everify-capture.js and its stylesheet) and the demo page (demo/),
// embedded in the binary and served by `everify serve` at /sdk/ and /demo/.
package web

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
)

//go:embed sdk demo
var files embed.FS

// FS returns the embedded files, at sdk/… and demo/….
func FS() fs.FS { return files }

// demoCSP lets the demo page load its own scripts and styles, call its own
// server and show the camera, and nothing else.
const demoCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"media-src 'self' blob: mediastream:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// etags holds a strong ETag for every embedded file, by URL path
// ("/sdk/everify-capture.js").
var etags = sync.OnceValue(func() map[string]string {
	tags := map[string]string{}
	err := fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		tags["/"+name] = `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
		return nil
	})
	if err != nil {
		panic("web: reading the embedded files: " + err.Error()) // cannot happen with embed.FS
	}
	return tags
})

// Handler serves the embedded files at their own paths: mount it at /sdk/
// and /demo/. A directory is served as its index.html, or is a 404 (no
// listings). Every file carries a strong ETag with Cache-Control: no-cache,
// so a browser revalidates and usually gets a 304. The SDK may be loaded
// from other origins (module scripts need CORS); the demo page runs under
// a strict Content-Security-Policy that lets only itself use the camera.
func Handler() http.Handler {
	files := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := path.Clean("/" + r.URL.Path)
		tag, ok := etags()[name]
		if !ok {
			tag, ok = etags()[path.Join(name, "index.html")]
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("ETag", tag)
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		switch {
		case strings.HasPrefix(name, "/sdk/"):
			h.Set("Access-Control-Allow-Origin", "*")
			h.Set("Cross-Origin-Resource-Policy", "cross-origin")
		case strings.HasPrefix(name, "/demo"):
			h.Set("Content-Security-Policy", demoCSP)
			h.Set("Permissions-Policy", "camera=(self), microphone=(), geolocation=()")
			h.Set("Referrer-Policy", "no-referrer")
		}
		files.ServeHTTP(w, r)
	})
}
