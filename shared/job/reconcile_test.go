package job_test

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// The job reconciles a day once WeChat has made its bill (after 10:00
// Beijing the next day), once: a later pass leaves it alone, and a day
// whose bill is not ready yet is no error.
func TestJobReconcilesEachDayOnceItsBillIsReady(t *testing.T) {
	t.Parallel()
	testkit.ForEachChannel(t, func(t *testing.T, ch string) {
		// WeChat's side keeps the stack's clock.
		var stack atomic.Pointer[testkit.Stack]
		simNow := func() time.Time {
			if s := stack.Load(); s != nil {
				return s.Now()
			}
			return time.Now()
		}
		s := testkit.New(t, testkit.Channel(ch), testkit.Sim(func(c *wechatsim.Config) { c.Now = simNow }))
		s.Advance(time.Second) // the clock stands still from here
		stack.Store(s)
		bj := s.Now().In(cloudpay.Beijing)
		date := bj.Format(time.DateOnly)
		s.Paid("JOBRECON01", testkit.Alice, 1_000)

		// The day's bill is not made yet: no error, nothing reconciled.
		if r := pass(t, s); slices.Contains(r.Reconciled, date) {
			t.Fatalf("reconciled %s before its bill: %+v", date, r)
		}
		next := time.Date(bj.Year(), bj.Month(), bj.Day(), 10, 30, 0, 0, cloudpay.Beijing).AddDate(0, 0, 1)
		s.Advance(next.Sub(s.Now())) // 10:30 the next day
		r := pass(t, s)
		if !slices.Contains(r.Reconciled, date) {
			t.Fatalf("the pass after 10:00 the next day reconciled %v, want %s", r.Reconciled, date)
		}
		got := s.Do("GET", s.RefundURL+"/admin/api/reconciliations/"+date, nil, testkit.Admin())
		if got.Status != 200 || got.Body["payments"] != float64(1) || got.Body["our_payments"] != float64(1) {
			t.Fatalf("the day's report: %d %s", got.Status, got.Raw)
		}
		if diffs, _ := got.Body["differences"].([]any); len(diffs) != 0 {
			t.Fatalf("differences where WeChat and cloudpay agree: %v", diffs)
		}
		s.Advance(2 * time.Hour)
		if r := pass(t, s); slices.Contains(r.Reconciled, date) {
			t.Fatalf("reconciled %s again: %+v", date, r)
		}
	})
}
