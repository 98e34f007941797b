package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// Every example each function's OpenAPI document gives is sent to the real
// handlers of a whole stack (API v3 and Alipay, so every route is live),
// against fixtures that make its request meaningful; its answer must have
// a status the document lists for the route (an error example exactly its
// own), a content type the document gives for that status, and a body that
// validates against the documented schema. Each route has an example, so
// every documented route is shown to be served. Then each route with
// credentials is called without them, and each with a JSON body with a
// field it does not take: those answers must be documented too. The
// documents are valid OpenAPI 3.1, and what each function serves at
// /openapi.json is its committed document.
func TestOpenAPIExamples(t *testing.T) {
	t.Parallel()
	s := newStack(t, testkit.Channel(wechat.V3), testkit.Alipay())
	links := openAPIFixtures(s)
	bases := map[string]string{
		"create-payment": s.CreatePaymentURL, "payment-callback": s.PaymentCallbackURL, "refund": s.RefundURL,
		"withdraw": s.WithdrawURL, "close-expired": s.CloseExpiredURL,
	}
	meta := oasMetaSchema(t)
	for _, name := range []string{"create-payment", "payment-callback", "refund", "withdraw", "close-expired"} {
		// Not parallel: the examples of one function build on those before
		// them (GET /orders/{out_trade_no} reads the order POST /orders made),
		// and the functions share the stack.
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("openapi", name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			served := s.do("GET", bases[name]+"/openapi.json", nil, nil)
			if served.status != http.StatusOK || !bytes.Equal(served.raw, raw) || !strings.HasPrefix(served.header.Get("Content-Type"), "application/json") {
				t.Fatalf("GET /openapi.json: %d %s, not the committed document", served.status, served.header.Get("Content-Type"))
			}
			doc := loadDocument(t, name, raw)
			if err := meta.Validate(doc.tree); err != nil {
				t.Fatalf("%s.json is not a valid OpenAPI 3.1 document: %v", name, err)
			}
			doc.checkAnswerExamples(t)
			for _, o := range doc.operations(t) {
				if len(o.Examples) == 0 {
					t.Errorf("%s %s has no example: every route is sent one", o.method, o.path)
				}
				for _, ex := range o.Examples {
					t.Run(o.method+" "+o.path+" "+ex.Name, func(t *testing.T) {
						req := o.request(t, ex.Name, links)
						// A busy store (503 STORE_BUSY, documented) is asked again, as
						// the contract tells a client to.
						got, _ := whileBusy(func() response { return send(t, o.method, bases[name]+req.path, req.body, req.header) })
						if ex.Status >= 300 && got.status != ex.Status {
							t.Fatalf("answered %d %s, the example says %d", got.status, got.raw, ex.Status)
						}
						if ex.Status < 300 && (got.status < 200 || got.status >= 300) {
							t.Fatalf("answered %d %s, the example says %d", got.status, got.raw, ex.Status)
						}
						doc.checkAnswer(t, o, got)
					})
				}
				if len(o.Examples) == 0 {
					continue
				}
				first := o.Examples[0].Name
				if len(o.Security) > 0 && len(o.Security[0]) > 0 {
					t.Run(o.method+" "+o.path+" without credentials", func(t *testing.T) {
						req := o.request(t, first, links)
						for _, h := range []string{"Authorization", "X-WX-OPENID", "X-WX-SOURCE", "Wechatpay-Signature"} {
							delete(req.header, h)
						}
						if _, isLink := o.Security[0]["checkoutLink"]; isLink {
							req.path = withQuery(req.path, "sig", "AAAA")
						}
						got := s.do(o.method, bases[name]+req.path, req.body, req.header)
						if got.status < 400 {
							t.Fatalf("answered %d without credentials", got.status)
						}
						doc.checkAnswer(t, o, got)
					})
				}
				if o.jsonBody() {
					t.Run(o.method+" "+o.path+" unknown field", func(t *testing.T) {
						req := o.request(t, first, links)
						body := map[string]any{}
						if req.body != nil {
							_ = json.Unmarshal(req.body.([]byte), &body)
						}
						body["zz_not_a_field"] = 1
						raw, _ := json.Marshal(body)
						got := s.do(o.method, bases[name]+req.path, raw, req.header)
						if got.status != http.StatusBadRequest || got.errorCode() != "UNKNOWN_FIELD" {
							t.Fatalf("answered %d %s, not 400 UNKNOWN_FIELD", got.status, got.raw)
						}
						doc.checkAnswer(t, o, got)
					})
				}
			}
		})
	}
}

