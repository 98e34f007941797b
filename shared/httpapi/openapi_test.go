package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cloudpay/cloudpay/shared/checkout"
	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/mongostore"
	"github.com/cloudpay/cloudpay/shared/openapi"
	"github.com/cloudpay/cloudpay/shared/operator"
	"github.com/cloudpay/cloudpay/shared/outbox"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/recon"
	"github.com/cloudpay/cloudpay/shared/shipping"
)

var updateOpenAPI = flag.Bool("update", false, "write the OpenAPI documents in openapi/ (go generate)")

// generated is each function's document as openapi_spec_test.go describes
// it, as the compact JSON openapi/ holds.
func generated(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	used := map[string]bool{}
	var schemas []*openapi.Schemas
	roles := probeRoles(t)
	for _, fn := range functions() {
		doc, s := document(fn, roles)
		raw, err := openapi.Compact(doc)
		if err != nil {
			t.Fatalf("%s: %v", fn.name, err)
		}
		out[fn.name] = raw
		schemas = append(schemas, s)
	}
	for _, s := range schemas {
		for k := range fieldDocs {
			if !slices.Contains(s.Unused(), k) {
				used[k] = true
			}
		}
	}
	for k := range fieldDocs {
		if !used[k] {
			t.Errorf("fieldDocs[%q] documents a field no component has: renamed or removed?", k)
		}
	}
	return out
}

