package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/cloudpay/cloudpay/shared/openapi"
	"github.com/cloudpay/cloudpay/shared/serve"
)

// The API reference at /docs/, in headless Chromium against the whole local
// stack: the page, under its strict CSP, fetches every function's
// /openapi.json and lists every route each document has (and only those),
// a route opens to its authentication, request schema, examples and error
// codes, the filter narrows the list, and the page logs no error (a CSP
// violation would be one).
func TestDocsInChromium(t *testing.T) {
	if why := browserTools(); why != "" {
		t.Skip("no browser for the docs test: " + why)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cfg config
	if err := serve.Load(ctx, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.DataDir, cfg.MongoURI, cfg.SimPort = t.TempDir(), "", 0
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := build(ctx, cfg, ln, slog.New(slog.DiscardHandler))
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	defer s.close()
	go func() { _ = serve.Serve(ctx, serve.Config{}, ln, s.handler, slog.New(slog.DiscardHandler)) }()

	// /docs sends the browser to /docs/, which is served under the CSP.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(s.base + "/docs")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "docs/" {
		t.Fatalf("GET /docs: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = http.Get(s.base + "/docs/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Security-Policy") != openapi.CSP {
		t.Fatalf("GET /docs/: %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}

	// What each function documents, as the page must show it.
	want := map[string][]string{}
	for _, fn := range functions {
		resp, err := http.Get(s.base + "/" + fn + "/openapi.json")
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var doc struct {
			Paths map[string]map[string]json.RawMessage `json:"paths"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /%s/openapi.json: %d %v", fn, resp.StatusCode, err)
		}
		for path, item := range doc.Paths {
			for method := range item {
				want[fn] = append(want[fn], strings.ToUpper(method)+" "+path)
			}
		}
		sort.Strings(want[fn])
		if len(want[fn]) < 3 {
			t.Fatalf("%s documents %d routes", fn, len(want[fn]))
		}
	}

	b := startBrowser(t)
	b.navigate(s.base + "/docs/")
	b.el(`main[data-ready="true"]`)
	var shown map[string][]string
	raw, _ := json.Marshal(b.exec(`const out = {};
		for (const op of document.querySelectorAll('details.op')) {
			(out[op.dataset.function] = out[op.dataset.function] || []).push(op.dataset.method + ' ' + op.dataset.path);
		}
		return out;`))
	if err := json.Unmarshal(raw, &shown); err != nil {
		t.Fatal(err)
	}
	for _, fn := range functions {
		got := shown[fn]
		sort.Strings(got)
		if !slices.Equal(got, want[fn]) {
			t.Errorf("the page shows %s's routes as\n%v\nits document has\n%v", fn, got, want[fn])
		}
		if n := b.text(`section[data-function="` + fn + `"] h2`); !strings.Contains(n, fn) {
			t.Errorf("section of %s is headed %q", fn, n)
		}
	}
	if len(shown) != len(functions) {
		t.Errorf("the page shows %d functions, want %d: %v", len(shown), len(functions), shown)
	}

	// A route opens to what an integrator needs.
	order := `details.op[data-function="create-payment"][data-method="POST"][data-path="/orders"]`
	b.click(order + ` > summary`)
	b.waitText(order+` .op-body`, "CreateOrderRequest")
	body := b.text(order + ` .op-body`)
	for _, s := range []string{"adminBearer", "amount_fen", "Examples", "course", "ORDER_CONFLICT", "INVALID_FIELD", "201", "Order"} {
		if !strings.Contains(body, s) {
			t.Errorf("POST /orders opened shows no %q:\n%s", s, tail(body, 2000))
		}
	}
	if a := b.text(order + ` .auth`); !strings.Contains(a, "admin bearer token") {
		t.Errorf("POST /orders' authentication reads %q", a)
	}
	callback := `details.op[data-function="payment-callback"][data-path="/callbacks/alipay"] .auth`
	if a := b.text(callback); !strings.Contains(a, "Alipay RSA2") {
		t.Errorf("POST /callbacks/alipay's authentication reads %q", a)
	}
	shots := filepath.Join("..", "..", "bin", "docs-screenshots") // gitignored
	b.screenshot(filepath.Join(shots, "docs.png"))
	b.exec(`document.querySelector(arguments[0]).scrollIntoView()`, order+` .op-body h3:nth-of-type(3)`)
	b.screenshot(filepath.Join(shots, "docs-route.png"))

	// The filter narrows the list to what matches every word.
	b.typeInto("#filter", "post refund-requests")
	b.waitFor("the filter", func() (bool, error) {
		visible, _ := b.exec(`return [...document.querySelectorAll('details.op:not(.hidden)')].map(d => d.dataset.method + ' ' + d.dataset.path)`).([]any)
		return len(visible) == 1 && visible[0] == "POST /refund-requests", nil
	})
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("the page logged errors: %v", errs)
	}
}
