package job_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/withdraw"
)

// A payment from the balance whose request died after the debit: one pass
// settles the order with it, or, if the user switched to WeChat
// meanwhile, gives the money back. Nothing stays debited without its
// order paid, and later passes change nothing.
func TestPassFinishesABalancePaymentACrashCutShort(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const fen = 300
	tests := []struct {
		name    string
		crashAt string
		then    func(t *testing.T, s *testkit.Stack)
		paid    bool
	}{
		{name: "died after the debit", crashAt: "ClaimPrepayEnd", paid: true},
		{name: "died after the end claim", crashAt: "ClaimSettlement", paid: true},
		{name: "died after the debit, then the user paid with WeChat", crashAt: "ClaimPrepayEnd",
			then: func(t *testing.T, s *testkit.Stack) {
				if _, err := s.Payments.CreatePayment(context.Background(), testkit.Alice, order, "203.0.113.7", ""); err != nil {
					t.Fatalf("switch to JSAPI: %v", err)
				}
				if res, err := s.Sim.Pay(context.Background(), cloudpay.TradeNoOf(order, 2)); err != nil || !res.Callback.OK {
					t.Fatalf("pay with WeChat: %v", err)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := testkit.New(t, testkit.Channel(wechat.V3))
			if _, _, err := s.Withdrawals.Credit(ctx, testkit.Alice, "top-up", 1000, ""); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.Payments.CreateOrder(ctx, payment.NewOrder{OutTradeNo: order, OpenID: testkit.Alice, AmountFen: fen, Description: "x"}); err != nil {
				t.Fatal(err)
			}
			store := testkit.CrashingStore{Store: s.Store, At: tc.crashAt}
			dying := payment.New(store, s.V3Gateway(), payment.Config{}, payment.WithClock(s.Now),
				payment.WithWallet(withdraw.NewBalance(store, s.Now)))
			if _, err := dying.PayFromBalance(ctx, testkit.Alice, order); !errors.Is(err, testkit.ErrCrash) {
				t.Fatalf("pay from balance: %v, want the crash", err)
			}
			checkWallet(t, s, 1000-fen, 0, fen)
			if tc.then != nil {
				tc.then(t, s)
			}
			s.Advance(pastGrace)
			pass(t, s)
			want, method := cloudpay.Fen(1000-fen), cloudpay.MethodBalance
			if !tc.paid {
				want, method = 1000, cloudpay.MethodJSAPI
			}
			o := s.Order(order)
			if o.Status != cloudpay.OrderPaid || o.Method != method {
				t.Fatalf("order after a pass: %s %s", o.Status, o.Method)
			}
			w, err := s.Withdrawals.Wallet(ctx, testkit.Alice)
			if err != nil || w.AvailableFen != want {
				t.Fatalf("wallet after a pass: %+v, %v; want %d available", w, err, want)
			}
			before := snapshot(t, s)
			s.Advance(pastGrace)
			pass(t, s)
			if after := snapshot(t, s); !reflect.DeepEqual(before, after) {
				t.Fatal("a second pass changed something")
			}
		})
	}
}
