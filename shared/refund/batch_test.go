package refund_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/testkit"
)

// batchOrders are the orders of the batch tests, one item each (items of
// one order would queue a minute apart).
var batchOrders = []string{"BATCH0001", "BATCH0002", "BATCH0003"}

// batchStack is a stack in which Alice has paid 1000 fen for each of
// batchOrders, and the items that refund 300 fen of each under keys
// item-0, item-1, ….
func batchStack(t *testing.T) (*testkit.Stack, []refund.BatchItem) {
	t.Helper()
	s := testkit.New(t, testkit.ManualRefunds())
	items := make([]refund.BatchItem, len(batchOrders))
	for i, no := range batchOrders {
		s.Paid(no, testkit.Alice, 1000)
		items[i] = refund.BatchItem{OutTradeNo: no, AmountFen: 300, Key: fmt.Sprintf("item-%d", i)}
	}
	s.Advance(0)
	return s, items
}

// runBatch submits a batch and waits for its run in the background.
func runBatch(t *testing.T, s *testkit.Stack, key string, items []refund.BatchItem) (string, bool, error) {
	t.Helper()
	id, created, err := s.Refunds.CreateBatch(t.Context(), refund.NewBatch{IdempotencyKey: key, Label: "course cancelled", Items: items})
	s.Refunds.Wait()
	return id, created, err
}

