package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/cloudpay/cloudpay/shared/testkit"
)

// Every test here builds its own stack (testkit: own database, simulator,
// clock), so every test is parallel; subtests that share a stack are
// parallel unless they say why not.

const (
	adminToken = testkit.AdminToken
	jobToken   = testkit.JobToken
	subMchID   = testkit.SubMchID
	alice      = testkit.Alice
	bob        = testkit.Bob
)

// stack is a testkit stack seen over HTTP: its helpers answer responses
// with the short field names these tests read.
type stack struct {
	*testkit.Stack
	t *testing.T
}

func newStack(t *testing.T, opts ...testkit.Option) *stack {
	t.Helper()
	return &stack{Stack: testkit.New(t, opts...), t: t}
}

type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func wrap(r testkit.Response) response {
	return response{status: r.Status, header: r.Header, raw: r.Raw, body: r.Body}
}

func (r response) errorCode() string  { return testkit.Response{Body: r.body}.ErrorCode() }
func (r response) errorField() string { return testkit.Response{Body: r.body}.ErrorField() }

func (s *stack) do(method, url string, body any, header map[string]string) response {
	s.t.Helper()
	return wrap(s.Do(method, url, body, header))
}

func admin() map[string]string { return testkit.Admin() }

func user(openid string) map[string]string { return testkit.User(openid) }

func (s *stack) createOrder(no string, openid string, fen int64) response {
	s.t.Helper()
	return wrap(s.CreateOrder(no, openid, fen))
}

func (s *stack) createPayment(no, openid string) response {
	s.t.Helper()
	return wrap(s.CreatePayment(no, openid))
}

func (s *stack) status(no, openid string) response {
	return s.do("GET", s.CreatePaymentURL+"/payments/"+no, nil, user(openid))
}

// simPost calls a simulator control route.
func (s *stack) simPost(path string, body any) response {
	s.t.Helper()
	return wrap(s.SimPost(path, body))
}

func callbackOK(r response) bool {
	cb, _ := r.body["callback"].(map[string]any)
	ok, _ := cb["ok"].(bool)
	return ok
}

// payWithCallbackHeld: see testkit.Stack.PayWithCallbackHeld.
func (s *stack) payWithCallbackHeld(no, openid string, fen int64) (response, map[string]any) {
	s.t.Helper()
	paid, body := s.PayWithCallbackHeld(no, openid, fen)
	return wrap(paid), body
}

// whileBusy is testkit.WhileBusy for this package's responses.
func whileBusy(send func() response) (response, bool) {
	r, retried := testkit.WhileBusy(func() testkit.Response {
		r := send()
		return testkit.Response{Status: r.status, Header: r.header, Raw: r.raw, Body: r.body}
	})
	return wrap(r), retried
}
