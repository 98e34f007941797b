package payment_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// An out_trade_no names one order: asked again with the same fields, even
// many times at once, it is the same order; with any other field it is a
// conflict that leaves the order as it was. Orders are the store's alone
// (WeChat is not called), so one channel stands for both.
func TestCreateOrderIsIdempotent(t *testing.T) {
	t.Parallel()
	s := testkit.New(t)
	base := payment.NewOrder{OpenID: testkit.Alice, AmountFen: 500, Description: "course fee", Attach: "class=7"}
	tests := []struct {
		name   string
		change func(n *payment.NewOrder)
		want   cloudpay.Code
	}{
		{"the same fields", func(*payment.NewOrder) {}, ""},
		{"the default expiry spelled out", func(n *payment.NewOrder) { n.ExpireMinutes = 30 }, ""},
		{"another amount", func(n *payment.NewOrder) { n.AmountFen++ }, cloudpay.CodeOrderConflict},
		{"another user", func(n *payment.NewOrder) { n.OpenID = testkit.Bob }, cloudpay.CodeOrderConflict},
		{"another description", func(n *payment.NewOrder) { n.Description = "book fee" }, cloudpay.CodeOrderConflict},
		{"another attach", func(n *payment.NewOrder) { n.Attach = "" }, cloudpay.CodeOrderConflict},
		{"another expiry", func(n *payment.NewOrder) { n.ExpireMinutes = 31 }, cloudpay.CodeOrderConflict},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			first := base
			first.OutTradeNo = fmt.Sprintf("IDEM%04d", i)
			stored, created, err := s.Payments.CreateOrder(ctx, first)
			if err != nil || !created || stored.Status != cloudpay.OrderUnpaid || stored.ExpireMinutes != 30 {
				t.Fatalf("first: %+v created %v, %v", stored, created, err)
			}
			again := first
			tc.change(&again)
			const n = 20 // asked again, at once
			var wg sync.WaitGroup
			errs := make([]error, n)
			for j := range n {
				wg.Go(func() {
					o, created, err := s.Payments.CreateOrder(ctx, again)
					if err == nil && (created || !o.SameRequest(stored) || !o.CreatedAt.Equal(stored.CreatedAt)) {
						err = fmt.Errorf("created %v, %+v: not the first order", created, o)
					}
					errs[j] = err
				})
			}
			wg.Wait()
			for _, err := range errs {
				if cloudpay.ErrorCode(err) != tc.want {
					t.Fatalf("again: %v, want %q", err, tc.want)
				}
			}
			if o := s.Order(first.OutTradeNo); !o.SameRequest(stored) || o.Status != cloudpay.OrderUnpaid || !o.UpdatedAt.Equal(stored.UpdatedAt) {
				t.Fatalf("stored order %+v, want %+v", o, stored)
			}
		})
	}
	t.Run("many at once, none before", func(t *testing.T) {
		t.Parallel()
		n := base
		n.OutTradeNo = "IDEMRACE01"
		var wg sync.WaitGroup
		var mu sync.Mutex
		created := 0
		for range 20 {
			wg.Go(func() {
				_, c, err := s.Payments.CreateOrder(ctx, n)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				defer mu.Unlock()
				if c {
					created++
				}
			})
		}
		wg.Wait()
		if created != 1 {
			t.Fatalf("%d of 20 requests created the order", created)
		}
	})
	t.Run("no out_trade_no", func(t *testing.T) {
		t.Parallel()
		a, b := base, base // two orders, each numbered by cloudpay
		oa, createdA, errA := s.Payments.CreateOrder(ctx, a)
		ob, createdB, errB := s.Payments.CreateOrder(ctx, b)
		if errA != nil || errB != nil || !createdA || !createdB || oa.OutTradeNo == ob.OutTradeNo ||
			!cloudpay.ValidOutTradeNo(oa.OutTradeNo) || !cloudpay.ValidOutTradeNo(ob.OutTradeNo) {
			t.Fatalf("%+v %v %v\n%+v %v %v", oa, createdA, errA, ob, createdB, errB)
		}
	})
}

