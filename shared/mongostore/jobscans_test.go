package mongostore_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/storetest"
)

// A scan that starts after a cursor reaches the items after it first, then
// wraps around: every due item is reached within ⌈due/limit⌉ passes, however
// many of the first ones stay due forever.
func TestScansGoOnWhereTheLastPassStopped(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	var want []string
	for i := range 7 {
		r := cloudpay.Refund{OutRefundNo: fmt.Sprintf("RF%02d", i), OutTradeNo: "ORDER1", AmountFen: 1,
			Status: cloudpay.RefundProcessing, CreatedAt: now, UpdatedAt: now}
		if _, _, err := s.InsertRefund(ctx, r); err != nil {
			t.Fatal(err)
		}
		want = append(want, r.OutRefundNo)
	}
	tests := []struct {
		after string
		limit int
		want  []string
	}{
		{"", 3, want[:3]},
		{"RF02", 3, want[3:6]},
		{"RF05", 3, []string{"RF06", "RF00", "RF01"}},
		{"RF06", 10, want},
		{"RF03", 10, append(slices.Clone(want[4:]), want[:4]...)},
	}
	for _, tc := range tests {
		got, err := s.RefundsInFlight(ctx, now, tc.after, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("after %q limit %d: %v, want %v", tc.after, tc.limit, got, tc.want)
		}
	}
}

// The job's refund scan lists only refunds that need something now: a
// refund waiting for its turn, failed for good or finished costs a pass
// nothing.
func TestRefundScanListsOnlyDueRefunds(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	later, earlier := now.Add(time.Minute), now.Add(-time.Minute)
	refunds := []struct {
		no        string
		status    cloudpay.RefundStatus
		retryable bool
		notBefore time.Time
		due       bool
	}{
		{"RF-processing", cloudpay.RefundProcessing, false, time.Time{}, true},
		{"RF-processing-later", cloudpay.RefundProcessing, false, later, true}, // sent: always looked up
		{"RF-approved-due", cloudpay.RefundApproved, false, earlier, true},
		{"RF-approved-waiting", cloudpay.RefundApproved, false, later, false},
		{"RF-approved-unset", cloudpay.RefundApproved, false, time.Time{}, true},
		{"RF-abnormal-due", cloudpay.RefundAbnormal, false, earlier, true},
		{"RF-abnormal-waiting", cloudpay.RefundAbnormal, false, later, false},
		{"RF-failed-retry-due", cloudpay.RefundFailed, true, earlier, true},
		{"RF-failed-retry-waiting", cloudpay.RefundFailed, true, later, false},
		{"RF-failed-for-good", cloudpay.RefundFailed, false, earlier, false},
		{"RF-succeeded", cloudpay.RefundSucceeded, false, time.Time{}, false},
		{"RF-pending-review", cloudpay.RefundPendingReview, false, time.Time{}, false},
	}
	var want []string
	for _, r := range refunds {
		doc := cloudpay.Refund{OutRefundNo: r.no, OutTradeNo: "ORDER1", AmountFen: 1, Status: r.status,
			Retryable: r.retryable, NotBefore: r.notBefore, CreatedAt: now, UpdatedAt: now}
		if _, _, err := s.InsertRefund(ctx, doc); err != nil {
			t.Fatal(err)
		}
		if r.due {
			want = append(want, r.no)
		}
	}
	slices.Sort(want)
	got, err := s.RefundsInFlight(ctx, now, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("due refunds %v, want %v", got, want)
	}
}

func TestJobCursorIsKeptPerStep(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := context.Background()
	if c, err := s.JobCursor(ctx, "refunds"); err != nil || c != "" {
		t.Fatalf("new cursor %q %v", c, err)
	}
	for _, after := range []string{"RF01", "RF09", ""} {
		if err := s.SaveJobCursor(ctx, "refunds", after, time.Now()); err != nil {
			t.Fatal(err)
		}
		if c, err := s.JobCursor(ctx, "refunds"); err != nil || c != after {
			t.Fatalf("cursor %q %v, want %q", c, err, after)
		}
	}
	if c, _ := s.JobCursor(ctx, "orders"); c != "" {
		t.Fatalf("another step's cursor %q", c)
	}
}
