package refund_test

import (
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/testkit"
)

// What a failed call to WeChat leaves: refused for now, failed and
// retryable with its amount still reserved; refused for good, released
// only once WeChat confirms it holds no such refund; no answer, processing
// until WeChat says otherwise. A retry always uses the same out_refund_no.
func TestFailureClasses(t *testing.T) {
	t.Parallel()
	type fault struct {
		api, mode, code string
	}
	tests := []struct {
		name      string
		faults    []fault
		status    cloudpay.RefundStatus
		retryable bool
		errCode   string
		reserved  int64 // after the failure
		queries   int   // queryrefund calls the failure made
		sent      int   // refund calls once retried: WeChat may already hold it
		// The retry reserves again and so takes the order's next turn,
		// a minute after the first call.
		queued bool
	}{
		{"refused for now", []fault{{"refund", "fail", "SYSTEM_ERROR"}},
			cloudpay.RefundFailed, true, "SYSTEM_ERROR", 300, 0, 2, false},
		{"frequency limited", []fault{{"refund", "fail", "FREQUENCY_LIMITED"}},
			cloudpay.RefundFailed, true, "FREQUENCY_LIMITED", 300, 0, 2, false},
		{"refused for good", []fault{{"refund", "fail", "INVALID_REQUEST"}},
			cloudpay.RefundFailed, false, "INVALID_REQUEST", 0, 1, 2, true},
		{"refused for good, unconfirmed", []fault{{"refund", "fail", "INVALID_REQUEST"}, {"queryrefund", "fail", "SYSTEM_ERROR"}},
			cloudpay.RefundFailed, true, "INVALID_REQUEST", 300, 1, 2, false},
		{"no answer", []fault{{"refund", "timeout", ""}},
			cloudpay.RefundProcessing, false, string(cloudpay.CodeWeChatTimeout), 300, 0, 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testkit.ForEachChannel(t, func(t *testing.T, ch string) {
				ctx := t.Context()
				s := paidStack(t, 1000, testkit.Channel(ch), testkit.ManualRefunds(), testkit.GatewayTimeout(testkit.FaultTimeout))
				for _, f := range tc.faults {
					extra := map[string]any{}
					if f.code != "" {
						extra["code"] = f.code
					}
					s.Fault(f.api, f.mode, 1, extra)
				}
				r := mustCreate(t, s, paidNo, 300, "k1")
				if r.Status != tc.status || r.Retryable != tc.retryable {
					t.Fatalf("create answered %s (retryable %v), want %s (retryable %v)", r.Status, r.Retryable, tc.status, tc.retryable)
				}
				doc := wantRefund(t, s, r.OutRefundNo, tc.status, tc.retryable)
				if doc.LastError == nil || doc.LastError.Code != tc.errCode {
					t.Fatalf("last_error %+v, want code %s", doc.LastError, tc.errCode)
				}
				if tc.retryable && !doc.NotBefore.After(at(s)) {
					t.Fatalf("a refund refused for now is due at %v, not after now (%v)", doc.NotBefore, at(s))
				}
				count := 1
				if tc.reserved == 0 {
					count = 0
				}
				wantLedger(t, s, paidNo, tc.reserved, 0, count)
				if n := len(s.SimCalls("queryrefund")); n != tc.queries {
					t.Fatalf("WeChat was asked %d times whether it holds the refund, want %d", n, tc.queries)
				}
				// The merchant hears of a failure only when it is for good.
				evs := s.Events(r.OutRefundNo)
				if failed := tc.status == cloudpay.RefundFailed && !tc.retryable; failed != (len(evs) == 1) || len(evs) > 1 ||
					failed && evs[0].Type != cloudpay.EventRefundFailed {
					t.Fatalf("events %+v after the failure", evs)
				}

				again, err := s.Refunds.Retry(ctx, r.OutRefundNo)
				if err != nil || again.OutRefundNo != r.OutRefundNo {
					t.Fatalf("retry: %+v, %v", again, err)
				}
				if tc.queued {
					if turn := r.NotBefore.Add(time.Minute); again.Status != cloudpay.RefundApproved || !again.NotBefore.Equal(turn) {
						t.Fatalf("retry: %s until %v, want approved until %v", again.Status, again.NotBefore, turn)
					}
					wantSent(t, s, r.OutRefundNo)
					s.Advance(time.Minute)
					if did := reconcile(t, s, r.OutRefundNo); did != refund.ReconciledRetried {
						t.Fatalf("reconcile in the retry's turn: %q", did)
					}
				} else if again.Status != cloudpay.RefundProcessing {
					t.Fatalf("retry: %s, want processing", again.Status)
				}
				wantRefund(t, s, r.OutRefundNo, cloudpay.RefundProcessing, false)
				nos := make([]string, tc.sent)
				for i := range nos {
					nos[i] = r.OutRefundNo
				}
				wantSent(t, s, nos...)
				if held := s.SimRefunds(paidNo); len(held) != 1 || held[0]["out_refund_no"] != r.OutRefundNo {
					t.Fatalf("WeChat's refunds of the order: %v", held)
				}
				wantLedger(t, s, paidNo, 300, 0, 1)
				s.Settle(r.OutRefundNo, "SUCCESS")
				wantRefund(t, s, r.OutRefundNo, cloudpay.RefundSucceeded, false)
				wantLedger(t, s, paidNo, 0, 300, 1)
				if o := s.Order(paidNo); o.Status != cloudpay.OrderPartiallyRefunded || o.RefundedFen != 300 {
					t.Fatalf("order %s with %d fen refunded", o.Status, o.RefundedFen)
				}
			})
		})
	}
}

