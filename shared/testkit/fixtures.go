package testkit

import (
	"context"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// CreateOrder creates an order through create-payment's POST /orders, as
// the merchant's back end does; anything but 201 fails the test.
func (s *Stack) CreateOrder(no, openid string, fen int64) Response {
	s.t.Helper()
	r := s.Do("POST", s.CreatePaymentURL+"/orders", map[string]any{
		"out_trade_no": no, "openid": openid, "amount_fen": fen, "description": "course fee",
	}, Admin())
	if r.Status != http.StatusCreated {
		s.t.Fatalf("create order %s: %d %s", no, r.Status, r.Raw)
	}
	return r
}

// CreatePayment asks create-payment for the order's payment, as the
// mini-program does (POST /payments); the status is the test's to check.
func (s *Stack) CreatePayment(no, openid string) Response {
	return s.Do("POST", s.CreatePaymentURL+"/payments", map[string]any{"out_trade_no": no}, User(openid))
}

// Paying makes an order whose payment the user has been given (a prepay
// at WeChat) but has not paid. It goes through create-payment's service
// rather than its routes, which other tests cover, so that tests needing
// hundreds of orders stay cheap.
func (s *Stack) Paying(no, openid string, fen int64) {
	s.t.Helper()
	ctx := context.Background()
	if _, _, err := s.Payments.CreateOrder(ctx, payment.NewOrder{OutTradeNo: no, OpenID: openid,
		AmountFen: cloudpay.Fen(fen), Description: "course fee"}); err != nil {
		s.t.Fatalf("create order %s: %v", no, err)
	}
	if _, err := s.Payments.CreatePayment(ctx, openid, no, "203.0.113.7", ""); err != nil {
		s.t.Fatalf("create payment %s: %v", no, err)
	}
}

// Paid makes an order that the user has paid at WeChat and that cloudpay
// has recorded from WeChat's genuine callback (or v3 notification): the
// starting point of every refund. The order and its prepay are made as by
// Paying; the payment travels as in production, from the simulator to
// payment-callback over HTTP. It may run concurrently (see Concurrently).
func (s *Stack) Paid(no, openid string, fen int64) {
	s.t.Helper()
	s.Paying(no, openid, fen)
	res, err := s.Sim.Pay(context.Background(), no)
	if err != nil || !res.Callback.OK {
		s.t.Fatalf("pay %s: %v, callback %+v", no, err, res.Callback)
	}
	if o := s.Order(no); o.Status != cloudpay.OrderPaid {
		s.t.Fatalf("order %s after paying: %s", no, o.Status)
	}
}

// PayWithCallbackHeld creates an order and its payment through
// create-payment's routes and has the user pay while WeChat's callback is
// lost: WeChat says paid, cloudpay has not heard. It returns the
// simulator's answer and the genuine callback's body, to deliver later.
// Not concurrently: the fault that drops the callback is taken by whichever
// payment comes next.
func (s *Stack) PayWithCallbackHeld(no, openid string, fen int64) (Response, map[string]any) {
	s.t.Helper()
	s.CreateOrder(no, openid, fen)
	if r := s.CreatePayment(no, openid); r.Status != http.StatusOK {
		s.t.Fatalf("create payment %s: %d %s", no, r.Status, r.Raw)
	}
	s.Fault(s.PayCallbackKind(), "drop", 1, nil)
	paid := s.SimPost("/pay", map[string]any{"out_trade_no": no})
	cb, _ := paid.Body["callback"].(map[string]any)
	body, _ := cb["body"].(map[string]any)
	if paid.Status != http.StatusOK || cb["dropped"] != true {
		s.t.Fatalf("pay %s with the callback held: %d %s", no, paid.Status, paid.Raw)
	}
	if s.Channel == wechat.CloudHosting && body["outTradeNo"] != no {
		s.t.Fatalf("pay %s: callback body %v", no, body)
	}
	return paid, body
}

// PayCallbackKind names the simulator's delivery of a payment result on
// the stack's channel, for Fault.
func (s *Stack) PayCallbackKind() string {
	if s.Channel == wechat.V3 {
		return "v3_notify"
	}
	return "pay_callback"
}

// SimPost calls one of the simulator's control routes (docs/design.md §5),
// e.g. SimPost("/pay", {"out_trade_no": no}), or one of WeChat's paths.
func (s *Stack) SimPost(path string, body any) Response {
	return s.Do("POST", s.SimURL+wechatsim.Route(path), body, nil)
}

// Fault queues a fault at the simulator: the next count calls of api (or
// deliveries of a callback kind) fail in mode; extra adds code or
// delay_ms.
func (s *Stack) Fault(api, mode string, count int, extra map[string]any) {
	s.t.Helper()
	body := map[string]any{"api": api, "mode": mode, "count": count}
	for k, v := range extra {
		body[k] = v
	}
	if r := s.SimPost("/faults", body); r.Status >= 300 {
		s.t.Fatalf("add fault: %d %s", r.Status, r.Raw)
	}
}

// SimCalls lists, in order, the calls the simulator received for one API
// (each with its body), as GET /calls shows them.
func (s *Stack) SimCalls(api string) []map[string]any {
	s.t.Helper()
	r := s.Do("GET", s.SimURL+wechatsim.ControlPrefix+"/calls?api="+api, nil, nil)
	list, _ := r.Body["calls"].([]any)
	out := make([]map[string]any, 0, len(list))
	for _, c := range list {
		m, _ := c.(map[string]any)
		out = append(out, m)
	}
	return out
}

// SimRefunds lists WeChat's refunds of an order, as GET /refunds shows them.
func (s *Stack) SimRefunds(no string) []map[string]any {
	s.t.Helper()
	r := s.Do("GET", s.SimURL+wechatsim.ControlPrefix+"/refunds?out_trade_no="+no, nil, nil)
	list, ok := r.Body["refunds"].([]any)
	if r.Status != http.StatusOK || (!ok && r.Body["refunds"] != nil) {
		s.t.Fatalf("sim refunds: %d %s", r.Status, r.Raw)
	}
	out := make([]map[string]any, 0, len(list))
	for _, v := range list {
		m, _ := v.(map[string]any)
		out = append(out, m)
	}
	return out
}

// Settle has WeChat finish a refund (SUCCESS, CLOSED or ABNORMAL); its
// callback or notification has been delivered when Settle returns.
func (s *Stack) Settle(outRefundNo, state string) Response {
	s.t.Helper()
	r := s.SimPost("/refunds/"+outRefundNo+"/settle", map[string]any{"status": state})
	if r.Status != http.StatusOK {
		s.t.Fatalf("settle %s %s: %d %s", outRefundNo, state, r.Status, r.Raw)
	}
	return r
}

// Order reads an order as stored.
func (s *Stack) Order(no string) cloudpay.Order {
	s.t.Helper()
	o, err := s.Store.Order(context.Background(), no)
	if err != nil {
		s.t.Fatalf("load order %s: %v", no, err)
	}
	return o
}

// Refund reads a refund as stored.
func (s *Stack) Refund(outRefundNo string) cloudpay.Refund {
	s.t.Helper()
	r, err := s.Store.Refund(context.Background(), outRefundNo)
	if err != nil {
		s.t.Fatalf("load refund %s: %v", outRefundNo, err)
	}
	return r
}

// Ledger reads an order's newest refund ledger entry (the zero entry if
// the order has none).
func (s *Stack) Ledger(no string) cloudpay.RefundEntry {
	s.t.Helper()
	e, _, err := s.Store.RefundLedgerTail(context.Background(), no)
	if err != nil {
		s.t.Fatal(err)
	}
	return e
}

// CheckWallet reads a user's wallet ledger and fails the test at the first
// entry whose totals do not balance; it returns the entries.
func (s *Stack) CheckWallet(openid string) []cloudpay.WalletEntry {
	s.t.Helper()
	entries, err := s.Store.WalletLedger(context.Background(), openid)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Balanced() {
			s.t.Fatalf("entry %d (%s %s) unbalanced: available %d + frozen %d + debited %d != credited %d",
				e.Seq, e.Kind, e.Ref, e.AvailableFen, e.FrozenFen, e.DebitedFen, e.CreditedFen)
		}
	}
	return entries
}

