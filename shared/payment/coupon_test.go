package payment_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// couponPaid has Alice pay order no of fen with a coupon of couponFen, through
// WeChat's genuine callback (or notification), and checks that WeChat told cloudpay a
// cash payment below the order's total.
func couponPaid(t *testing.T, s *testkit.Stack, no string, fen, couponFen int64) wechatsim.PayResult {
	t.Helper()
	s.Paying(no, testkit.Alice, fen)
	res, err := s.Sim.PayWithCoupon(ctx, no, wechatsim.Coupon{Fen: couponFen})
	if err != nil || !res.Callback.OK {
		t.Fatalf("pay %s with a coupon: %v, callback %+v", no, err, res.Callback)
	}
	// What the callback carried: the cash the user paid, below the total.
	var told struct {
		TotalFee, CashFee int64 // Cloud Hosting
		Amount            struct {
			Total      int64 `json:"total"`
			PayerTotal int64 `json:"payer_total"`
		} // API v3
	}
	raw := res.Callback.Body
	if s.Channel == wechat.V3 {
		raw = res.Callback.Plaintext
	}
	if err := json.Unmarshal(raw, &told); err != nil {
		t.Fatal(err)
	}
	total, cash := told.TotalFee+told.Amount.Total, told.CashFee+told.Amount.PayerTotal
	if res.CashFee != fen-couponFen || total != fen || cash != fen-couponFen {
		t.Fatalf("WeChat told total %d, cash %d (pay result %+v); want %d and %d", total, cash, res, fen, fen-couponFen)
	}
	return res
}

// A payment made partly with a coupon pays the order: cloudpay checks WeChat's total
// (total_fee, amount.total) against the order, never the cash the user paid (cash_fee,
// amount.payer_total), records the order's amount, and refunds it as any order, WeChat
// giving the user back a share of the cash and the rest as coupon.
func TestCouponPaymentPaysTheOrder(t *testing.T) {
	t.Parallel()
	testkit.ForEachChannel(t, func(t *testing.T, ch string) {
		s := testkit.New(t, testkit.Channel(ch), testkit.ManualRefunds(), testkit.RefundConfig(refund.Config{}))
		const no = "COUPON0001"
		res := couponPaid(t, s, no, 800, 300)

		o := s.Order(no)
		if o.Status != cloudpay.OrderPaid || o.TransactionID != res.TransactionID || o.AmountFen != 800 {
			t.Fatalf("order %+v, want paid by %s", o, res.TransactionID)
		}
		st, found, err := s.Store.Settlement(ctx, no)
		if err != nil || !found || st.Outcome != cloudpay.SettledPaid || st.AmountFen != 800 || st.TransactionID != res.TransactionID {
			t.Fatalf("settlement %+v (found %v), %v; want the order's 800 fen", st, found, err)
		}
		if evs := s.Events(no); len(evs) != 1 || evs[0].Type != cloudpay.EventOrderPaid || fmt.Sprint(evs[0].Data["amount_fen"]) != "800" {
			t.Fatalf("events %+v, want one order.paid of 800 fen", evs)
		}
		// Asked again (the user's page, the job), WeChat's answer still fits.
		if got, err := s.Payments.PaymentStatus(ctx, testkit.Alice, no); err != nil || got.Status != cloudpay.OrderPaid {
			t.Fatalf("payment status %+v, %v", got, err)
		}

		// Two refunds of 400 fen: each gives back 400 × 500/800 = 250 fen in cash, and
		// 150 of coupon; the order is refunded in full.
		for i, want := range []cloudpay.OrderStatus{cloudpay.OrderPartiallyRefunded, cloudpay.OrderRefunded} {
			r, _, err := s.Refunds.Create(ctx, refund.NewRefund{OutTradeNo: no, AmountFen: 400, IdempotencyKey: fmt.Sprintf("k%d", i)})
			if err != nil {
				t.Fatalf("refund %d: %v", i, err)
			}
			s.Settle(r.OutRefundNo, "SUCCESS")
			testkit.Eventually(t, func() error {
				if got := s.Refund(r.OutRefundNo); got.Status != cloudpay.RefundSucceeded || got.AmountFen != 400 {
					return fmt.Errorf("refund %d is %s of %d fen", i, got.Status, got.AmountFen)
				}
				if got := s.Order(no).Status; got != want {
					return fmt.Errorf("after refund %d the order is %s, want %s", i, got, want)
				}
				return nil
			})
			v, ok := s.Sim.Refund(r.OutRefundNo)
			if !ok || v.RefundFee != 400 || v.CashRefundFee != 250 || v.CouponRefundFee != 150 {
				t.Fatalf("WeChat's refund %+v, want 250 fen of cash and 150 of coupon", v)
			}
		}
		if e := s.Ledger(no); e.RefundedFen != 800 || e.PaidFen != 800 {
			t.Fatalf("ledger %+v, want the order's 800 fen paid and refunded", e)
		}
	})
}

