package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

func (s *stack) postRefund(no string, fen int64, key string) response {
	return s.do("POST", s.RefundURL+"/refunds", map[string]any{
		"out_trade_no": no, "amount_fen": fen, "reason": "course cancelled", "idempotency_key": key,
	}, admin())
}

func (s *stack) getRefund(outRefundNo string) response {
	return s.do("GET", s.RefundURL+"/refunds/"+outRefundNo, nil, admin())
}

func str(v any) string { s, _ := v.(string); return s }

func TestRefundEndToEnd(t *testing.T) {
	t.Parallel()
	testkit.ForEachChannel(t, func(t *testing.T, ch string) {
		s := newStack(t, testkit.Channel(ch), testkit.ManualRefunds())
		s.Paid("RFE001", alice, 5000)

		r := s.postRefund("RFE001", 2000, "k-rf001-1")
		if r.status != http.StatusAccepted || r.body["status"] != "processing" {
			t.Fatalf("create refund: %d %s", r.status, r.raw)
		}
		no := str(r.body["out_refund_no"])
		if !cloudpay.ValidOutRefundNo(no) || no != cloudpay.OutRefundNoForKey("k-rf001-1") {
			t.Fatalf("out_refund_no = %q", no)
		}
		// The same key again: the same refund, nothing new at WeChat.
		if again := s.postRefund("RFE001", 2000, "k-rf001-1"); again.status != http.StatusOK || again.body["out_refund_no"] != no {
			t.Fatalf("same key again: %d %s", again.status, again.raw)
		}
		if again := s.postRefund("RFE001", 2100, "k-rf001-1"); again.status != http.StatusConflict || again.errorCode() != "REFUND_CONFLICT" {
			t.Fatalf("same key, other amount: %d %s", again.status, again.raw)
		}
		if n := len(s.SimCalls("refund")); n != 1 {
			t.Fatalf("refund calls = %d, want 1", n)
		}
		d := s.getRefund(no)
		live, _ := d.body["wechat"].(map[string]any)
		if d.status != http.StatusOK || live["status"] != "PROCESSING" {
			t.Fatalf("detail while processing: %d %s", d.status, d.raw)
		}

		s.Settle(no, "SUCCESS")
		if doc := s.Refund(no); doc.Status != cloudpay.RefundSucceeded || doc.SucceededAt == nil {
			t.Fatalf("refund after WeChat's callback: %+v", doc)
		}
		if o := s.Order("RFE001"); o.Status != cloudpay.OrderPartiallyRefunded || o.RefundedFen != 2000 {
			t.Fatalf("order after a partial refund: %s %d", o.Status, o.RefundedFen)
		}
		evs := s.Events(no)
		if len(evs) != 1 || evs[0].Type != cloudpay.EventRefundSucceeded {
			t.Fatalf("events of %s = %+v", no, evs)
		}
		// More than is left is refused and changes nothing.
		if over := s.postRefund("RFE001", 3001, "k-rf001-2"); over.status != http.StatusUnprocessableEntity || over.errorCode() != "REFUND_EXCEEDS_PAID" {
			t.Fatalf("refund over the rest: %d %s", over.status, over.raw)
		}
		// The rest, after WeChat's minute between two refunds of one order.
		rest := s.postRefund("RFE001", 3000, "k-rf001-3")
		if rest.status != http.StatusAccepted || rest.body["status"] != "approved" || rest.body["not_before"] == nil {
			t.Fatalf("second refund within a minute must queue: %d %s", rest.status, rest.raw)
		}
		s.Advance(61 * time.Second)
		if n, err := s.Refunds.SendDue(context.Background(), 10); err != nil || n != 1 {
			t.Fatalf("send due = %d, %v", n, err)
		}
		rest2 := str(rest.body["out_refund_no"])
		s.Settle(rest2, "SUCCESS")
		if o := s.Order("RFE001"); o.Status != cloudpay.OrderRefunded || o.RefundedFen != 5000 {
			t.Fatalf("order after refunding all: %s %d", o.Status, o.RefundedFen)
		}
		if e := s.Ledger("RFE001"); e.RefundedFen != 5000 || e.ReservedFen != 0 || e.Count != 2 {
			t.Fatalf("ledger: %+v", e)
		}
		// A late pay callback replay does not undo the refund status.
		if r := s.simPost("/notify", map[string]any{"out_trade_no": "RFE001"}); r.status != http.StatusOK {
			t.Fatalf("replay pay callback: %d %s", r.status, r.raw)
		}
		if o := s.Order("RFE001"); o.Status != cloudpay.OrderRefunded {
			t.Fatalf("order after a replayed pay callback: %s", o.Status)
		}
	})
}

