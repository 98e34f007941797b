package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// The merchant's back end asks for a Native or H5 payment of an order and
// polls it; bad requests name their field and change nothing.
func TestPayRouteForNativeAndH5(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Channel(wechat.V3))
	s.CreateOrder("WEBPAY0001", testkit.Alice, 1990)
	pay := func(body map[string]any, header map[string]string) testkit.Response {
		return s.Do("POST", s.CreatePaymentURL+"/orders/WEBPAY0001/pay", body, header)
	}
	for _, tc := range []struct {
		body   map[string]any
		status int
		code   string
		field  string
	}{
		{map[string]any{}, 400, "INVALID_FIELD", "method"},
		{map[string]any{"method": "cash"}, 400, "INVALID_FIELD", "method"},
		{map[string]any{"method": "balance"}, 400, "INVALID_FIELD", "method"},
		{map[string]any{"method": "h5"}, 400, "INVALID_FIELD", "client_ip"},
		{map[string]any{"method": "native", "client_ip": "999.1.1.1"}, 400, "INVALID_FIELD", "client_ip"},
		{map[string]any{"method": "native", "amount_fen": 1}, 400, "UNKNOWN_FIELD", "amount_fen"},
	} {
		r := pay(tc.body, testkit.Admin())
		if r.Status != tc.status || r.ErrorCode() != tc.code || r.ErrorField() != tc.field {
			t.Errorf("%v: %d %s", tc.body, r.Status, r.Raw)
		}
	}
	if r := pay(map[string]any{"method": "native"}, testkit.User(testkit.Alice)); r.Status != http.StatusUnauthorized {
		t.Errorf("a user asks: %d %s", r.Status, r.Raw)
	}
	if r := s.Do("POST", s.CreatePaymentURL+"/orders/NOSUCHORDER/pay", map[string]any{"method": "native"}, testkit.Admin()); r.Status != http.StatusNotFound || r.ErrorCode() != "ORDER_NOT_FOUND" {
		t.Errorf("unknown order: %d %s", r.Status, r.Raw)
	}
	if o := s.Order("WEBPAY0001"); o.Status != cloudpay.OrderUnpaid {
		t.Fatalf("refused requests changed the order: %s", o.Status)
	}

	r := pay(map[string]any{"method": "native"}, testkit.Admin())
	code, _ := r.Body["code_url"].(string)
	if r.Status != http.StatusOK || r.Body["method"] != "native" || !strings.HasPrefix(code, "weixin://wxpay/bizpayurl") ||
		r.Body["amount_fen"] != float64(1990) || r.Body["expires_at"] == nil {
		t.Fatalf("native: %d %s", r.Status, r.Raw)
	}
	h5 := pay(map[string]any{"method": "h5", "client_ip": "203.0.113.9", "h5_type": "iOS"}, testkit.Admin())
	if url, _ := h5.Body["h5_url"].(string); h5.Status != http.StatusOK || !strings.HasPrefix(url, "https://") || h5.Body["code_url"] != nil {
		t.Fatalf("h5: %d %s", h5.Status, h5.Raw)
	}
	status := s.Do("GET", s.CreatePaymentURL+"/orders/WEBPAY0001/payment", nil, testkit.Admin())
	if status.Status != http.StatusOK || status.Body["status"] != "paying" {
		t.Fatalf("status while paying: %d %s", status.Status, status.Raw)
	}
	// The H5 attempt is the live one; its notification is lost, and the
	// merchant's polling finds the payment.
	s.Fault("v3_notify", "drop", 1, nil)
	if _, err := s.Sim.Pay(context.Background(), cloudpay.TradeNoOf("WEBPAY0001", 2)); err != nil {
		t.Fatal(err)
	}
	status = s.Do("GET", s.CreatePaymentURL+"/orders/WEBPAY0001/payment", nil, testkit.Admin())
	if status.Status != http.StatusOK || status.Body["status"] != "paid" {
		t.Fatalf("status after paying: %d %s", status.Status, status.Raw)
	}
	if r := pay(map[string]any{"method": "native"}, testkit.Admin()); r.Status != http.StatusConflict || r.ErrorCode() != "ORDER_PAID" {
		t.Fatalf("pay a paid order: %d %s", r.Status, r.Raw)
	}
}