// reconcile runs Reconcile as the job does and fails the test unless it
// reports a retry exactly when a refund call reached WeChat.
func reconcile(t *testing.T, s *testkit.Stack, no string) refund.Reconciled {
	t.Helper()
	before := len(sentCalls(t, s))
	did, err := s.Refunds.Reconcile(t.Context(), no)
	if err != nil {
		t.Fatalf("reconcile %s: %v", no, err)
	}
	if sent := len(sentCalls(t, s)) - before; (did == refund.ReconciledRetried) != (sent > 0) || sent > 1 {
		t.Fatalf("reconcile %s reported %q with %d refund calls made", no, did, sent)
	}
	return did
}

// A refund WeChat keeps refusing for now is retried by the job, each time
// when due (not_before) and never sooner, with the same out_refund_no; when
// the retry budget is used up it fails for good with
// RETRY_BUDGET_EXHAUSTED, its amount and its place among the order's
// refunds are released, and the job leaves it alone. An operator's retry
// then reserves it again.
func TestRetryBudget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		budget int // configured; 0: the default
		want   int // refund calls before giving up
	}{
		{"default budget", 0, 8},
		{"budget of 2", 2, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := paidStack(t, 1000, testkit.ManualRefunds(),
				testkit.RefundConfig(refund.Config{MinInterval: time.Minute, RetryBudget: tc.budget}))
			s.Fault("refund", "fail", tc.want, map[string]any{"code": "SYSTEM_ERROR"})
			r := mustCreate(t, s, paidNo, 300, "k1")
			sent := []string{r.OutRefundNo}
			var last time.Duration
			for {
				doc := wantRefund(t, s, r.OutRefundNo, cloudpay.RefundFailed, true)
				wait := doc.NotBefore.Sub(at(s))
				if wait <= 0 || wait < last {
					t.Fatalf("after %d refusals the next retry is due in %v (the last wait was %v)", doc.Attempts, wait, last)
				}
				last = wait
				wantLedger(t, s, paidNo, 300, 0, 1)
				s.Advance(wait - time.Millisecond)
				if did := reconcile(t, s, r.OutRefundNo); did != refund.ReconciledNothing {
					t.Fatalf("reconcile a millisecond before the retry is due: %q", did)
				}
				s.Advance(time.Millisecond)
				did := reconcile(t, s, r.OutRefundNo)
				if did == refund.ReconciledGivenUp {
					break
				}
				if did != refund.ReconciledRetried || len(sent) >= tc.want {
					t.Fatalf("reconcile after %d refusals: %q", len(sent), did)
				}
				sent = append(sent, r.OutRefundNo)
				wantSent(t, s, sent...)
			}
			if len(sent) != tc.want {
				t.Fatalf("given up after %d calls, want %d", len(sent), tc.want)
			}
			doc := wantRefund(t, s, r.OutRefundNo, cloudpay.RefundFailed, false)
			if doc.LastError == nil || doc.LastError.Code != string(cloudpay.CodeRetryBudgetExhausted) {
				t.Fatalf("last_error %+v, want %s", doc.LastError, cloudpay.CodeRetryBudgetExhausted)
			}
			wantLedger(t, s, paidNo, 0, 0, 0)
			if o := s.Order(paidNo); o.Status != cloudpay.OrderPaid {
				t.Fatalf("order is %s, want paid", o.Status)
			}
			if evs := s.Events(r.OutRefundNo); len(evs) != 1 || evs[0].Type != cloudpay.EventRefundFailed {
				t.Fatalf("events: %+v", evs)
			}
			// The job leaves it alone from now on.
			s.Advance(24 * time.Hour)
			if did := reconcile(t, s, r.OutRefundNo); did != refund.ReconciledNothing {
				t.Fatalf("reconcile after giving up: %q", did)
			}
			if due, err := s.Store.RefundsInFlight(t.Context(), s.Now(), "", 10); err != nil || len(due) != 0 {
				t.Fatalf("the job still finds %v, %v", due, err)
			}
			wantSent(t, s, sent...)
			// An operator's retry reserves it again and sends it, same number.
			again, err := s.Refunds.Retry(t.Context(), r.OutRefundNo)
			if err != nil || again.Status != cloudpay.RefundProcessing {
				t.Fatalf("retry by an operator: %+v, %v", again, err)
			}
			wantSent(t, s, append(sent, r.OutRefundNo)...)
			wantLedger(t, s, paidNo, 300, 0, 1)
		})
	}
}