// openAPIFixtures makes what the examples name and returns the signed
// checkout links' queries, by order.
func openAPIFixtures(s *stack) map[string]url.Values {
	t := s.t
	t.Helper()
	// create-payment: an order for the web (and its checkout link), one for
	// Alipay, one the user pays in the mini-program, paid ones to ship and
	// refund, and a payment made outside cloudpay to adopt.
	s.createOrder("ORDER20260002", alice, 4990)
	s.createOrder("ORDER20260003", alice, 990)
	s.createOrder("ORDER20260010", alice, 2990)
	for no, fen := range map[string]int64{"ORDER20260004": 19900, "ORDER20260005": 5000, "ORDER20260006": 3000,
		"ORDER20260007": 3000, "ORDER20260008": 1000, "ORDER20260009": 8800} {
		s.Paid(no, alice, fen)
	}
	if _, err := s.Sim.OutsidePayment(wechatsim.OutsidePaymentRequest{AmountFen: 2000, OutTradeNo: "OUTSIDE20260001", Channel: wechatsim.ChannelV3}); err != nil {
		t.Fatal(err)
	}
	links := map[string]url.Values{}
	pay := s.do("POST", s.CreatePaymentURL+"/orders/ORDER20260002/pay", map[string]any{"method": "native"}, admin())
	u, err := url.Parse(pay.str("checkout_url"))
	if pay.status != http.StatusOK || err != nil || u.Query().Get("sig") == "" {
		t.Fatalf("pay ORDER20260002 natively: %d %s", pay.status, pay.raw)
	}
	links["ORDER20260002"] = u.Query()

	// refund: two requests to review, a refund that succeeded (to retry),
	// a day reconciled.
	for _, key := range []string{"review-approve", "review-reject"} {
		r := s.do("POST", s.RefundURL+"/refund-requests", map[string]any{"out_trade_no": "ORDER20260005", "amount_fen": 100, "idempotency_key": key}, user(alice))
		if r.status != http.StatusCreated {
			t.Fatalf("refund request %s: %d %s", key, r.status, r.raw)
		}
	}
	r := s.do("POST", s.RefundURL+"/refunds", map[string]any{"out_trade_no": "ORDER20260008", "amount_fen": 1000, "idempotency_key": "refund-retry-example"}, admin())
	if r.status != http.StatusAccepted {
		t.Fatalf("refund: %d %s", r.status, r.raw)
	}
	no := r.str("out_refund_no")
	testkit.Eventually(t, func() error {
		if st := s.Refund(no).Status; st != "succeeded" {
			return fmt.Errorf("refund %s is %s", no, st)
		}
		return nil
	})
	if r := s.do("POST", s.RefundURL+"/admin/api/reconciliations/"+reconDay(), nil, admin()); r.status != http.StatusOK {
		t.Fatalf("reconcile: %d %s", r.status, r.raw)
	}
	return links
}

// reconDay stands for the examples' day: WeChat serves the bills of the
// last three months only, so a fixed day would not stay reconcilable.
func reconDay() string {
	return time.Now().In(cloudpay.Beijing).AddDate(0, 0, -3).Format(time.DateOnly)
}

