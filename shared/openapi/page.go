package openapi

import (
	"bytes"
	"embed"
	"encoding/json"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed page/index.html page/docs.js page/docs.css
var pageFiles embed.FS

// CSP lets the page run its own script and style and fetch from its own
// origin, nothing else: no inline script or style, no CDN, no frames.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Function is one function the page lists: its name and the URL (a path
// on the page's origin) of its /openapi.json.
type Function struct {
	Name     string `json:"name"`
	Document string `json:"document"`
}

// Page serves the browsable reference of the functions' routes: a page
// that fetches each function's document and lists its routes, with their
// authentication, parameters, request and response schemas, error codes
// and examples. Mount it with its prefix stripped (/docs): a request for
// the bare prefix is sent to the prefix with a slash, then the page
// (index.html), docs.js, docs.css and functions.json (the list) are served
// by name.
func Page(functions []Function) http.Handler {
	list, err := json.Marshal(functions)
	if err != nil {
		panic("openapi: the functions' list: " + err.Error()) // plain strings: cannot happen
	}
	files := map[string]struct {
		body []byte
		ct   string
	}{"functions.json": {list, "application/json"}}
	for name, ct := range map[string]string{"index.html": "text/html; charset=utf-8", "docs.js": "text/javascript; charset=utf-8", "docs.css": "text/css; charset=utf-8"} {
		body, err := pageFiles.ReadFile("page/" + name)
		if err != nil {
			panic("openapi: " + name + " is not embedded: " + err.Error()) // a build defect
		}
		files[name] = struct {
			body []byte
			ct   string
		}{body, ct}
	}
	started := time.Now()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if r.URL.Path == "" {
			// The mount point with a slash, relative (RequestURI still has
			// the prefix StripPrefix took), so it works behind any prefix.
			mount, _, _ := strings.Cut(r.RequestURI, "?")
			h.Set("Location", path.Base(mount)+"/")
			w.WriteHeader(http.StatusMovedPermanently)
			return
		}
		name := path.Base(r.URL.Path)
		if r.URL.Path == "/" {
			name = "index.html"
		}
		f, ok := files[name]
		if !ok || path.Dir(r.URL.Path) != "/" {
			http.Error(w, "404 page not found", http.StatusNotFound)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.Set("Content-Type", f.ct)
		h.Set("Cache-Control", "no-cache")
		if name == "index.html" {
			h.Set("Content-Security-Policy", CSP)
			h.Set("X-Frame-Options", "DENY")
		}
		http.ServeContent(w, r, name, started, bytes.NewReader(f.body))
	})
}
