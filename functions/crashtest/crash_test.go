//go:build linux

package crashtest

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// The users and orders of a case: each world has its own database and
// simulator, so every case may use the same numbers.
const (
	alice  = "oCrashAlice0001"
	order1 = "CRASHORDER0001"
	order2 = "CRASHORDER0002"
)

// manualSettle keeps refunds PROCESSING at WeChat until the test (or
// converge, acting as WeChat) settles them.
const manualSettle = -1

// crashCase is one crash point reached by one path.
type crashCase struct {
	point   string // package crashpoint's name
	path    string // how the flow gets there, when several paths do
	fn      string // the function armed and killed
	channel string // PAY_CHANNEL (default cloudhosting)
	// setup makes what the flow needs, with every function unarmed, and
	// returns the flow.
	setup func(w *world) flow
}

// flow is what the client does: the request that dies at the crash point,
// and the same client's request again after the restart.
type flow struct {
	crash func()
	retry func()
	// ended checks the flow's own end, after converge (the invariants are
	// checked for every case).
	ended func(s snapshot) error
}

// The crash points of every money flow. Each case runs twice: with the
// client retrying its request after the restart (the merchant's back end,
// the user, WeChat redelivering its callback, the scheduler), and without
// (only close-expired passes finish it).
var crashCases = []crashCase{
	// Withdrawals.
	{point: "withdraw.after-freeze", fn: withdrawFn, setup: withdrawal},
	{point: "withdraw.after-attempt-claim", fn: withdrawFn, setup: withdrawal},
	{point: "withdraw.after-call", fn: withdrawFn, setup: withdrawal},
	{point: "withdraw.after-outcome-claim", path: "transfer notification", fn: paymentCallback, setup: confirmedTransfer},

	// Refunds.
	{point: "refund.after-reserve", path: "admin", fn: refundFn, setup: adminRefund},
	{point: "refund.after-reserve", path: "user request without key", fn: refundFn, setup: userRequestWithoutKey},
	{point: "refund.after-reserve", path: "batch item", fn: refundFn, setup: batchItems},
	{point: "refund.after-attempt-claim", fn: refundFn, setup: adminRefund},
	{point: "refund.after-call", fn: refundFn, setup: adminRefund},
	{point: "refund.after-outcome-claim", path: "refund callback", fn: paymentCallback, setup: settledRefund},
	{point: "refund.after-outcome-claim", path: "refund notification", fn: paymentCallback, channel: "v3", setup: settledRefund},
	{point: "refund.after-final-save", path: "refund callback", fn: paymentCallback, setup: settledRefund},
	{point: "refund.after-review", path: "approve", fn: refundFn, setup: reviewedRequest("approve")},
	{point: "refund.after-review", path: "reject", fn: refundFn, setup: reviewedRequest("reject")},

	// Orders.
	{point: "job.after-wechat-close", fn: closeExpired, setup: expiredOrder},
	{point: "pay.after-outcome-claim", path: "job closing", fn: closeExpired, setup: expiredOrder},
	{point: "pay.after-outcome-claim", path: "pay callback", fn: paymentCallback, setup: paidAtWeChat},
	{point: "pay.after-outcome-claim", path: "payment notification", fn: paymentCallback, channel: "v3", setup: paidAtWeChat},

	// Payments from the balance, and switching methods.
	{point: "pay.after-debit", fn: createPayment, channel: "v3", setup: balancePayment(10_000, false)},
	{point: "pay.after-debit", path: "after a JSAPI prepay", fn: createPayment, channel: "v3", setup: balancePayment(10_000, true)},
	{point: "pay.after-debit", path: "the whole balance", fn: createPayment, channel: "v3", setup: balancePayment(1000, false)},
	{point: "pay.after-balance-claim", fn: createPayment, channel: "v3", setup: balancePayment(10_000, false)},
	{point: "pay.after-balance-claim", path: "after a JSAPI prepay", fn: createPayment, channel: "v3", setup: balancePayment(10_000, true)},
	{point: "pay.after-attempt-claim", path: "native to jsapi", fn: createPayment, channel: "v3", setup: nativeThenJSAPI},
}

