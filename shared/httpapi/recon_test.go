package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// Each kind of difference planted in WeChat's bill, or made by WeChat
// behind cloudpay's back, is found exactly once; what WeChat did that
// cloudpay did not see is adopted; a second run raises nothing new.
func TestReconciliationFindsEveryDifferenceOnce(t *testing.T) {
	t.Parallel()
	testkit.ForEachChannel(t, func(t *testing.T, ch string) {
		// The simulator lives two days behind the stack, so that the day
		// it trades on is a past day whose bill can be made ready by
		// moving the stack's clock, and WeChat's rules on dates (not in
		// the future, by the real clock) hold.
		var stack atomic.Pointer[testkit.Stack]
		simNow := func() time.Time {
			if s := stack.Load(); s != nil {
				return s.Now().Add(-48 * time.Hour)
			}
			return time.Now().Add(-48 * time.Hour)
		}
		s := testkit.New(t, testkit.Channel(ch), testkit.Sim(func(c *wechatsim.Config) { c.Now = simNow }))
		s.Advance(time.Second) // the stack's clock stands still from here
		stack.Store(s)
		day := simNow().In(cloudpay.Beijing).Format(time.DateOnly)
		run := func(date string) testkit.Response {
			return s.Do("POST", s.RefundURL+"/admin/api/reconciliations/"+date, nil, testkit.Admin())
		}

		s.Paid("RECONA001", testkit.Alice, 1_000)
		s.Paid("RECONB001", testkit.Alice, 2_000)
		s.Paid("RECONC001", testkit.Bob, 3_000)
		s.Paid("RECOND001", testkit.Bob, 4_000)
		ref := s.Do("POST", s.RefundURL+"/refunds", map[string]any{"out_trade_no": "RECONA001", "amount_fen": 300, "idempotency_key": "recon-a"}, testkit.Admin())
		if ref.Status != http.StatusAccepted {
			t.Fatalf("refund: %d %s", ref.Status, ref.Raw)
		}
		refundA, _ := ref.Body["out_refund_no"].(string)
		testkit.Eventually(t, func() error {
			if r := s.Refund(refundA); r.Status != cloudpay.RefundSucceeded {
				return fmt.Errorf("refund of A is %s", r.Status)
			}
			return nil
		})
		outsideNo, outsideTID := s.OutsidePayment(testkit.Alice, 500)
		drop := "refund_callback"
		if ch == wechat.V3 {
			drop = "v3_notify"
		}
		s.Fault(drop, "drop", 1, nil)
		platformRefund := s.OutsideRefund("RECONC001", 400)

		for _, p := range []map[string]any{
			{"date": day, "kind": "missing_payment", "out_trade_no": "RECONB001"},
			{"date": day, "kind": "amount", "out_trade_no": "RECONC001", "amount_fen": 3_001},
			{"date": day, "kind": "status", "out_trade_no": "RECOND001", "status": "REVOKED"},
			{"date": day, "kind": "missing_refund", "out_refund_no": refundA},
		} {
			if r := s.SimPost("/bills/plant", p); r.Status >= 300 {
				t.Fatalf("plant %v: %d %s", p, r.Status, r.Raw)
			}
		}

		if r := run(day); r.Status != http.StatusConflict || r.ErrorCode() != "BILL_NOT_READY" {
			t.Fatalf("reconcile before the bill is made: %d %s", r.Status, r.Raw)
		}
		s.Advance(36 * time.Hour) // WeChat's side: past 10:00 the next day
		first := run(day)
		if first.Status != http.StatusOK {
			t.Fatalf("reconcile: %d %s", first.Status, first.Raw)
		}
		type found struct{ kind, number, resolved string }
		want := map[found]bool{
			{"unknown_payment", outsideNo, "adopted"}:     true,
			{"unknown_refund", platformRefund, "adopted"}: true,
			{"missing_payment", "RECONB001", ""}:          true,
			{"amount", "RECONC001", ""}:                   true,
			{"status", "RECOND001", ""}:                   true,
			{"missing_refund", refundA, ""}:               true,
		}
		diffs, _ := first.Body["differences"].([]any)
		got := map[found]int{}
		for _, raw := range diffs {
			d, _ := raw.(map[string]any)
			number, _ := d["out_refund_no"].(string)
			if number == "" {
				number, _ = d["out_trade_no"].(string)
			}
			resolved, _ := d["resolved"].(string)
			got[found{d["kind"].(string), number, resolved}]++
		}
		for f := range want {
			if got[f] != 1 {
				t.Errorf("difference %+v found %d times (all: %v)", f, got[f], got)
			}
		}
		if len(got) != len(want) {
			t.Errorf("differences %v, want exactly %v", got, want)
		}

		// WeChat's bills are kept beside the report: the trade bill, and on
		// API v3 the fund-flow bill too.
		wantBills := int64(1)
		if ch == wechat.V3 {
			wantBills = 2
		}
		if n := s.Count("bills"); n != wantBills {
			t.Errorf("%d bills kept, want %d", n, wantBills)
		}

		// Adopted: the outside payment is an order, the platform's refund is in the ledger.
		if o := s.Order(outsideNo); !o.Adopted || o.TransactionID != outsideTID || o.AmountFen != 500 {
			t.Errorf("the outside payment after reconciliation: %+v", o)
		}
		if e := s.Ledger("RECONC001"); e.RefundedFen != 400 {
			t.Errorf("order C's ledger after reconciliation: %+v", e)
		}
		if ev := s.Events(day + ":missing_payment:RECONB001"); len(ev) != 1 || ev[0].Type != cloudpay.EventReconMismatch {
			t.Errorf("mismatch events for B: %+v", ev)
		}

		// Again: the same report, nothing adopted twice, no new event.
		again := run(day)
		if d2, _ := again.Body["differences"].([]any); again.Status != http.StatusOK || len(d2) != len(diffs)-2 {
			// The two adopted items are no longer differences.
			t.Errorf("second run: %d, %d differences, want %d", again.Status, len(d2), len(diffs)-2)
		}
		if ev := s.Events(day + ":missing_payment:RECONB001"); len(ev) != 1 {
			t.Errorf("a second run raised the event again: %d", len(ev))
		}
		if e := s.Ledger("RECONC001"); e.RefundedFen != 400 {
			t.Errorf("the platform's refund adopted twice: %+v", e)
		}

		// The report is kept, listed, and downloadable as CSV.
		list := s.Do("GET", s.RefundURL+"/admin/api/reconciliations", nil, testkit.Admin())
		if reports, _ := list.Body["reports"].([]any); len(reports) != 1 {
			t.Errorf("reports listed: %s", list.Raw)
		}
		csv := s.Do("GET", s.RefundURL+"/admin/api/reconciliations/"+day+"?format=csv", nil, testkit.Admin())
		if csv.Status != http.StatusOK || !containsAll(string(csv.Raw), "missing_payment", "RECONB001", "20.00") {
			t.Errorf("CSV: %d %s", csv.Status, csv.Raw)
		}
		if r := s.Do("GET", s.RefundURL+"/admin/api/reconciliations/2001-01-01", nil, testkit.Admin()); r.Status != http.StatusNotFound {
			t.Errorf("a day never reconciled: %d", r.Status)
		}
		if r := run("yesterday"); r.Status != http.StatusBadRequest || r.ErrorField() != "date" {
			t.Errorf("a malformed date: %d %s", r.Status, r.Raw)
		}
	})
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
