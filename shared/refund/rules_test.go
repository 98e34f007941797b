package refund_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/testkit"
)

// The refunds of an order never add up to more than was paid, and a
// refusal says how much is left.
func TestRefundsNeverExceedWhatWasPaid(t *testing.T) {
	t.Parallel()
	type step struct {
		fen  int64
		code cloudpay.Code
		left int64 // refundable after the step (and named by a refusal)
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"more than paid at once", []step{{1001, cloudpay.CodeRefundExceeds, 1000}, {1000, "", 0}}},
		{"one fen over what is left", []step{{600, "", 400}, {401, cloudpay.CodeRefundExceeds, 400}, {400, "", 0}}},
		{"nothing left", []step{{1000, "", 0}, {1, cloudpay.CodeRefundExceeds, 0}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := paidStack(t, 1000, testkit.ManualRefunds())
			var accepted int64
			count := 0
			for i, st := range tc.steps {
				s.Advance(time.Minute) // each refund in its own turn
				_, _, err := createRefund(t, s, paidNo, st.fen, fmt.Sprintf("k%d", i))
				wantCode(t, fmt.Sprintf("refund %d of %d fen", i, st.fen), err, st.code)
				if err == nil {
					accepted += st.fen
					count++
				} else if want := fmt.Sprintf("(%d fen)", st.left); !strings.Contains(err.Error(), want) {
					t.Fatalf("refusal %q does not name what is left %s", err, want)
				}
				wantLedger(t, s, paidNo, accepted, 0, count)
				e := s.Ledger(paidNo)
				left := e.RefundableFen()
				if e.Seq == 0 { // no entry yet: all that was paid
					left = 1000
				}
				if int64(left) != st.left {
					t.Fatalf("after refund %d: %d fen refundable, want %d", i, left, st.left)
				}
			}
			if n := len(sentCalls(t, s)); n != count {
				t.Fatalf("WeChat received %d refund calls, want %d (one per accepted refund)", n, count)
			}
		})
	}
}

// Partial refunds settled by WeChat add up exactly to what was paid: the
// order ends refunded and nothing more can be refunded.
func TestPartialRefundsAddUpToThePaidAmount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		parts []int64
	}{
		{"in full", []int64{1000}},
		{"in three", []int64{300, 300, 400}},
		{"one fen then the rest", []int64{1, 999}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := paidStack(t, 1000, testkit.ManualRefunds())
			var refunded int64
			for i, fen := range tc.parts {
				s.Advance(time.Minute)
				r := mustCreate(t, s, paidNo, fen, fmt.Sprintf("part-%d", i))
				if r.Status != cloudpay.RefundProcessing {
					t.Fatalf("part %d is %s, want processing", i, r.Status)
				}
				wantLedger(t, s, paidNo, fen, refunded, i+1)
				s.Settle(r.OutRefundNo, "SUCCESS")
				wantRefund(t, s, r.OutRefundNo, cloudpay.RefundSucceeded, false)
				refunded += fen
				wantLedger(t, s, paidNo, 0, refunded, i+1)
				want := cloudpay.OrderPartiallyRefunded
				if refunded == 1000 {
					want = cloudpay.OrderRefunded
				}
				if o := s.Order(paidNo); o.Status != want || int64(o.RefundedFen) != refunded {
					t.Fatalf("after part %d the order is %s with %d fen refunded, want %s with %d", i, o.Status, o.RefundedFen, want, refunded)
				}
			}
			s.Advance(time.Minute)
			_, _, err := createRefund(t, s, paidNo, 1, "one-more")
			wantCode(t, "a refund after the whole amount", err, cloudpay.CodeRefundExceeds)
			if n := len(sentCalls(t, s)); n != len(tc.parts) {
				t.Fatalf("WeChat received %d refund calls, want %d", n, len(tc.parts))
			}
		})
	}
}

