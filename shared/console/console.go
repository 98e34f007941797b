// Package console is the operator's console: a single-page web app (plain
// HTML, CSS and JavaScript, no build step) embedded in the binary and served
// by the refund function under /admin/. The page talks to the refund
// function's routes with the admin bearer token the operator enters; it
// finds them at its own path minus "/admin/", so it works at /admin/ and
// behind a prefix (/refund/admin/ in functions/local).
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed index.html app.js app.css
var files embed.FS

// CSP allows nothing but the console's own files and calls to its own
// origin: no inline script or style, no frames, no plugins.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

type asset struct {
	body        []byte
	contentType string
	etag        string
}

// Handler serves the console. It serves by file name, so it may be mounted
// with its prefix stripped or not: a path ending in "/" (or index.html) is
// the page, app.js and app.css are its assets, anything else is 404. The
// mount point must end in "/admin/" for the page to find the API.
func Handler() http.Handler {
	assets := map[string]asset{}
	for name, ct := range map[string]string{
		"index.html": "text/html; charset=utf-8",
		"app.js":     "text/javascript; charset=utf-8",
		"app.css":    "text/css; charset=utf-8",
	} {
		body, err := files.ReadFile(name)
		if err != nil {
			panic("console: " + name + " is not embedded: " + err.Error()) // a build defect, not a runtime condition
		}
		sum := sha256.Sum256(body)
		assets[name] = asset{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := path.Base(r.URL.Path)
		if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") {
			name = "index.html"
		}
		a, ok := assets[name]
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if !ok {
			http.Error(w, "404 page not found", http.StatusNotFound)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
			return
		}
		// Every file is revalidated: the assets have fixed names, and a page
		// from one release with a script from another would break. The ETag
		// makes revalidation a 304.
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		if name == "index.html" {
			h.Set("Content-Security-Policy", CSP)
			h.Set("X-Frame-Options", "DENY")
		}
		h.Set("Content-Type", a.contentType)
		// ServeContent answers If-None-Match against the ETag, HEAD and ranges.
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
	})
}