func TestConcurrentPartialRefundsNeverExceedThePaidAmount(t *testing.T) {
	t.Parallel()
	testkit.ForEachChannel(t, func(t *testing.T, ch string) {
		s := newStack(t, testkit.Channel(ch))
		const paidFen = 10_000
		s.Paid("RFC001", alice, paidFen)

		// 100 requests: amounts 50..545 fen (sum 29,750, three times what was
		// paid); every fifth shares its key with the one before.
		type req struct {
			key string
			fen int64
		}
		reqs := make([]req, 100)
		for i := range reqs {
			reqs[i] = req{key: fmt.Sprintf("k-%d", i), fen: int64(50 + 5*i)}
			if i%5 == 4 {
				reqs[i] = reqs[i-1]
			}
		}
		var wg sync.WaitGroup
		results := make([]response, len(reqs))
		for i, rq := range reqs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], _ = whileBusy(func() response { return s.postRefund("RFC001", rq.fen, rq.key) })
			}()
		}
		wg.Wait()
		accepted := map[string]int64{}
		for i, r := range results {
			switch r.status {
			case http.StatusAccepted, http.StatusOK:
				accepted[str(r.body["out_refund_no"])] = reqs[i].fen
			case http.StatusUnprocessableEntity:
				if r.errorCode() != "REFUND_EXCEEDS_PAID" && r.errorCode() != "REFUND_LIMIT" {
					t.Fatalf("refusal: %s", r.raw)
				}
			default:
				t.Fatalf("refund %d: %d %s", i, r.status, r.raw)
			}
		}
		var reserved int64
		for _, fen := range accepted {
			reserved += fen
		}
		if reserved > paidFen || len(accepted) > 50 {
			t.Fatalf("accepted %d refunds for %d fen of %d paid", len(accepted), reserved, paidFen)
		}
		// Let every queued refund have its turn, a minute apart.
		for range len(accepted) + 1 {
			s.Advance(61 * time.Second)
			if _, err := s.Refunds.SendDue(context.Background(), 100); err != nil {
				t.Fatal(err)
			}
		}
		s.Refunds.Wait()
		amountOf := map[string]map[int64]bool{}
		var sent int64
		for _, c := range s.SimCalls("refund") {
			no, fen := refundCall(t, c)
			if amountOf[no] == nil {
				amountOf[no] = map[int64]bool{}
				sent += fen
			}
			amountOf[no][fen] = true
		}
		for no, amounts := range amountOf {
			if len(amounts) != 1 {
				t.Errorf("%s sent with amounts %v", no, amounts)
			}
			if _, ok := accepted[no]; !ok {
				t.Errorf("%s reached WeChat but was never accepted here", no)
			}
		}
		if sent > paidFen || len(amountOf) != len(accepted) {
			t.Fatalf("WeChat got %d refunds for %d fen; %d accepted for %d", len(amountOf), sent, len(accepted), reserved)
		}
		e := s.Ledger("RFC001")
		if int64(e.ReservedFen+e.RefundedFen) != reserved || e.Count != len(accepted) {
			t.Fatalf("ledger %+v, refunds hold %d fen in %d", e, reserved, len(accepted))
		}
	})
}

// refundCall reads out_refund_no and the amount from a refund call of
// either channel.
func refundCall(t *testing.T, c map[string]any) (string, int64) {
	t.Helper()
	var b struct {
		OutRefundNo string `json:"out_refund_no"`
		RefundFee   int64  `json:"refund_fee"`
		Amount      struct {
			Refund int64 `json:"refund"`
		} `json:"amount"`
	}
	raw, _ := json.Marshal(c["body"])
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatalf("refund call body: %s", raw)
	}
	return b.OutRefundNo, b.RefundFee + b.Amount.Refund
}

