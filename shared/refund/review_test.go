package refund_test

import (
	"sync"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/testkit"
)

// A user's request reserves its amount at once and waits for review. The
// first decision stands: approved, it goes to WeChat; rejected, its amount
// is released. The same decision again changes nothing; the other one is
// refused.
func TestReviewDecidesOnce(t *testing.T) {
	t.Parallel()
	type step struct {
		approve bool
		code    cloudpay.Code
		status  cloudpay.RefundStatus // the refund's after the step
	}
	tests := []struct {
		name     string
		steps    []step
		sent     bool // the refund reached WeChat
		reserved int64
		count    int
	}{
		{"approved", []step{
			{true, "", cloudpay.RefundProcessing},
			{true, "", cloudpay.RefundProcessing},
			{false, cloudpay.CodeRefundState, cloudpay.RefundProcessing},
		}, true, 300, 1},
		{"rejected", []step{
			{false, "", cloudpay.RefundRejected},
			{false, "", cloudpay.RefundRejected},
			{true, cloudpay.CodeRefundState, cloudpay.RefundRejected},
		}, false, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := paidStack(t, 1000, testkit.ManualRefunds())
			r, created, err := s.Refunds.Request(ctx, testkit.Alice, paidNo, 300, "wrong size", "form-1")
			if err != nil || !created || r.Status != cloudpay.RefundPendingReview || r.Source != cloudpay.SourceUser {
				t.Fatalf("request: %+v, created %v, %v", r, created, err)
			}
			wantLedger(t, s, paidNo, 300, 0, 1)
			wantSent(t, s)
			for i, st := range tc.steps {
				decide, what := s.Refunds.Reject, "reject"
				if st.approve {
					decide, what = s.Refunds.Approve, "approve"
				}
				got, err := decide(ctx, r.OutRefundNo, "checked")
				wantCode(t, what, err, st.code)
				if err == nil && got.Status != st.status {
					t.Fatalf("step %d (%s) answered %s, want %s", i, what, got.Status, st.status)
				}
				wantRefund(t, s, r.OutRefundNo, st.status, false)
			}
			if tc.sent {
				wantSent(t, s, r.OutRefundNo)
			} else {
				wantSent(t, s)
			}
			wantLedger(t, s, paidNo, tc.reserved, 0, tc.count)
			if o := s.Order(paidNo); o.Status != cloudpay.OrderPaid {
				t.Fatalf("order is %s, want paid", o.Status)
			}
		})
	}
}

// An approve and a reject racing each other: one decision wins, every
// call of its kind succeeds and every call of the other is refused.
func TestConcurrentReviewsAgreeOnOneDecision(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := paidStack(t, 1000, testkit.ManualRefunds())
	r, _, err := s.Refunds.Request(ctx, testkit.Alice, paidNo, 300, "", "form-1")
	if err != nil {
		t.Fatal(err)
	}
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if i%2 == 0 {
				_, errs[i] = s.Refunds.Approve(ctx, r.OutRefundNo, "")
			} else {
				_, errs[i] = s.Refunds.Reject(ctx, r.OutRefundNo, "")
			}
		})
	}
	wg.Wait()
	doc := s.Refund(r.OutRefundNo)
	approved := doc.Status == cloudpay.RefundProcessing
	if !approved && doc.Status != cloudpay.RefundRejected {
		t.Fatalf("refund is %s after the race", doc.Status)
	}
	for i, err := range errs {
		won := (i%2 == 0) == approved
		if won && err != nil || !won && cloudpay.ErrorCode(err) != cloudpay.CodeRefundState {
			t.Fatalf("decision %d (approve %v) with %s standing: %v", i, i%2 == 0, doc.Status, err)
		}
	}
	if approved {
		wantSent(t, s, r.OutRefundNo)
		wantLedger(t, s, paidNo, 300, 0, 1)
	} else {
		wantSent(t, s)
		wantLedger(t, s, paidNo, 0, 0, 0)
	}
}

// An approved request takes the order's next turn, as any refund does.
func TestApprovedRequestWaitsForItsTurn(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := paidStack(t, 1000, testkit.ManualRefunds())
	start := at(s)
	first := mustCreate(t, s, paidNo, 100, "first")
	r, _, err := s.Refunds.Request(ctx, testkit.Alice, paidNo, 300, "", "form-1")
	if err != nil {
		t.Fatal(err)
	}
	s.Advance(10 * time.Second)
	got, err := s.Refunds.Approve(ctx, r.OutRefundNo, "ok")
	if err != nil || got.Status != cloudpay.RefundApproved || !got.NotBefore.Equal(start.Add(time.Minute)) {
		t.Fatalf("approve 10 s after another refund: %+v, %v; want approved until %v", got, err, start.Add(time.Minute))
	}
	if did, err := s.Refunds.Reconcile(ctx, r.OutRefundNo); did != refund.ReconciledNothing || err != nil {
		t.Fatalf("reconcile before its turn: %q, %v", did, err)
	}
	wantSent(t, s, first.OutRefundNo)
	s.Advance(50 * time.Second)
	if did, err := s.Refunds.Reconcile(ctx, r.OutRefundNo); did != refund.ReconciledRetried || err != nil {
		t.Fatalf("reconcile in its turn: %q, %v", did, err)
	}
	wantSent(t, s, first.OutRefundNo, r.OutRefundNo)
	wantLedger(t, s, paidNo, 400, 0, 2)
}