// Refunds created at once never reserve more than was paid: every refund
// accepted is reserved, sent once and counted, and every refusal is of an
// amount that would not fit even now.
func TestConcurrentRefundsNeverReserveMoreThanPaid(t *testing.T) {
	t.Parallel()
	const paid = 1000
	tests := []struct {
		name    string
		amounts []int64
		want    int // refunds accepted, if the amounts decide it
	}{
		{"twenty of a tenth", repeat(20, 100), 10},
		{"twenty of different sizes", steps(20, 30, 10), -1}, // 30..220 fen, 2,500 in all
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// No spacing, so that every accepted refund reaches WeChat now.
			s := paidStack(t, paid, testkit.ManualRefunds(), testkit.RefundConfig(refund.Config{}))
			errs := make([]error, len(tc.amounts))
			nos := make([]string, len(tc.amounts))
			var wg sync.WaitGroup
			for i, fen := range tc.amounts {
				wg.Go(func() {
					var r cloudpay.Refund
					r, _, errs[i] = createRefund(t, s, paidNo, fen, fmt.Sprintf("c%d", i))
					nos[i] = r.OutRefundNo
				})
			}
			wg.Wait()
			accepted := map[string]int64{}
			var sum int64
			for i, err := range errs {
				switch cloudpay.ErrorCode(err) {
				case "":
					accepted[nos[i]] = tc.amounts[i]
					sum += tc.amounts[i]
				case cloudpay.CodeRefundExceeds:
				default:
					t.Fatalf("refund %d: %v", i, err)
				}
			}
			if sum > paid || (tc.want >= 0 && len(accepted) != tc.want) {
				t.Fatalf("accepted %d refunds for %d fen of %d paid", len(accepted), sum, paid)
			}
			for i, err := range errs {
				if err != nil && tc.amounts[i] <= paid-sum {
					t.Fatalf("refund %d of %d fen refused, yet %d fen are still refundable", i, tc.amounts[i], paid-sum)
				}
			}
			wantLedger(t, s, paidNo, sum, 0, len(accepted))
			var sent int64
			seen := map[string]bool{}
			for _, c := range sentCalls(t, s) {
				if seen[c.No] || accepted[c.No] != c.Fen {
					t.Fatalf("WeChat received %+v: sent twice, never accepted or with another amount (%v)", c, accepted)
				}
				seen[c.No] = true
				sent += c.Fen
			}
			if len(seen) != len(accepted) || sent != sum {
				t.Fatalf("WeChat received %d refunds for %d fen; %d accepted for %d", len(seen), sent, len(accepted), sum)
			}
		})
	}
}

func repeat(n int, fen int64) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = fen
	}
	return out
}

func steps(n int, from, by int64) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = from + int64(i)*by
	}
	return out
}

// WeChat takes at most 50 refunds of an order: the 51st is refused before
// it reaches WeChat. A refund WeChat never took (failed for good, or a
// rejected request) gives its place back; a closed one keeps it, as at
// WeChat.
func TestFiftyRefundsPerOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// fill makes 50 refunds (1 fen each) count toward the limit; it
		// returns the refund calls WeChat has received by then and a
		// refund for then.
		fill func(t *testing.T, s *testkit.Stack) (int, string)
		// then runs after the 51st is refused and returns the refunds
		// the order may still take (0 or 1).
		then func(t *testing.T, s *testkit.Stack, no string) int
	}{
		{
			name: "one failed for good does not count",
			fill: func(t *testing.T, s *testkit.Stack) (int, string) {
				s.Fault("refund", "fail", 1, map[string]any{"code": "INVALID_REQUEST"})
				r := mustCreate(t, s, paidNo, 1, "final")
				wantRefund(t, s, r.OutRefundNo, cloudpay.RefundFailed, false)
				wantLedger(t, s, paidNo, 0, 0, 0)
				fill(t, s, 1, 51) // queued behind the failed one: none sent
				return 1, ""
			},
			then: func(t *testing.T, s *testkit.Stack, _ string) int { return 0 },
		},
		{
			name: "a rejected request gives its place back",
			fill: func(t *testing.T, s *testkit.Stack) (int, string) {
				fill(t, s, 0, 49)
				r, _, err := s.Refunds.Request(t.Context(), testkit.Alice, paidNo, 1, "", "form-1")
				if err != nil {
					t.Fatal(err)
				}
				return 1, r.OutRefundNo
			},
			then: func(t *testing.T, s *testkit.Stack, no string) int {
				if _, err := s.Refunds.Reject(t.Context(), no, "no"); err != nil {
					t.Fatal(err)
				}
				wantLedger(t, s, paidNo, 49, 0, 49)
				return 1
			},
		},
		{
			name: "a closed refund keeps its place",
			fill: func(t *testing.T, s *testkit.Stack) (int, string) {
				fill(t, s, 0, 50)
				return 1, cloudpay.OutRefundNoForKey(fillKey(0))
			},
			then: func(t *testing.T, s *testkit.Stack, no string) int {
				s.Settle(no, "CLOSED")
				wantRefund(t, s, no, cloudpay.RefundClosed, false)
				wantLedger(t, s, paidNo, 49, 0, 50) // the money is back, the place is not
				return 0
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := paidStack(t, 100, testkit.ManualRefunds())
			calls, held := tc.fill(t, s)
			if e := s.Ledger(paidNo); e.Count != 50 {
				t.Fatalf("after filling, the order has %d refunds counted, want 50", e.Count)
			}
			_, _, err := createRefund(t, s, paidNo, 1, "the-51st")
			wantCode(t, "the 51st refund", err, cloudpay.CodeRefundLimit)
			_, _, err = s.Refunds.Request(t.Context(), testkit.Alice, paidNo, 1, "", "form-51")
			wantCode(t, "the 51st as a request", err, cloudpay.CodeRefundLimit)
			if n := len(sentCalls(t, s)); n != calls {
				t.Fatalf("WeChat received %d refund calls, want %d", n, calls)
			}
			free := tc.then(t, s, held)
			for i := range free {
				mustCreate(t, s, paidNo, 1, fmt.Sprintf("freed-%d", i))
			}
			_, _, err = createRefund(t, s, paidNo, 1, "over")
			wantCode(t, "a refund over the limit", err, cloudpay.CodeRefundLimit)
			if e := s.Ledger(paidNo); e.Count != 50 {
				t.Fatalf("the order ends with %d refunds counted, want 50", e.Count)
			}
		})
	}
}

