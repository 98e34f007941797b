package openapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

type itemView struct {
	Name string `json:"name"`
}

type sampleView struct {
	ID      string            `json:"id"`
	Amount  int64             `json:"amount_fen"`
	Note    string            `json:"note,omitempty"`
	At      time.Time         `json:"at"`
	Done    *time.Time        `json:"done_at,omitempty"`
	Items   []itemView        `json:"items"`
	Extra   map[string]string `json:"extra,omitempty"`
	Data    map[string]any    `json:"data"`
	Skipped string            `json:"-"`
	embedded
}

type embedded struct {
	Flag bool `json:"flag"`
}

type sampleRequest struct {
	ID     string `json:"id"`
	Amount int64  `json:"amount_fen"`
}

// A view requires what it always writes and allows null where a nil
// slice or map is written as null; a request refuses other fields and
// requires what it is told; both are components referred to by name.
func TestSchemas(t *testing.T) {
	t.Parallel()
	s := &Schemas{Required: map[string][]string{"SampleRequest": {"amount_fen"}},
		Fields: map[string]*Obj{"Sample.amount_fen": O("minimum", 1), "Sample.gone": O("description", "renamed")}}
	if got := mustJSON(t, s.Ref(reflect.TypeFor[sampleView](), Response)); got != `{"$ref":"#/components/schemas/Sample"}` {
		t.Fatalf("ref: %s", got)
	}
	s.Ref(reflect.TypeFor[sampleRequest](), Request)
	want := `{"Sample":{"type":"object","properties":{"id":{"type":"string"},"amount_fen":{"type":"integer","minimum":1},"note":{"type":"string"},` +
		`"at":{"type":"string","format":"date-time"},"done_at":{"type":"string","format":"date-time"},` +
		`"items":{"type":["array","null"],"items":{"$ref":"#/components/schemas/Item"}},"extra":{"type":"object","additionalProperties":{"type":"string"}},` +
		`"data":{"type":["object","null"]},"flag":{"type":"boolean"}},"required":["id","amount_fen","at","items","data","flag"],"additionalProperties":false},` +
		`"Item":{"type":"object","properties":{"name":{"type":"string"}},"required":["name"],"additionalProperties":false},` +
		`"SampleRequest":{"type":"object","properties":{"id":{"type":"string"},"amount_fen":{"type":"integer"}},"required":["amount_fen"],"additionalProperties":false}}`
	if got := mustJSON(t, s.Components); got != want {
		t.Errorf("components:\n got %s\nwant %s", got, want)
	}
	if u := s.Unused(); len(u) != 1 || u[0] != "Sample.gone" {
		t.Errorf("unused field docs: %v", u)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	raw, err := Compact(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// The page is served under its CSP, finds its files by name behind its
// prefix, and lists the functions it was given.
func TestPage(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	page := http.StripPrefix("/docs", Page([]Function{{Name: "refund", Document: "../refund/openapi.json"}}))
	mux.Handle("/docs", page)
	mux.Handle("/docs/", page)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (*http.Response, string) {
		resp, err := noFollow.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp, string(raw)
	}
	if resp, _ := get("/docs"); resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "docs/" {
		t.Errorf("/docs: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := get("/docs/")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Security-Policy") != CSP || !strings.Contains(body, `<script src="docs.js"`) ||
		strings.Contains(body, "<script>") || strings.Contains(body, "style=") {
		t.Errorf("/docs/: %d CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
	for path, ct := range map[string]string{"/docs/docs.js": "text/javascript", "/docs/docs.css": "text/css", "/docs/functions.json": "application/json"} {
		if resp, _ := get(path); resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), ct) {
			t.Errorf("%s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	_, list := get("/docs/functions.json")
	var fns []Function
	if err := json.Unmarshal([]byte(list), &fns); err != nil || len(fns) != 1 || fns[0].Document != "../refund/openapi.json" {
		t.Errorf("functions.json: %s", list)
	}
	for _, path := range []string{"/docs/nothing.js", "/docs/x/docs.js"} {
		if resp, _ := get(path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
}