// send is s.do without following redirects: a 301 is an answer to check.
func send(t *testing.T, method, target string, body any, header map[string]string) response {
	t.Helper()
	var rd io.Reader
	if b, ok := body.([]byte); ok {
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

func (r response) str(key string) string { v, _ := r.body[key].(string); return v }

// oasMetaSchema is the OpenAPI 3.1 document schema (testdata).
func oasMetaSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "oas-3.1-schema.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("https://spec.openapis.org/oas/3.1/schema/WORK-IN-PROGRESS", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("https://spec.openapis.org/oas/3.1/schema/WORK-IN-PROGRESS")
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

// oasDocument is one function's document: its JSON tree, for the
// validator, and the schemas it compiles.
type oasDocument struct {
	name string
	raw  []byte
	tree any
	c    *jsonschema.Compiler
	url  string
	comp map[string]*jsonschema.Schema
}

func loadDocument(t *testing.T, name string, raw []byte) *oasDocument {
	t.Helper()
	tree, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	d := &oasDocument{name: name, raw: raw, tree: tree, c: jsonschema.NewCompiler(), url: "https://cloudpay.invalid/" + name + "/openapi.json",
		comp: map[string]*jsonschema.Schema{}}
	d.c.DefaultDraft(jsonschema.Draft2020)
	d.c.AssertFormat()
	if err := d.c.AddResource(d.url, tree); err != nil {
		t.Fatal(err)
	}
	return d
}

// schema compiles the schema at a JSON pointer into the document.
func (d *oasDocument) schema(t *testing.T, pointer ...string) *jsonschema.Schema {
	t.Helper()
	esc := make([]string, len(pointer))
	for i, p := range pointer {
		esc[i] = url.PathEscape(strings.ReplaceAll(strings.ReplaceAll(p, "~", "~0"), "/", "~1"))
	}
	loc := d.url + "#/" + strings.Join(esc, "/")
	if s, ok := d.comp[loc]; ok {
		return s
	}
	s, err := d.c.Compile(loc)
	if err != nil {
		t.Fatalf("compile %s: %v", loc, err)
	}
	d.comp[loc] = s
	return s
}

// operation is what the test reads of an OpenAPI operation.
type operation struct {
	method, path string
	Security     []map[string][]string `json:"security"`
	Parameters   []struct {
		Name     string `json:"name"`
		In       string `json:"in"`
		Examples map[string]struct {
			Value any `json:"value"`
		} `json:"examples"`
	} `json:"parameters"`
	RequestBody *struct {
		Content map[string]struct {
			Schema   map[string]any `json:"schema"`
			Examples map[string]struct {
				Value any `json:"value"`
			} `json:"examples"`
		} `json:"content"`
	} `json:"requestBody"`
	Responses map[string]struct {
		Content map[string]struct {
			Examples map[string]struct {
				Value any `json:"value"`
			} `json:"examples"`
		} `json:"content"`
	} `json:"responses"`
	Examples []exampleRef `json:"x-cloudpay-examples"`
}

// exampleRef names an example and the status it answers.
type exampleRef struct {
	Name   string `json:"name"`
	Status int    `json:"status"`
}

// operations lists the document's operations in its order (paths as the
// router adds them), which is the order the examples build on.
func (d *oasDocument) operations(t *testing.T) []*operation {
	t.Helper()
	var doc struct {
		Paths json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(d.raw, &doc); err != nil {
		t.Fatal(err)
	}
	var out []*operation
	paths := orderedObject(t, doc.Paths)
	for _, p := range paths {
		for _, m := range orderedObject(t, p.value) {
			o := &operation{method: strings.ToUpper(m.key), path: p.key}
			if err := json.Unmarshal(m.value, o); err != nil {
				t.Fatalf("%s %s: %v", m.key, p.key, err)
			}
			out = append(out, o)
		}
	}
	return out
}

type member struct {
	key   string
	value json.RawMessage
}

// orderedObject reads a JSON object's members in order.
func orderedObject(t *testing.T, raw json.RawMessage) []member {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %.40s", raw)
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, member{key: tok.(string), value: v})
	}
	return out
}

func (o *operation) jsonBody() bool {
	if o.RequestBody == nil {
		return false
	}
	_, ok := o.RequestBody.Content["application/json"]
	return ok && !strings.HasPrefix(o.path, "/callbacks/")
}

type exampleRequest struct {
	path   string
	body   any
	header map[string]string
}

// request is the example's request: its parameters in the path, query and
// headers, its body, and the credentials the operation asks for.
func (o *operation) request(t *testing.T, name string, links map[string]url.Values) exampleRequest {
	t.Helper()
	path, query, header := o.path, url.Values{}, map[string]string{}
	for _, p := range o.Parameters {
		ex, ok := p.Examples[name]
		if !ok {
			continue
		}
		v := fmt.Sprint(ex.Value)
		switch p.In {
		case "path":
			if p.Name == "date" {
				v = reconDay()
			}
			path = strings.ReplaceAll(path, "{"+p.Name+"}", url.PathEscape(v))
		case "query":
			query.Set(p.Name, v)
		case "header":
			header[p.Name] = v
		}
	}
	if strings.Contains(path, "{") {
		t.Fatalf("example %s leaves a path parameter unset: %s", name, path)
	}
	for _, req := range o.Security {
		for scheme := range req {
			switch scheme {
			case "adminBearer":
				header["Authorization"] = "Bearer " + adminToken
			case "jobBearer":
				header["Authorization"] = "Bearer " + jobToken
			case "wxOpenID", "wxSource":
				for k, v := range user(alice) {
					header[k] = v
				}
			case "wechatpaySignature":
				header["Wechatpay-Signature"] = "Zm9yZ2VkIHNpZ25hdHVyZQ=="
			case "checkoutLink":
				no := strings.Split(path, "/")[2]
				link, ok := links[no]
				if !ok {
					t.Fatalf("no checkout link made for %s", no)
				}
				query.Set("exp", link.Get("exp"))
				query.Set("sig", link.Get("sig"))
			default:
				t.Fatalf("no credentials for the scheme %s", scheme)
			}
		}
	}
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	var body any
	if o.RequestBody != nil {
		for ct, media := range o.RequestBody.Content {
			ex, ok := media.Examples[name]
			if !ok {
				continue
			}
			header["Content-Type"] = ct
			switch ct {
			case "application/json":
				raw, err := json.Marshal(ex.Value)
				if err != nil {
					t.Fatal(err)
				}
				body = raw
			case "application/x-www-form-urlencoded":
				form := url.Values{}
				for k, v := range ex.Value.(map[string]any) {
					form.Set(k, fmt.Sprint(v))
				}
				body = []byte(form.Encode())
			default:
				t.Fatalf("no way to send %s", ct)
			}
		}
	}
	return exampleRequest{path: path, body: body, header: header}
}

func withQuery(path, key, value string) string {
	base, raw, _ := strings.Cut(path, "?")
	q, _ := url.ParseQuery(raw)
	q.Set(key, value)
	return base + "?" + q.Encode()
}

// checkAnswer checks an answer against what the document says of its
// status: listed, one of its content types, its body valid.
func (d *oasDocument) checkAnswer(t *testing.T, o *operation, got response) {
	t.Helper()
	status := strconv.Itoa(got.status)
	resp, ok := o.Responses[status]
	if !ok {
		t.Fatalf("answered %d %s, a status the document does not list for %s %s (it lists %v)", got.status, got.raw, o.method, o.path, keys(o.Responses))
	}
	if len(resp.Content) == 0 {
		if len(bytes.TrimSpace(got.raw)) > 0 && got.status != http.StatusMovedPermanently {
			t.Fatalf("answered %d with a body the document does not give: %s", got.status, got.raw)
		}
		return
	}
	mt, _, err := mime.ParseMediaType(got.header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("answered %d without a content type", got.status)
	}
	if _, ok := resp.Content[mt]; !ok {
		t.Fatalf("answered %d as %s; the document gives %v", got.status, mt, keys(resp.Content))
	}
	if mt != "application/json" {
		return
	}
	body, err := jsonschema.UnmarshalJSON(bytes.NewReader(got.raw))
	if err != nil {
		t.Fatalf("answered %d with a body that is not JSON: %s", got.status, got.raw)
	}
	sch := d.schema(t, "paths", o.path, strings.ToLower(o.method), "responses", status, "content", mt, "schema")
	if err := sch.Validate(body); err != nil {
		t.Fatalf("answered %d %s, which does not validate against the documented schema: %v", got.status, got.raw, err)
	}
}

// checkAnswerExamples validates every documented answer example against
// its schema.
func (d *oasDocument) checkAnswerExamples(t *testing.T) {
	t.Helper()
	for _, o := range d.operations(t) {
		for status, resp := range o.Responses {
			for ct, media := range resp.Content {
				for name, ex := range media.Examples {
					if ct != "application/json" {
						continue
					}
					raw, _ := json.Marshal(ex.Value)
					v, _ := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
					sch := d.schema(t, "paths", o.path, strings.ToLower(o.method), "responses", status, "content", ct, "schema")
					if err := sch.Validate(v); err != nil {
						t.Errorf("%s %s: the %s answer example %q does not validate: %v", o.method, o.path, status, name, err)
					}
				}
			}
		}
		if o.RequestBody == nil {
			continue
		}
		for ct, media := range o.RequestBody.Content {
			for name, ex := range media.Examples {
				if ct != "application/json" && ct != "application/x-www-form-urlencoded" {
					continue
				}
				raw, _ := json.Marshal(ex.Value)
				v, _ := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
				sch := d.schema(t, "paths", o.path, strings.ToLower(o.method), "requestBody", "content", ct, "schema")
				refused := slices.Contains(o.Examples, exampleRef{Name: name, Status: http.StatusBadRequest})
				if err := sch.Validate(v); err != nil && !refused {
					t.Errorf("%s %s: the request example %q does not validate: %v", o.method, o.path, name, err)
				}
			}
		}
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