// fill creates refunds from..to-1 of 1 fen each, at one instant: the first
// of the order's turn goes to WeChat, the others queue a minute apart.
func fill(t *testing.T, s *testkit.Stack, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		mustCreate(t, s, paidNo, 1, fillKey(i))
	}
}

func fillKey(i int) string { return fmt.Sprintf("fill-%02d", i) }

// WeChat refunds an order up to a year after payment (or MaxAge, when
// configured); after that cloudpay refuses before calling it.
func TestNoRefundAfterMaxAge(t *testing.T) {
	t.Parallel()
	const year = 365 * 24 * time.Hour
	tests := []struct {
		name   string
		maxAge time.Duration // 0: WeChat's year
		after  time.Duration
		code   cloudpay.Code
	}{
		{"a day short of a year", 0, year - 24*time.Hour, ""},
		{"a minute over a year", 0, year + time.Minute, cloudpay.CodeRefundTooLate},
		{"a minute short of MaxAge", time.Hour, 59 * time.Minute, ""},
		{"a minute over MaxAge", time.Hour, 61 * time.Minute, cloudpay.CodeRefundTooLate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := paidStack(t, 1000, testkit.ManualRefunds(),
				testkit.RefundConfig(refund.Config{MinInterval: time.Minute, MaxAge: tc.maxAge}))
			s.Advance(tc.after)
			_, _, err := createRefund(t, s, paidNo, 100, "late")
			wantCode(t, "refund", err, tc.code)
			_, _, err = s.Refunds.Request(t.Context(), testkit.Alice, paidNo, 100, "", "late-form")
			wantCode(t, "request", err, tc.code)
			if tc.code == "" {
				return
			}
			wantLedger(t, s, paidNo, 0, 0, 0)
			wantSent(t, s)
		})
	}
}

// A refund retried after its reservation was released reserves again
// under the rules of now: too late after MaxAge.
func TestRetryAfterMaxAgeIsTooLate(t *testing.T) {
	t.Parallel()
	s := paidStack(t, 1000, testkit.ManualRefunds(), testkit.RefundConfig(refund.Config{MinInterval: time.Minute, MaxAge: time.Hour}))
	s.Fault("refund", "fail", 1, map[string]any{"code": "INVALID_REQUEST"})
	r := mustCreate(t, s, paidNo, 100, "final")
	wantRefund(t, s, r.OutRefundNo, cloudpay.RefundFailed, false)
	s.Advance(61 * time.Minute)
	_, err := s.Refunds.Retry(t.Context(), r.OutRefundNo)
	wantCode(t, "retry after MaxAge", err, cloudpay.CodeRefundTooLate)
	wantLedger(t, s, paidNo, 0, 0, 0)
	wantSent(t, s, r.OutRefundNo)
}

