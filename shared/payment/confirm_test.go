package payment_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// An unsigned callback proves nothing: a payment is recorded only when
// WeChat, asked, says the order was paid, and then once. A callback that
// disagrees with our order, or is not for us, records nothing and costs
// WeChat no query.
func TestUnsignedCallbackIsConfirmedWithWeChat(t *testing.T) {
	t.Parallel()
	type step struct {
		change  func(h *wechat.PayHint) // nil: the genuine callback
		want    wechat.Verdict
		queries int // queryorder calls about the order so far
	}
	tests := []struct {
		name     string
		paid     bool // the user paid at WeChat, whose own callback was lost
		steps    []step
		recorded bool
	}{
		{"genuine", true, []step{
			{nil, wechat.Recorded, 1},
			{nil, wechat.AlreadyRecorded, 1},
		}, true},
		{"genuine, without the amount", true, []step{
			{func(h *wechat.PayHint) { h.HasTotal, h.TotalFen = false, 0 }, wechat.Recorded, 1},
		}, true},
		{"forged, for an unpaid order", false, []step{
			{nil, wechat.NotPaid, 1},
		}, false},
		{"another amount, unpaid order", false, []step{
			{func(h *wechat.PayHint) { h.TotalFen = 1 }, wechat.Mismatch, 0},
		}, false},
		{"another merchant", true, []step{
			{func(h *wechat.PayHint) { h.MchID = "1999999999" }, wechat.OtherMerchant, 0},
		}, false},
		{"an unknown order", true, []step{
			{func(h *wechat.PayHint) { h.OutTradeNo = "NOSUCHORDER1" }, wechat.UnknownOrder, 0},
		}, false},
		// Now a warning, not an error: the payment stands as WeChat said it.
		{"another amount, order already paid", true, []step{
			{nil, wechat.Recorded, 1},
			{func(h *wechat.PayHint) { h.TotalFen = 1 }, wechat.Mismatch, 1},
			{func(h *wechat.PayHint) { h.TotalFen = 80_000 }, wechat.Mismatch, 1},
			{nil, wechat.AlreadyRecorded, 1},
		}, true},
	}
	testkit.ForEachChannel(t, func(t *testing.T, ch string) {
		s := testkit.New(t, testkit.Channel(ch))
		for i, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				no := fmt.Sprintf("HINT%04d", i)
				s.Paying(no, testkit.Alice, 800)
				var tx wechat.Transaction
				if tc.paid {
					tx = payLost(t, s, no, s.PayCallbackKind())
				}
				genuine := hint(s.Order(no), merchant(s))
				genuine.TransactionID = tx.TransactionID
				for j, st := range tc.steps {
					h := genuine
					if st.change != nil {
						st.change(&h)
					}
					before, events := s.Order(no), len(s.Events(no))
					v, err := s.Payments.Confirm(ctx, h)
					if err != nil || v != st.want {
						t.Fatalf("step %d: %s, %v; want %s", j, v, err, st.want)
					}
					if n := calls(t, s, "queryorder", no); n != st.queries {
						t.Fatalf("step %d: WeChat received %d queries, want %d", j, n, st.queries)
					}
					if v == wechat.Recorded {
						continue
					}
					if o := s.Order(no); o.Status != before.Status || !o.UpdatedAt.Equal(before.UpdatedAt) || o.TransactionID != before.TransactionID {
						t.Fatalf("step %d: %s changed the order from %+v to %+v", j, v, before, o)
					}
					if n := len(s.Events(no)); n != events {
						t.Fatalf("step %d: %s changed the events from %d to %d", j, v, events, n)
					}
				}
				if !tc.recorded {
					nothingRecorded(t, s, no)
					return
				}
				recordedPaid(t, s, tx)
				if st, _, _ := s.Store.Settlement(ctx, no); st.Source != "callback" {
					t.Fatalf("settlement from %q, want the callback", st.Source)
				}
			})
		}
	})
}

