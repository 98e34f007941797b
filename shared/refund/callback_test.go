package refund_test

import (
	"sync"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// confirmWindow is how long one query answers every unsigned callback
// about a refund.
const confirmWindow = 10 * time.Second

// An unsigned refund callback proves nothing: only WeChat's answer to a
// query is recorded. A flood of callbacks about one refund costs WeChat
// one query per window; the others are throttled (refused, so WeChat's
// own retry, if genuine, is confirmed later).
func TestUnsignedCallbacksQueryOncePerWindow(t *testing.T) {
	t.Parallel()
	testkit.ForEachChannel(t, func(t *testing.T, ch string) {
		ctx := t.Context()
		s := paidStack(t, 1000, testkit.Channel(ch), testkit.ManualRefunds())
		r := mustCreate(t, s, paidNo, 300, "k1")
		hint := wechat.RefundHint{OutRefundNo: r.OutRefundNo, OutTradeNo: paidNo, State: wechat.RefundSuccess}
		queries := func() int { return len(s.SimCalls("queryrefund")) }

		// A flood while WeChat still processes the refund: it says so once.
		const flood = 20
		verdicts := make([]wechat.Verdict, flood)
		var wg sync.WaitGroup
		for i := range flood {
			wg.Go(func() {
				var err error
				if verdicts[i], err = s.Refunds.Confirm(ctx, hint); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		count := map[wechat.Verdict]int{}
		for _, v := range verdicts {
			count[v]++
		}
		if count[wechat.NotSettled] != 1 || count[wechat.Throttled] != flood-1 || queries() != 1 {
			t.Fatalf("a flood of %d callbacks: verdicts %v, %d queries; want one not_settled and one query", flood, count, queries())
		}
		wantRefund(t, s, r.OutRefundNo, cloudpay.RefundProcessing, false)

		// WeChat settles it, its own callback lost.
		kind := "refund_callback"
		if ch == wechat.V3 {
			kind = "v3_notify"
		}
		s.Fault(kind, "drop", 1, nil)
		s.Settle(r.OutRefundNo, "SUCCESS")
		wantRefund(t, s, r.OutRefundNo, cloudpay.RefundProcessing, false)

		s.Advance(confirmWindow - time.Millisecond)
		if v, err := s.Refunds.Confirm(ctx, hint); v != wechat.Throttled || err != nil || queries() != 1 {
			t.Fatalf("a callback just inside the window: %q, %v, %d queries", v, err, queries())
		}
		s.Advance(time.Millisecond)
		if v, err := s.Refunds.Confirm(ctx, hint); v != wechat.Recorded || err != nil || queries() != 2 {
			t.Fatalf("a callback after the window: %q, %v, %d queries", v, err, queries())
		}
		wantRefund(t, s, r.OutRefundNo, cloudpay.RefundSucceeded, false)
		wantLedger(t, s, paidNo, 0, 300, 1)
		if o := s.Order(paidNo); o.Status != cloudpay.OrderPartiallyRefunded || o.RefundedFen != 300 {
			t.Fatalf("order %s with %d fen refunded", o.Status, o.RefundedFen)
		}
		// Once recorded, callbacks cost WeChat nothing.
		for range 3 {
			if v, err := s.Refunds.Confirm(ctx, hint); v != wechat.AlreadyRecorded || err != nil {
				t.Fatalf("a callback after the refund succeeded: %q, %v", v, err)
			}
		}
		if queries() != 2 {
			t.Fatalf("%d queries, want 2", queries())
		}
	})
}

// Callbacks that must change nothing: about no refund of ours, for another
// merchant, or claiming what WeChat does not say.
func TestCallbacksThatChangeNothing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		confirm func(t *testing.T, s *testkit.Stack, no string) (wechat.Verdict, error)
		want    wechat.Verdict
		queries int
	}{
		// A refund cloudpay did not make may have been made in the merchant
		// platform (issue 13): WeChat is asked, once per window, whatever
		// the number of callbacks; it holds none, so nothing changes.
		{"unsigned, unknown refund", func(t *testing.T, s *testkit.Stack, _ string) (wechat.Verdict, error) {
			hint := wechat.RefundHint{OutRefundNo: cloudpay.OutRefundNoForKey("nobody"), State: wechat.RefundSuccess}
			if v, err := s.Refunds.Confirm(t.Context(), hint); v != wechat.UnknownRefund || err != nil {
				return v, err
			}
			if v, err := s.Refunds.Confirm(t.Context(), hint); v != wechat.Throttled || err != nil {
				return v, err // within the window: WeChat is not asked again
			}
			// Nor about another made-up number: the window is shared.
			hint.OutRefundNo = cloudpay.OutRefundNoForKey("nobody else")
			return s.Refunds.Confirm(t.Context(), hint)
		}, wechat.Throttled, 1},
		{"unsigned, another merchant", func(t *testing.T, s *testkit.Stack, no string) (wechat.Verdict, error) {
			return s.Refunds.Confirm(t.Context(), wechat.RefundHint{OutRefundNo: no, MchID: "1234567890", State: wechat.RefundSuccess})
		}, wechat.OtherMerchant, 0},
		{"unsigned, success WeChat does not confirm", func(t *testing.T, s *testkit.Stack, no string) (wechat.Verdict, error) {
			return s.Refunds.Confirm(t.Context(), wechat.RefundHint{OutRefundNo: no, State: wechat.RefundSuccess})
		}, wechat.NotSettled, 1},
		{"signed, another amount", func(t *testing.T, s *testkit.Stack, no string) (wechat.Verdict, error) {
			return s.Refunds.Record(t.Context(), wechat.RefundResult{OutRefundNo: no, OutTradeNo: paidNo,
				State: wechat.RefundSuccess, RefundFen: 301, RefundID: "50000000000000000000000000001"})
		}, wechat.Mismatch, 0},
		{"signed, another order", func(t *testing.T, s *testkit.Stack, no string) (wechat.Verdict, error) {
			return s.Refunds.Record(t.Context(), wechat.RefundResult{OutRefundNo: no, OutTradeNo: "RULES0002",
				State: wechat.RefundSuccess, RefundFen: 300, RefundID: "50000000000000000000000000001"})
		}, wechat.Mismatch, 0},
		{"signed, still processing", func(t *testing.T, s *testkit.Stack, no string) (wechat.Verdict, error) {
			return s.Refunds.Record(t.Context(), wechat.RefundResult{OutRefundNo: no, OutTradeNo: paidNo,
				State: wechat.RefundProcessing, RefundFen: 300})
		}, wechat.NotSettled, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := paidStack(t, 1000, testkit.ManualRefunds())
			r := mustCreate(t, s, paidNo, 300, "k1")
			if v, err := tc.confirm(t, s, r.OutRefundNo); v != tc.want || err != nil {
				t.Fatalf("verdict %q, %v; want %q", v, err, tc.want)
			}
			if n := len(s.SimCalls("queryrefund")); n != tc.queries {
				t.Fatalf("%d queries, want %d", n, tc.queries)
			}
			wantRefund(t, s, r.OutRefundNo, cloudpay.RefundProcessing, false)
			wantLedger(t, s, paidNo, 300, 0, 1)
		})
	}
}