func TestRefundTimeoutThenRetryUsesTheSameNumber(t *testing.T) {
	t.Parallel()
	testkit.ForEachChannel(t, func(t *testing.T, ch string) {
		s := newStack(t, testkit.Channel(ch), testkit.ManualRefunds(), testkit.GatewayTimeout(testkit.FaultTimeout))
		s.Paid("RFT001", alice, 3000)
		s.Fault("refund", "timeout", 1, nil)
		r := s.postRefund("RFT001", 1000, "k-timeout")
		no := str(r.body["out_refund_no"])
		if r.status != http.StatusAccepted || r.body["status"] != "processing" {
			t.Fatalf("refund that timed out must stay processing: %d %s", r.status, r.raw)
		}
		if e, _ := r.body["last_error"].(map[string]any); e["code"] != "WECHAT_TIMEOUT" {
			t.Fatalf("last_error: %s", r.raw)
		}
		retry := s.do("POST", s.RefundURL+"/refunds/"+no+"/retry", nil, admin())
		if retry.status != http.StatusOK || retry.body["out_refund_no"] != no || retry.body["status"] != "processing" {
			t.Fatalf("retry: %d %s", retry.status, retry.raw)
		}
		if refunds := s.SimRefunds("RFT001"); len(refunds) != 1 || refunds[0]["out_refund_no"] != no {
			t.Fatalf("WeChat's refunds: %v", refunds)
		}
		for _, c := range s.SimCalls("refund") {
			if got, _ := refundCall(t, c); got != no {
				t.Fatalf("a retry used %s instead of %s", got, no)
			}
		}
		s.Settle(no, "SUCCESS")
		if doc := s.Refund(no); doc.Status != cloudpay.RefundSucceeded {
			t.Fatalf("refund: %s", doc.Status)
		}
	})
}

func TestFailures(t *testing.T) {
	t.Parallel()
	testkit.ForEachChannel(t, func(t *testing.T, ch string) {
		s := newStack(t, testkit.Channel(ch), testkit.ManualRefunds(), testkit.RefundConfig(cloudpayNoInterval()))
		s.Paid("RFF001", alice, 3000)

		// Final: released at once, and the order can be refunded in full.
		s.Fault("refund", "fail", 1, map[string]any{"code": "INVALID_REQUEST"})
		r := s.postRefund("RFF001", 1000, "k-final")
		if r.status != http.StatusAccepted || r.body["status"] != "failed" || r.body["retryable"] == true {
			t.Fatalf("final failure: %d %s", r.status, r.raw)
		}
		if e := s.Ledger("RFF001"); e.RefundableFen() != 3000 {
			t.Fatalf("after a final failure %d fen refundable, want 3000", e.RefundableFen())
		}
		if evs := s.Events(str(r.body["out_refund_no"])); len(evs) != 1 || evs[0].Type != cloudpay.EventRefundFailed {
			t.Fatalf("events: %+v", evs)
		}

		// Retryable: the amount stays reserved, a retry reuses the number.
		s.Fault("refund", "fail", 1, map[string]any{"code": "SYSTEM_ERROR"})
		r = s.postRefund("RFF001", 1000, "k-retryable")
		no := str(r.body["out_refund_no"])
		if r.body["status"] != "failed" || r.body["retryable"] != true {
			t.Fatalf("retryable failure: %s", r.raw)
		}
		if e := s.Ledger("RFF001"); e.RefundableFen() != 2000 {
			t.Fatalf("after a retryable failure %d fen refundable, want 2000", e.RefundableFen())
		}
		retry := s.do("POST", s.RefundURL+"/refunds/"+no+"/retry", nil, admin())
		if retry.status != http.StatusOK || retry.body["status"] != "processing" || retry.body["out_refund_no"] != no {
			t.Fatalf("retry: %d %s", retry.status, retry.raw)
		}
		s.Settle(no, "CLOSED")
		if doc := s.Refund(no); doc.Status != cloudpay.RefundClosed {
			t.Fatalf("closed refund: %s", doc.Status)
		}
		if e := s.Ledger("RFF001"); e.RefundableFen() != 3000 {
			t.Fatalf("after CLOSED %d fen refundable, want 3000", e.RefundableFen())
		}
		// A closed refund is final.
		if again := s.do("POST", s.RefundURL+"/refunds/"+no+"/retry", nil, admin()); again.status != http.StatusConflict || again.errorCode() != "REFUND_STATE" {
			t.Fatalf("retry a closed refund: %d %s", again.status, again.raw)
		}
		// An order that is not paid cannot be refunded.
		s.createOrder("RFF002", alice, 100)
		if r := s.postRefund("RFF002", 100, "k-unpaid"); r.status != http.StatusConflict || r.errorCode() != "ORDER_NOT_PAID" {
			t.Fatalf("refund of an unpaid order: %d %s", r.status, r.raw)
		}
	})
}

func cloudpayNoInterval() refund.Config { return refund.Config{MinInterval: 0} }

