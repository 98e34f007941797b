package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/testkit"
)

type progress struct {
	Total, Done, Succeeded, Failed, Processing int
	Items                                      []struct {
		Key         string `json:"key"`
		OutTradeNo  string `json:"out_trade_no"`
		OutRefundNo string `json:"out_refund_no"`
		Status      string `json:"status"`
		Retryable   bool   `json:"retryable"`
	}
}

func (s *stack) batchProgress(id string) progress {
	s.t.Helper()
	r := s.do("GET", s.RefundURL+"/refunds/batches/"+id, nil, admin())
	if r.status != http.StatusOK {
		s.t.Fatalf("batch progress: %d %s", r.status, r.raw)
	}
	var p progress
	decode(s.t, r.raw, &p)
	return p
}

// waitBatch polls a batch's progress until every item is done, checking
// at each look that progress is consistent and only moves forward.
func (s *stack) waitBatch(id string) progress {
	s.t.Helper()
	last := -1
	var p progress
	testkit.Eventually(s.t, func() error {
		p = s.batchProgress(id)
		if p.Done < last {
			s.t.Fatalf("progress went back from %d to %d", last, p.Done)
		}
		if p.Done+p.Processing != p.Total || p.Succeeded+p.Failed != p.Done {
			s.t.Fatalf("inconsistent progress: %+v", p)
		}
		last = p.Done
		if p.Done != p.Total {
			return fmt.Errorf("batch stuck: %d of %d done", p.Done, p.Total)
		}
		return nil
	})
	return p
}

func TestBatchOf200WithInjectedFailures(t *testing.T) {
	t.Parallel()
	testkit.ForEachChannel(t, func(t *testing.T, ch string) {
		s := newStack(t, testkit.Channel(ch))
		const n = 200
		start := time.Now()
		items := make([]map[string]any, n)
		for i := range n {
			no := fmt.Sprintf("CAMP%04d", i)
			items[i] = map[string]any{"out_trade_no": no, "amount_fen": 1990, "reason": "camp cancelled", "key": "camp-2026-" + no}
		}
		s.Concurrently(n, func(i int) { s.Paid(str(items[i]["out_trade_no"]), alice, 1990) })
		t.Logf("%d paid orders in %v", n, time.Since(start))
		start = time.Now()
		// 3 refused for now, 2 for good, among the first calls.
		s.Fault("refund", "fail", 3, map[string]any{"code": "SYSTEM_ERROR"})
		s.Fault("refund", "fail", 2, map[string]any{"code": "INVALID_REQUEST"})
		body := map[string]any{"idempotency_key": "camp-2026", "label": "camp 2026", "items": items}
		r := s.do("POST", s.RefundURL+"/refunds/batch", body, admin())
		if r.status != http.StatusAccepted || r.body["batch_id"] == nil {
			t.Fatalf("batch: %d %s", r.status, r.raw)
		}
		id := str(r.body["batch_id"])
		p := s.waitBatch(id)
		t.Logf("batch of %d done in %v; %+v", n, time.Since(start), s.Refunds.Stats())
		if p.Total != n || p.Succeeded != n-5 || p.Failed != 5 {
			t.Fatalf("batch ended %+v, want %d succeeded and 5 failed", p, n-5)
		}
		retryable := 0
		for _, it := range p.Items {
			if it.Status == "failed" && it.Retryable {
				retryable++
			}
		}
		if retryable != 3 {
			t.Fatalf("retryable failures = %d, want 3", retryable)
		}
		atWeChat := len(s.SimCalls("refund"))

		// The same batch again, and one of its items in another batch: nothing more.
		again := s.do("POST", s.RefundURL+"/refunds/batch", body, admin())
		if again.status != http.StatusOK || again.body["batch_id"] != id {
			t.Fatalf("resubmitted batch: %d %s", again.status, again.raw)
		}
		var done map[string]any // an item that succeeded
		for i, it := range p.Items {
			if it.Status == "succeeded" {
				done = items[i]
				break
			}
		}
		other := s.do("POST", s.RefundURL+"/refunds/batch", map[string]any{"idempotency_key": "camp-2026-b", "items": []any{done}}, admin())
		if other.status != http.StatusAccepted {
			t.Fatalf("second batch: %d %s", other.status, other.raw)
		}
		changed := body
		changed["items"] = items[:10]
		if c := s.do("POST", s.RefundURL+"/refunds/batch", changed, admin()); c.status != http.StatusConflict || c.errorCode() != "BATCH_CONFLICT" {
			t.Fatalf("same key, other items: %d %s", c.status, c.raw)
		}
		s.Refunds.Wait()
		if p2 := s.batchProgress(str(other.body["batch_id"])); p2.Succeeded != 1 {
			t.Fatalf("an item resubmitted elsewhere: %+v", p2)
		}
		if got := len(s.SimCalls("refund")); got != atWeChat {
			t.Fatalf("resubmitting made %d more refund calls", got-atWeChat)
		}

		// Retry the failures: same numbers, and the batch completes.
		for _, it := range p.Items {
			if it.Status != "failed" {
				continue
			}
			rr := s.do("POST", s.RefundURL+"/refunds/"+it.OutRefundNo+"/retry", nil, admin())
			if rr.status != http.StatusOK || rr.body["out_refund_no"] != it.OutRefundNo {
				t.Fatalf("retry %s: %d %s", it.Key, rr.status, rr.raw)
			}
		}
		// Refunds refused for good took a new reservation, and wait out
		// WeChat's minute since their order's last refund.
		s.Advance(61 * time.Second)
		if _, err := s.Refunds.SendDue(context.Background(), 100); err != nil {
			t.Fatal(err)
		}
		if p := s.waitBatch(id); p.Succeeded != n {
			t.Fatalf("after retries: %+v", p)
		}
		seen := map[string]bool{}
		for _, c := range s.SimCalls("refund") {
			no, _ := refundCall(t, c)
			seen[no] = true
		}
		if len(seen) != n {
			t.Fatalf("%d distinct refunds reached WeChat, want %d", len(seen), n)
		}
	})
}

func decode(t *testing.T, raw []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
}
