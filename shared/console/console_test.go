package console_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/cloudpay/cloudpay/shared/console"
)

func get(t *testing.T, h http.Handler, method, path string, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// The handler serves by file name, so it works mounted with its prefix
// stripped (/, /app.js) or not (/admin/, /refund/admin/app.js).
func TestServesEachFileWithItsTypeAndCaching(t *testing.T) {
	h := console.Handler()
	for _, tc := range []struct {
		path, contentType, contains string
		csp                         bool
	}{
		{"/", "text/html; charset=utf-8", "<title>cloudpay 运营后台</title>", true},
		{"/admin/", "text/html; charset=utf-8", `src="app.js"`, true},
		{"/refund/admin/index.html", "text/html; charset=utf-8", `href="app.css"`, true},
		{"/app.js", "text/javascript; charset=utf-8", "export function parseYuan", false},
		{"/refund/admin/app.css", "text/css; charset=utf-8", ".progress", false},
	} {
		t.Run(tc.path, func(t *testing.T) {
			rec := get(t, h, http.MethodGet, tc.path, nil)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d", rec.Code)
			}
			if got := rec.Header().Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type %q, want %q", got, tc.contentType)
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-cache" {
				t.Errorf("Cache-Control %q, want no-cache", got)
			}
			if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no nosniff")
			}
			if !strings.Contains(rec.Body.String(), tc.contains) {
				t.Errorf("body lacks %q", tc.contains)
			}
			csp := rec.Header().Get("Content-Security-Policy")
			if tc.csp && !strings.Contains(csp, "default-src 'self'") {
				t.Errorf("CSP %q", csp)
			}
			// A revalidation costs a 304, not the file.
			etag := rec.Header().Get("ETag")
			if etag == "" {
				t.Fatal("no ETag")
			}
			again := get(t, h, http.MethodGet, tc.path, map[string]string{"If-None-Match": etag})
			if again.Code != http.StatusNotModified || again.Body.Len() != 0 {
				t.Errorf("revalidation: %d with %d bytes", again.Code, again.Body.Len())
			}
		})
	}
}

func TestRefusesOtherFilesAndMethods(t *testing.T) {
	h := console.Handler()
	for _, path := range []string{"/console.go", "/admin/api", "/../go.mod", "/favicon.ico"} {
		if rec := get(t, h, http.MethodGet, path, nil); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, rec.Code)
		}
	}
	if rec := get(t, h, http.MethodPost, "/", nil); rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /: %d Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
	if rec := get(t, h, http.MethodHead, "/app.js", nil); rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("HEAD: %d with %d bytes", rec.Code, rec.Body.Len())
	}
}

// The CSP allows no inline script or style, so the page must carry none:
// no <script> with a body, no on* attributes, no style attributes, and no
// script or stylesheet from elsewhere.
func TestPageNeedsNothingTheCSPForbids(t *testing.T) {
	csp := console.CSP
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "object-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP lacks %s", want)
		}
	}
	if strings.Contains(csp, "unsafe-") {
		t.Errorf("CSP allows unsafe sources: %s", csp)
	}
	page := get(t, console.Handler(), http.MethodGet, "/", nil).Body.String()
	for name, re := range map[string]*regexp.Regexp{
		"inline script":    regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`),
		"event attribute":  regexp.MustCompile(`\son[a-z]+\s*=`),
		"style attribute":  regexp.MustCompile(`\sstyle\s*=`),
		"style element":    regexp.MustCompile(`<style`),
		"foreign resource": regexp.MustCompile(`(?:src|href)="(?:https?:)?//`),
		"javascript: URL":  regexp.MustCompile(`javascript:`),
	} {
		if m := re.FindString(page); m != "" {
			t.Errorf("index.html has an %s: %q", name, m)
		}
	}
}