func TestRefundNotificationsThatMustChangeNothingWrong(t *testing.T) {
	t.Parallel()
	testkit.ForEachChannel(t, func(t *testing.T, ch string) {
		s := newStack(t, testkit.Channel(ch), testkit.ManualRefunds())
		s.Paid("RFN001", alice, 3000)
		no := str(s.postRefund("RFN001", 1000, "k-notify").body["out_refund_no"])

		// Forged: WeChat still says PROCESSING, or the signature fails.
		if ch == wechat.CloudHosting {
			forged := s.do("POST", s.PaymentCallbackURL+"/callbacks/refund", map[string]any{
				"returnCode": "SUCCESS", "subMchId": subMchID, "outRefundNo": no, "outTradeNo": "RFN001",
				"refundStatus": "SUCCESS", "refundFee": 1000, "totalFee": 3000,
			}, nil)
			if forged.body["errcode"] == float64(0) {
				t.Fatalf("forged refund callback acknowledged: %s", forged.raw)
			}
		} else {
			for _, kind := range []string{"bad_signature", "signtest", "stale", "tampered", "unknown_serial", "bad_resource"} {
				d := s.simPost("/forge", map[string]any{"kind": kind, "out_refund_no": no, "event_type": "REFUND.SUCCESS"})
				if d.status != http.StatusOK || d.body["ok"] == true {
					t.Fatalf("forged %s notification accepted: %d %s", kind, d.status, d.raw)
				}
			}
		}
		if doc := s.Refund(no); doc.Status != cloudpay.RefundProcessing {
			t.Fatalf("refund after forgeries: %s", doc.Status)
		}

		// WeChat settles it later than the forger asked (its callback is
		// confirmed by a query of its own: one per refund per 10 s).
		s.Advance(15 * time.Second)
		s.Settle(no, "SUCCESS")
		// Duplicates and stale genuine ones arrive afterwards.
		for _, state := range []string{"", "", "ABNORMAL", "CLOSED"} {
			if r := s.simPost("/refunds/"+no+"/notify", map[string]any{"status": state}); r.status != http.StatusOK {
				t.Fatalf("replay %q: %d %s", state, r.status, r.raw)
			}
		}
		if doc := s.Refund(no); doc.Status != cloudpay.RefundSucceeded {
			t.Fatalf("refund after replays: %s", doc.Status)
		}
		if evs := s.Events(no); len(evs) != 1 {
			t.Fatalf("events after replays: %+v", evs)
		}
		if e := s.Ledger("RFN001"); e.RefundedFen != 1000 || e.ReservedFen != 0 {
			t.Fatalf("ledger after replays: %+v", e)
		}
		// A notification for a refund we never made is acknowledged and ignored.
		if r := s.getRefund("RFunknown"); r.status != http.StatusNotFound || r.errorCode() != "REFUND_NOT_FOUND" {
			t.Fatalf("unknown refund: %d %s", r.status, r.raw)
		}
	})
}