// Two refunds of an order go to WeChat at least MinInterval apart: a
// sooner one is accepted and queued (approved, not_before set) and sent
// only when its turn has come.
func TestRefundsOfAnOrderAreSpacedAMinuteApart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		gaps   []time.Duration // between one refund and the next
		turns  []time.Duration // each refund's turn, after the first's creation
		queued []bool          // at creation
	}{
		{"at once", []time.Duration{0, 0, 0}, []time.Duration{0, time.Minute, 2 * time.Minute}, []bool{false, true, true}},
		{"ten seconds later", []time.Duration{0, 10 * time.Second}, []time.Duration{0, time.Minute}, []bool{false, true}},
		{"a minute later", []time.Duration{0, time.Minute}, []time.Duration{0, time.Minute}, []bool{false, false}},
		{"after a queued one", []time.Duration{0, 0, 90 * time.Second}, []time.Duration{0, time.Minute, 2 * time.Minute}, []bool{false, true, true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := paidStack(t, 1000, testkit.ManualRefunds())
			start := at(s)
			var nos []string
			for i, gap := range tc.gaps {
				s.Advance(gap)
				r := mustCreate(t, s, paidNo, 100, fmt.Sprintf("sp%d", i))
				nos = append(nos, r.OutRefundNo)
				if want := start.Add(tc.turns[i]); !r.NotBefore.Equal(want) {
					t.Fatalf("refund %d: not_before %v, want %v", i, r.NotBefore, want)
				}
				want := cloudpay.RefundProcessing // sent at once
				if tc.queued[i] {
					want = cloudpay.RefundApproved // accepted, waiting for its turn
				}
				if r.Status != want {
					t.Fatalf("refund %d is %s, want %s", i, r.Status, want)
				}
			}
			// The job looks at every queued refund as time passes; each
			// is sent in its turn and not a millisecond before.
			sent := []string{}
			for i, no := range nos {
				if !tc.queued[i] {
					sent = append(sent, no)
				}
			}
			wantSent(t, s, sent...)
			for i, no := range nos {
				if !tc.queued[i] {
					continue
				}
				if turn := start.Add(tc.turns[i]); turn.After(at(s)) {
					s.Advance(turn.Sub(at(s)) - time.Millisecond)
					for _, other := range nos {
						if did, err := s.Refunds.Reconcile(ctx, other); err != nil || did == refund.ReconciledRetried {
							t.Fatalf("reconcile %s a millisecond before %s's turn: %q, %v", other, no, did, err)
						}
					}
					wantSent(t, s, sent...)
					s.Advance(time.Millisecond)
				}
				if did, err := s.Refunds.Reconcile(ctx, no); err != nil || did != refund.ReconciledRetried {
					t.Fatalf("reconcile %s in its turn: %q, %v", no, did, err)
				}
				sent = append(sent, no)
				wantSent(t, s, sent...)
				wantRefund(t, s, no, cloudpay.RefundProcessing, false)
			}
			wantLedger(t, s, paidNo, 100*int64(len(nos)), 0, len(nos))
		})
	}
}

// The same idempotency key names the same refund: asked again, it is
// returned as it is and WeChat is not called again; with another amount
// or order it is a conflict.
func TestIdempotencyKeyMakesOneRefund(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		no    string
		fen   int64
		code  cloudpay.Code
		extra bool // the other order must exist and be paid
	}{
		{"same key, same refund", paidNo, 300, "", false},
		{"same key, other amount", paidNo, 301, cloudpay.CodeRefundConflict, false},
		{"same key, other order", "RULES0002", 300, cloudpay.CodeRefundConflict, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := paidStack(t, 1000, testkit.ManualRefunds())
			if tc.extra {
				s.Paid(tc.no, testkit.Alice, 1000)
			}
			first, created, err := createRefund(t, s, paidNo, 300, "same-key")
			if err != nil || !created {
				t.Fatalf("first: %+v, created %v, %v", first, created, err)
			}
			s.Advance(2 * time.Minute)
			again, created, err := createRefund(t, s, tc.no, tc.fen, "same-key")
			wantCode(t, "again", err, tc.code)
			if err == nil && (created || again.OutRefundNo != first.OutRefundNo || again.Status != cloudpay.RefundProcessing) {
				t.Fatalf("again: %+v, created %v; want %s as it was", again, created, first.OutRefundNo)
			}
			if err != nil && !strings.Contains(err.Error(), first.OutRefundNo) {
				t.Fatalf("the conflict %q does not name the refund the key holds", err)
			}
			wantSent(t, s, first.OutRefundNo)
			wantLedger(t, s, paidNo, 300, 0, 1)
			if tc.extra {
				wantLedger(t, s, tc.no, 0, 0, 0)
			}
		})
	}
}

// Many submissions of one key at once make one refund and one call.
func TestConcurrentSubmissionsOfOneKey(t *testing.T) {
	t.Parallel()
	s := paidStack(t, 1000, testkit.ManualRefunds())
	const n = 10
	nos := make([]string, n)
	created := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r, c, err := createRefund(t, s, paidNo, 300, "one-key")
			if err != nil {
				t.Errorf("submission %d: %v", i, err)
			}
			nos[i], created[i] = r.OutRefundNo, c
		})
	}
	wg.Wait()
	first := 0
	for i := range n {
		if nos[i] != nos[0] {
			t.Fatalf("submissions got refunds %v", nos)
		}
		if created[i] {
			first++
		}
	}
	if first != 1 {
		t.Fatalf("%d submissions say they created the refund, want 1", first)
	}
	wantSent(t, s, nos[0])
	wantLedger(t, s, paidNo, 300, 0, 1)
}
