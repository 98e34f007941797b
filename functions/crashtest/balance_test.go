//go:build linux

package crashtest

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// --- payments from the balance, and switching methods ---

// placeOrder records an order, as the merchant's back end does, without
// asking WeChat for anything yet.
func (w *world) placeOrder(no, openid string, amount int64) {
	w.t.Helper()
	w.must("POST", w.fnURL(createPayment, "/orders"), admin,
		map[string]any{"out_trade_no": no, "openid": openid, "amount_fen": amount, "description": "crash test"},
		http.StatusCreated, http.StatusOK)
}

// balancePayment: Alice has credit fen in her wallet and pays her 10 CNY
// order from it; that request is what crashes, and the retry is the same
// request. With jsapiFirst she opened WeChat's payment of the order first,
// so the balance pays under a later attempt, after the first is closed at
// WeChat. With a credit of exactly the order's amount, the retry finds the
// balance spent by the debit of the request that died: it must still
// answer paid, not INSUFFICIENT_BALANCE.
func balancePayment(credit int64, jsapiFirst bool) func(w *world) flow {
	return func(w *world) flow {
		const amount = 1000
		w.startFn(createPayment, "")
		w.startFn(withdrawFn, "") // credits
		w.credit(alice, "credit-1", credit)
		attempt := "" // the settlement's TradeNo: the order's own number
		if jsapiFirst {
			w.createOrder(order1, alice, amount, 0)
			attempt = cloudpay.TradeNoOf(order1, 2)
		} else {
			w.placeOrder(order1, alice, amount)
		}
		req := map[string]any{"out_trade_no": order1, "method": "balance"}
		return flow{
			crash: func() { w.call("POST", w.fnURL(createPayment, "/payments"), user(alice), req) },
			retry: func() {
				// Paid by this request, or by the one that died (which the
				// retry finishes first).
				a := w.must("POST", w.fnURL(createPayment, "/payments"), user(alice), req, http.StatusOK, http.StatusConflict)
				var b struct {
					Status, Method string
					Error          struct{ Code string }
				}
				a.decode(w.t, &b)
				if (a.status == http.StatusOK && (b.Status != string(cloudpay.OrderPaid) || b.Method != string(cloudpay.MethodBalance))) ||
					(a.status == http.StatusConflict && b.Error.Code != string(cloudpay.CodeOrderPaid)) {
					w.t.Fatalf("the balance payment again: %s, want paid from the balance or ORDER_PAID", a)
				}
				w.step("the balance payment again: %d %s%s", a.status, b.Status, b.Error.Code)
			},
			ended: paidFromBalance(order1, attempt, amount, cloudpay.Fen(credit-amount)),
		}
	}
}

// paidFromBalance checks that order was paid once, from Alice's balance
// under attempt ("": the order's own number), that WeChat took nothing, and
// that her wallet holds available fen, amount having left it.
func paidFromBalance(order, attempt string, amount, available cloudpay.Fen) func(s snapshot) error {
	return func(s snapshot) error {
		st, o := s.settlements[order], s.orders[order]
		if st.Outcome != cloudpay.SettledPaid || st.PaidMethod() != cloudpay.MethodBalance || st.TradeNo != attempt || st.AmountFen != amount ||
			o.Status != cloudpay.OrderPaid || o.Method != cloudpay.MethodBalance || o.TradeNo != attempt {
			return fmt.Errorf("order %s: settlement %+v, order %s by %s under %q; want paid from the balance under %q",
				order, st, o.Status, o.Method, o.TradeNo, attempt)
		}
		for _, no := range s.tradeNos[order] {
			if wx, known := s.simOrders[no]; known && wx.TradeState != "CLOSED" {
				return fmt.Errorf("order %s: %s at WeChat under %s, want closed before the balance paid it", order, wx.TradeState, no)
			}
		}
		var moves []string
		for _, e := range s.walletLedger[alice] {
			if e.OutTradeNo == order {
				moves = append(moves, string(e.Kind)+" "+e.Ref)
			}
		}
		if want := []string{"payment " + payRef(settledNo(o, st))}; !slices.Equal(moves, want) {
			return fmt.Errorf("wallet movements for %s: %v, want %v", order, moves, want)
		}
		l := s.walletLedger[alice]
		if tail := l[len(l)-1]; tail.AvailableFen != available || tail.DebitedFen != amount || tail.FrozenFen != 0 {
			return fmt.Errorf("wallet: %+v, want %d available, %d debited", tail, available, amount)
		}
		return nil
	}
}

