package httpapi_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// A payment made under a later attempt's number reconciles against its
// order, and what the wallet paid or got back is not looked for in
// WeChat's bill: a day of such payments has no differences.
func TestReconciliationKnowsAttemptsAndTheBalance(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var stack atomic.Pointer[testkit.Stack]
	simNow := func() time.Time {
		if s := stack.Load(); s != nil {
			return s.Now().Add(-48 * time.Hour)
		}
		return time.Now().Add(-48 * time.Hour)
	}
	s := testkit.New(t, testkit.Channel(wechat.V3), testkit.Sim(func(c *wechatsim.Config) { c.Now = simNow }))
	s.Advance(time.Second)
	stack.Store(s)
	day := simNow().In(cloudpay.Beijing).Format(time.DateOnly)

	// Asked in the mini-program, then paid by scanning a QR code.
	s.Paying("RECONSW01", testkit.Alice, 700)
	if _, err := s.Payments.Pay(ctx, "RECONSW01", payment.PayRequest{Method: cloudpay.MethodNative}); err != nil {
		t.Fatal(err)
	}
	if res, err := s.Sim.Pay(ctx, cloudpay.TradeNoOf("RECONSW01", 2)); err != nil || !res.Callback.OK {
		t.Fatalf("scan: %v", err)
	}
	// Paid from the balance, and partly refunded to it.
	if _, _, err := s.Withdrawals.Credit(ctx, testkit.Alice, "top-up", 1000, "top-up"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Payments.CreateOrder(ctx, payment.NewOrder{OutTradeNo: "RECONBAL1", OpenID: testkit.Alice, AmountFen: 400, Description: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Payments.PayFromBalance(ctx, testkit.Alice, "RECONBAL1"); err != nil {
		t.Fatal(err)
	}
	if r, _, err := s.Refunds.Create(ctx, refund.NewRefund{OutTradeNo: "RECONBAL1", AmountFen: 100, IdempotencyKey: "bal-1"}); err != nil || r.Status != cloudpay.RefundSucceeded {
		t.Fatalf("refund to the balance: %+v, %v", r, err)
	}

	s.Advance(36 * time.Hour)
	r := s.Do("POST", s.RefundURL+"/admin/api/reconciliations/"+day, nil, testkit.Admin())
	if r.Status != http.StatusOK {
		t.Fatalf("reconcile: %d %s", r.Status, r.Raw)
	}
	if diffs, _ := r.Body["differences"].([]any); len(diffs) != 0 {
		t.Fatalf("differences: %v", diffs)
	}
	if n, _ := r.Body["payments"].(float64); n != 1 {
		t.Fatalf("WeChat's payments on the day: %v, want the QR code's", r.Body["payments"])
	}
}

// Alipay's payments and refunds are not looked for in WeChat's bill (they
// are in Alipay's): a day with only those has no differences.
func TestReconciliationLeavesAlipayOut(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// WeChat's clock runs two days ahead, so today's bill is ready for it.
	s, day, later := alipayDay(t)
	if _, _, err := s.Payments.CreateOrder(ctx, payment.NewOrder{OutTradeNo: "RECONALI1", OpenID: testkit.Alice, AmountFen: 900, Description: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Payments.Pay(ctx, "RECONALI1", payment.PayRequest{Method: cloudpay.MethodAlipayQR}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Alipay.Pay(ctx, "RECONALI1"); err != nil {
		t.Fatal(err)
	}
	if r, _, err := s.Refunds.Create(ctx, refund.NewRefund{OutTradeNo: "RECONALI1", AmountFen: 100, IdempotencyKey: "ali-recon-1"}); err != nil || r.Status != cloudpay.RefundSucceeded {
		t.Fatalf("refund through Alipay: %+v, %v", r, err)
	}
	s.Advance(36 * time.Hour)
	later(36 * time.Hour) // Alipay's bill of the day is ready too
	r := s.Do("POST", s.RefundURL+"/admin/api/reconciliations/"+day, nil, testkit.Admin())
	if r.Status != http.StatusOK {
		t.Fatalf("reconcile: %d %s", r.Status, r.Raw)
	}
	if diffs, _ := r.Body["differences"].([]any); len(diffs) != 0 {
		t.Fatalf("differences: %v", diffs)
	}
	if ali, _ := r.Body["alipay"].(map[string]any); ali["payments"] != 1.0 || ali["our_payments"] != 1.0 || ali["refunds"] != 1.0 || ali["our_refunds"] != 1.0 {
		t.Fatalf("Alipay's part: %v", ali)
	}
}
