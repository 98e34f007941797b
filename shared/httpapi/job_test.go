package httpapi_test

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/job"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/serve"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// runJob makes one pass through close-expired's HTTP route.
func (s *stack) runJob() job.Report {
	s.t.Helper()
	r := s.do("POST", s.CloseExpiredURL+"/run", nil, map[string]string{"Authorization": "Bearer " + jobToken})
	if r.status != http.StatusOK {
		s.t.Fatalf("run: %d %s", r.status, r.raw)
	}
	var rep job.Report
	decode(s.t, r.raw, &rep)
	return rep
}

func (s *stack) simOrderState(no string) string {
	s.t.Helper()
	v, ok := s.Sim.Order(no)
	if !ok {
		return ""
	}
	return v.TradeState
}

func TestJobSettlesOrders(t *testing.T) {
	t.Parallel()
	testkit.ForEachChannel(t, func(t *testing.T, ch string) {
		s := newStack(t, testkit.Channel(ch))
		// A payment whose callback WeChat dropped.
		s.payWithCallbackHeld("JOBLOST1", alice, 990)
		// An order nobody pays, with a prepay at WeChat.
		s.createOrder("JOBEXP01", alice, 500)
		if r := s.createPayment("JOBEXP01", alice); r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		// An order paid one second before it expires, its callback dropped too.
		s.createOrder("JOBLAST1", alice, 700)
		if r := s.createPayment("JOBLAST1", alice); r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		// An order that never got a prepay.
		s.createOrder("JOBNOPAY", alice, 300)

		s.Advance(29*time.Minute + 59*time.Second)
		s.Fault(s.PayCallbackKind(), "drop", 1, nil)
		if r := s.simPost("/pay", map[string]any{"out_trade_no": "JOBLAST1"}); r.status != http.StatusOK {
			t.Fatalf("pay in the last second: %d %s", r.status, r.raw)
		}
		s.Advance(2 * time.Second)

		rep := s.runJob()
		if rep.PaidLate != 2 || rep.Closed != 2 || len(rep.Errors) != 0 {
			t.Fatalf("report %+v, want 2 paid late and 2 closed", rep)
		}
		for no, want := range map[string]cloudpay.OrderStatus{"JOBLOST1": cloudpay.OrderPaid, "JOBLAST1": cloudpay.OrderPaid,
			"JOBEXP01": cloudpay.OrderClosed, "JOBNOPAY": cloudpay.OrderClosed} {
			if o := s.Order(no); o.Status != want {
				t.Errorf("%s: %s, want %s", no, o.Status, want)
			}
			evs := s.Events(no)
			wantEvent := cloudpay.EventOrderPaid
			if want == cloudpay.OrderClosed {
				wantEvent = cloudpay.EventOrderClosed
			}
			if len(evs) != 1 || evs[0].Type != wantEvent {
				t.Errorf("%s: events %+v, want one %s", no, evs, wantEvent)
			}
		}
		if st := s.simOrderState("JOBEXP01"); st != "CLOSED" {
			t.Errorf("WeChat's state of the closed order: %s", st)
		}
		if st := s.simOrderState("JOBLAST1"); st != "SUCCESS" {
			t.Errorf("WeChat's state of the order paid at the last second: %s", st)
		}
		// The next pass finds nothing to do.
		s.Advance(time.Minute)
		if rep := s.runJob(); rep.PaidLate+rep.Closed+rep.Repaired != 0 || len(rep.Errors) != 0 {
			t.Fatalf("second pass: %+v", rep)
		}
	})
}

