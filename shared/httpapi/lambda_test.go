package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdaurl"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/job"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/withdraw"
)

// A recorded Lambda Function URL event (payload format 2.0). The cases
// below change only what a request changes: method, path, query, headers
// and body.
const functionURLEvent = `{
  "version": "2.0",
  "routeKey": "$default",
  "rawPath": "/orders",
  "rawQueryString": "",
  "headers": {"content-type": "application/json", "authorization": "Bearer test-admin-token", "host": "abc.lambda-url.ap-east-1.on.aws", "x-forwarded-for": "203.0.113.9"},
  "requestContext": {"accountId": "anonymous", "apiId": "abc", "domainName": "abc.lambda-url.ap-east-1.on.aws", "domainPrefix": "abc",
    "http": {"method": "POST", "path": "/orders", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9", "userAgent": "curl/8"},
    "requestId": "5e2f0c2a-0000-4000-8000-000000000001", "routeKey": "$default", "stage": "$default", "time": "22/Nov/2026:05:50:00 +0000", "timeEpoch": 1795326600000},
  "body": "{\"out_trade_no\":\"LAMBDA001\",\"openid\":\"oAlice_0123456789abcdef\",\"amount_fen\":990,\"description\":\"via lambda\"}",
  "isBase64Encoded": false
}`

// urlRequest is what differs between two Function URL requests.
type urlRequest struct {
	method, path, query string
	header              map[string]string // lower-case names, as Lambda sends them
	body                string
	base64              bool // Lambda base64-encodes bodies it does not take for text
}

// event is the recorded event with r's request in it, decoded the way the
// Lambda runtime decodes its payload.
func (r urlRequest) event(t *testing.T) *events.LambdaFunctionURLRequest {
	t.Helper()
	var ev map[string]any
	decode(t, []byte(functionURLEvent), &ev)
	header := map[string]any{"host": "abc.lambda-url.ap-east-1.on.aws", "x-forwarded-for": "203.0.113.9", "user-agent": "curl/8"}
	for k, v := range r.header {
		header[k] = v
	}
	body := r.body
	if r.base64 {
		body = base64.StdEncoding.EncodeToString([]byte(body))
	}
	ev["rawPath"], ev["rawQueryString"], ev["headers"], ev["body"], ev["isBase64Encoded"] = r.path, r.query, header, body, r.base64
	httpCtx := ev["requestContext"].(map[string]any)["http"].(map[string]any)
	httpCtx["method"], httpCtx["path"] = r.method, r.path
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var out events.LambdaFunctionURLRequest
	decode(t, raw, &out)
	return &out
}