// The job's Reconcile reports a retry only when a call went to WeChat,
// whatever state the refund is in.
func TestReconcileReportsRetriedOnlyForACall(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// setup leaves a refund to reconcile; it may start calls of its own.
		setup func(t *testing.T, s *testkit.Stack) string
		want  refund.Reconciled
	}{
		{"queued, before its turn", func(t *testing.T, s *testkit.Stack) string {
			mustCreate(t, s, paidNo, 100, "first")
			return mustCreate(t, s, paidNo, 100, "second").OutRefundNo
		}, refund.ReconciledNothing},
		{"queued, in its turn", func(t *testing.T, s *testkit.Stack) string {
			mustCreate(t, s, paidNo, 100, "first")
			no := mustCreate(t, s, paidNo, 100, "second").OutRefundNo
			s.Advance(time.Minute)
			return no
		}, refund.ReconciledRetried},
		{"refused for now, not due", func(t *testing.T, s *testkit.Stack) string {
			s.Fault("refund", "fail", 1, map[string]any{"code": "SYSTEM_ERROR"})
			return mustCreate(t, s, paidNo, 100, "k1").OutRefundNo
		}, refund.ReconciledNothing},
		{"refused for now, due", func(t *testing.T, s *testkit.Stack) string {
			s.Fault("refund", "fail", 1, map[string]any{"code": "SYSTEM_ERROR"})
			no := mustCreate(t, s, paidNo, 100, "k1").OutRefundNo
			s.Advance(s.Refund(no).NotBefore.Sub(at(s)))
			return no
		}, refund.ReconciledRetried},
		{"refused for good", func(t *testing.T, s *testkit.Stack) string {
			s.Fault("refund", "fail", 1, map[string]any{"code": "INVALID_REQUEST"})
			no := mustCreate(t, s, paidNo, 100, "k1").OutRefundNo
			s.Advance(time.Hour)
			return no
		}, refund.ReconciledNothing},
		{"sent, WeChat has it", func(t *testing.T, s *testkit.Stack) string {
			no := mustCreate(t, s, paidNo, 100, "k1").OutRefundNo
			s.Advance(time.Hour)
			return no
		}, refund.ReconciledSynced},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := paidStack(t, 1000, testkit.ManualRefunds())
			no := tc.setup(t, s)
			if did := reconcile(t, s, no); did != tc.want {
				t.Fatalf("reconcile: %q, want %q", did, tc.want)
			}
		})
	}
}