func TestRefundRequestsAndReview(t *testing.T) {
	t.Parallel()
	testkit.ForEachChannel(t, func(t *testing.T, ch string) {
		s := newStack(t, testkit.Channel(ch), testkit.ManualRefunds())
		s.Paid("RFR001", alice, 3000)
		request := func(openid string, fen int64) response {
			return s.do("POST", s.RefundURL+"/refund-requests",
				map[string]any{"out_trade_no": "RFR001", "amount_fen": fen, "reason": "cannot attend"}, user(openid))
		}
		if r := request(bob, 100); r.status != http.StatusForbidden || r.errorCode() != "FORBIDDEN" {
			t.Fatalf("another user's order: %d %s", r.status, r.raw)
		}
		if r := s.do("POST", s.RefundURL+"/refund-requests", map[string]any{"out_trade_no": "RFR001", "amount_fen": 100}, nil); r.status != http.StatusUnauthorized {
			t.Fatalf("request without identity: %d %s", r.status, r.raw)
		}
		first := request(alice, 2000)
		if first.status != http.StatusCreated || first.body["status"] != "pending_review" {
			t.Fatalf("request: %d %s", first.status, first.raw)
		}
		if r := request(alice, 1001); r.errorCode() != "REFUND_EXCEEDS_PAID" {
			t.Fatalf("requests beyond the paid amount: %d %s", r.status, r.raw)
		}
		no1 := str(first.body["out_refund_no"])
		rej := s.do("POST", s.RefundURL+"/refunds/"+no1+"/reject", map[string]any{"note": "attended"}, admin())
		if rej.status != http.StatusOK || rej.body["status"] != "rejected" || rej.body["note"] != "attended" {
			t.Fatalf("reject: %d %s", rej.status, rej.raw)
		}
		if e := s.Ledger("RFR001"); e.RefundableFen() != 3000 {
			t.Fatalf("rejecting must release: %d refundable", e.RefundableFen())
		}
		if r := s.do("POST", s.RefundURL+"/refunds/"+no1+"/approve", nil, admin()); r.status != http.StatusConflict || r.errorCode() != "REFUND_STATE" {
			t.Fatalf("approve a rejected request: %d %s", r.status, r.raw)
		}
		if n := len(s.SimCalls("refund")); n != 0 {
			t.Fatalf("refund calls = %d before any approval", n)
		}

		second := request(alice, 1500)
		no2 := str(second.body["out_refund_no"])
		app := s.do("POST", s.RefundURL+"/refunds/"+no2+"/approve", map[string]any{"note": "ok"}, admin())
		if app.status != http.StatusOK || app.body["status"] != "processing" {
			t.Fatalf("approve: %d %s", app.status, app.raw)
		}
		if r := s.do("POST", s.RefundURL+"/refunds/"+no2+"/reject", nil, admin()); r.errorCode() != "REFUND_STATE" {
			t.Fatalf("reject an approved request: %d %s", r.status, r.raw)
		}
		s.Settle(no2, "SUCCESS")
		if doc := s.Refund(no2); doc.Status != cloudpay.RefundSucceeded {
			t.Fatalf("approved request: %s", doc.Status)
		}
		list := s.do("GET", s.RefundURL+"/refunds?out_trade_no=RFR001&limit=1", nil, admin())
		totals, _ := list.body["totals"].(map[string]any)
		refunds, _ := list.body["refunds"].([]any)
		if list.status != http.StatusOK || totals["count"] != float64(2) || totals["amount_fen"] != float64(3500) || len(refunds) != 1 || list.body["next_cursor"] == nil {
			t.Fatalf("list: %d %s", list.status, list.raw)
		}
		next := s.do("GET", s.RefundURL+"/refunds?out_trade_no=RFR001&limit=1&cursor="+str(list.body["next_cursor"]), nil, admin())
		refunds2, _ := next.body["refunds"].([]any)
		if len(refunds2) != 1 || next.body["next_cursor"] != nil {
			t.Fatalf("second page: %s", next.raw)
		}
		a, _ := refunds[0].(map[string]any)
		b, _ := refunds2[0].(map[string]any)
		if a["out_refund_no"] == b["out_refund_no"] {
			t.Fatal("pages repeat a refund")
		}
	})
}

func TestRefundRules(t *testing.T) {
	t.Parallel()
	s := newStack(t, testkit.ManualRefunds(), testkit.RefundConfig(refund.Config{MinInterval: 0}))
	s.Paid("RULE001", alice, 100)
	for i := range 50 {
		if r := s.postRefund("RULE001", 1, fmt.Sprintf("k-rule-%d", i)); r.status != http.StatusAccepted {
			t.Fatalf("refund %d: %d %s", i, r.status, r.raw)
		}
	}
	if r := s.postRefund("RULE001", 1, "k-rule-50"); r.status != http.StatusUnprocessableEntity || r.errorCode() != "REFUND_LIMIT" {
		t.Fatalf("51st refund of an order: %d %s", r.status, r.raw)
	}
	if e := s.Ledger("RULE001"); e.Count != 50 || e.ReservedFen != 50 {
		t.Fatalf("ledger after the limit: %+v", e)
	}

	s.Paid("RULE002", alice, 100)
	s.Advance(366 * 24 * time.Hour)
	if r := s.postRefund("RULE002", 1, "k-late"); r.status != http.StatusUnprocessableEntity || r.errorCode() != "REFUND_TOO_LATE" {
		t.Fatalf("refund after a year: %d %s", r.status, r.raw)
	}
	if _, found, _ := s.Store.RefundLedgerTail(context.Background(), "RULE002"); found {
		t.Fatal("a refused refund wrote to the ledger")
	}
}

func TestRefundAbnormalThenSucceeded(t *testing.T) {
	t.Parallel()
	testkit.ForEachChannel(t, func(t *testing.T, ch string) {
		s := newStack(t, testkit.Channel(ch), testkit.ManualRefunds())
		s.Paid("ABN001", alice, 900)
		no := str(s.postRefund("ABN001", 900, "k-abnormal").body["out_refund_no"])
		s.Settle(no, "ABNORMAL")
		if doc := s.Refund(no); doc.Status != cloudpay.RefundAbnormal {
			t.Fatalf("after ABNORMAL: %s", doc.Status)
		}
		if e := s.Ledger("ABN001"); e.ReservedFen != 900 {
			t.Fatalf("an abnormal refund keeps its amount reserved: %+v", e)
		}
		// Retrying an abnormal refund asks WeChat, and says what to do.
		if r := s.do("POST", s.RefundURL+"/refunds/"+no+"/retry", nil, admin()); r.status != http.StatusConflict || r.errorCode() != "REFUND_STATE" {
			t.Fatalf("retry an abnormal refund: %d %s", r.status, r.raw)
		}
		// The merchant settles it in the merchant platform, later: WeChat's
		// callback about it is confirmed by a query of its own (one per
		// refund per 10 s).
		s.Advance(15 * time.Second)
		s.Settle(no, "SUCCESS")
		if o := s.Order("ABN001"); o.Status != cloudpay.OrderRefunded {
			t.Fatalf("order after the abnormal refund succeeded: %s", o.Status)
		}
	})
}