// nativeThenJSAPI: the merchant's web page shows the order's QR code
// (Native, attempt 1 under the order's number); then Alice pays it in the
// mini-program instead, and that request (attempt 2, JSAPI) dies once it
// has claimed its attempt, before attempt 1 is closed at WeChat. Whatever
// follows, WeChat can take money under one of the two numbers at most;
// Alice then pays under that one, and it is recorded once.
func nativeThenJSAPI(w *world) flow {
	w.startFn(createPayment, "")
	w.startFn(paymentCallback, "")
	w.placeOrder(order1, alice, 1000)
	var native struct {
		Method  string
		CodeURL string `json:"code_url"`
	}
	w.must("POST", w.fnURL(createPayment, "/orders/"+order1+"/pay"), admin, map[string]any{"method": "native"},
		http.StatusOK).decode(w.t, &native)
	if native.Method != string(cloudpay.MethodNative) || native.CodeURL == "" {
		w.t.Fatalf("native payment: %+v", native)
	}
	jsapi := cloudpay.TradeNoOf(order1, 2)
	req := map[string]any{"out_trade_no": order1}
	retried := false
	return flow{
		crash: func() { w.call("POST", w.fnURL(createPayment, "/payments"), user(alice), req) },
		retry: func() {
			retried = true
			w.must("POST", w.fnURL(createPayment, "/payments"), user(alice), req, http.StatusOK)
		},
		ended: func(s snapshot) error {
			// The retry closed the QR code's number before prepaying its
			// own; without it, only the QR code's is known to WeChat.
			live, other, method := order1, jsapi, cloudpay.MethodNative
			if retried {
				live, other, method = jsapi, order1, cloudpay.MethodJSAPI
			}
			if wx := s.simOrders[live]; wx.TradeState != "NOTPAY" {
				return fmt.Errorf("WeChat holds %+v under %s, want it payable", wx, live)
			}
			if wx, known := s.simOrders[other]; known && wx.TradeState != "CLOSED" {
				return fmt.Errorf("WeChat holds %+v under %s, want it closed or unknown", wx, other)
			}
			if _, settled := s.settlements[order1]; settled {
				return fmt.Errorf("order %s settled before anyone paid: %+v", order1, s.settlements[order1])
			}

			if a := w.pay(live); a.err != nil || a.status != http.StatusOK {
				return fmt.Errorf("pay %s: %s", live, a)
			}
			if a := w.pay(other); a.err != nil || (a.status != http.StatusConflict && a.status != http.StatusNotFound) {
				return fmt.Errorf("pay %s as well: %s, want refused", other, a)
			}
			w.eventually("order "+order1+" paid", func() error {
				var o struct{ Status string }
				w.must("GET", w.fnURL(createPayment, "/orders/"+order1), admin, nil, http.StatusOK).decode(w.t, &o)
				if o.Status != string(cloudpay.OrderPaid) {
					return fmt.Errorf("order %s is %s", order1, o.Status)
				}
				return nil
			})
			s = w.snapshot()
			st, o := s.settlements[order1], s.orders[order1]
			if settledNo(o, st) != live || st.PaidMethod() != method || o.Method != method || s.simOrders[live].TransactionID != st.TransactionID {
				return fmt.Errorf("order %s: settlement %+v, order by %s; want paid by %s under %s (WeChat %+v)", order1, st, o.Method, method, live, s.simOrders[live])
			}
			for id := range s.events {
				if strings.HasPrefix(id, string(cloudpay.EventPaymentDuplicate)+":") {
					return fmt.Errorf("a second payment was recorded: %s", id)
				}
			}
			if problems := w.check(); len(problems) > 0 {
				return fmt.Errorf("after paying %s: %v", live, problems)
			}
			return nil
		},
	}
}
