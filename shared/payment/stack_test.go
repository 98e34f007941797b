package payment_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

var ctx = context.Background()

// createOrder records an order as the business back end asks for it;
// expire 0 is the configured default.
func createOrder(t *testing.T, s *testkit.Stack, no, openid string, fen cloudpay.Fen, expire int) cloudpay.Order {
	t.Helper()
	o, created, err := s.Payments.CreateOrder(ctx, payment.NewOrder{OutTradeNo: no, OpenID: openid, AmountFen: fen,
		Description: "course fee", ExpireMinutes: expire})
	if err != nil || !created {
		t.Fatalf("create order %s: created %v, %v", no, created, err)
	}
	return o
}

// prepay asks WeChat for the order's payment, as the mini-program does.
func prepay(t *testing.T, s *testkit.Stack, no, openid string) {
	t.Helper()
	if _, err := s.Payments.CreatePayment(ctx, openid, no, "203.0.113.7", ""); err != nil {
		t.Fatalf("create payment %s: %v", no, err)
	}
}

// payLost has the user pay an order at WeChat while WeChat's callback (or
// notification) is lost: WeChat says paid, cloudpay has not heard. It
// returns the transaction as WeChat records it.
func payLost(t *testing.T, s *testkit.Stack, no, callbackKind string) wechat.Transaction {
	t.Helper()
	s.Fault(callbackKind, "drop", 1, nil)
	res, err := s.Sim.Pay(ctx, no)
	if err != nil || !res.Callback.Dropped {
		t.Fatalf("pay %s at WeChat: %v; callback %+v, want it lost", no, err, res.Callback)
	}
	v, _ := s.Sim.Order(no)
	return wechat.Transaction{OutTradeNo: v.OutTradeNo, TransactionID: v.TransactionID, State: wechat.TradeState(v.TradeState),
		TotalFen: cloudpay.Fen(v.TotalFee), MchID: v.SubMchID, OpenID: v.SubOpenID,
		PaidAt: v.PaidAt.Truncate(time.Second)} // WeChat's answers tell the second
}

// hint is what a callback for o claims, as WeChat's genuine one would.
func hint(o cloudpay.Order, mchID string) wechat.PayHint {
	return wechat.PayHint{OutTradeNo: o.OutTradeNo, TotalFen: o.AmountFen, HasTotal: true, MchID: mchID, OpenID: o.OpenID}
}

// merchant is the stack's merchant number at WeChat: sub_mch_id on Cloud
// Hosting, mchid on API v3.
func merchant(s *testkit.Stack) string {
	if s.Channel == wechat.V3 {
		return wechatsim.DevMchID
	}
	return testkit.SubMchID
}

// calls counts the calls WeChat received for api about one order, named
// in the body (the open interface, jsapi) or in the path (API v3).
func calls(t *testing.T, s *testkit.Stack, api, no string) int {
	t.Helper()
	n := 0
	for _, c := range s.SimCalls(api) {
		body, _ := c["body"].(map[string]any)
		path, _ := c["path"].(string)
		p, _ := url.Parse(path)
		if body["out_trade_no"] == no || (p != nil && slices.Contains(strings.Split(p.Path, "/"), no)) {
			n++
		}
	}
	return n
}

// recordedPaid fails the test unless the order is paid as WeChat's
// transaction says, with one settlement and one order.paid event.
func recordedPaid(t *testing.T, s *testkit.Stack, tx wechat.Transaction) {
	t.Helper()
	o := s.Order(tx.OutTradeNo)
	if o.Status != cloudpay.OrderPaid || o.TransactionID != tx.TransactionID || o.PaidAt == nil || !o.PaidAt.Equal(tx.PaidAt) {
		t.Fatalf("order %+v, want paid by WeChat's transaction %+v", o, tx)
	}
	st, found, err := s.Store.Settlement(ctx, tx.OutTradeNo)
	if err != nil || !found || st.Outcome != cloudpay.SettledPaid || st.AmountFen != tx.TotalFen || st.TransactionID != tx.TransactionID {
		t.Fatalf("settlement %+v (found %v), %v", st, found, err)
	}
	if evs := s.Events(tx.OutTradeNo); len(evs) != 1 || evs[0].Type != cloudpay.EventOrderPaid || evs[0].Data["transaction_id"] != tx.TransactionID {
		t.Fatalf("events %+v, want one order.paid", evs)
	}
}

// nothingRecorded fails the test unless the order still awaits payment,
// with no settlement and no event.
func nothingRecorded(t *testing.T, s *testkit.Stack, no string) {
	t.Helper()
	if o := s.Order(no); !o.Status.AwaitingPayment() || o.TransactionID != "" || o.PaidAt != nil {
		t.Fatalf("order changed: %+v", o)
	}
	if st, found, err := s.Store.Settlement(ctx, no); found || err != nil {
		t.Fatalf("settlement %+v, %v", st, err)
	}
	if evs := s.Events(no); len(evs) != 0 {
		t.Fatalf("events %+v", evs)
	}
}

// code is err's domain code, and the field it names.
func code(err error) (cloudpay.Code, string) {
	var e *cloudpay.Error
	if errors.As(err, &e) {
		return e.Code, e.Field
	}
	return cloudpay.ErrorCode(err), ""
}