func TestRefundInputIsRefused(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.Paid("BADIN001", alice, 100)
	valid := func() map[string]any {
		return map[string]any{"out_trade_no": "BADIN001", "amount_fen": 1, "reason": "r", "idempotency_key": "k"}
	}
	// Serial subtests: the test checks after them that none changed anything.
	for _, tc := range []struct {
		name, field, code string
		edit              func(m map[string]any)
	}{
		{"zero amount", "amount_fen", "INVALID_FIELD", func(m map[string]any) { m["amount_fen"] = 0 }},
		{"negative amount", "amount_fen", "INVALID_FIELD", func(m map[string]any) { m["amount_fen"] = -5 }},
		{"fractional amount", "amount_fen", "INVALID_FIELD", func(m map[string]any) { m["amount_fen"] = 1.5 }},
		{"amount as text", "amount_fen", "INVALID_FIELD", func(m map[string]any) { m["amount_fen"] = "1" }},
		{"huge amount", "amount_fen", "INVALID_FIELD", func(m map[string]any) { m["amount_fen"] = 1e12 }},
		{"no key", "idempotency_key", "INVALID_FIELD", func(m map[string]any) { delete(m, "idempotency_key") }},
		{"bad order number", "out_trade_no", "INVALID_FIELD", func(m map[string]any) { m["out_trade_no"] = "x y" }},
		{"control character in reason", "reason", "INVALID_FIELD", func(m map[string]any) { m["reason"] = "a\u0000b" }},
		{"reason too long", "reason", "INVALID_FIELD", func(m map[string]any) { m["reason"] = strings.Repeat("退", 81) }},
		{"unknown field", "out_refund_no", "UNKNOWN_FIELD", func(m map[string]any) { m["out_refund_no"] = "RF1" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := valid()
			tc.edit(body)
			r := s.do("POST", s.RefundURL+"/refunds", body, admin())
			if r.status != http.StatusBadRequest || r.errorCode() != tc.code || r.errorField() != tc.field {
				t.Fatalf("%d %s, want 400 %s naming %s", r.status, r.raw, tc.code, tc.field)
			}
		})
	}
	batchItem := map[string]any{"out_trade_no": "BADIN001", "amount_fen": 1, "reason": "r", "key": "a"}
	for _, tc := range []struct {
		name, field string
		body        map[string]any
	}{
		{"no items", "items", map[string]any{"idempotency_key": "b1", "items": []any{}}},
		{"bad item amount", "items[1].amount_fen", map[string]any{"idempotency_key": "b2", "items": []any{batchItem,
			map[string]any{"out_trade_no": "BADIN001", "amount_fen": 0, "key": "b"}}}},
		{"repeated item key", "items[1].key", map[string]any{"idempotency_key": "b3", "items": []any{batchItem, batchItem}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do("POST", s.RefundURL+"/refunds/batch", tc.body, admin())
			if r.status != http.StatusBadRequest || r.errorField() != tc.field {
				t.Fatalf("%d %s, want 400 naming %s", r.status, r.raw, tc.field)
			}
		})
	}
	for _, q := range []string{"limit=0", "limit=201", "limit=x", "status=paid", "cursor=nope", "colour=red", "limit=1&limit=2"} {
		if r := s.do("GET", s.RefundURL+"/refunds?"+q, nil, admin()); r.status != http.StatusBadRequest {
			t.Errorf("list ?%s: %d %s", q, r.status, r.raw)
		}
	}
	if r := s.do("GET", s.RefundURL+"/refunds", nil, nil); r.status != http.StatusUnauthorized {
		t.Errorf("list without a token: %d", r.status)
	}
	if n := len(s.SimCalls("refund")); n != 0 || s.Count("refunds") != 0 || s.Count("refund_ledger") != 0 {
		t.Fatalf("refused input changed something: %d calls, %d refunds", n, s.Count("refunds"))
	}
}