// A batch submitted again is the same batch and refunds nothing twice;
// its key with other items is a conflict; an item's key names one refund
// whatever batch carries it.
func TestBatchResubmission(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		key  string
		// items makes the second submission from the first's items.
		items   func(first []refund.BatchItem) []refund.BatchItem
		code    cloudpay.Code
		sameID  bool
		newSent int // refund calls the second submission makes
	}{
		{"the same batch", "batch-1", func(f []refund.BatchItem) []refund.BatchItem { return f }, "", true, 0},
		{"the same key, another amount", "batch-1", func(f []refund.BatchItem) []refund.BatchItem {
			f = slices.Clone(f)
			f[0].AmountFen++
			return f
		}, cloudpay.CodeBatchConflict, false, 0},
		{"the same key, one item less", "batch-1", func(f []refund.BatchItem) []refund.BatchItem { return f[:2] }, cloudpay.CodeBatchConflict, false, 0},
		{"an item again in another batch", "batch-2", func(f []refund.BatchItem) []refund.BatchItem {
			return []refund.BatchItem{f[0], {OutTradeNo: f[0].OutTradeNo, AmountFen: 100, Key: "item-new"}}
		}, "", false, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, items := batchStack(t)
			id, created, err := runBatch(t, s, "batch-1", items)
			if err != nil || !created {
				t.Fatalf("first submission: %q, created %v, %v", id, created, err)
			}
			var nos []string
			for _, it := range items {
				nos = append(nos, cloudpay.OutRefundNoForKey(it.Key))
			}
			if calls := sentCalls(t, s); len(calls) != len(items) {
				t.Fatalf("the batch made %d refund calls, want %d", len(calls), len(items))
			}

			s.Advance(time.Minute) // a new item of an order takes that order's next turn
			again, created, err := runBatch(t, s, tc.key, tc.items(items))
			wantCode(t, "second submission", err, tc.code)
			if err == nil && (created == tc.sameID || (again == id) != tc.sameID) {
				t.Fatalf("second submission: %q (first %q), created %v", again, id, created)
			}
			calls := sentCalls(t, s)
			if len(calls) != len(items)+tc.newSent {
				t.Fatalf("WeChat received %d refund calls, want %d", len(calls), len(items)+tc.newSent)
			}
			for i, no := range batchOrders {
				held := s.SimRefunds(no)
				if len(held) == 0 || held[0]["out_refund_no"] != nos[i] {
					t.Fatalf("WeChat's refunds of %s: %v", no, held)
				}
				reserved := int64(300)
				if i == 0 {
					reserved += 100 * int64(tc.newSent)
				}
				wantLedger(t, s, no, reserved, 0, 1+tc.newSent*boolInt(i == 0))
			}
			p, err := s.Refunds.BatchProgress(t.Context(), id)
			if err != nil || p.Total != len(items) || p.Processing != len(items) || p.AmountFen != 900 {
				t.Fatalf("the first batch's progress: %+v, %v", p, err)
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// The job resumes a batch whose run stopped early (a frozen instance):
// ResumeBatch creates the items that have no refund and, once every item
// has one, marks the batch complete so the job stops looking at it.
func TestResumeBatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// before runs before the batch is submitted to an instance that
		// stops at once.
		before  func(t *testing.T, s *testkit.Stack)
		items   func(items []refund.BatchItem) []refund.BatchItem
		created int // by the first ResumeBatch
		sent    int // refund calls in all
		status  []cloudpay.RefundStatus
		errs    []cloudpay.Code
	}{
		{
			name: "nothing made", before: func(*testing.T, *testkit.Stack) {},
			items:   func(items []refund.BatchItem) []refund.BatchItem { return items },
			created: 3, sent: 3,
			status: []cloudpay.RefundStatus{cloudpay.RefundProcessing, cloudpay.RefundProcessing, cloudpay.RefundProcessing},
			errs:   []cloudpay.Code{"", "", ""},
		},
		{
			name: "one item made by another batch",
			before: func(t *testing.T, s *testkit.Stack) {
				if _, _, err := runBatch(t, s, "earlier", []refund.BatchItem{{OutTradeNo: batchOrders[1], AmountFen: 300, Key: "item-1"}}); err != nil {
					t.Fatal(err)
				}
			},
			items:   func(items []refund.BatchItem) []refund.BatchItem { return items },
			created: 2, sent: 3,
			status: []cloudpay.RefundStatus{cloudpay.RefundProcessing, cloudpay.RefundProcessing, cloudpay.RefundProcessing},
			errs:   []cloudpay.Code{"", "", ""},
		},
		{
			name: "items the rules refuse", before: func(t *testing.T, s *testkit.Stack) { s.Paying("BATCH0009", testkit.Alice, 500) },
			items: func(items []refund.BatchItem) []refund.BatchItem {
				return []refund.BatchItem{items[0],
					{OutTradeNo: batchOrders[1], AmountFen: 1001, Key: "too-much"},
					{OutTradeNo: "BATCH0009", AmountFen: 100, Key: "unpaid"}}
			},
			created: 3, sent: 1,
			status: []cloudpay.RefundStatus{cloudpay.RefundProcessing, cloudpay.RefundFailed, cloudpay.RefundFailed},
			errs:   []cloudpay.Code{"", cloudpay.CodeRefundExceeds, cloudpay.CodeOrderNotPaid},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s, all := batchStack(t)
			tc.before(t, s)
			before := len(sentCalls(t, s))
			items := tc.items(all)

			stopped := stoppedInstance(t, s)
			id, created, err := stopped.CreateBatch(ctx, refund.NewBatch{IdempotencyKey: "batch-1", Items: items})
			stopped.Wait()
			if err != nil || !created {
				t.Fatalf("submit: %q, %v, %v", id, created, err)
			}
			if p, err := s.Refunds.BatchProgress(ctx, id); err != nil || p.Processing != len(items) {
				t.Fatalf("progress of the stopped batch: %+v, %v", p, err)
			}
			if n := len(sentCalls(t, s)); n != before {
				t.Fatalf("the stopped instance made %d refund calls", n-before)
			}
			if !listed(t, s, id) {
				t.Error("the job's scan of batches does not find the stopped batch")
			}

			n, err := s.Refunds.ResumeBatch(ctx, id)
			if err != nil || n != tc.created {
				t.Fatalf("resume: %d items created, %v; want %d", n, err, tc.created)
			}
			if b, err := s.Store.Batch(ctx, id); err != nil || !b.CompletedAt.IsZero() {
				t.Fatalf("a batch whose items were just created is complete: %v, %v", b.CompletedAt, err)
			}
			if !listed(t, s, id) {
				t.Error("the job's scan of batches does not find a batch whose items were just created")
			}
			for i, it := range items {
				r := wantRefund(t, s, cloudpay.OutRefundNoForKey(it.Key), tc.status[i], false)
				var code cloudpay.Code
				if r.LastError != nil {
					code = cloudpay.Code(r.LastError.Code)
				}
				if code != tc.errs[i] {
					t.Fatalf("item %d: last_error %+v, want %q", i, r.LastError, tc.errs[i])
				}
			}
			if n := len(sentCalls(t, s)); n != tc.sent {
				t.Fatalf("WeChat received %d refund calls, want %d", n, tc.sent)
			}

			// The next pass finds every item with its refund: complete.
			s.Advance(time.Minute)
			if n, err := s.Refunds.ResumeBatch(ctx, id); err != nil || n != 0 {
				t.Fatalf("resume again: %d, %v", n, err)
			}
			if b, err := s.Store.Batch(ctx, id); err != nil || !b.CompletedAt.Equal(at(s)) {
				t.Fatalf("completed at %v (%v), want %v", b.CompletedAt, err, at(s))
			}
			if listed(t, s, id) {
				t.Fatal("the job still looks at a complete batch")
			}
			if n, err := s.Refunds.ResumeBatch(ctx, id); err != nil || n != 0 || len(sentCalls(t, s)) != tc.sent {
				t.Fatalf("resume a complete batch: %d, %v", n, err)
			}
			wantLedger(t, s, batchOrders[0], 300, 0, 1)
		})
	}
}

// listed tells whether the job's scan of recent batches finds id.
func listed(t *testing.T, s *testkit.Stack, id string) bool {
	t.Helper()
	ids, err := s.Store.BatchesSince(t.Context(), s.Now().Add(-24*time.Hour), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	return slices.Contains(ids, id)
}

// stoppedInstance is another instance of the refund function, frozen
// before it could run anything in the background: its batches are stored,
// never run.
func stoppedInstance(t *testing.T, s *testkit.Stack) *refund.Service {
	t.Helper()
	rf := instance(t, s, s.Store, nil)
	rf.Close()
	return rf
}