func (c crashCase) name() string {
	if c.path == "" {
		return c.point
	}
	return c.point + "/" + c.path
}

func TestCrashPoints(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the functions as processes and kills them")
	}
	t.Parallel()
	for _, c := range crashCases {
		for _, retry := range []bool{true, false} {
			name := c.name() + "/no-retry"
			if retry {
				name = c.name() + "/retry"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				w := newWorld(t, worldOptions{channel: c.channel, settleDelay: manualSettle})
				f := c.setup(w)
				w.step("set up")
				w.arm(c.fn, c.point)
				f.crash()
				w.fn(c.fn).awaitCrash(t, c.point)
				w.step("%s crashed at %s", c.fn, c.point)
				w.restart(c.fn)
				if retry && f.retry != nil {
					f.retry()
					w.step("retried")
				}
				w.converge()
				w.step("converged")
				if f.ended != nil {
					if err := f.ended(w.snapshot()); err != nil {
						t.Fatal(err)
					}
				}
			})
		}
	}
}

// --- withdrawals ---

// withdrawal: Alice has 100 CNY and withdraws 30.
func withdrawal(w *world) flow {
	w.startFn(withdrawFn, "")
	w.startFn(paymentCallback, "") // transfer notifications
	w.credit(alice, "credit-1", 10_000)
	id := cloudpay.WithdrawalID(alice, "wd-1")
	req := map[string]any{"amount_fen": 3000, "idempotency_key": "wd-1"}
	return flow{
		crash: func() { w.call("POST", w.fnURL(withdrawFn, "/withdrawals"), user(alice), req) },
		retry: func() {
			w.must("POST", w.fnURL(withdrawFn, "/withdrawals"), user(alice), req, http.StatusCreated, http.StatusOK)
		},
		ended: withdrawn(id, 3000, 7000),
	}
}

// confirmedTransfer: Alice's withdrawal waits for her; she confirms it at
// WeChat, whose notification of the paid bill is what crashes.
func confirmedTransfer(w *world) flow {
	w.startFn(withdrawFn, "")
	w.startFn(paymentCallback, "")
	w.credit(alice, "credit-1", 10_000)
	var wd struct{ ID, Status string }
	w.must("POST", w.fnURL(withdrawFn, "/withdrawals"), user(alice), map[string]any{"amount_fen": 3000, "idempotency_key": "wd-1"},
		http.StatusCreated).decode(w.t, &wd)
	if wd.Status != string(cloudpay.WithdrawalWaitingUser) {
		w.t.Fatalf("withdrawal %+v, want waiting_user", wd)
	}
	return flow{
		crash: func() { w.must("POST", w.simControl()+"/transfers/"+wd.ID+"/confirm", anyone, nil, http.StatusOK) },
		retry: func() { w.must("POST", w.simControl()+"/transfers/"+wd.ID+"/notify", anyone, nil, http.StatusOK) },
		ended: withdrawn(wd.ID, 3000, 7000),
	}
}

func withdrawn(id string, amount, available cloudpay.Fen) func(s snapshot) error {
	return func(s snapshot) error {
		wd := s.withdrawals[id]
		if wd.Status != cloudpay.WithdrawalSucceeded || wd.AmountFen != amount {
			return fmt.Errorf("withdrawal %s: %+v, want %d fen succeeded", id, wd, amount)
		}
		if tr := s.simTransfers[id]; tr.State != "SUCCESS" || tr.AmountFen != int64(amount) || len(s.simTransfers) != 1 {
			return fmt.Errorf("transfer bills at WeChat: %+v, want one of %d fen paid", s.simTransfers, amount)
		}
		l := s.walletLedger[alice]
		if tail := l[len(l)-1]; tail.AvailableFen != available || tail.FrozenFen != 0 || tail.DebitedFen != amount {
			return fmt.Errorf("wallet: %+v, want %d available, %d debited", tail, available, amount)
		}
		return nil
	}
}

// --- refunds ---