// A crash can stop a writer between any two of its writes; the claims and
// the ledger are the authority and the next caller completes the rest.
func TestRefundCrashPointsAreRepaired(t *testing.T) {
	t.Parallel()
	s := newStack(t, testkit.ManualRefunds())
	ctx := context.Background()
	s.Paid("CRASHRF1", alice, 1000)

	// 1. Reserved in the ledger, then the process died before the refund
	// document was written: the same request again completes it once.
	no := cloudpay.OutRefundNoForKey("k-crash-1")
	snapshot := cloudpay.Refund{OutRefundNo: no, OutTradeNo: "CRASHRF1", OpenID: alice, AmountFen: 400, TotalFen: 1000,
		Status: cloudpay.RefundApproved, Round: 1, Source: cloudpay.SourceAdmin, IdempotencyKey: "k-crash-1",
		CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC(), NotBefore: time.Now().UTC()}
	_, appended, err := s.Store.AppendRefundEntry(ctx, "CRASHRF1", "reserve:"+no+":1",
		func(tail cloudpay.RefundEntry, found bool) (cloudpay.RefundEntry, error) {
			return cloudpay.RefundEntry{Kind: cloudpay.EntryReserve, OutRefundNo: no, AmountFen: 400, PaidFen: 1000,
				ReservedFen: 400, Count: 1, Slot: snapshot.NotBefore, NextSlot: snapshot.NotBefore.Add(time.Minute), Refund: &snapshot}, nil
		})
	if err != nil || !appended {
		t.Fatalf("seed the reservation: %v %v", appended, err)
	}
	r := s.postRefund("CRASHRF1", 400, "k-crash-1")
	if r.status != http.StatusOK || r.body["out_refund_no"] != no || r.body["status"] != "processing" {
		t.Fatalf("request after the crash: %d %s", r.status, r.raw)
	}
	if e := s.Ledger("CRASHRF1"); e.Seq != 1 || e.ReservedFen != 400 {
		t.Fatalf("ledger after the repair: %+v", e)
	}

	// 2. WeChat's success was claimed, then the process died before the
	// ledger, the event and the projection: the next reader finishes them.
	s.Fault("refund_callback", "drop", 1, nil)
	s.Settle(no, "SUCCESS")
	if _, _, err := s.Store.ClaimRefundOutcome(ctx, refund.Outcome{
		ID: refund.OutcomeID(no, 1), OutRefundNo: no, Round: 1, Kind: cloudpay.EntrySettle,
		Outcome: cloudpay.RefundSucceeded, CreatedAt: time.Now().UTC(),
	}); err != nil {
		t.Fatal(err)
	}
	if doc := s.Refund(no); doc.Status != cloudpay.RefundProcessing {
		t.Fatalf("projection before the repair: %s", doc.Status)
	}
	// WeChat is down: the repair must not need it.
	s.Fault("queryrefund", "fail", 5, map[string]any{"code": "SYSTEM_ERROR"})
	p := s.do("GET", s.RefundURL+"/refunds?out_trade_no=CRASHRF1", nil, admin())
	if listed, _ := p.body["refunds"].([]any); len(listed) != 1 || listed[0].(map[string]any)["status"] != "succeeded" {
		t.Fatalf("list after the crash: %d %s", p.status, p.raw)
	}
	if d := s.getRefund(no); d.body["status"] != "succeeded" {
		t.Fatalf("detail after the crash: %s", d.raw)
	}
	if e := s.Ledger("CRASHRF1"); e.RefundedFen != 400 || e.ReservedFen != 0 {
		t.Fatalf("ledger after the repair: %+v", e)
	}
	if evs := s.Events(no); len(evs) != 1 || evs[0].Type != cloudpay.EventRefundSucceeded {
		t.Fatalf("events after the repair: %+v", evs)
	}
	if o := s.Order("CRASHRF1"); o.Status != cloudpay.OrderPartiallyRefunded {
		t.Fatalf("order after the repair: %s", o.Status)
	}
	// The callback arrives at last: nothing more happens.
	if r := s.simPost("/refunds/"+no+"/notify", map[string]any{}); r.status != http.StatusOK {
		t.Fatalf("late callback: %d %s", r.status, r.raw)
	}
	if e := s.Ledger("CRASHRF1"); e.RefundedFen != 400 || len(s.Events(no)) != 1 {
		t.Fatalf("late callback changed the ledger: %+v", e)
	}
}

