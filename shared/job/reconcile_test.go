package job_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/payment"
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

// A day whose Alipay bill could not be had is kept with WeChat's part and
// reconciled again by a later pass, until Alipay's bill is compared too;
// then it is left alone.
func TestJobReconcilesAlipaysPartAgain(t *testing.T) {
	t.Parallel()
	var stack atomic.Pointer[testkit.Stack]
	simNow := func() time.Time {
		if s := stack.Load(); s != nil {
			return s.Now()
		}
		return time.Now()
	}
	s := testkit.New(t, testkit.AlipayAtNoon(), testkit.Sim(func(c *wechatsim.Config) { c.Now = simNow }))
	s.Advance(time.Second)
	stack.Store(s)
	ctx := context.Background()
	date := s.AlipayDay()
	if _, _, err := s.Payments.CreateOrder(ctx, payment.NewOrder{OutTradeNo: "JOBALIREC1", OpenID: testkit.Alice, AmountFen: 800, Description: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Payments.Pay(ctx, "JOBALIREC1", payment.PayRequest{Method: cloudpay.MethodAlipayQR}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Alipay.Pay(ctx, "JOBALIREC1"); err != nil {
		t.Fatal(err)
	}

	// 10:30 the next day for WeChat and the job; Alipay's clock still in
	// the day, so its bill is refused.
	noon := s.AlipayNoon()
	s.Advance(noon.AddDate(0, 0, 1).Add(-90 * time.Minute).Sub(s.Now()))
	r := s.Job.Run(ctx)
	if !slices.Contains(r.Reconciled, date) || len(r.Errors) != 1 || r.Errors[0].Step != "reconciliation" {
		t.Fatalf("the first pass: %+v", r)
	}
	got := s.Do("GET", s.RefundURL+"/admin/api/reconciliations/"+date, nil, testkit.Admin())
	if ali, _ := got.Body["alipay"].(map[string]any); got.Status != 200 || ali["status"] != "failed" {
		t.Fatalf("the day's report: %d %s", got.Status, got.Raw)
	}

	// Within the hour the day is not tried again; after it, with Alipay's
	// bill made, it is compared; then left alone.
	if r := s.Job.Run(ctx); slices.Contains(r.Reconciled, date) {
		t.Fatalf("tried again within the hour: %+v", r)
	}
	s.AdvanceAlipay(36 * time.Hour)
	s.Advance(2 * time.Hour)
	if r := pass(t, s); !slices.Contains(r.Reconciled, date) {
		t.Fatalf("the pass after Alipay made its bill reconciled %v, want %s", r.Reconciled, date)
	}
	got = s.Do("GET", s.RefundURL+"/admin/api/reconciliations/"+date, nil, testkit.Admin())
	if ali, _ := got.Body["alipay"].(map[string]any); ali["status"] != "done" || ali["payments"] != 1.0 || ali["our_payments"] != 1.0 {
		t.Fatalf("the day's report: %s", got.Raw)
	}
	s.Advance(2 * time.Hour)
	if r := pass(t, s); slices.Contains(r.Reconciled, date) {
		t.Fatalf("reconciled %s again: %+v", date, r)
	}
}