// Who may ask, and what a request's key does.
func TestRefundRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		run   func(t *testing.T, s *testkit.Stack)
		calls int // refund calls WeChat receives: requests wait for review
	}{
		{"another user's order", func(t *testing.T, s *testkit.Stack) {
			_, _, err := s.Refunds.Request(t.Context(), testkit.Bob, paidNo, 100, "", "form-1")
			wantCode(t, "Bob's request for Alice's order", err, cloudpay.CodeForbidden)
			wantLedger(t, s, paidNo, 0, 0, 0)
		}, 0},
		{"the same key twice", func(t *testing.T, s *testkit.Stack) {
			a, created, err := s.Refunds.Request(t.Context(), testkit.Alice, paidNo, 100, "", "form-1")
			if err != nil || !created {
				t.Fatalf("first: %v, created %v", err, created)
			}
			b, created, err := s.Refunds.Request(t.Context(), testkit.Alice, paidNo, 100, "", "form-1")
			if err != nil || created || b.OutRefundNo != a.OutRefundNo || b.Status != cloudpay.RefundPendingReview {
				t.Fatalf("again: %+v, created %v, %v; want %s as it was", b, created, err, a.OutRefundNo)
			}
			wantLedger(t, s, paidNo, 100, 0, 1)
		}, 0},
		{"the same key for another amount", func(t *testing.T, s *testkit.Stack) {
			if _, _, err := s.Refunds.Request(t.Context(), testkit.Alice, paidNo, 100, "", "form-1"); err != nil {
				t.Fatal(err)
			}
			_, _, err := s.Refunds.Request(t.Context(), testkit.Alice, paidNo, 200, "", "form-1")
			wantCode(t, "again with 200 fen", err, cloudpay.CodeRefundConflict)
			wantLedger(t, s, paidNo, 100, 0, 1)
		}, 0},
		{"no key: every request is new", func(t *testing.T, s *testkit.Stack) {
			a, _, err := s.Refunds.Request(t.Context(), testkit.Alice, paidNo, 100, "", "")
			if err != nil {
				t.Fatal(err)
			}
			b, _, err := s.Refunds.Request(t.Context(), testkit.Alice, paidNo, 100, "", "")
			if err != nil || b.OutRefundNo == a.OutRefundNo {
				t.Fatalf("second request: %+v, %v", b, err)
			}
			wantLedger(t, s, paidNo, 200, 0, 2)
		}, 0},
		{"requests never add up to more than paid", func(t *testing.T, s *testkit.Stack) {
			if _, _, err := s.Refunds.Request(t.Context(), testkit.Alice, paidNo, 800, "", "form-1"); err != nil {
				t.Fatal(err)
			}
			_, _, err := s.Refunds.Request(t.Context(), testkit.Alice, paidNo, 201, "", "form-2")
			wantCode(t, "a request over what is left", err, cloudpay.CodeRefundExceeds)
			_, _, err = createRefund(t, s, paidNo, 201, "admin-1")
			wantCode(t, "a refund over what requests left", err, cloudpay.CodeRefundExceeds)
			wantLedger(t, s, paidNo, 800, 0, 1)
		}, 0},
		{"an admin's refund is not reviewed", func(t *testing.T, s *testkit.Stack) {
			r := mustCreate(t, s, paidNo, 100, "admin-1")
			_, err := s.Refunds.Approve(t.Context(), r.OutRefundNo, "")
			wantCode(t, "approve", err, cloudpay.CodeRefundState)
			_, err = s.Refunds.Reject(t.Context(), r.OutRefundNo, "")
			wantCode(t, "reject", err, cloudpay.CodeRefundState)
			wantRefund(t, s, r.OutRefundNo, cloudpay.RefundProcessing, false)
			wantLedger(t, s, paidNo, 100, 0, 1)
		}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := paidStack(t, 1000, testkit.ManualRefunds())
			tc.run(t, s)
			if n := len(sentCalls(t, s)); n != tc.calls {
				t.Fatalf("WeChat received %d refund calls, want %d", n, tc.calls)
			}
		})
	}
}

// A review that read the request before another review of it was recorded
// (a second click, a second instance) must not take the refund back: once
// the approved refund is at WeChat it stays processing, and WeChat is not
// asked for it again.
func TestLateReviewLeavesASentRefundAlone(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		approve bool // the late review's decision; the first approves
		code    cloudpay.Code
	}{
		{"approve again", true, ""},
		{"reject", false, cloudpay.CodeRefundState},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := paidStack(t, 1000, testkit.ManualRefunds())
			r, _, err := s.Refunds.Request(ctx, testkit.Alice, paidNo, 300, "", "form-1")
			if err != nil {
				t.Fatal(err)
			}
			// The late review has read the request and is about to record
			// its decision when the first review goes through.
			g := gate(t, s, "AppendRefundEntry")
			late := instance(t, s, g, nil)
			done := make(chan error, 1)
			go func() {
				var err error
				if tc.approve {
					_, err = late.Approve(ctx, r.OutRefundNo, "")
				} else {
					_, err = late.Reject(ctx, r.OutRefundNo, "")
				}
				done <- err
			}()
			<-g.entered
			if got, err := s.Refunds.Approve(ctx, r.OutRefundNo, "ok"); err != nil || got.Status != cloudpay.RefundProcessing {
				t.Fatalf("first approve: %+v, %v", got, err)
			}
			g.Open()
			wantCode(t, "the late review", <-done, tc.code)
			doc := wantRefund(t, s, r.OutRefundNo, cloudpay.RefundProcessing, false)
			if doc.Attempts != 1 {
				t.Fatalf("the refund shows %d attempts after one call", doc.Attempts)
			}
			// Past the first call's lease, the job finds it at WeChat.
			s.Advance(5 * time.Minute)
			if did := reconcile(t, s, r.OutRefundNo); did != refund.ReconciledSynced {
				t.Fatalf("reconcile: %q", did)
			}
			wantSent(t, s, r.OutRefundNo)
			wantLedger(t, s, paidNo, 300, 0, 1)
		})
	}
}