func TestPayRouteOnCloudHostingNamesTheChannel(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Channel(wechat.CloudHosting))
	s.CreateOrder("WEBPAY0002", testkit.Alice, 100)
	r := s.Do("POST", s.CreatePaymentURL+"/orders/WEBPAY0002/pay", map[string]any{"method": "native"}, testkit.Admin())
	if r.Status != http.StatusUnprocessableEntity || r.ErrorCode() != "METHOD_NOT_SUPPORTED" || !strings.Contains(string(r.Raw), "PAY_CHANNEL=v3") {
		t.Fatalf("native on Cloud Hosting: %d %s", r.Status, r.Raw)
	}
}

// The mini-program user pays from the balance; the wallet's history shows
// the payment and its refund.
func TestBalancePaymentRoute(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Channel(wechat.V3))
	if r := s.Do("POST", s.WithdrawURL+"/wallets/"+testkit.Alice+"/credits", map[string]any{"credit_id": "c1", "amount_fen": 500}, testkit.Admin()); r.Status != http.StatusCreated {
		t.Fatalf("credit: %d %s", r.Status, r.Raw)
	}
	s.CreateOrder("BALPAY0001", testkit.Alice, 800)
	s.CreateOrder("BALPAY0002", testkit.Alice, 300)
	payBalance := func(no, openid string) testkit.Response {
		return s.Do("POST", s.CreatePaymentURL+"/payments", map[string]any{"out_trade_no": no, "method": "balance"}, testkit.User(openid))
	}
	if r := payBalance("BALPAY0001", testkit.Alice); r.Status != http.StatusUnprocessableEntity || r.ErrorCode() != "INSUFFICIENT_BALANCE" {
		t.Fatalf("800 from 500: %d %s", r.Status, r.Raw)
	}
	if r := payBalance("BALPAY0002", testkit.Bob); r.Status != http.StatusForbidden {
		t.Fatalf("Bob pays Alice's order: %d %s", r.Status, r.Raw)
	}
	if r := s.Do("POST", s.CreatePaymentURL+"/payments", map[string]any{"out_trade_no": "BALPAY0002", "method": "native"}, testkit.User(testkit.Alice)); r.Status != http.StatusBadRequest || r.ErrorField() != "method" {
		t.Fatalf("native from the mini-program: %d %s", r.Status, r.Raw)
	}
	r := payBalance("BALPAY0002", testkit.Alice)
	if r.Status != http.StatusOK || r.Body["status"] != "paid" || r.Body["method"] != "balance" {
		t.Fatalf("pay from balance: %d %s", r.Status, r.Raw)
	}
	if r := payBalance("BALPAY0002", testkit.Alice); r.Status != http.StatusConflict || r.ErrorCode() != "ORDER_PAID" {
		t.Fatalf("again: %d %s", r.Status, r.Raw)
	}
	if r := s.CreatePayment("BALPAY0002", testkit.Alice); r.Status != http.StatusConflict || r.ErrorCode() != "ORDER_PAID" {
		t.Fatalf("JSAPI after the balance: %d %s", r.Status, r.Raw)
	}
	ref := s.Do("POST", s.RefundURL+"/refunds", map[string]any{"out_trade_no": "BALPAY0002", "amount_fen": 120, "idempotency_key": "r1"}, testkit.Admin())
	if ref.Status/100 != 2 || ref.Body["status"] != "succeeded" {
		t.Fatalf("refund: %d %s", ref.Status, ref.Raw)
	}
	w := s.Do("GET", s.WithdrawURL+"/wallet", nil, testkit.User(testkit.Alice))
	if w.Body["available_fen"] != float64(320) {
		t.Fatalf("wallet: %s", w.Raw)
	}
	h := s.Do("GET", s.WithdrawURL+"/wallet/entries", nil, testkit.User(testkit.Alice))
	entries, _ := h.Body["entries"].([]any)
	var kinds []string
	for _, e := range entries {
		m, _ := e.(map[string]any)
		no, _ := m["out_trade_no"].(string)
		kinds = append(kinds, m["kind"].(string)+":"+no)
	}
	if h.Status != http.StatusOK || strings.Join(kinds, ",") != "refund:BALPAY0002,payment:BALPAY0002,credit:" {
		t.Fatalf("history: %d %v (%s)", h.Status, kinds, h.Raw)
	}
}
