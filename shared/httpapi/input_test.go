package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestBadInputIsRefusedAndChangesNothing(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	valid := `"openid":"` + alice + `","description":"x"`
	// Serial subtests: the test checks after them that none changed anything.
	for _, tc := range []struct {
		name, body, code, field string
	}{
		{"malformed JSON", `{"openid":`, "INVALID_JSON", ""},
		{"not an object", `[1,2]`, "INVALID_JSON", ""},
		{"two objects", `{"amount_fen":1,` + valid + `}{}`, "INVALID_JSON", ""},
		{"unknown field", `{"amount_fen":1,` + valid + `,"amount":5}`, "UNKNOWN_FIELD", "amount"},
		{"mis-cased field", `{"Amount_Fen":1,` + valid + `}`, "UNKNOWN_FIELD", "Amount_Fen"},
		{"field given twice", `{"amount_fen":1,` + valid + `,"amount_fen":5}`, "INVALID_JSON", "amount_fen"},
		{"zero amount", `{"amount_fen":0,` + valid + `}`, "INVALID_FIELD", "amount_fen"},
		{"negative amount", `{"amount_fen":-5,` + valid + `}`, "INVALID_FIELD", "amount_fen"},
		{"fractional amount", `{"amount_fen":1.5,` + valid + `}`, "INVALID_FIELD", "amount_fen"},
		{"exponent amount", `{"amount_fen":1e2,` + valid + `}`, "INVALID_FIELD", "amount_fen"},
		{"amount as string", `{"amount_fen":"100",` + valid + `}`, "INVALID_FIELD", "amount_fen"},
		{"huge amount", `{"amount_fen":99999999999999999999,` + valid + `}`, "INVALID_FIELD", "amount_fen"},
		{"amount over the cap", `{"amount_fen":1000000000000,` + valid + `}`, "INVALID_FIELD", "amount_fen"},
		{"missing amount", `{` + valid + `}`, "INVALID_FIELD", "amount_fen"},
		{"over-long out_trade_no", `{"out_trade_no":"` + strings.Repeat("A", 33) + `","amount_fen":1,` + valid + `}`, "INVALID_FIELD", "out_trade_no"},
		{"out_trade_no with a space", `{"out_trade_no":"A B","amount_fen":1,` + valid + `}`, "INVALID_FIELD", "out_trade_no"},
		{"missing openid", `{"amount_fen":1,"description":"x"}`, "INVALID_FIELD", "openid"},
		{"missing description", `{"amount_fen":1,"openid":"` + alice + `"}`, "INVALID_FIELD", "description"},
		{"over-long description", `{"amount_fen":1,"openid":"` + alice + `","description":"` + strings.Repeat("x", 129) + `"}`, "INVALID_FIELD", "description"},
		{"control character in description", `{"amount_fen":1,"openid":"` + alice + `","description":"a\u0000b"}`, "INVALID_FIELD", "description"},
		{"newline in attach", `{"amount_fen":1,` + valid + `,"attach":"x\ny"}`, "INVALID_FIELD", "attach"},
		{"expiry too long", `{"amount_fen":1,` + valid + `,"expire_minutes":100000}`, "INVALID_FIELD", "expire_minutes"},
		{"negative expiry", `{"amount_fen":1,` + valid + `,"expire_minutes":-1}`, "INVALID_FIELD", "expire_minutes"},
		{"body over 64 KiB", `{"amount_fen":1,` + valid + `,"attach":"` + strings.Repeat("x", 70<<10) + `"}`, "BODY_TOO_LARGE", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do("POST", s.CreatePaymentURL+"/orders", tc.body, admin())
			if r.status != http.StatusBadRequest || r.errorCode() != tc.code || r.errorField() != tc.field {
				t.Fatalf("got %d %s, want 400 %s field %q", r.status, r.raw, tc.code, tc.field)
			}
			if tc.field != "" && !strings.Contains(r.raw2msg(), tc.field) {
				t.Fatalf("message does not name %s: %s", tc.field, r.raw)
			}
		})
	}
	if n := s.Count("orders"); n != 0 {
		t.Fatalf("orders = %d after bad input, want 0", n)
	}

	for _, tc := range []struct{ name, body, code, field string }{
		{"missing out_trade_no", `{}`, "INVALID_FIELD", "out_trade_no"},
		{"amount from the client", `{"out_trade_no":"A1","amount_fen":1}`, "UNKNOWN_FIELD", "amount_fen"},
		{"malformed out_trade_no", `{"out_trade_no":"../etc"}`, "INVALID_FIELD", "out_trade_no"},
	} {
		t.Run("payments "+tc.name, func(t *testing.T) {
			r := s.do("POST", s.CreatePaymentURL+"/payments", tc.body, user(alice))
			if r.status != http.StatusBadRequest || r.errorCode() != tc.code || r.errorField() != tc.field {
				t.Fatalf("got %d %s", r.status, r.raw)
			}
		})
	}
	if n := len(s.SimCalls("unifiedorder")); n != 0 {
		t.Fatalf("bad input reached WeChat %d times", n)
	}
	t.Run("unknown route and method", func(t *testing.T) {
		if r := s.do("GET", s.CreatePaymentURL+"/nope", nil, nil); r.status != http.StatusNotFound || r.errorCode() != "NOT_FOUND" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		if r := s.do("DELETE", s.CreatePaymentURL+"/orders", nil, admin()); r.status != http.StatusMethodNotAllowed {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
}

func (r response) raw2msg() string {
	e, _ := r.body["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}
