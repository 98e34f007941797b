package testkit_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// The kit's promises: every function answers on its URL, a paid order is
// recorded from WeChat's callback, the clock moves every service, and a
// business notification reaches the receiver signed.
func TestStack(t *testing.T) {
	t.Parallel()
	testkit.ForEachChannel(t, func(t *testing.T, ch string) {
		s := testkit.New(t, testkit.Channel(ch))
		urls := map[string]string{"create-payment": s.CreatePaymentURL, "payment-callback": s.PaymentCallbackURL,
			"refund": s.RefundURL, "close-expired": s.CloseExpiredURL}
		if ch == wechat.V3 {
			urls["withdraw"] = s.WithdrawURL
		} else if s.WithdrawURL != "" || s.Withdrawals != nil {
			t.Error("withdraw on Cloud Hosting: transfers exist on API v3 only")
		}
		for name, url := range urls {
			r := s.Do("GET", url+"/healthz", nil, nil)
			if r.Status != http.StatusOK || r.Body["function"] != name {
				t.Errorf("%s /healthz: %d %s", name, r.Status, r.Raw)
			}
			if s.Handler(url) == nil {
				t.Errorf("%s: no handler", name)
			}
		}

		s.Advance(time.Hour)
		at := s.Now()
		s.Paid("KIT00001", testkit.Alice, 100)
		if o := s.Order("KIT00001"); !o.CreatedAt.Equal(at.UTC().Truncate(time.Millisecond)) || o.Status != cloudpay.OrderPaid {
			t.Errorf("order %+v, want paid and created at the stack's clock %s", o, at)
		}
		if s.Now() != at {
			t.Error("the clock moved without Advance")
		}

		// A restarted payment-callback still answers WeChat's replay.
		s.RestartCallback()
		if r := s.SimPost("/notify", map[string]any{"out_trade_no": "KIT00001"}); r.Body["ok"] != true {
			t.Errorf("replay after a restart: %s", r.Raw)
		}

		rep := s.Job.Run(context.Background())
		acked, _, bad := s.Receiver.Counts()
		if rep.NotificationsSent != 1 || len(acked) != 1 || bad != 0 {
			t.Errorf("pass %+v; receiver acknowledged %v, %d bad signatures", rep, acked, bad)
		}
		if n := len(s.SimCalls("unifiedorder")); n != 1 {
			t.Errorf("%d unifiedorder calls, want 1", n)
		}
		if n, evs := s.Count("orders"), s.Events("KIT00001"); n != 1 || len(evs) != 1 {
			t.Errorf("%d orders, events %+v; want one order with one event", n, evs)
		}
	})
}

// The package's example, as it reads there.
func TestPartialRefund(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	testkit.ForEachChannel(t, func(t *testing.T, ch string) {
		s := testkit.New(t, testkit.Channel(ch), testkit.ManualRefunds())
		s.Paid("ORDER0001", testkit.Alice, 500)
		r, _, err := s.Refunds.Create(ctx, refund.NewRefund{OutTradeNo: "ORDER0001", AmountFen: 200, IdempotencyKey: "k1"})
		if err != nil {
			t.Fatal(err)
		}
		s.Settle(r.OutRefundNo, "SUCCESS")
		if o := s.Order("ORDER0001"); o.Status != cloudpay.OrderPartiallyRefunded {
			t.Fatalf("order %s, want partially refunded", o.Status)
		}
	})
}

// Eventually returns once its check passes.
func TestEventually(t *testing.T) {
	t.Parallel()
	start := time.Now()
	testkit.Eventually(t, func() error {
		if time.Since(start) < 50*time.Millisecond {
			return context.DeadlineExceeded
		}
		return nil
	})
}
