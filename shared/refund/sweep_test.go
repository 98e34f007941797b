package refund_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

const order = "ORDER0001"

// Sweeping an entry whose request died before its document makes the
// document true; sweeps running at once (two job passes) agree, and
// sweeping the entry again changes nothing.
func TestSweepRepairsAnEntryOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name    string
		crashAt string
		// crash makes the request that dies after the ledger entry and
		// returns the refund's number.
		crash func(t *testing.T, s *testkit.Stack, c *refund.Service) string
		want  func(t *testing.T, s *testkit.Stack, r cloudpay.Refund)
	}{
		{
			name: "reservation", crashAt: "InsertRefund",
			crash: func(t *testing.T, s *testkit.Stack, c *refund.Service) string {
				if _, _, err := c.Request(ctx, testkit.Alice, order, 300, "", ""); !errors.Is(err, testkit.ErrCrash) {
					t.Fatalf("request: %v, want the crash", err)
				}
				return s.Ledger(order).OutRefundNo
			},
			want: func(t *testing.T, s *testkit.Stack, r cloudpay.Refund) {
				e := s.Ledger(order)
				if r.Status != cloudpay.RefundPendingReview || r.AmountFen != 300 || r.OpenID != testkit.Alice || r.Round != 1 ||
					!r.CreatedAt.Equal(e.CreatedAt) {
					t.Fatalf("refund: %+v", r)
				}
			},
		},
		{
			name: "approval", crashAt: "SaveRefund",
			crash: func(t *testing.T, s *testkit.Stack, c *refund.Service) string {
				no := request(t, s)
				if _, err := c.Approve(ctx, no, "ok"); !errors.Is(err, testkit.ErrCrash) {
					t.Fatalf("approve: %v, want the crash", err)
				}
				return no
			},
			want: func(t *testing.T, s *testkit.Stack, r cloudpay.Refund) {
				if e := s.Ledger(order); r.Status != cloudpay.RefundApproved || !r.NotBefore.Equal(e.Slot) || e.Kind != cloudpay.EntryApprove {
					t.Fatalf("refund: %+v after %+v", r, e)
				}
			},
		},
		{
			name: "rejection", crashAt: "SaveRefund",
			crash: func(t *testing.T, s *testkit.Stack, c *refund.Service) string {
				no := request(t, s)
				if _, err := c.Reject(ctx, no, "used"); !errors.Is(err, testkit.ErrCrash) {
					t.Fatalf("reject: %v, want the crash", err)
				}
				return no
			},
			want: func(t *testing.T, s *testkit.Stack, r cloudpay.Refund) {
				if o := s.Order(order); r.Status != cloudpay.RefundRejected || o.Status != cloudpay.OrderPaid || o.RefundSeq != s.Ledger(order).Seq {
					t.Fatalf("refund %+v, order %+v", r, o)
				}
			},
		},
		{
			name: "end", crashAt: "ProjectOrderRefunds",
			crash: func(t *testing.T, s *testkit.Stack, c *refund.Service) string {
				r, _, err := s.Refunds.Create(ctx, refund.NewRefund{OutTradeNo: order, AmountFen: 1000, IdempotencyKey: "key-1"})
				if err != nil {
					t.Fatal(err)
				}
				s.Fault("refund_callback", "drop", 1, nil)
				s.Settle(r.OutRefundNo, "SUCCESS")
				if _, err := c.Reconcile(ctx, r.OutRefundNo); !errors.Is(err, testkit.ErrCrash) {
					t.Fatalf("reconcile: %v, want the crash", err)
				}
				return r.OutRefundNo
			},
			want: func(t *testing.T, s *testkit.Stack, r cloudpay.Refund) {
				if o := s.Order(order); r.Status != cloudpay.RefundSucceeded || o.Status != cloudpay.OrderRefunded || o.RefundedFen != 1000 {
					t.Fatalf("refund %+v, order %+v", r, o)
				}
			},
		},
		{
			// A refund made in the merchant platform, adopted from WeChat's
			// word by an instance that died before the order's status.
			name: "adopted platform refund", crashAt: "ProjectOrderRefunds",
			crash: func(t *testing.T, s *testkit.Stack, c *refund.Service) string {
				s.Fault("refund_callback", "drop", 1, nil)
				no := s.OutsideRefund(order, 400)
				s.Settle(no, "SUCCESS")
				if _, err := c.Confirm(ctx, wechat.RefundHint{OutRefundNo: no, OutTradeNo: order}); !errors.Is(err, testkit.ErrCrash) {
					t.Fatalf("confirm: %v, want the crash", err)
				}
				return no
			},
			want: func(t *testing.T, s *testkit.Stack, r cloudpay.Refund) {
				if o := s.Order(order); r.Status != cloudpay.RefundSucceeded || r.Source != cloudpay.SourceOutside ||
					o.Status != cloudpay.OrderPartiallyRefunded || o.RefundedFen != 400 {
					t.Fatalf("refund %+v, order %+v", r, o)
				}
				if ev := s.Events(r.OutRefundNo); len(ev) != 1 || ev[0].Type != cloudpay.EventRefundAdopted {
					t.Fatalf("events: %+v", ev)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := testkit.New(t, testkit.ManualRefunds())
			s.Paid(order, testkit.Alice, 1000)
			no := tc.crash(t, s, crashed(t, s, tc.crashAt))
			e := s.Ledger(order)
			if e.OutRefundNo != no {
				t.Fatalf("the newest entry is %+v, not the crashed request's", e)
			}

			var wg sync.WaitGroup
			var mu sync.Mutex
			repaired := 0
			for range 4 {
				wg.Go(func() {
					did, err := s.Refunds.Sweep(ctx, e)
					if err != nil {
						t.Error(err)
					}
					mu.Lock()
					defer mu.Unlock()
					if did {
						repaired++
					}
				})
			}
			wg.Wait()
			if repaired == 0 {
				t.Fatal("no sweep repaired the entry")
			}
			r := s.Refund(no)
			tc.want(t, s, r)
			if did, err := s.Refunds.Sweep(ctx, e); did || err != nil {
				t.Fatalf("sweeping again: %v, %v", did, err)
			}
			if again := s.Refund(no); !equalRefunds(again, r) {
				t.Fatalf("sweeping again changed the refund:\n%+v\n%+v", r, again)
			}
		})
	}
}