// A full refund was reserved, then the process died before the refund was
// written: the same request again finds its own reservation instead of
// being refused because of it.
func TestFullRefundRetryAfterACrashFindsItsOwnReservation(t *testing.T) {
	t.Parallel()
	s := newStack(t, testkit.ManualRefunds())
	ctx := context.Background()
	s.Paid("CRASHFULL", alice, 1000)
	no := cloudpay.OutRefundNoForKey("k-full")
	now := time.Now().UTC()
	snapshot := cloudpay.Refund{OutRefundNo: no, OutTradeNo: "CRASHFULL", OpenID: alice, AmountFen: 1000, TotalFen: 1000,
		Status: cloudpay.RefundApproved, Round: 1, Source: cloudpay.SourceAdmin, IdempotencyKey: "k-full",
		CreatedAt: now, UpdatedAt: now, NotBefore: now}
	if _, _, err := s.Store.AppendRefundEntry(ctx, "CRASHFULL", "reserve:"+no+":1",
		func(cloudpay.RefundEntry, bool) (cloudpay.RefundEntry, error) {
			return cloudpay.RefundEntry{Kind: cloudpay.EntryReserve, OutRefundNo: no, AmountFen: 1000, PaidFen: 1000,
				ReservedFen: 1000, Count: 1, Slot: now, NextSlot: now.Add(time.Minute), Refund: &snapshot}, nil
		}); err != nil {
		t.Fatal(err)
	}
	r := s.postRefund("CRASHFULL", 1000, "k-full")
	if r.status != http.StatusOK || r.body["out_refund_no"] != no || r.body["status"] != "processing" {
		t.Fatalf("retry after the crash: %d %s", r.status, r.raw)
	}
	if e := s.Ledger("CRASHFULL"); e.Seq != 1 || e.ReservedFen != 1000 {
		t.Fatalf("ledger: %+v", e)
	}
}

// A refund call that got no answer may still be on its way: a retry (or
// the job) that finds nothing at WeChat waits for the attempt's lease
// before sending again.
func TestRefundNotSentAgainWhileTheLastCallMayBeInFlight(t *testing.T) {
	t.Parallel()
	s := newStack(t, testkit.ManualRefunds())
	s.Paid("INFLIGHT1", alice, 1000)
	s.Fault("refund", "fail", 1, map[string]any{"code": "-1"}) // no verdict, and nothing at WeChat
	r := s.postRefund("INFLIGHT1", 300, "k-inflight")
	no := str(r.body["out_refund_no"])
	if r.body["status"] != "processing" {
		t.Fatalf("refund without an answer: %s", r.raw)
	}
	retry := func() response { return s.do("POST", s.RefundURL+"/refunds/"+no+"/retry", nil, admin()) }
	if rr := retry(); rr.status != http.StatusOK || len(s.SimCalls("refund")) != 1 {
		t.Fatalf("retry within the lease sent again: %d %s, %d calls", rr.status, rr.raw, len(s.SimCalls("refund")))
	}
	s.Advance(3 * time.Minute)
	if rr := retry(); rr.body["status"] != "processing" || len(s.SimCalls("refund")) != 2 {
		t.Fatalf("retry after the lease: %s, %d calls", rr.raw, len(s.SimCalls("refund")))
	}
	for _, c := range s.SimCalls("refund") {
		if got, fen := refundCall(t, c); got != no || fen != 300 {
			t.Fatalf("sent %s for %d", got, fen)
		}
	}
}

// A user's refund request sent twice with its idempotency key (a double tap,
// a retry after a timeout) is one request.
func TestRefundRequestWithAKeyIsMadeOnce(t *testing.T) {
	t.Parallel()
	s := newStack(t, testkit.ManualRefunds())
	s.Paid("REQKEY01", alice, 1000)
	send := func(fen int64) response {
		return s.do("POST", s.RefundURL+"/refund-requests", map[string]any{
			"out_trade_no": "REQKEY01", "amount_fen": fen, "reason": "cannot attend", "idempotency_key": "form-7f3a"}, user(alice))
	}
	first := send(400)
	if first.status != http.StatusCreated || first.body["status"] != "pending_review" {
		t.Fatalf("request: %d %s", first.status, first.raw)
	}
	again := send(400)
	if again.status != http.StatusOK || again.body["out_refund_no"] != first.body["out_refund_no"] {
		t.Fatalf("same request again: %d %s", again.status, again.raw)
	}
	if other := send(500); other.status != http.StatusConflict || other.errorCode() != "REFUND_CONFLICT" {
		t.Fatalf("same key, other amount: %d %s", other.status, other.raw)
	}
	if e := s.Ledger("REQKEY01"); e.ReservedFen != 400 || e.Count != 1 {
		t.Fatalf("ledger: %+v", e)
	}
}
