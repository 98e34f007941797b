package testkit

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// Response is an HTTP answer, read whole: its JSON body (if it is JSON)
// decoded into Body.
type Response struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   map[string]any
}

// ErrorCode is the code of an error answer ({"error":{"code":…}}), or "".
func (r Response) ErrorCode() string { return r.errorString("code") }

// ErrorField is the field an error answer names, or "".
func (r Response) ErrorField() string { return r.errorString("field") }

// Str is the body's top-level string field key, or "".
func (r Response) Str(key string) string {
	v, _ := r.Body[key].(string)
	return v
}

// ErrorMessage is an error answer's message, or "".
func (r Response) ErrorMessage() string { return r.errorString("message") }

func (r Response) errorString(key string) string {
	e, _ := r.Body["error"].(map[string]any)
	v, _ := e[key].(string)
	return v
}

// Do sends a request to any of the stack's servers. body is sent as is if
// it is a string or []byte, else as its JSON; nil sends none. It fails the
// test only if no answer comes: the status is the test's to check.
func (s *Stack) Do(method, url string, body any, header map[string]string) Response {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("%s %s: read the answer: %v", method, url, err)
	}
	out := Response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	_ = json.Unmarshal(raw, &out.Body)
	return out
}

// WhileBusy sends a request again, after its Retry-After, while the store
// answers 503 STORE_BUSY, as the contract tells a client to
// (docs/design.md §3): on a loaded machine contention makes that answer
// correct, and the concurrency tests are about the answers that follow. A
// 503 without the code and the header is returned at once, for the test
// to fail on. retried says whether the request was sent more than once,
// since a repeat of a request that took effect answers 200, not 201.
func WhileBusy(send func() Response) (r Response, retried bool) {
	deadline := time.Now().Add(Patience)
	for {
		r = send()
		after, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if r.Status != http.StatusServiceUnavailable || r.ErrorCode() != "STORE_BUSY" || err != nil || time.Now().After(deadline) {
			return r, retried
		}
		retried = true
		wait := time.Duration(after) * time.Second
		time.Sleep(wait + rand.N(wait+1)) // spread the retries: in lockstep they would collide again
	}
}

// Admin is the header of the merchant's back end or an operator.
func Admin() map[string]string { return map[string]string{"Authorization": "Bearer " + AdminToken} }

// As is the header of the named test token with role r (OPERATORS).
func As(r cloudpay.Role) map[string]string {
	return map[string]string{"Authorization": "Bearer " + RoleToken(r)}
}

// User is the header Cloud Hosting sets on a mini-program user's call
// (wx.cloud.callContainer), with the client's address in front.
func User(openid string) map[string]string {
	return map[string]string{"X-WX-OPENID": openid, "X-WX-SOURCE": "wx_client", "X-Forwarded-For": "203.0.113.7, 10.0.0.1"}
}