// A review that meets the other decision recorded first is refused, and
// the refund shows the decision that stands even if its writer died before
// mirroring it.
func TestOtherReviewShowsTheDecision(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testkit.New(t, testkit.ManualRefunds())
	s.Paid(order, testkit.Alice, 1000)
	no := request(t, s)
	if _, err := crashed(t, s, "SaveRefund").Reject(ctx, no, "used"); !errors.Is(err, testkit.ErrCrash) {
		t.Fatalf("reject: %v, want the crash", err)
	}
	if _, err := s.Refunds.Approve(ctx, no, "ok"); cloudpay.ErrorCode(err) != cloudpay.CodeRefundState {
		t.Fatalf("approve after the rejection: %v", err)
	}
	if r := s.Refund(no); r.Status != cloudpay.RefundRejected {
		t.Fatalf("refund is %s, want rejected", r.Status)
	}
}

func equalRefunds(a, b cloudpay.Refund) bool {
	return a.Status == b.Status && a.Round == b.Round && a.UpdatedAt.Equal(b.UpdatedAt) && a.NotBefore.Equal(b.NotBefore) && a.Attempts == b.Attempts
}

// request has Alice ask for 300 fen of the order back, with a key.
func request(t *testing.T, s *testkit.Stack) string {
	t.Helper()
	r, _, err := s.Refunds.Request(context.Background(), testkit.Alice, order, 300, "", "req-1")
	if err != nil || r.Status != cloudpay.RefundPendingReview {
		t.Fatalf("request: %+v, %v", r, err)
	}
	return r.OutRefundNo
}

// crashed is another instance of the refund function, on the stack's
// database and simulator (Cloud Hosting), that dies at the write named at.
func crashed(t *testing.T, s *testkit.Stack, at string) *refund.Service {
	t.Helper()
	rf := refund.New(testkit.CrashingStore{Store: s.Store, At: at}, s.CloudHostingGateway(), refund.Config{MinInterval: time.Minute}, refund.WithClock(s.Now))
	t.Cleanup(rf.Close)
	return rf
}

// WeChat's word about a refund whose document a crash has not written yet
// does not make it a refund made outside cloudpay: the ledger's
// reservation says it is cloudpay's own, so nothing is adopted and WeChat
// is asked to retry; after the sweep, its retry is recorded as usual.
func TestOwnRefundWithoutItsDocumentIsNotAdopted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testkit.New(t, testkit.ManualRefunds())
	s.Paid(order, testkit.Alice, 1000)
	if _, _, err := crashed(t, s, "InsertRefund").Create(ctx, refund.NewRefund{OutTradeNo: order, AmountFen: 300, IdempotencyKey: "k1"}); !errors.Is(err, testkit.ErrCrash) {
		t.Fatalf("create: %v, want the crash", err)
	}
	no := cloudpay.OutRefundNoForKey("k1")
	said := wechat.RefundResult{OutRefundNo: no, OutTradeNo: order, State: wechat.RefundSuccess, RefundFen: 300,
		RefundID: "50000000000000000000000000009", SucceededAt: s.Now()}
	if v, err := s.Refunds.Record(ctx, said); err == nil || v.Acknowledge() {
		t.Fatalf("WeChat's word on our own refund without its document: %q, %v; want a retry", v, err)
	}
	if e := s.Ledger(order); e.Kind != cloudpay.EntryReserve || e.RefundedFen != 0 || e.ReservedFen != 300 {
		t.Fatalf("ledger after it: %+v", e)
	}
	if did, err := s.Refunds.Sweep(ctx, s.Ledger(order)); !did || err != nil {
		t.Fatalf("sweep: %v, %v", did, err)
	}
	if v, err := s.Refunds.Record(ctx, said); v != wechat.Recorded || err != nil {
		t.Fatalf("WeChat's retry after the sweep: %q, %v", v, err)
	}
	if e := s.Ledger(order); e.RefundedFen != 300 || e.ReservedFen != 0 || e.Count != 1 {
		t.Fatalf("ledger: %+v", e)
	}
}