// A malformed order is refused naming its field, and nothing is stored.
func TestCreateOrderNamesTheBadField(t *testing.T) {
	t.Parallel()
	s := testkit.New(t)
	tests := []struct {
		name   string
		change func(n *payment.NewOrder)
		field  string // "" for an order that is fine: the table's control
	}{
		{"a valid order", func(*payment.NewOrder) {}, ""},
		{"out_trade_no too short", func(n *payment.NewOrder) { n.OutTradeNo = "AB123" }, "out_trade_no"},
		{"out_trade_no too long", func(n *payment.NewOrder) { n.OutTradeNo = strings.Repeat("A", 33) }, "out_trade_no"},
		{"out_trade_no with a space", func(n *payment.NewOrder) { n.OutTradeNo = "BAD ORDER1" }, "out_trade_no"},
		{"no openid", func(n *payment.NewOrder) { n.OpenID = "" }, "openid"},
		{"malformed openid", func(n *payment.NewOrder) { n.OpenID = "o<script>" }, "openid"},
		{"no amount", func(n *payment.NewOrder) { n.AmountFen = 0 }, "amount_fen"},
		{"negative amount", func(n *payment.NewOrder) { n.AmountFen = -500 }, "amount_fen"},
		{"amount too large", func(n *payment.NewOrder) { n.AmountFen = cloudpay.MaxFen + 1 }, "amount_fen"},
		{"no description", func(n *payment.NewOrder) { n.Description = "" }, "description"},
		{"description too long", func(n *payment.NewOrder) { n.Description = strings.Repeat("d", 129) }, "description"},
		{"description with a control character", func(n *payment.NewOrder) { n.Description = "fee\x00" }, "description"},
		{"attach too long", func(n *payment.NewOrder) { n.Attach = strings.Repeat("a", 128) }, "attach"},
		{"expiry below a minute", func(n *payment.NewOrder) { n.ExpireMinutes = -1 }, "expire_minutes"},
		{"expiry beyond the maximum", func(n *payment.NewOrder) { n.ExpireMinutes = 1441 }, "expire_minutes"},
		{"expiry at the maximum", func(n *payment.NewOrder) { n.ExpireMinutes = 1440 }, ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := payment.NewOrder{OutTradeNo: fmt.Sprintf("FIELD%04d", i), OpenID: testkit.Alice, AmountFen: 500,
				Description: "course fee", Attach: strings.Repeat("a", 127)}
			tc.change(&n)
			o, created, err := s.Payments.CreateOrder(ctx, n)
			if c, f := code(err); tc.field == "" && (err != nil || !created) || tc.field != "" && (c != cloudpay.CodeInvalidField || f != tc.field) {
				t.Fatalf("%+v created %v, %v (code %s, field %q); want field %q", o, created, err, c, f, tc.field)
			}
			if tc.field == "" || !cloudpay.ValidOutTradeNo(n.OutTradeNo) {
				return
			}
			if _, err := s.Store.Order(ctx, n.OutTradeNo); cloudpay.ErrorCode(err) != cloudpay.CodeOrderNotFound {
				t.Fatalf("a refused order was stored: %v", err)
			}
		})
	}
}

// A payment is refused for an order that is paid, closed or expired, or
// that is another user's; WeChat is not asked and the order is left as it
// was. An order that can be paid gets its payment.
func TestCreatePaymentRefusals(t *testing.T) {
	t.Parallel()
	testkit.ForEachChannel(t, func(t *testing.T, ch string) {
		s := testkit.New(t, testkit.Channel(ch))
		s.Advance(0) // one clock, standing still, for every case
		// Made before the clock moves on: the expiring ones last a minute.
		createOrder(t, s, "PAYOK001", testkit.Alice, 500, 0)
		createOrder(t, s, "PAYBOB01", testkit.Alice, 500, 0)
		createOrder(t, s, "PAYEXP01", testkit.Alice, 500, 1)
		createOrder(t, s, "PAYCLS01", testkit.Alice, 500, 1)
		s.Paying("PAYPAID1", testkit.Alice, 500)
		payLost(t, s, "PAYPAID1", s.PayCallbackKind())
		if v, err := s.Payments.Confirm(ctx, wechat.PayHint{OutTradeNo: "PAYPAID1"}); err != nil || v != wechat.Recorded {
			t.Fatalf("record the payment: %s, %v", v, err)
		}
		s.Advance(payment.MinCloseAge)
		if did, err := s.Payments.Reconcile(ctx, "PAYCLS01"); err != nil || did != payment.ReconciledClosed {
			t.Fatalf("close PAYCLS01: %q, %v", did, err)
		}

		tests := []struct {
			name, no, openid string
			want             cloudpay.Code
			status           cloudpay.OrderStatus // the order's, after
		}{
			{"an order to pay", "PAYOK001", testkit.Alice, "", cloudpay.OrderPaying},
			{"another user's order", "PAYBOB01", testkit.Bob, cloudpay.CodeForbidden, cloudpay.OrderUnpaid},
			{"an expired order", "PAYEXP01", testkit.Alice, cloudpay.CodeOrderExpired, cloudpay.OrderUnpaid},
			{"a closed order", "PAYCLS01", testkit.Alice, cloudpay.CodeOrderClosed, cloudpay.OrderClosed},
			{"a paid order", "PAYPAID1", testkit.Alice, cloudpay.CodeOrderPaid, cloudpay.OrderPaid},
			{"an unknown order", "PAYNONE1", testkit.Alice, cloudpay.CodeOrderNotFound, ""},
			{"a malformed order number", "PAY", testkit.Alice, cloudpay.CodeInvalidField, ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				before := calls(t, s, "unifiedorder", tc.no)
				p, err := s.Payments.CreatePayment(ctx, tc.openid, tc.no, "203.0.113.7", "")
				if cloudpay.ErrorCode(err) != tc.want {
					t.Fatalf("create payment: %+v, %v; want %q", p, err, tc.want)
				}
				wantCalls := before
				if tc.want == "" {
					wantCalls++
					if p.Params.Package == "" || p.Order.Status != cloudpay.OrderPaying || p.Order.AmountFen != 500 {
						t.Fatalf("payment %+v", p)
					}
				}
				if n := calls(t, s, "unifiedorder", tc.no); n != wantCalls {
					t.Fatalf("WeChat received %d unifiedorder calls, want %d", n, wantCalls)
				}
				if tc.status != "" {
					if o := s.Order(tc.no); o.Status != tc.status {
						t.Fatalf("order %+v, want %s", o, tc.status)
					}
				}
			})
		}
	})
}