// The committed documents are what the descriptions generate, byte for
// byte: a view, a request or a route changed without go generate fails
// here. With -update (go generate ./shared/httpapi) it writes them.
func TestOpenAPIDocumentsCurrent(t *testing.T) {
	t.Parallel()
	for name, raw := range generated(t) {
		path := filepath.Join("openapi", name+".json")
		if *updateOpenAPI {
			if err := os.WriteFile(path, raw, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		committed, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(committed, raw) {
			t.Errorf("%s is stale: run go generate ./shared/httpapi", path)
		}
		served, err := openAPIDocuments.ReadFile("openapi/" + name + ".json")
		if err != nil || !bytes.Equal(served, committed) {
			t.Errorf("%s: the embedded document is not the file (%v)", name, err)
		}
	}
}

// stubDeadLetters stands in for the outbox: registering routes needs one,
// answering them is not this test's business.
type stubDeadLetters struct{}

type stubAudit struct{}

func (stubAudit) Audit(context.Context, mongostore.AuditQuery) ([]cloudpay.AuditEntry, error) {
	return []cloudpay.AuditEntry{}, nil
}

func (stubDeadLetters) DeadLetters(context.Context, int) ([]outbox.Letter, error) {
	return nil, nil
}
func (stubDeadLetters) Redeliver(context.Context, string) (outbox.Letter, error) {
	return outbox.Letter{}, nil
}

// fullEngines builds every function's router with every optional part
// configured (checkout page, shipping, the console, dead letters), on
// services that are never called: what routes exist is decided when the
// router is built.
func fullEngines(t *testing.T, admin AdminConfig) map[string]*gin.Engine {
	t.Helper()
	users := UserConfig{RequireWXSource: true}
	svc := payment.New(nil, nil, payment.Config{})
	ship := &shipping.Service{}
	co := Checkout{Signer: checkout.NewSigner("openapi-test-key", ""), LinkTTL: time.Hour}
	console := Console{Views: operator.New(nil), Dead: stubDeadLetters{}, Recon: &recon.Service{}, Shipping: ship,
		Page: http.NotFoundHandler(), Audit: stubAudit{}}
	handlers := map[string]http.Handler{
		"create-payment":   CreatePayment(svc, ship, admin, users, co, nil),
		"payment-callback": PaymentCallback(Callbacks{}, nil),
		"refund":           Refund(nil, console, admin, users, nil),
		"withdraw":         Withdraw(nil, admin, users, nil),
		"close-expired":    CloseExpired(nil, stubDeadLetters{}, JobConfig{Tokens: []string{"job"}}, admin, nil),
	}
	out := map[string]*gin.Engine{}
	for name, h := range handlers {
		e, ok := h.(*gin.Engine)
		if !ok {
			t.Fatalf("%s's handler is a %T, not a gin engine", name, h)
		}
		out[name] = e
	}
	return out
}

// roleNames are the roles of named tokens, in the order documents list them.
var roleNames = []cloudpay.Role{cloudpay.RoleViewer, cloudpay.RoleOperator, cloudpay.RoleApprover, cloudpay.RoleService}

// probeRoles finds which roles each admin route admits by asking it: one
// named token per role, and a route refuses a role with 403 FORBIDDEN_ROLE
// before anything else. The documents list what the routers decide.
func probeRoles(t *testing.T) map[string][]string {
	t.Helper()
	var operators []string
	for _, role := range roleNames {
		sum := sha256.Sum256([]byte("probe-" + string(role)))
		operators = append(operators, "probe-"+string(role)+":"+string(role)+":"+hex.EncodeToString(sum[:]))
	}
	engines := fullEngines(t, AdminConfig{Operators: operators})
	out := map[string][]string{}
	for _, fn := range functions() {
		for _, r := range fn.routes {
			if r.auth != authAdmin {
				continue
			}
			key := fn.name + " " + r.method + " " + r.path
			path := ginParam.ReplaceAllString(r.path, "probe")
			for _, role := range roleNames {
				w := httptest.NewRecorder()
				req := httptest.NewRequest(r.method, path, strings.NewReader("{}"))
				req.Header.Set("Authorization", "Bearer probe-"+string(role))
				engines[fn.name].ServeHTTP(w, req)
				var body errorBody
				_ = json.Unmarshal(w.Body.Bytes(), &body)
				if w.Code == http.StatusUnauthorized {
					t.Fatalf("%s: the %s token was not recognised: %s", key, role, w.Body)
				}
				if w.Code != http.StatusForbidden || body.Error.Code != cloudpay.CodeForbiddenRole {
					out[key] = append(out[key], string(role))
				}
			}
			if len(out[key]) == 0 {
				t.Fatalf("%s admits no role", key)
			}
		}
	}
	return out
}

// documented lists a document's operations as "METHOD /path" (OpenAPI's
// path form).
func documented(t *testing.T, raw []byte) []string {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var out []string
	for path, item := range doc.Paths {
		for method := range item {
			out = append(out, strings.ToUpper(method)+" "+path)
		}
	}
	sort.Strings(out)
	return out
}

var ginParam = regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`)

// Every route each function's router serves is in its document, and every
// documented route is served (neither the router's 404 nor its 405), in
// the committed documents and in what the descriptions generate: adding a
// route without describing it fails here.
func TestOpenAPIRoutesAgree(t *testing.T) {
	t.Parallel()
	engines := fullEngines(t, AdminConfig{Tokens: []string{"openapi-test-token"}})
	gen := generated(t)
	for _, fn := range functions() {
		t.Run(fn.name, func(t *testing.T) {
			e := engines[fn.name]
			var served []string
			for _, r := range e.Routes() {
				served = append(served, r.Method+" "+ginParam.ReplaceAllString(r.Path, "{$1}"))
			}
			sort.Strings(served)
			committed, err := openAPIDocuments.ReadFile("openapi/" + fn.name + ".json")
			if err != nil {
				t.Fatal(err)
			}
			for what, doc := range map[string][]string{"the committed document": documented(t, committed), "the generated document": documented(t, gen[fn.name])} {
				for _, r := range served {
					if !slices.Contains(doc, r) {
						t.Errorf("%s is served but not in %s: describe it in openapi_spec_test.go and run go generate", r, what)
					}
				}
				for _, r := range doc {
					if !slices.Contains(served, r) {
						t.Errorf("%s is in %s but not served", r, what)
					}
				}
			}
			// Each documented route reaches a handler of its own: not the
			// router's 404 or 405 (the services here are never called:
			// whatever a handler answers past its route is fine).
			for _, r := range documented(t, committed) {
				method, path, _ := strings.Cut(r, " ")
				path = regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(path, "ORDER20260001")
				w := httptest.NewRecorder()
				e.ServeHTTP(w, httptest.NewRequest(method, path, nil))
				var body errorBody
				_ = json.Unmarshal(w.Body.Bytes(), &body)
				if w.Code == http.StatusMethodNotAllowed || (w.Code == http.StatusNotFound && strings.HasPrefix(body.Error.Message, "no route")) {
					t.Errorf("%s: %d %s: documented but not served", r, w.Code, w.Body)
				}
			}
		})
	}
}
