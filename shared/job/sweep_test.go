package job_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/job"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/withdraw"
)

// pastGrace moves the clock past the sweep's grace (two minutes), so a
// pass looks at everything written before.
const pastGrace = 3 * time.Minute

const order = "ORDER0001"

// Every crash point of issue "Never stuck": an instance dies right after a
// money movement's ledger entry, before its document. One job pass later
// the document exists and goes on to its end, every review decision is
// applied, the order shows its settlement and its refund ledger, and
// nothing stays reserved or frozen; later passes change nothing.
func TestPassFinishesWhatACrashCutShort(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name    string
		channel string
		crashAt string // the write the crashed instance never makes
		// crash makes the request that dies and returns its refund or
		// withdrawal number, having checked what the crash left.
		crash func(t *testing.T, s *testkit.Stack, c instance) string
		// repaired checks the document after the first pass.
		repaired func(t *testing.T, s *testkit.Stack, id string)
		// finish takes it to its end and checks the end.
		finish func(t *testing.T, s *testkit.Stack, id string)
	}{
		{
			name: "frozen for a withdrawal never stored: it is sent, as the user asked", channel: wechat.V3, crashAt: "InsertWithdrawal",
			crash: func(t *testing.T, s *testkit.Stack, c instance) string {
				if _, _, err := s.Withdrawals.Credit(ctx, testkit.Alice, "credit-1", 10_000, "reward"); err != nil {
					t.Fatal(err)
				}
				if _, _, err := c.withdrawals.Withdraw(ctx, testkit.Alice, 3000, "wd-1"); !errors.Is(err, testkit.ErrCrash) {
					t.Fatalf("withdraw: %v, want the crash", err)
				}
				id := cloudpay.WithdrawalID(testkit.Alice, "wd-1")
				if _, err := s.Store.Withdrawal(ctx, id); cloudpay.ErrorCode(err) != cloudpay.CodeWithdrawalNotFound {
					t.Fatalf("withdrawal after the crash: %v", err)
				}
				checkWallet(t, s, 7000, 3000, 0)
				return id
			},
			repaired: func(t *testing.T, s *testkit.Stack, id string) {
				if w := withdrawal(t, s, id); w.Status != cloudpay.WithdrawalWaitingUser || w.AmountFen != 3000 || w.PackageInfo == "" {
					t.Fatalf("withdrawal after a pass: %+v", w)
				}
			},
			finish: func(t *testing.T, s *testkit.Stack, id string) {
				if r := s.SimPost("/transfers/"+id+"/confirm", nil); r.Status != 200 {
					t.Fatalf("confirm: %d %s", r.Status, r.Raw)
				}
				testkit.Eventually(t, func() error {
					if w := withdrawal(t, s, id); w.Status != cloudpay.WithdrawalSucceeded {
						return fmt.Errorf("withdrawal %s is %s", id, w.Status)
					}
					return nil
				})
				checkWallet(t, s, 7000, 0, 3000)
				if n := len(s.SimCalls("transfer")); n != 1 {
					t.Fatalf("transfer calls = %d, want 1", n)
				}
			},
		},
		{
			name: "reserved for a refund never stored: it is sent in its turn", channel: wechat.CloudHosting, crashAt: "InsertRefund",
			crash: func(t *testing.T, s *testkit.Stack, c instance) string {
				s.Paid(order, testkit.Alice, 1000)
				_, _, err := c.refunds.Create(ctx, refund.NewRefund{OutTradeNo: order, AmountFen: 300, Reason: "broken", IdempotencyKey: "key-1"})
				if !errors.Is(err, testkit.ErrCrash) {
					t.Fatalf("create: %v, want the crash", err)
				}
				return orphan(t, s, 300)
			},
			repaired: status(cloudpay.RefundProcessing),
			finish:   settled(300),
		},
		{
			name: "reserved for a user's request without a key: it waits for review", channel: wechat.CloudHosting, crashAt: "InsertRefund",
			crash: func(t *testing.T, s *testkit.Stack, c instance) string {
				s.Paid(order, testkit.Alice, 1000)
				if _, _, err := c.refunds.Request(ctx, testkit.Alice, order, 300, "too small", ""); !errors.Is(err, testkit.ErrCrash) {
					t.Fatalf("request: %v, want the crash", err)
				}
				return orphan(t, s, 300)
			},
			repaired: status(cloudpay.RefundPendingReview),
			finish: func(t *testing.T, s *testkit.Stack, no string) {
				if r, err := s.Refunds.Approve(ctx, no, "ok"); err != nil || r.Status != cloudpay.RefundProcessing {
					t.Fatalf("approve: %+v, %v", r, err)
				}
				settled(300)(t, s, no)
			},
		},
		{
			name: "approval recorded, refund still pending review: it is sent", channel: wechat.CloudHosting, crashAt: "SaveRefund",
			crash: func(t *testing.T, s *testkit.Stack, c instance) string {
				no := requested(t, s)
				if _, err := c.refunds.Approve(ctx, no, "ok"); !errors.Is(err, testkit.ErrCrash) {
					t.Fatalf("approve: %v, want the crash", err)
				}
				status(cloudpay.RefundPendingReview)(t, s, no)
				return no
			},
			repaired: func(t *testing.T, s *testkit.Stack, no string) {
				status(cloudpay.RefundProcessing)(t, s, no)
				if _, err := s.Refunds.Reject(ctx, no, ""); cloudpay.ErrorCode(err) != cloudpay.CodeRefundState {
					t.Fatalf("reject after the approval: %v", err)
				}
			},
			finish: settled(300),
		},
		{
			name: "rejection recorded, refund still pending review: it is rejected", channel: wechat.CloudHosting, crashAt: "SaveRefund",
			crash: func(t *testing.T, s *testkit.Stack, c instance) string {
				no := requested(t, s)
				if _, err := c.refunds.Reject(ctx, no, "used"); !errors.Is(err, testkit.ErrCrash) {
					t.Fatalf("reject: %v, want the crash", err)
				}
				status(cloudpay.RefundPendingReview)(t, s, no)
				return no
			},
			repaired: status(cloudpay.RefundRejected),
			finish: func(t *testing.T, s *testkit.Stack, no string) {
				if _, err := s.Refunds.Approve(ctx, no, ""); cloudpay.ErrorCode(err) != cloudpay.CodeRefundState {
					t.Fatalf("approve after the rejection: %v", err)
				}
				checkOrder(t, s, cloudpay.OrderPaid, 0)
				if n := len(s.SimCalls("refund")); n != 0 {
					t.Fatalf("refund calls = %d, want none", n)
				}
			},
		},
		{
			name: "refund settled, order never told: the order shows it", channel: wechat.CloudHosting, crashAt: "ProjectOrderRefunds",
			crash: func(t *testing.T, s *testkit.Stack, c instance) string {
				s.Paid(order, testkit.Alice, 1000)
				r, _, err := s.Refunds.Create(ctx, refund.NewRefund{OutTradeNo: order, AmountFen: 300, IdempotencyKey: "key-1"})
				if err != nil || r.Status != cloudpay.RefundProcessing {
					t.Fatalf("create: %+v, %v", r, err)
				}
				s.Fault("refund_callback", "drop", 1, nil)
				s.Settle(r.OutRefundNo, "SUCCESS")
				if _, err := c.refunds.Reconcile(ctx, r.OutRefundNo); !errors.Is(err, testkit.ErrCrash) {
					t.Fatalf("reconcile: %v, want the crash", err)
				}
				status(cloudpay.RefundSucceeded)(t, s, r.OutRefundNo)
				checkOrder(t, s, cloudpay.OrderPaid, 0)
				return r.OutRefundNo
			},
			repaired: status(cloudpay.RefundSucceeded),
			finish:   settled(300),
		},
		{
			name: "reserved again by a retry that never stored its round: it is sent again", channel: wechat.CloudHosting, crashAt: "SaveRefund",
			crash: func(t *testing.T, s *testkit.Stack, c instance) string {
				s.Paid(order, testkit.Alice, 1000)
				s.Fault("refund", "fail", 1, map[string]any{"code": "PARAM_ERROR"})
				r, _, err := s.Refunds.Create(ctx, refund.NewRefund{OutTradeNo: order, AmountFen: 300, IdempotencyKey: "key-1"})
				if err != nil || r.Status != cloudpay.RefundFailed || r.Retryable {
					t.Fatalf("create: %+v, %v", r, err)
				}
				if _, err := c.refunds.Retry(ctx, r.OutRefundNo); !errors.Is(err, testkit.ErrCrash) {
					t.Fatalf("retry: %v, want the crash", err)
				}
				status(cloudpay.RefundFailed)(t, s, r.OutRefundNo)
				if e := s.Ledger(order); e.ReservedFen != 300 {
					t.Fatalf("reserved after the crash: %d fen, want 300", e.ReservedFen)
				}
				return r.OutRefundNo
			},
			repaired: status(cloudpay.RefundProcessing),
			finish:   settled(300),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := testkit.New(t, testkit.Channel(tc.channel), testkit.ManualRefunds())
			id := tc.crash(t, s, crashed(t, s, tc.crashAt))

			s.Advance(pastGrace)
			if r := pass(t, s); r.Repaired == 0 {
				t.Errorf("first pass repaired nothing: %+v", r)
			}
			tc.repaired(t, s, id)
			tc.finish(t, s, id)

			// Later passes find nothing to repair and leave no trace.
			s.Advance(pastGrace)
			pass(t, s)
			before := snapshot(t, s)
			s.Advance(pastGrace)
			if r := pass(t, s); r.Repaired != 0 {
				t.Errorf("a pass after the end repaired %d", r.Repaired)
			}
			if after := snapshot(t, s); !reflect.DeepEqual(before, after) {
				t.Errorf("a pass after the end changed the store:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// However many entries share the sweep's grace, every one is reached
// within ⌈entries/BatchSize⌉ passes: a pass that stops at its limit goes
// on right after its last entry, not from the grace before it.
func TestSweepGoesOnPastCrowdedEntries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testkit.New(t, testkit.ManualRefunds())
	c := crashed(t, s, "InsertRefund")
	s.Paid(order, testkit.Alice, 1000)
	var nos []string
	for i := range 7 { // all at the same instant
		key := fmt.Sprintf("key-%d", i)
		if _, _, err := c.refunds.Create(ctx, refund.NewRefund{OutTradeNo: order, AmountFen: 100, IdempotencyKey: key}); !errors.Is(err, testkit.ErrCrash) {
			t.Fatalf("create %s: %v, want the crash", key, err)
		}
		nos = append(nos, cloudpay.OutRefundNoForKey(key))
	}
	j := job.New(s.Store, s.Payments, s.Refunds, job.Config{BatchSize: 3}, job.WithClock(s.Now))
	for p := range 3 {
		s.Advance(time.Second)
		if p == 0 {
			s.Advance(pastGrace)
		}
		if r := j.Run(ctx); len(r.Errors) != 0 {
			t.Fatalf("pass %d: %+v", p+1, r.Errors)
		}
	}
	for _, no := range nos {
		if _, err := s.Store.Refund(ctx, no); err != nil {
			t.Errorf("refund %s after 3 passes: %v", no, err)
		}
	}
}

// instance is another instance of the refund and withdraw functions, on
// the stack's database and simulator, that dies at one write.
type instance struct {
	refunds     *refund.Service
	withdrawals *withdraw.Service // on API v3 only
}

// crashed builds an instance that dies at the write named at, with the
// stack's channel, rules and clock.
func crashed(t *testing.T, s *testkit.Stack, at string) instance {
	t.Helper()
	store := testkit.CrashingStore{Store: s.Store, At: at}
	rules := refund.Config{MinInterval: time.Minute}
	if s.Channel == wechat.CloudHosting {
		rf := refund.New(store, s.CloudHostingGateway(), rules, refund.WithClock(s.Now))
		t.Cleanup(rf.Close)
		return instance{refunds: rf}
	}
	v3 := s.V3Gateway()
	rf := refund.New(store, v3, rules, refund.WithClock(s.Now))
	t.Cleanup(rf.Close)
	return instance{refunds: rf, withdrawals: withdraw.New(store, v3, withdraw.Config{MinFen: 10, MaxFen: 500_000, DailyCount: 1000, DailyFen: 100_000_000}, withdraw.WithClock(s.Now))}
}

// pass runs one pass of close-expired's job and fails the test on errors.
func pass(t *testing.T, s *testkit.Stack) job.Report {
	t.Helper()
	r := s.Job.Run(context.Background())
	if len(r.Errors) != 0 {
		t.Fatalf("pass %s: %+v", r.Pass, r.Errors)
	}
	return r
}

// orphan checks that the order's newest ledger entry reserves fen for a
// refund that was never stored, and returns its number.
func orphan(t *testing.T, s *testkit.Stack, fen cloudpay.Fen) string {
	t.Helper()
	e := s.Ledger(order)
	if e.Kind != cloudpay.EntryReserve || e.ReservedFen != fen {
		t.Fatalf("ledger after the crash: %+v", e)
	}
	if _, err := s.Store.Refund(context.Background(), e.OutRefundNo); cloudpay.ErrorCode(err) != cloudpay.CodeRefundNotFound {
		t.Fatalf("refund after the crash: %v", err)
	}
	return e.OutRefundNo
}

// requested makes a paid order and Alice's keyed request to refund 300
// fen of it, and returns the request's number.
func requested(t *testing.T, s *testkit.Stack) string {
	t.Helper()
	s.Paid(order, testkit.Alice, 1000)
	r, _, err := s.Refunds.Request(context.Background(), testkit.Alice, order, 300, "too small", "req-1")
	if err != nil || r.Status != cloudpay.RefundPendingReview {
		t.Fatalf("request: %+v, %v", r, err)
	}
	return r.OutRefundNo
}

func status(want cloudpay.RefundStatus) func(t *testing.T, s *testkit.Stack, no string) {
	return func(t *testing.T, s *testkit.Stack, no string) {
		t.Helper()
		if r := s.Refund(no); r.Status != want {
			t.Fatalf("refund %s is %s, want %s", no, r.Status, want)
		}
	}
}

// settled has WeChat settle the refund if it has not yet, and checks the
// refund, the ledger and the order at the end.
func settled(fen cloudpay.Fen) func(t *testing.T, s *testkit.Stack, no string) {
	return func(t *testing.T, s *testkit.Stack, no string) {
		t.Helper()
		if s.Refund(no).Status == cloudpay.RefundProcessing {
			s.Settle(no, "SUCCESS")
		}
		status(cloudpay.RefundSucceeded)(t, s, no)
		if e := s.Ledger(order); e.ReservedFen != 0 || e.RefundedFen != fen {
			t.Fatalf("ledger at the end: reserved %d, refunded %d; want 0, %d", e.ReservedFen, e.RefundedFen, fen)
		}
		checkOrder(t, s, cloudpay.OrderPartiallyRefunded, fen)
		if n := len(s.SimRefunds(order)); n != 1 {
			t.Fatalf("WeChat holds %d refunds of the order, want 1", n)
		}
	}
}

func checkOrder(t *testing.T, s *testkit.Stack, want cloudpay.OrderStatus, refunded cloudpay.Fen) {
	t.Helper()
	if o := s.Order(order); o.Status != want || o.RefundedFen != refunded {
		t.Fatalf("order is %s with %d fen refunded; want %s with %d", o.Status, o.RefundedFen, want, refunded)
	}
}

func withdrawal(t *testing.T, s *testkit.Stack, id string) cloudpay.Withdrawal {
	t.Helper()
	w, err := s.Store.Withdrawal(context.Background(), id)
	if err != nil {
		t.Fatalf("withdrawal %s: %v", id, err)
	}
	return w
}

func checkWallet(t *testing.T, s *testkit.Stack, available, frozen, debited cloudpay.Fen) {
	t.Helper()
	entries := s.CheckWallet(testkit.Alice)
	e := entries[len(entries)-1]
	if e.AvailableFen != available || e.FrozenFen != frozen || e.DebitedFen != debited {
		t.Fatalf("wallet: available %d, frozen %d, debited %d; want %d, %d, %d",
			e.AvailableFen, e.FrozenFen, e.DebitedFen, available, frozen, debited)
	}
}

// snapshot is everything a pass could change: the documents, and how many
// ledger entries, claims, events and job records there are.
func snapshot(t *testing.T, s *testkit.Stack) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, col := range []string{"orders", "refunds", "withdrawals"} {
		cur, err := s.Store.Database().Collection(col).Find(context.Background(), bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		var docs []bson.M
		if err := cur.All(context.Background(), &docs); err != nil {
			t.Fatal(err)
		}
		sort.Slice(docs, func(i, k int) bool { return fmt.Sprint(docs[i]["_id"]) < fmt.Sprint(docs[k]["_id"]) })
		out[col] = docs
	}
	for _, col := range []string{"refund_ledger", "wallet_ledger", "attempts", "refund_outcomes", "withdrawal_outcomes",
		"events", "job_actions", "job_cursors"} {
		out[col] = s.Count(col)
	}
	return out
}