// WeChat's total is what must match: an order WeChat holds under our number for
// another total is refused even when the cash paid for it, after a coupon, equals our
// order's amount. The check compares totals, so it is not fooled by cash_fee or
// payer_total, whichever path asks WeChat (a callback, the job, the user's page).
func TestCouponPaymentOfAnotherTotalIsRefused(t *testing.T) {
	t.Parallel()
	testkit.ForEachChannel(t, func(t *testing.T, ch string) {
		// A simulator that serves any merchant, so that another's order can exist at
		// WeChat (as in TestWeChatsAnswerMustMatchTheOrder).
		s := testkit.New(t, testkit.Channel(ch), testkit.Sim(func(c *wechatsim.Config) { c.SubMchID = "" }))
		const no = "COUPON0002"
		r := s.SimPost("/_/pay/unifiedOrder", map[string]any{
			"body": "elsewhere", "openid": testkit.Alice, "out_trade_no": no, "spbill_create_ip": "203.0.113.9",
			"env_id": "other-env", "sub_mch_id": testkit.SubMchID, "total_fee": 1100, "callback_type": 2,
			"container": map[string]any{"service": "payment-callback", "path": "/callbacks/pay"}})
		if resp, _ := r.Body["respdata"].(map[string]any); r.Status != http.StatusOK || resp["result_code"] != "SUCCESS" {
			t.Fatalf("the order at WeChat: %d %s", r.Status, r.Raw)
		}
		// Paid with a 300 fen coupon: 800 fen of cash, our order's amount.
		s.Fault(wechatsim.KindPayCallback, "drop", 1, nil)
		res, err := s.Sim.PayWithCoupon(ctx, no, wechatsim.Coupon{Fen: 300})
		if err != nil || !res.Callback.Dropped || res.CashFee != 800 {
			t.Fatalf("pay at WeChat: %+v, %v", res, err)
		}
		o := createOrder(t, s, no, testkit.Alice, 800, 0)

		// A callback that claims what our order says: WeChat, asked, says 1100.
		if v, err := s.Payments.Confirm(ctx, hint(o, merchant(s))); err != nil || v != wechat.Mismatch {
			t.Fatalf("callback: %s, %v; want %s", v, err, wechat.Mismatch)
		}
		// WeChat's own callback, as it was sent, says 1100 before anyone is asked.
		var body struct {
			TotalFee int64 `json:"totalFee"`
			CashFee  int64 `json:"cashFee"`
		}
		if err := json.Unmarshal(res.Callback.Body, &body); err != nil || body.TotalFee != 1100 || body.CashFee != 800 {
			t.Fatalf("WeChat's callback %s, %v", res.Callback.Body, err)
		}
		genuine := hint(o, merchant(s))
		genuine.TotalFen, genuine.TransactionID = cloudpay.Fen(body.TotalFee), res.TransactionID
		if v, err := s.Payments.Confirm(ctx, genuine); err != nil || v != wechat.Mismatch {
			t.Fatalf("WeChat's callback: %s, %v; want %s", v, err, wechat.Mismatch)
		}
		// The job reports a mismatch; the user's page still shows the order unpaid.
		if did, err := s.Payments.Reconcile(ctx, no); did != payment.ReconciledNothing || err == nil {
			t.Fatalf("the job: %q, %v; want a mismatch", did, err)
		}
		if got, err := s.Payments.PaymentStatus(ctx, testkit.Alice, no); err != nil || got.Status != cloudpay.OrderUnpaid {
			t.Fatalf("the page: %+v, %v", got, err)
		}
		nothingRecorded(t, s, no)

		// A signed notification (API v3) is checked the same way: its total, not its
		// payer_total, must be the order's.
		tx := wechat.Transaction{OutTradeNo: no, TransactionID: res.TransactionID, State: wechat.TradeSuccess,
			TotalFen: 1100, MchID: merchant(s), OpenID: testkit.Alice}
		if v, err := s.Payments.Record(ctx, tx); err != nil || v != wechat.Mismatch {
			t.Fatalf("notification: %s, %v; want %s", v, err, wechat.Mismatch)
		}
		nothingRecorded(t, s, no)
	})
}
