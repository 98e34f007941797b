package payment_test

import (
	"net/http"
	"testing"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// The order.paid event tells the merchant's back end how the order was
// paid: its method (so the channel: alipay_* is Alipay's), the provider's
// own number in transaction_id (Alipay's trade_no, WeChat's
// transaction_id), beside the fields it always carried.
func TestPaidEventNamesTheMethod(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Channel(wechat.V3), testkit.Alipay())
	paidEvent := func(no string) map[string]any {
		t.Helper()
		for _, e := range s.Events(no) {
			if e.Type == cloudpay.EventOrderPaid {
				return e.Data
			}
		}
		t.Fatalf("no order.paid event for %s", no)
		return nil
	}
	fields := []string{"out_trade_no", "openid", "amount_fen", "attach", "transaction_id", "paid_at", "method"}
	check := func(no string, method cloudpay.PayMethod, transactionID string) {
		t.Helper()
		data := paidEvent(no)
		for _, k := range fields {
			if _, ok := data[k]; !ok {
				t.Errorf("%s: order.paid lacks %s: %v", no, k, data)
			}
		}
		if data["method"] != string(method) || data["transaction_id"] != transactionID || data["out_trade_no"] != no {
			t.Errorf("%s: order.paid says method %v, transaction_id %v; want %s, %s", no, data["method"], data["transaction_id"], method, transactionID)
		}
	}

	const aliNo, wxNo = "EVALI00001", "EVWX000001"
	createOrder(t, s, aliNo, testkit.Alice, 990, 30)
	if r := alipayPay(t, s, aliNo, map[string]any{"method": "alipay_qr"}); r.Status != http.StatusOK {
		t.Fatalf("pay: %d %s", r.Status, r.Raw)
	}
	trade, err := s.Alipay.Pay(ctx, aliNo)
	if err != nil {
		t.Fatal(err)
	}
	check(aliNo, cloudpay.MethodAlipayQR, trade.TradeNo)

	s.Paid(wxNo, testkit.Alice, 500)
	check(wxNo, cloudpay.MethodJSAPI, s.Order(wxNo).TransactionID)
}
