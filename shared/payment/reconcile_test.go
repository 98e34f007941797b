package payment_test

import (
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// Reconcile, as the job calls it for each order awaiting payment: WeChat
// is asked first; a payment whose callback was lost is recorded, an
// expired unpaid order is closed at WeChat and then here, but never within
// its first minutes, and an order that is not expired is left alone.
func TestReconcile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		no      string
		made    func(t *testing.T, s *testkit.Stack, no string) // at the start, 5 minutes before the job
		young   bool                                            // made a millisecond later than the rest
		want    payment.Reconciled
		status  cloudpay.OrderStatus
		event   cloudpay.EventType // the order's only event after, if any
		queries int                // queryorder calls the job makes
		closes  int                // closeorder calls the job makes
	}{
		{"a payment whose callback was lost", "RECLOST01", func(t *testing.T, s *testkit.Stack, no string) {
			s.Paying(no, testkit.Alice, 800)
			payLost(t, s, no, s.PayCallbackKind())
		}, false, payment.ReconciledPaid, cloudpay.OrderPaid, cloudpay.EventOrderPaid, 1, 0},
		{"expired, unpaid at WeChat", "RECEXP001", func(t *testing.T, s *testkit.Stack, no string) {
			createOrder(t, s, no, testkit.Alice, 800, 1)
			prepay(t, s, no, testkit.Alice)
		}, false, payment.ReconciledClosed, cloudpay.OrderClosed, cloudpay.EventOrderClosed, 1, 1},
		{"expired, never sent to WeChat", "RECNEVER1", func(t *testing.T, s *testkit.Stack, no string) {
			createOrder(t, s, no, testkit.Alice, 800, 1)
		}, false, payment.ReconciledClosed, cloudpay.OrderClosed, cloudpay.EventOrderClosed, 1, 0},
		{"expired, in its first minutes", "RECYOUNG1", func(t *testing.T, s *testkit.Stack, no string) {
			createOrder(t, s, no, testkit.Alice, 800, 1)
			prepay(t, s, no, testkit.Alice)
		}, true, payment.ReconciledNothing, cloudpay.OrderPaying, "", 1, 0},
		{"not expired", "RECOPEN01", func(t *testing.T, s *testkit.Stack, no string) {
			s.Paying(no, testkit.Alice, 800)
		}, false, payment.ReconciledNothing, cloudpay.OrderPaying, "", 1, 0},
		{"paid and recorded", "RECPAID01", func(t *testing.T, s *testkit.Stack, no string) {
			s.Paid(no, testkit.Alice, 800)
		}, false, payment.ReconciledNothing, cloudpay.OrderPaid, cloudpay.EventOrderPaid, 0, 0},
		// A crash after the settlement's claim, before its event and status.
		{"settled, the rest lost", "RECCRASH1", func(t *testing.T, s *testkit.Stack, no string) {
			s.Paying(no, testkit.Alice, 800)
			tx := payLost(t, s, no, s.PayCallbackKind())
			if _, _, err := s.Store.ClaimSettlement(ctx, cloudpay.Settlement{OutTradeNo: no, Outcome: cloudpay.SettledPaid,
				TransactionID: tx.TransactionID, AmountFen: tx.TotalFen, OpenID: tx.OpenID, PaidAt: tx.PaidAt,
				Source: "callback", CreatedAt: s.Now()}); err != nil {
				t.Fatal(err)
			}
		}, false, payment.ReconciledRepaired, cloudpay.OrderPaid, cloudpay.EventOrderPaid, 0, 0},
	}
	testkit.ForEachChannel(t, func(t *testing.T, ch string) {
		s := testkit.New(t, testkit.Channel(ch))
		s.Advance(0) // the clock stands still but when moved
		// Made in order (the faults that lose callbacks are one queue), the
		// young ones a millisecond after the rest; then the clock moves to
		// the oldest's fifth minute: WeChat's least age for closing an order.
		for _, young := range []bool{false, true} {
			if young {
				s.Advance(time.Millisecond)
			}
			for _, tc := range tests {
				if tc.young == young {
					tc.made(t, s, tc.no)
				}
			}
		}
		s.Advance(payment.MinCloseAge - time.Millisecond)

		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				queries, closes := calls(t, s, "queryorder", tc.no), calls(t, s, "closeorder", tc.no)
				did, err := s.Payments.Reconcile(ctx, tc.no)
				if err != nil || did != tc.want {
					t.Fatalf("reconcile: %q, %v; want %q", did, err, tc.want)
				}
				if q := calls(t, s, "queryorder", tc.no) - queries; q != tc.queries {
					t.Fatalf("the job asked WeChat %d times, want %d", q, tc.queries)
				}
				if c := calls(t, s, "closeorder", tc.no) - closes; c != tc.closes {
					t.Fatalf("the job closed the order at WeChat %d times, want %d", c, tc.closes)
				}
				o := s.Order(tc.no)
				if o.Status != tc.status {
					t.Fatalf("order %+v, want %s", o, tc.status)
				}
				evs := s.Events(tc.no)
				if tc.event == "" && len(evs) != 0 || tc.event != "" && (len(evs) != 1 || evs[0].Type != tc.event) {
					t.Fatalf("events %+v, want %q", evs, tc.event)
				}
				if tc.status == cloudpay.OrderPaid {
					if st, found, _ := s.Store.Settlement(ctx, tc.no); !found || o.TransactionID != st.TransactionID || o.PaidAt == nil {
						t.Fatalf("order %+v, settlement %+v", o, st)
					}
				}
				if tc.want == payment.ReconciledClosed {
					// Closed at WeChat first: nobody can pay it any more.
					if v, ok := s.Sim.Order(tc.no); ok && v.TradeState != string(wechat.TradeClosed) {
						t.Fatalf("WeChat's order is %s", v.TradeState)
					}
					if _, err := s.Sim.Pay(ctx, tc.no); err == nil {
						t.Fatal("the user paid a closed order at WeChat")
					}
				}
				if did, err := s.Payments.Reconcile(ctx, tc.no); err != nil || did != payment.ReconciledNothing {
					t.Fatalf("reconcile again: %q, %v", did, err)
				}
				if evs := s.Events(tc.no); len(evs) > 1 {
					t.Fatalf("events after reconciling again: %+v", evs)
				}
			})
		}
	})
}