// paidOrders starts what refunds need and makes the orders paid.
func paidOrders(w *world, orders ...string) {
	w.startFn(createPayment, "")
	w.startFn(paymentCallback, "")
	w.startFn(refundFn, "")
	for _, no := range orders {
		w.paidOrder(no, alice, 1000)
	}
}

// adminRefund: the merchant refunds 3 of the 10 CNY Alice paid.
func adminRefund(w *world) flow {
	paidOrders(w, order1)
	req := map[string]any{"out_trade_no": order1, "amount_fen": 300, "idempotency_key": "rf-1"}
	no := cloudpay.OutRefundNoForKey("rf-1")
	return flow{
		crash: func() { w.call("POST", w.fnURL(refundFn, "/refunds"), admin, req) },
		retry: func() {
			w.must("POST", w.fnURL(refundFn, "/refunds"), admin, req, http.StatusAccepted, http.StatusOK)
		},
		ended: refunded(order1, 300, no),
	}
}

// userRequestWithoutKey: Alice asks for 3 CNY back without a key: asking
// again is a new request, so the retry makes two (the operator approves
// both; the lost one is rebuilt by the sweep).
func userRequestWithoutKey(w *world) flow {
	paidOrders(w, order1)
	req := map[string]any{"out_trade_no": order1, "amount_fen": 300}
	retried := false
	return flow{
		crash: func() { w.call("POST", w.fnURL(refundFn, "/refund-requests"), user(alice), req) },
		retry: func() {
			retried = true
			w.must("POST", w.fnURL(refundFn, "/refund-requests"), user(alice), req, http.StatusCreated)
		},
		ended: func(s snapshot) error {
			want := cloudpay.Fen(300)
			if retried {
				want = 600
			}
			return refunded(order1, want)(s)
		},
	}
}

// batchItems: a batch refunds 3 CNY of one order and 4 of another; the
// run dies in the background at the first item's reservation.
func batchItems(w *world) flow {
	paidOrders(w, order1, order2)
	req := map[string]any{"idempotency_key": "batch-1", "items": []map[string]any{
		{"out_trade_no": order1, "amount_fen": 300, "key": "item-1"},
		{"out_trade_no": order2, "amount_fen": 400, "key": "item-2"},
	}}
	return flow{
		crash: func() { w.call("POST", w.fnURL(refundFn, "/refunds/batch"), admin, req) },
		retry: func() {
			w.must("POST", w.fnURL(refundFn, "/refunds/batch"), admin, req, http.StatusAccepted, http.StatusOK)
		},
		ended: func(s snapshot) error {
			if err := refunded(order1, 300, cloudpay.OutRefundNoForKey("item-1"))(s); err != nil {
				return err
			}
			return refunded(order2, 400, cloudpay.OutRefundNoForKey("item-2"))(s)
		},
	}
}

// settledRefund: the merchant's refund is PROCESSING at WeChat; WeChat
// settles it, and its callback (or v3 notification) is what crashes.
func settledRefund(w *world) flow {
	paidOrders(w, order1)
	no := cloudpay.OutRefundNoForKey("rf-1")
	var r struct{ Status string }
	w.must("POST", w.fnURL(refundFn, "/refunds"), admin, map[string]any{"out_trade_no": order1, "amount_fen": 300, "idempotency_key": "rf-1"},
		http.StatusAccepted).decode(w.t, &r)
	if r.Status != string(cloudpay.RefundProcessing) {
		w.t.Fatalf("refund is %s, want processing", r.Status)
	}
	return flow{
		crash: func() {
			w.must("POST", w.simControl()+"/refunds/"+no+"/settle", anyone, map[string]any{"status": "SUCCESS"}, http.StatusOK)
		},
		retry: func() { w.must("POST", w.simControl()+"/refunds/"+no+"/notify", anyone, nil, http.StatusOK) },
		ended: refunded(order1, 300, no),
	}
}

