package payment_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// What is recorded comes only from WeChat's answer, and only if it is our
// order: an order number WeChat holds for another amount, payer or
// merchant is never recorded as paid, whichever path asks WeChat (a
// callback, the job, the user's page).
func TestWeChatsAnswerMustMatchTheOrder(t *testing.T) {
	t.Parallel()
	const otherMerchant = "1999999999"
	tests := []struct {
		name string
		// The order WeChat holds under our number, made and paid by
		// someone else; ours is Alice's, of 800 fen.
		mchID string
		payer string
		fen   int64
		want  map[string]wechat.Verdict // by channel
	}{
		{"as our order", testkit.SubMchID, testkit.Alice, 800,
			map[string]wechat.Verdict{wechat.CloudHosting: wechat.Recorded, wechat.V3: wechat.Recorded}},
		{"another amount", testkit.SubMchID, testkit.Alice, 99_999,
			map[string]wechat.Verdict{wechat.CloudHosting: wechat.Mismatch, wechat.V3: wechat.Mismatch}},
		{"another payer", testkit.SubMchID, testkit.Bob, 800,
			map[string]wechat.Verdict{wechat.CloudHosting: wechat.Mismatch, wechat.V3: wechat.Mismatch}},
		// The open interface shows a merchant only its own orders; API v3
		// answers with the order's merchant.
		{"another merchant", otherMerchant, testkit.Alice, 800,
			map[string]wechat.Verdict{wechat.CloudHosting: wechat.NotPaid, wechat.V3: wechat.Mismatch}},
	}
	testkit.ForEachChannel(t, func(t *testing.T, ch string) {
		// A simulator that serves any merchant, so that another's order can
		// exist at WeChat.
		s := testkit.New(t, testkit.Channel(ch), testkit.Sim(func(c *wechatsim.Config) { c.SubMchID = "" }))
		if testkit.SubMchID != wechatsim.DevMchID {
			t.Fatal("the test assumes one merchant number on both channels")
		}
		for i, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				no := fmt.Sprintf("MATCH%04d", i)
				r := s.SimPost("/_/pay/unifiedOrder", map[string]any{
					"body": "elsewhere", "openid": tc.payer, "out_trade_no": no, "spbill_create_ip": "203.0.113.9",
					"env_id": "other-env", "sub_mch_id": tc.mchID, "total_fee": tc.fen, "callback_type": 2,
					"container": map[string]any{"service": "payment-callback", "path": "/callbacks/pay"}})
				if resp, _ := r.Body["respdata"].(map[string]any); r.Status != http.StatusOK || resp["result_code"] != "SUCCESS" {
					t.Fatalf("the order at WeChat: %d %s", r.Status, r.Raw)
				}
				tx := payLost(t, s, no, wechatsim.KindPayCallback)
				o := createOrder(t, s, no, testkit.Alice, 800, 0)

				// A callback that claims just what our order says.
				if v, err := s.Payments.Confirm(ctx, hint(o, merchant(s))); err != nil || v != tc.want[ch] {
					t.Fatalf("callback: %s, %v; want %s", v, err, tc.want[ch])
				}
				if tc.want[ch] == wechat.Recorded {
					recordedPaid(t, s, tx)
					return
				}
				// The job reports a mismatch, for a person to look at.
				did, err := s.Payments.Reconcile(ctx, no)
				if did != payment.ReconciledNothing || (err != nil) != (tc.want[ch] == wechat.Mismatch) {
					t.Fatalf("the job: %q, %v", did, err)
				}
				if got, err := s.Payments.PaymentStatus(ctx, testkit.Alice, no); err != nil || got.Status != cloudpay.OrderUnpaid {
					t.Fatalf("the page: %+v, %v", got, err)
				}
				if q := calls(t, s, "queryorder", no); q != 3 {
					t.Fatalf("WeChat received %d queries, want one per path", q)
				}
				nothingRecorded(t, s, no)
			})
		}
	})
}

// A verified notification (API v3's signed one) is WeChat's own word: it
// is recorded without asking WeChat, once, and only if it fits the order.
// The service's rule is the same on both channels.
func TestVerifiedNotificationRecordsWithoutAQuery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(tx *wechat.Transaction) // WeChat's transaction, as the notification carries it
		want   wechat.Verdict
	}{
		{"as WeChat has it", func(*wechat.Transaction) {}, wechat.Recorded},
		{"paid, and refunded since", func(tx *wechat.Transaction) { tx.State = wechat.TradeRefund }, wechat.Recorded},
		{"another amount", func(tx *wechat.Transaction) { tx.TotalFen-- }, wechat.Mismatch},
		{"another payer", func(tx *wechat.Transaction) { tx.OpenID = testkit.Bob }, wechat.Mismatch},
		{"another merchant", func(tx *wechat.Transaction) { tx.MchID = "1999999999" }, wechat.OtherMerchant},
		{"not paid", func(tx *wechat.Transaction) { tx.State = wechat.TradeNotPay }, wechat.NotPaid},
		{"closed", func(tx *wechat.Transaction) { tx.State = wechat.TradeClosed }, wechat.NotPaid},
		{"an unknown order", func(tx *wechat.Transaction) { tx.OutTradeNo = "NOSUCHORDER1" }, wechat.UnknownOrder},
	}
	testkit.ForEachChannel(t, func(t *testing.T, ch string) {
		s := testkit.New(t, testkit.Channel(ch))
		for i, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				no := fmt.Sprintf("SIGNED%04d", i)
				s.Paying(no, testkit.Alice, 800)
				tx := payLost(t, s, no, s.PayCallbackKind())
				tc.change(&tx)
				v, err := s.Payments.Record(ctx, tx)
				if err != nil || v != tc.want {
					t.Fatalf("record: %s, %v; want %s", v, err, tc.want)
				}
				if v == wechat.Recorded {
					if v, err := s.Payments.Record(ctx, tx); err != nil || v != wechat.AlreadyRecorded {
						t.Fatalf("record again: %s, %v", v, err)
					}
					recordedPaid(t, s, tx)
					if st, _, _ := s.Store.Settlement(ctx, no); st.Source != "notification" {
						t.Fatalf("settlement from %q, want the notification", st.Source)
					}
				} else {
					nothingRecorded(t, s, no)
				}
				if q := calls(t, s, "queryorder", no); q != 0 {
					t.Fatalf("WeChat received %d queries", q)
				}
			})
		}
	})
}
