package concurrency_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/job"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// Two passes at once (two cron triggers, two instances) over 500 items:
// every action on every item is claimed first, so each WeChat call is made
// once.
func TestTwoConcurrentPassesActOnce(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Channel(wechat.V3), testkit.ManualRefunds())
	const expired, late, refunds = 200, 150, 150
	// The 500 items are made through the services, not the routes, and
	// concurrently: they are where the passes start, not what this test is
	// about.
	ctx := context.Background()
	s.Concurrently(expired, func(i int) { s.Paying(fmt.Sprintf("CCEXP%04d", i), testkit.Alice, 100) })
	s.Fault(s.PayCallbackKind(), "drop", late, nil) // one for each late payment, and nothing else is paid meanwhile
	s.Concurrently(late, func(i int) {
		no := fmt.Sprintf("CCLATE%04d", i)
		s.Paying(no, testkit.Alice, 100)
		if paid, err := s.Sim.Pay(ctx, no); err != nil || !paid.Callback.Dropped {
			t.Fatalf("pay %s with the callback held: %v %+v", no, err, paid.Callback)
		}
	})
	s.Concurrently(refunds, func(i int) {
		no := fmt.Sprintf("CCREF%04d", i)
		s.Paid(no, testkit.Alice, 100)
		r, _, err := s.Refunds.Create(ctx, refund.NewRefund{OutTradeNo: no, AmountFen: 100, Reason: "course cancelled", IdempotencyKey: "k-" + no})
		if err != nil || r.Status != cloudpay.RefundProcessing {
			t.Fatalf("refund: %+v %v", r, err)
		}
	})
	s.Advance(31 * time.Minute)
	before := map[string]int{}
	for _, api := range []string{"queryorder", "closeorder", "queryrefund"} {
		before[api] = len(s.SimCalls(api))
	}

	var wg sync.WaitGroup
	reports := make([]job.Report, 2)
	for i := range reports {
		wg.Go(func() { reports[i] = runJob(t, s) })
	}
	wg.Wait()
	var total job.Report
	for _, r := range reports {
		total.Closed += r.Closed
		total.PaidLate += r.PaidLate
		total.RefundsSynced += r.RefundsSynced
		total.Skipped += r.Skipped
		if len(r.Errors) != 0 {
			t.Fatalf("errors: %+v", r.Errors)
		}
	}
	if total.Closed != expired || total.PaidLate != late || total.RefundsSynced != refunds {
		t.Fatalf("passes did %+v and %+v", reports[0], reports[1])
	}
	for _, tc := range []struct {
		api, field string
		want       int
	}{
		{"queryorder", "out_trade_no", expired + late},
		{"closeorder", "out_trade_no", expired},
		{"queryrefund", "out_refund_no", refunds},
	} {
		calls := s.SimCalls(tc.api)[before[tc.api]:]
		per := map[string]int{}
		for _, c := range calls {
			per[subjectOf(c, tc.field)]++
		}
		if len(calls) != tc.want || len(per) != tc.want {
			t.Errorf("%s: %d calls for %d subjects, want %d once each", tc.api, len(calls), len(per), tc.want)
		}
	}
	// Every business event was delivered once, signed.
	acked, tries, bad := s.Receiver.Counts()
	events := s.Count("events")
	sent := reports[0].NotificationsSent + reports[1].NotificationsSent
	if bad != 0 || int64(len(acked)) != events || int64(sent) != events {
		t.Fatalf("%d events, %d acknowledged, %d reported sent, %d bad signatures", events, len(acked), sent, bad)
	}
	for id, n := range tries {
		if n != 1 || acked[id] != 1 {
			t.Fatalf("event %s delivered %d times", id, n)
		}
	}
	t.Logf("pass A %+v", reports[0])
	t.Logf("pass B %+v", reports[1])
}

// subjectOf finds the order or refund a call was about: in the body, or,
// for v3 GET and close calls, in the path.
func subjectOf(c map[string]any, field string) string {
	if body, ok := c["body"].(map[string]any); ok && str(body[field]) != "" {
		return str(body[field])
	}
	return str(c["path"])
}