// A flood of unsigned callbacks for one order costs WeChat at most one
// query per 10 s of the stack's clock; the others are throttled and record
// nothing. Orders have windows of their own, and after the window a
// genuine callback is recorded.
func TestCallbackFloodCostsOneQueryPerWindow(t *testing.T) {
	t.Parallel()
	const window = 10 * time.Second
	type flood struct {
		first   wechat.Verdict   // exactly one callback answers this
		others  []wechat.Verdict // what the rest may answer
		queries int              // queryorder calls about the order so far
	}
	const paid, unpaid = "FLOODPAID1", "FLOODNOPAY"
	// A throttled callback waits (up to 10 s of wall time) for the window's
	// holder to record a payment, so a flood for an unpaid order lasts that
	// long: only the first phase has one, and the window's edge is probed
	// within it.
	phases := []struct {
		name    string
		pay     bool          // the user pays order "paid" at WeChat first, its callback lost
		advance time.Duration // the stack's clock, before the flood
		// late: once WeChat has been asked, the clock moves on by late
		// and as many callbacks again come, while the first still wait.
		late   time.Duration
		floods map[string]flood
		paid   bool // order "paid" is recorded after the phase
	}{
		{"the first window, to its last millisecond", false, 0, window - time.Millisecond, map[string]flood{
			paid:   {wechat.NotPaid, []wechat.Verdict{wechat.Throttled}, 1},
			unpaid: {wechat.NotPaid, []wechat.Verdict{wechat.Throttled}, 1},
		}, false},
		{"the second window, after the user paid", true, time.Millisecond, 0, map[string]flood{
			paid: {wechat.Recorded, []wechat.Verdict{wechat.Throttled, wechat.AlreadyRecorded}, 2},
		}, true},
		{"the third window", false, window, 0, map[string]flood{
			paid: {"", []wechat.Verdict{wechat.AlreadyRecorded}, 2}, // the settlement answers, not WeChat
		}, true},
	}
	testkit.ForEachChannel(t, func(t *testing.T, ch string) {
		s := testkit.New(t, testkit.Channel(ch))
		s.Advance(0) // the clock stands still but when moved
		for _, no := range []string{paid, unpaid} {
			s.Paying(no, testkit.Alice, 800)
		}
		var tx wechat.Transaction
		for _, ph := range phases {
			if ph.pay {
				tx = payLost(t, s, paid, s.PayCallbackKind())
			}
			s.Advance(ph.advance)
			const n = 30 // callbacks per order, at once
			verdicts := map[string][]wechat.Verdict{}
			var mu sync.Mutex
			var wg sync.WaitGroup
			send := func() {
				for no := range ph.floods {
					h := hint(s.Order(no), merchant(s))
					if no == paid {
						h.TransactionID = tx.TransactionID
					}
					for range n {
						wg.Go(func() {
							v, err := s.Payments.Confirm(ctx, h)
							if err != nil {
								t.Errorf("%s: %s: %v", ph.name, no, err)
							}
							mu.Lock()
							defer mu.Unlock()
							verdicts[no] = append(verdicts[no], v)
						})
					}
				}
			}
			send()
			if ph.late > 0 {
				testkit.Eventually(t, func() error {
					for no, want := range ph.floods {
						if q := calls(t, s, "queryorder", no); q < want.queries {
							return fmt.Errorf("%s: %d queries so far", no, q)
						}
					}
					return nil
				})
				s.Advance(ph.late)
				send()
			}
			wg.Wait()
			for no, want := range ph.floods {
				got := verdicts[no]
				firsts := 0
				for _, v := range got {
					switch {
					case v == want.first:
						firsts++
					case !slices.Contains(want.others, v):
						t.Fatalf("%s: %s: verdicts %v, want one %q and the rest %v", ph.name, no, got, want.first, want.others)
					}
				}
				if want.first != "" && firsts != 1 {
					t.Fatalf("%s: %s: %d callbacks answered %s, want 1 (verdicts %v)", ph.name, no, firsts, want.first, got)
				}
				if q := calls(t, s, "queryorder", no); q != want.queries {
					t.Fatalf("%s: %s: WeChat received %d queries in all, want %d", ph.name, no, q, want.queries)
				}
			}
			nothingRecorded(t, s, unpaid)
			if ph.paid {
				recordedPaid(t, s, tx)
			} else {
				nothingRecorded(t, s, paid)
			}
		}
	})
}