// WeChat forbids closing an order in its first 5 minutes.
func TestJobWaitsBeforeClosingAYoungOrder(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	r := s.do("POST", s.CreatePaymentURL+"/orders", map[string]any{
		"out_trade_no": "JOBYOUNG", "openid": alice, "amount_fen": 100, "description": "x", "expire_minutes": 1}, admin())
	if r.status != http.StatusCreated {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if r := s.createPayment("JOBYOUNG", alice); r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	s.Advance(2 * time.Minute)
	if rep := s.runJob(); rep.Closed != 0 || len(s.SimCalls("closeorder")) != 0 {
		t.Fatalf("closed an order 2 minutes old: %+v", rep)
	}
	s.Advance(4 * time.Minute)
	if rep := s.runJob(); rep.Closed != 1 {
		t.Fatalf("order 6 minutes old: %+v", rep)
	}
}

// Crash points: the process dies (or the reply is lost) between two steps.
// One pass later every invariant holds and nothing happened twice.
func TestJobRepairsCrashPoints(t *testing.T) {
	t.Parallel()
	s := newStack(t, testkit.Channel(wechat.V3), testkit.GatewayTimeout(testkit.FaultTimeout))
	ctx := context.Background()

	// 1. WeChat accepted a refund; the answer never came back.
	s.Paid("CRASHJ01", alice, 1000)
	s.Fault("v3_notify", "drop", 1, nil)
	s.Fault("refund", "timeout", 1, nil)
	refundNo := str(s.postRefund("CRASHJ01", 400, "k-crash-job").body["out_refund_no"])
	if doc := s.Refund(refundNo); doc.Status != cloudpay.RefundProcessing {
		t.Fatalf("refund after a lost answer: %s", doc.Status)
	}
	// 2. WeChat created a transfer; the answer never came back.
	s.credit(alice, "c-crash", 5000)
	s.Fault("transfer", "timeout", 1, nil)
	wid := str(s.withdraw(alice, 2000, "wd-crash").body["id"])
	// 3. A payment's claim was written, then the process died before the
	// event and the projection.
	s.createOrder("CRASHJ02", alice, 650)
	if r := s.createPayment("CRASHJ02", alice); r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if _, _, err := s.Store.ClaimSettlement(ctx, cloudpay.Settlement{OutTradeNo: "CRASHJ02", Outcome: cloudpay.SettledPaid,
		TransactionID: "4200000000000000000000000009", AmountFen: 650, Source: "callback", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}

	s.Advance(6 * time.Minute) // past the attempt lease and the late-payment delay
	rep := s.runJob()
	if len(rep.Errors) != 0 || rep.Repaired != 1 || rep.RefundsSynced != 1 || rep.WithdrawalsSynced != 1 {
		t.Fatalf("report: %+v", rep)
	}
	if doc := s.Refund(refundNo); doc.Status != cloudpay.RefundSucceeded {
		t.Fatalf("refund after the pass: %s", doc.Status)
	}
	if e := s.Ledger("CRASHJ01"); e.RefundedFen != 400 || e.ReservedFen != 0 {
		t.Fatalf("refund ledger: %+v", e)
	}
	if refunds := s.SimRefunds("CRASHJ01"); len(refunds) != 1 || refunds[0]["requests"] != float64(1) {
		t.Fatalf("WeChat's refunds: %v", refunds)
	}
	w := s.do("GET", s.WithdrawURL+"/withdrawals/"+wid, nil, user(alice))
	if w.body["status"] != "waiting_user" || str(w.body["package_info"]) == "" {
		t.Fatalf("withdrawal after the pass: %s", w.raw)
	}
	if v, _ := s.Sim.Transfer(wid); v.Requests > 2 {
		t.Fatalf("transfer requested %d times", v.Requests)
	}
	if o := s.Order("CRASHJ02"); o.Status != cloudpay.OrderPaid || len(s.Events("CRASHJ02")) != 1 {
		t.Fatalf("order after the pass: %s, %d events", o.Status, len(s.Events("CRASHJ02")))
	}
	if wallet := s.wallet(alice); wallet.FrozenFen != 2000 {
		t.Fatalf("wallet: %+v", wallet)
	}
	s.CheckWallet(alice)
	// Nothing more happens on the next pass.
	s.Advance(time.Minute)
	if rep := s.runJob(); rep.Repaired+rep.PaidLate+rep.RefundsRetried != 0 || len(rep.Errors) != 0 {
		t.Fatalf("second pass: %+v", rep)
	}
}

func TestJobRefusesWithoutItsToken(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	for _, h := range []map[string]string{nil, {"Authorization": "Bearer wrong"}, admin()} {
		if r := s.do("POST", s.CloseExpiredURL+"/run", nil, h); r.status != http.StatusUnauthorized {
			t.Fatalf("run with %v: %d %s", h, r.status, r.raw)
		}
	}
}

// The merchant's back end is down longer than the retry window: the event
// becomes a dead letter that an admin lists and redelivers.
func TestJobNotificationsDeadLetters(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.Receiver.SetDown(true)
	s.Paid("DEADLTR1", alice, 100)
	evID := s.Events("DEADLTR1")[0].ID
	for range 40 {
		rep := s.runJob()
		if rep.NotificationsSent != 0 {
			t.Fatalf("sent to a receiver that is down: %+v", rep)
		}
		s.Advance(time.Hour)
	}
	_, tries, _ := s.Receiver.Counts()
	if tries[evID] < 3 {
		t.Fatalf("only %d attempts in 40 hours", tries[evID])
	}
	list := s.do("GET", s.CloseExpiredURL+"/dead-letters", nil, admin())
	letters, _ := list.body["dead_letters"].([]any)
	if list.status != http.StatusOK || len(letters) != 1 || letters[0].(map[string]any)["id"] != evID {
		t.Fatalf("dead letters: %d %s", list.status, list.raw)
	}
	if r := s.do("GET", s.CloseExpiredURL+"/dead-letters", nil, map[string]string{"Authorization": "Bearer " + jobToken}); r.status != http.StatusUnauthorized {
		t.Fatalf("dead letters with the job token: %d", r.status)
	}
	s.Receiver.SetDown(false)
	re := s.do("POST", s.CloseExpiredURL+"/dead-letters/"+evID+"/redeliver", nil, admin())
	if re.status != http.StatusOK || re.body["status"] != "delivered" {
		t.Fatalf("redeliver: %d %s", re.status, re.raw)
	}
	if acked, _, bad := s.Receiver.Counts(); acked[evID] != 1 || bad != 0 {
		t.Fatalf("receiver acknowledged %d, bad %d", acked[evID], bad)
	}
	if r := s.do("POST", s.CloseExpiredURL+"/dead-letters/order.paid:NOPE/redeliver", nil, admin()); r.status != http.StatusNotFound {
		t.Fatalf("redeliver unknown: %d %s", r.status, r.raw)
	}
	if rep := s.runJob(); rep.NotificationsSent != 0 {
		t.Fatalf("a redelivered letter was sent again: %+v", rep)
	}
}

// On Lambda an EventBridge schedule triggers the same core as POST /run.
func TestScheduledEventRunsAPass(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.payWithCallbackHeld("SCHED001", alice, 100)
	s.Advance(6 * time.Minute)
	var ev events.CloudWatchEvent
	raw := `{"version":"0","id":"53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa","detail-type":"Scheduled Event","source":"aws.events",` +
		`"account":"123456789012","time":"2026-11-22T07:00:00Z","region":"ap-east-1","resources":[],"detail":{}}`
	decode(t, []byte(raw), &ev)
	rep, err := serve.Scheduled(s.Job.Run, slog.New(slog.DiscardHandler))(context.Background(), ev)
	if err != nil || rep.PaidLate != 1 {
		t.Fatalf("scheduled pass: %+v, %v", rep, err)
	}
	if o := s.Order("SCHED001"); o.Status != cloudpay.OrderPaid {
		t.Fatalf("order: %s", o.Status)
	}
}

// A refund WeChat refused for now is retried by the job with backoff, with
// the same out_refund_no, and no more than the retry budget allows.
func TestJobRetriesRefundsWithBackoffWithinTheBudget(t *testing.T) {
	t.Parallel()
	s := newStack(t, testkit.ManualRefunds(), testkit.RefundConfig(refund.Config{MinInterval: time.Minute, RetryBudget: 3}))
	s.Paid("JOBRETRY1", alice, 1000)
	s.Fault("refund", "fail", 3, map[string]any{"code": "SYSTEM_ERROR"})
	no := str(s.postRefund("JOBRETRY1", 500, "k-job-retry").body["out_refund_no"])
	if rep := s.runJob(); rep.RefundsRetried != 0 {
		t.Fatalf("retried before the backoff: %+v", rep)
	}
	s.Advance(2 * time.Minute) // past the first backoff (1 min)
	if rep := s.runJob(); rep.RefundsRetried != 1 {
		t.Fatalf("first retry: %+v", rep)
	}
	s.Advance(6 * time.Minute) // past the second (5 min)
	if rep := s.runJob(); rep.RefundsRetried != 1 {
		t.Fatalf("second retry: %+v", rep)
	}
	// Three attempts made, all refused: the budget is spent, and that is an
	// end, not a loop: WeChat holds no refund under the number, so the
	// refund fails for good, for an operator, and its amount is released.
	s.Advance(time.Hour)
	if rep := s.runJob(); rep.RefundsRetried != 0 || rep.RefundsGivenUp != 1 {
		t.Fatalf("retried beyond the budget: %+v", rep)
	}
	doc := s.Refund(no)
	if doc.Status != cloudpay.RefundFailed || doc.Retryable || doc.Attempts != 3 ||
		doc.LastError == nil || doc.LastError.Code != "RETRY_BUDGET_EXHAUSTED" {
		t.Fatalf("refund: %+v", doc)
	}
	if e := s.Ledger("JOBRETRY1"); e.ReservedFen != 0 || e.Count != 0 {
		t.Fatalf("a refund given up keeps money reserved: %+v", e)
	}
	// Given up is final for the job: later passes leave it alone.
	s.Advance(time.Hour)
	if rep := s.runJob(); rep.RefundsRetried != 0 || rep.RefundsGivenUp != 0 || rep.Skipped != 0 {
		t.Fatalf("a pass after giving up: %+v", rep)
	}
	calls := s.SimCalls("refund")
	for _, c := range calls {
		if got, fen := refundCall(t, c); got != no || fen != 500 {
			t.Fatalf("sent %s for %d", got, fen)
		}
	}
	if len(calls) != 3 {
		t.Fatalf("%d refund calls, want 3", len(calls))
	}
	// An admin can still retry it by hand; WeChat is healthy now.
	if r := s.do("POST", s.RefundURL+"/refunds/"+no+"/retry", nil, admin()); r.body["status"] != "processing" {
		t.Fatalf("manual retry: %s", r.raw)
	}
}