// Events lists the business events recorded about a subject (an order,
// refund or withdrawal number).
func (s *Stack) Events(subject string) []cloudpay.Event {
	s.t.Helper()
	evs, err := s.Store.Events(context.Background(), subject)
	if err != nil {
		s.t.Fatal(err)
	}
	return evs
}

// Count is the number of documents in a collection.
func (s *Stack) Count(collection string) int64 {
	s.t.Helper()
	n, err := s.Store.Database().Collection(collection).CountDocuments(context.Background(), map[string]any{})
	if err != nil {
		s.t.Fatal(err)
	}
	return n
}

// Concurrently runs f(0) … f(n-1), eight at a time, and returns when all
// are done: for setup of many independent items (hundreds of paid orders),
// which this makes about a quarter faster than a loop. f may fail the test
// (the fixtures do): its goroutine ends, and Concurrently ends the test
// once the others are done.
func (s *Stack) Concurrently(n int, f func(i int)) {
	s.t.Helper()
	var wg sync.WaitGroup
	var stopped atomic.Bool
	sem := make(chan struct{}, 8)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			returned := false
			defer func() {
				if !returned { // f called FailNow
					stopped.Store(true)
				}
				<-sem
			}()
			f(i)
			returned = true
		})
	}
	wg.Wait()
	if stopped.Load() {
		s.t.FailNow()
	}
}

// OutsidePayment makes a payment at the simulator that cloudpay never saw
// (another system took it under the same merchant) and returns its numbers.
func (s *Stack) OutsidePayment(openid string, fen int64) (outTradeNo, transactionID string) {
	s.t.Helper()
	r := s.SimPost("/outside/payments", map[string]any{"amount_fen": fen, "openid": openid})
	outTradeNo, _ = r.Body["out_trade_no"].(string)
	transactionID, _ = r.Body["transaction_id"].(string)
	if r.Status >= 300 || outTradeNo == "" || transactionID == "" {
		s.t.Fatalf("outside payment: %d %s", r.Status, r.Raw)
	}
	return outTradeNo, transactionID
}

// OutsideRefund refunds a payment in the merchant platform, as an operator
// would: WeChat refunds it and calls back about a refund cloudpay never made.
func (s *Stack) OutsideRefund(outTradeNo string, fen int64) string {
	s.t.Helper()
	r := s.SimPost("/outside/refunds", map[string]any{"out_trade_no": outTradeNo, "amount_fen": fen})
	no, _ := r.Body["out_refund_no"].(string)
	if r.Status >= 300 || no == "" {
		s.t.Fatalf("outside refund: %d %s", r.Status, r.Raw)
	}
	return no
}