// A refund whose call may still be on its way to WeChat (its instance
// claimed the attempt, then went quiet) is not sent again while the
// attempt's lease holds, though WeChat knows nothing of it yet; after the
// lease it is, with the same out_refund_no.
func TestReconcileLeavesACallInFlightAlone(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := paidStack(t, 1000, testkit.ManualRefunds())
	gw := newGatedCall(t, s)
	slow := instance(t, s, s.Store, gw)
	done := make(chan error, 1)
	go func() {
		_, _, err := slow.Create(ctx, refund.NewRefund{OutTradeNo: paidNo, AmountFen: 100, IdempotencyKey: "k1"})
		done <- err
	}()
	<-gw.entered
	no := wantRefund(t, s, cloudpay.OutRefundNoForKey("k1"), cloudpay.RefundProcessing, false).OutRefundNo

	for _, after := range []time.Duration{0, time.Minute} {
		s.Advance(after)
		if did := reconcile(t, s, no); did != refund.ReconciledNothing {
			t.Fatalf("reconcile %v into the call's lease: %q", after, did)
		}
	}
	wantSent(t, s)
	s.Advance(2 * time.Minute)
	if did := reconcile(t, s, no); did != refund.ReconciledRetried {
		t.Fatalf("reconcile after the lease: %q", did)
	}
	wantSent(t, s, no)
	gw.Open() // the first call arrives at last: the same refund
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	wantSent(t, s, no, no)
	if held := s.SimRefunds(paidNo); len(held) != 1 {
		t.Fatalf("WeChat holds %d refunds of the order, want 1", len(held))
	}
	wantLedger(t, s, paidNo, 100, 0, 1)
}

// The job's Reconcile that meets a retry already sent by someone else (an
// operator's Retry, another instance) made no call, and must not count
// one: the job's refunds_retried counts calls made to WeChat.
func TestReconcileRacingARetryCountsNoCall(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := paidStack(t, 1000, testkit.ManualRefunds())
	s.Fault("refund", "fail", 1, map[string]any{"code": "SYSTEM_ERROR"})
	no := mustCreate(t, s, paidNo, 100, "k1").OutRefundNo
	s.Advance(s.Refund(no).NotBefore.Sub(at(s)))

	// The job's instance has read the due refund and is about to claim
	// its next attempt when the operator's retry goes first.
	g := gate(t, s, "ClaimAttempt")
	job := instance(t, s, g, nil)
	type result struct {
		did refund.Reconciled
		err error
	}
	done := make(chan result, 1)
	go func() {
		did, err := job.Reconcile(ctx, no)
		done <- result{did, err}
	}()
	<-g.entered
	if r, err := s.Refunds.Retry(ctx, no); err != nil || r.Status != cloudpay.RefundProcessing {
		t.Fatalf("the operator's retry: %+v, %v", r, err)
	}
	g.Open()
	res := <-done
	wantSent(t, s, no, no) // the first call and the operator's
	if res.err != nil || res.did == refund.ReconciledRetried {
		t.Fatalf("the job's reconcile, which sent nothing, reported %q (%v)", res.did, res.err)
	}
}

// Giving up fences the next attempt first: while another sender (an
// operator's Retry) holds it, the job releases nothing, since WeChat may be
// refunding under that attempt right now.
func TestGivingUpWaitsForACallInFlight(t *testing.T) {
	t.Parallel()
	s := paidStack(t, 1000, testkit.ManualRefunds(),
		testkit.RefundConfig(refund.Config{MinInterval: time.Minute, RetryBudget: 1}))
	s.Fault("refund", "fail", 1, map[string]any{"code": "SYSTEM_ERROR"})
	r := mustCreate(t, s, paidNo, 300, "k1")
	doc := wantRefund(t, s, r.OutRefundNo, cloudpay.RefundFailed, true)
	// Another sender has just claimed the next attempt and is calling.
	if _, won, err := s.Store.ClaimAttempt(t.Context(), r.OutRefundNo, doc.Attempts+1, at(s)); err != nil || !won {
		t.Fatalf("claim the next attempt: %v %v", won, err)
	}
	s.Advance(doc.NotBefore.Sub(at(s)))
	if did := reconcile(t, s, r.OutRefundNo); did != refund.ReconciledNothing {
		t.Fatalf("reconcile while a call is in flight: %q", did)
	}
	wantRefund(t, s, r.OutRefundNo, cloudpay.RefundFailed, true)
	wantLedger(t, s, paidNo, 300, 0, 1)
}