// reviewedRequest: Alice asks for 3 CNY back; the operator's decision is
// what crashes.
func reviewedRequest(decision string) func(w *world) flow {
	return func(w *world) flow {
		paidOrders(w, order1)
		var r struct {
			OutRefundNo string `json:"out_refund_no"`
		}
		w.must("POST", w.fnURL(refundFn, "/refund-requests"), user(alice),
			map[string]any{"out_trade_no": order1, "amount_fen": 300, "idempotency_key": "req-1"}, http.StatusCreated).decode(w.t, &r)
		ended := refunded(order1, 300, r.OutRefundNo)
		if decision == "reject" {
			ended = func(s snapshot) error {
				if st := s.refunds[r.OutRefundNo].Status; st != cloudpay.RefundRejected || len(s.simRefunds) > 0 {
					return fmt.Errorf("refund %s is %s (WeChat holds %d), want rejected and nothing at WeChat", r.OutRefundNo, st, len(s.simRefunds))
				}
				return refunded(order1, 0)(s)
			}
		}
		return flow{
			crash: func() { w.review(r.OutRefundNo, decision) },
			retry: func() {
				if a := w.review(r.OutRefundNo, decision); a.err != nil || a.status/100 != 2 {
					w.t.Fatalf("%s again: %s", decision, a)
				}
			},
			ended: ended,
		}
	}
}

// refunded checks that order's refunds add up to total, each of the named
// ones succeeded, and WeChat refunded each once.
func refunded(order string, total cloudpay.Fen, nos ...string) func(s snapshot) error {
	return func(s snapshot) error {
		for _, no := range nos {
			r := s.refunds[no]
			if r.Status != cloudpay.RefundSucceeded {
				return fmt.Errorf("refund %s: %+v, want succeeded", no, r)
			}
			if wx := s.simRefunds[no]; wx.Status != "SUCCESS" || cloudpay.Fen(wx.RefundFee) != r.AmountFen {
				return fmt.Errorf("refund %s at WeChat: %+v", no, wx)
			}
		}
		var sum cloudpay.Fen
		for _, r := range s.refunds {
			if r.OutTradeNo == order && r.Status == cloudpay.RefundSucceeded {
				sum += r.AmountFen
			}
		}
		if sum != total || s.orders[order].RefundedFen != total {
			return fmt.Errorf("order %s: refunds succeeded for %d fen, order shows %d, want %d", order, sum, s.orders[order].RefundedFen, total)
		}
		return nil
	}
}

// --- orders ---

// expiredOrder: an order Alice never paid expires; the job's pass that
// closes it is what crashes.
func expiredOrder(w *world) flow {
	w.startFn(createPayment, "")
	w.createOrder(order1, alice, 1000, 1)
	pass := func() { w.call("POST", w.fnURL(closeExpired, "/run"), scheduler, nil) }
	return flow{
		crash: pass,
		retry: func() { w.pass() },
		ended: func(s snapshot) error {
			if st := s.settlements[order1]; st.Outcome != cloudpay.SettledClosed || s.simOrders[order1].TradeState != "CLOSED" {
				return fmt.Errorf("order %s: settlement %+v, WeChat %+v, want closed on both", order1, st, s.simOrders[order1])
			}
			return nil
		},
	}
}

// paidAtWeChat: Alice pays; WeChat's callback (or v3 notification) is what
// crashes.
func paidAtWeChat(w *world) flow {
	w.startFn(createPayment, "")
	w.startFn(paymentCallback, "")
	w.createOrder(order1, alice, 1000, 0)
	return flow{
		crash: func() {
			w.must("POST", w.simControl()+"/pay", anyone, map[string]any{"out_trade_no": order1}, http.StatusOK)
		},
		retry: func() {
			var d struct{ OK bool }
			w.must("POST", w.simControl()+"/notify", anyone, map[string]any{"out_trade_no": order1}, http.StatusOK).decode(w.t, &d)
			if !d.OK {
				w.t.Fatalf("WeChat's callback again was not acknowledged")
			}
		},
		ended: func(s snapshot) error {
			if st := s.settlements[order1]; st.Outcome != cloudpay.SettledPaid || s.orders[order1].Status != cloudpay.OrderPaid {
				return fmt.Errorf("order %s: settlement %+v, order %s, want paid", order1, st, s.orders[order1].Status)
			}
			return nil
		},
	}
}