// invoke runs an event through h wrapped the way serve.Run wraps it on Lambda.
func invoke(t *testing.T, h http.Handler, ev *events.LambdaFunctionURLRequest) (int, map[string]string, []byte) {
	t.Helper()
	resp, err := lambdaurl.Wrap(h)(context.Background(), ev)
	if err != nil {
		t.Fatalf("lambdaurl: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Headers, body
}

// The recorded event itself reaches create-payment's handler unchanged.
func TestLambdaFunctionURLRunsTheSameHandler(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	var ev events.LambdaFunctionURLRequest
	decode(t, []byte(functionURLEvent), &ev)
	status, header, body := invoke(t, s.Handler(s.CreatePaymentURL), &ev)
	if status != http.StatusCreated || !strings.Contains(string(body), `"out_trade_no":"LAMBDA001"`) {
		t.Fatalf("lambda response %d %s", status, body)
	}
	if header["X-Request-Id"] == "" {
		t.Fatalf("no X-Request-Id in %v", header)
	}
	if o := s.Order("LAMBDA001"); o.AmountFen != 990 {
		t.Fatalf("stored order %+v", o)
	}
}

// Every HTTP function answers Function URL events through the handler its
// binary serves: what the caller sees, and what was stored.
func TestLambdaFunctionURLEventsReachEveryFunction(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	v3 := newStack(t, testkit.Channel(wechat.V3)) // withdrawals exist on API v3 only
	_, held := s.payWithCallbackHeld("LAMBDAPAY1", alice, 1990)
	heldBody, err := json.Marshal(held)
	if err != nil {
		t.Fatal(err)
	}
	s.Paid("LAMBDARF01", bob, 3000)
	if r := s.postRefund("LAMBDARF01", 1000, "lambda-refund-1"); r.status != http.StatusAccepted {
		t.Fatalf("refund: %d %s", r.status, r.raw)
	}
	if r := v3.credit(alice, "lambda-credit-1", 800); r.status != http.StatusCreated {
		t.Fatalf("credit: %d %s", r.status, r.raw)
	}
	bearer := func(token string) map[string]string {
		return map[string]string{"authorization": "Bearer " + token, "content-type": "application/json"}
	}
	order := `{"out_trade_no":"LAMBDA002","openid":"` + bob + `","amount_fen":1234,"description":"base64 body"}`

	// In order, so serial: the last pass finds the lost payment of the case before it.
	for i, tc := range []struct {
		name   string
		h      http.Handler
		req    urlRequest
		status int
		check  func(t *testing.T, body []byte)
	}{
		{"create-payment healthz", s.Handler(s.CreatePaymentURL), urlRequest{method: "GET", path: "/healthz"}, http.StatusOK,
			func(t *testing.T, body []byte) {
				var b map[string]string
				decode(t, body, &b)
				if b["status"] != "ok" || b["function"] != "create-payment" {
					t.Errorf("healthz %s", body)
				}
			}},
		{"create-payment order, base64 body", s.Handler(s.CreatePaymentURL),
			urlRequest{method: "POST", path: "/orders", header: bearer(adminToken), body: order, base64: true}, http.StatusCreated,
			func(t *testing.T, body []byte) {
				if o := s.Order("LAMBDA002"); o.AmountFen != 1234 || o.OpenID != bob {
					t.Errorf("stored order %+v", o)
				}
			}},
		{"create-payment order, wrong token", s.Handler(s.CreatePaymentURL),
			urlRequest{method: "POST", path: "/orders", header: bearer("not-the-token"), body: order}, http.StatusUnauthorized,
			func(t *testing.T, body []byte) {
				if !strings.Contains(string(body), `"code":"UNAUTHORIZED"`) {
					t.Errorf("body %s", body)
				}
			}},
		{"payment-callback pay callback (Cloud Hosting)", s.Handler(s.PaymentCallbackURL),
			urlRequest{method: "POST", path: "/callbacks/pay", header: map[string]string{"content-type": "application/json"}, body: string(heldBody)},
			http.StatusOK,
			func(t *testing.T, body []byte) {
				var b struct {
					ErrCode *int `json:"errcode"`
				}
				decode(t, body, &b)
				if b.ErrCode == nil || *b.ErrCode != 0 {
					t.Errorf("reply %s, want errcode 0", body)
				}
				if o := s.Order("LAMBDAPAY1"); o.Status != cloudpay.OrderPaid {
					t.Errorf("order %s after its callback", o.Status)
				}
			}},
		{"payment-callback v3 without v3", s.Handler(s.PaymentCallbackURL),
			urlRequest{method: "POST", path: "/callbacks/v3", header: map[string]string{"content-type": "application/json"}, body: `{"id":"x"}`},
			http.StatusNotFound,
			func(t *testing.T, body []byte) {
				if !strings.Contains(string(body), `"code":"FAIL"`) {
					t.Errorf("body %s", body)
				}
			}},
		{"refund list", s.Handler(s.RefundURL),
			urlRequest{method: "GET", path: "/refunds", query: "out_trade_no=LAMBDARF01", header: bearer(adminToken)}, http.StatusOK,
			func(t *testing.T, body []byte) {
				var page refund.Page
				decode(t, body, &page)
				if len(page.Refunds) != 1 || page.Refunds[0].OutTradeNo != "LAMBDARF01" || page.Refunds[0].AmountFen != 1000 {
					t.Errorf("page %s", body)
				}
			}},
		{"refund list without a token", s.Handler(s.RefundURL),
			urlRequest{method: "GET", path: "/refunds", query: "out_trade_no=LAMBDARF01"}, http.StatusUnauthorized, nil},
		{"withdraw wallet (v3)", v3.Handler(v3.WithdrawURL),
			urlRequest{method: "GET", path: "/wallet", header: map[string]string{"x-wx-openid": alice, "x-wx-source": "wx_client", "x-wx-env": "prod-1a2b"}},
			http.StatusOK,
			func(t *testing.T, body []byte) {
				var w withdraw.Wallet
				decode(t, body, &w)
				if w.OpenID != alice || w.AvailableFen != 800 {
					t.Errorf("wallet %s", body)
				}
			}},
		{"withdraw wallet without X-WX-SOURCE", v3.Handler(v3.WithdrawURL),
			urlRequest{method: "GET", path: "/wallet", header: map[string]string{"x-wx-openid": alice}}, http.StatusUnauthorized, nil},
		{"close-expired pass", s.Handler(s.CloseExpiredURL),
			urlRequest{method: "POST", path: "/run", header: bearer(jobToken)}, http.StatusOK,
			func(t *testing.T, body []byte) {
				var rep job.Report
				decode(t, body, &rep)
				if rep.PaidLate != 1 || len(rep.Errors) != 0 {
					t.Errorf("report %s, want the lost payment found", body)
				}
				if o := s.Order("LAMBDAJOB1"); o.Status != cloudpay.OrderPaid {
					t.Errorf("lost payment: order %s", o.Status)
				}
			}},
		{"close-expired pass with an admin token", s.Handler(s.CloseExpiredURL),
			urlRequest{method: "POST", path: "/run", header: bearer(adminToken)}, http.StatusUnauthorized, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.req.path == "/run" && tc.status == http.StatusOK {
				s.payWithCallbackHeld("LAMBDAJOB1", alice, 500)
				s.Advance(6 * time.Minute) // past the late-payment delay
			}
			// A request id set in front (a gateway, Cloud Hosting) is kept.
			tc.req.header = withHeader(tc.req.header, "x-request-id", fmt.Sprintf("fnurl-%02d", i))
			status, header, body := invoke(t, tc.h, tc.req.event(t))
			if status != tc.status {
				t.Fatalf("%s %s = %d %s, want %d", tc.req.method, tc.req.path, status, body, tc.status)
			}
			if got, want := header["X-Request-Id"], tc.req.header["x-request-id"]; got != want {
				t.Errorf("X-Request-Id = %q, want %q", got, want)
			}
			if tc.check != nil {
				tc.check(t, body)
			}
		})
	}
}

func withHeader(h map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for hk, hv := range h {
		out[hk] = hv
	}
	return out
}

// Without an incoming id the function makes one.
func TestLambdaFunctionURLMakesARequestID(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	_, header, _ := invoke(t, s.Handler(s.RefundURL), urlRequest{method: "GET", path: "/healthz"}.event(t))
	if id := header["X-Request-Id"]; len(id) < 8 {
		t.Fatalf("X-Request-Id = %q", id)
	}
}
