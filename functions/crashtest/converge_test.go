//go:build linux

package crashtest

import (
	"net/http"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// converge lets time pass after a crash: close-expired runs (its clock
// later ahead) pass after pass while the others act as they would —
// WeChat settles the refunds it holds, users confirm their transfers, the
// operator reviews the requests nobody decided yet — until every invariant
// holds; then one more pass must find nothing to do. It fails the test with
// what is still wrong at the deadline.
func (w *world) converge() {
	w.t.Helper()
	w.startJob(later, "", 1)
	deadline := time.Now().Add(convergeTimeout)
	var problems []string
	for n := 1; ; n++ {
		r := w.pass()
		acted := w.actAsOthers(w.snapshot())
		w.step("pass %d: %+v, others acted: %v", n, r, acted)
		if !acted {
			if problems = w.check(); len(problems) == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			w.dump("refund_batches", "job_cursors", "job_actions", "refunds", "refund_ledger", "withdrawals", "wallet_ledger")
			w.t.Fatalf("not converged after %s:\n  %s", convergeTimeout, strings.Join(problems, "\n  "))
		}
		if r.idle() && !acted {
			// What is left is younger than the sweep's grace, or waits for
			// a background run (a batch): give it a moment.
			time.Sleep(100 * time.Millisecond)
		}
	}
	if r := w.pass(); !r.idle() {
		w.t.Errorf("a pass after convergence still acted: %+v", r)
	}
	if problems := w.check(); len(problems) > 0 {
		w.t.Fatalf("a pass after convergence broke:\n  %s", strings.Join(problems, "\n  "))
	}
}

// actAsOthers does what WeChat, the users and the operator do on their
// own, and reports whether it did anything.
func (w *world) actAsOthers(s snapshot) bool {
	w.t.Helper()
	acted := false
	for no, r := range s.simRefunds {
		if r.Status == "PROCESSING" {
			w.must("POST", w.simControl()+"/refunds/"+no+"/settle", anyone, map[string]any{"status": "SUCCESS"}, http.StatusOK)
			acted = true
		}
	}
	for no, tr := range s.simTransfers {
		if tr.State == "WAIT_USER_CONFIRM" {
			w.must("POST", w.simControl()+"/transfers/"+no+"/confirm", anyone, nil, http.StatusOK)
			acted = true
		}
	}
	for no, r := range s.refunds {
		w.mu.Lock()
		decided := w.decided[no]
		w.mu.Unlock()
		if r.Status == cloudpay.RefundPendingReview && !decided {
			// 409: a decision was recorded by a request that died; it stands.
			if a := w.review(no, "approve"); a.err != nil || (a.status/100 != 2 && a.status != http.StatusConflict) {
				w.t.Fatalf("approve %s: %s", no, a)
			}
			acted = true
		}
	}
	return acted
}

// dump logs the documents of the collections, for a failure's story.
func (w *world) dump(cols ...string) {
	w.t.Helper()
	for _, col := range cols {
		var b strings.Builder
		for _, doc := range readAll[bson.M](w, col) {
			raw, _ := bson.MarshalExtJSON(doc, false, false)
			b.Write(raw)
			b.WriteString("\n")
		}
		w.t.Logf("%s:\n%s", col, b.String())
	}
}
