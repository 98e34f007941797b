package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// A payment another system took under the same merchant is adopted from
// WeChat's answer alone: once, whoever asks and however often, by either
// of its numbers; anything WeChat does not hold as this merchant's paid
// payment is refused with the field or the reason.
func TestAdoptAPaymentMadeElsewhere(t *testing.T) {
	t.Parallel()
	testkit.ForEachChannel(t, func(t *testing.T, ch string) {
		s := testkit.New(t, testkit.Channel(ch))
		adopt := func(body map[string]any) testkit.Response {
			return s.Do("POST", s.CreatePaymentURL+"/orders/adopt", body, testkit.Admin())
		}
		no, tid := s.OutsidePayment(testkit.Alice, 4_990)

		first := adopt(map[string]any{"transaction_id": tid})
		if first.Status != http.StatusCreated {
			t.Fatalf("adopt: %d %s", first.Status, first.Raw)
		}
		want := map[string]any{"out_trade_no": no, "openid": testkit.Alice, "amount_fen": float64(4_990),
			"status": "paid", "transaction_id": tid, "adopted": true}
		for k, v := range want {
			if first.Body[k] != v {
				t.Errorf("adopted order %s = %v, want %v", k, first.Body[k], v)
			}
		}
		for _, again := range []map[string]any{{"transaction_id": tid}, {"out_trade_no": no}} {
			if r := adopt(again); r.Status != http.StatusOK || r.Body["out_trade_no"] != no {
				t.Errorf("adopt again by %v: %d %s", again, r.Status, r.Raw)
			}
		}
		if ev := s.Events(no); len(ev) != 1 || ev[0].Type != cloudpay.EventOrderPaid || ev[0].Data["adopted"] != true {
			t.Errorf("events of the adopted order: %+v", ev)
		}

		// Ten adoptions at once of another payment: one order, one settlement.
		no2, tid2 := s.OutsidePayment(testkit.Bob, 1_200)
		var mu sync.Mutex
		statuses := map[int]int{}
		s.Concurrently(10, func(int) {
			r := adopt(map[string]any{"transaction_id": tid2})
			mu.Lock()
			statuses[r.Status]++
			mu.Unlock()
		})
		if statuses[http.StatusCreated] != 1 || statuses[http.StatusOK] != 9 {
			t.Errorf("10 concurrent adoptions answered %v, want one 201 and nine 200", statuses)
		}
		if o := s.Order(no2); o.AmountFen != 1_200 || o.Status != cloudpay.OrderPaid || !o.Adopted {
			t.Errorf("order adopted concurrently: %+v", o)
		}
		if ev := s.Events(no2); len(ev) != 1 {
			t.Errorf("%d events for one adopted payment", len(ev))
		}

		// An order cloudpay created that nobody paid is not paid at WeChat either.
		s.Paying("UNPAIDADOPT1", testkit.Alice, 100)
		for _, tc := range []struct {
			body        map[string]any
			status      int
			code, field string
		}{
			{map[string]any{"transaction_id": "4200009999202612070000000001"}, http.StatusNotFound, "TRANSACTION_NOT_FOUND", ""},
			{map[string]any{"out_trade_no": "NOSUCHPAYMENT1"}, http.StatusNotFound, "TRANSACTION_NOT_FOUND", ""},
			{map[string]any{"out_trade_no": "UNPAIDADOPT1"}, http.StatusConflict, "ORDER_NOT_PAID", ""},
			{map[string]any{"transaction_id": "42x"}, http.StatusBadRequest, "INVALID_FIELD", "transaction_id"},
			{map[string]any{}, http.StatusBadRequest, "INVALID_FIELD", "transaction_id"},
			{map[string]any{"transaction_id": tid, "out_trade_no": no}, http.StatusBadRequest, "INVALID_FIELD", "transaction_id"},
			{map[string]any{"out_trade_no": "../x"}, http.StatusBadRequest, "INVALID_FIELD", "out_trade_no"},
		} {
			r := adopt(tc.body)
			if r.Status != tc.status || r.ErrorCode() != tc.code || r.ErrorField() != tc.field {
				t.Errorf("adopt %v: %d %s, want %d %s %q", tc.body, r.Status, r.Raw, tc.status, tc.code, tc.field)
			}
		}
		if r := s.Do("POST", s.CreatePaymentURL+"/orders/adopt", map[string]any{"transaction_id": tid}, nil); r.Status != http.StatusUnauthorized {
			t.Errorf("adopt without a token: %d", r.Status)
		}
	})
}

// The camp team's flow in small: fees paid elsewhere are refunded by
// transaction_id, singly and in a batch that keeps the team's own
// columns; every fee is refunded once at WeChat.
func TestRefundByTransactionID(t *testing.T) {
	t.Parallel()
	testkit.ForEachChannel(t, func(t *testing.T, ch string) {
		s := testkit.New(t, testkit.Channel(ch))
		no, tid := s.OutsidePayment(testkit.Alice, 9_900)
		r := s.Do("POST", s.RefundURL+"/refunds", map[string]any{
			"transaction_id": tid, "amount_fen": 9_900, "reason": "camp goal met", "idempotency_key": "camp-single",
		}, testkit.Admin())
		if r.Status != http.StatusAccepted || r.Body["out_trade_no"] != no || r.Body["transaction_id"] != tid {
			t.Fatalf("refund by transaction_id: %d %s", r.Status, r.Raw)
		}
		if r := s.Do("POST", s.RefundURL+"/refunds", map[string]any{
			"transaction_id": tid, "out_trade_no": no, "amount_fen": 1, "idempotency_key": "both",
		}, testkit.Admin()); r.Status != http.StatusBadRequest || r.ErrorField() != "transaction_id" {
			t.Errorf("both numbers: %d %s", r.Status, r.Raw)
		}

		const n = 6
		items := make([]map[string]any, n)
		tids := make([]string, n)
		for i := range n {
			_, tids[i] = s.OutsidePayment(fmt.Sprintf("o_camper_%d", i), int64(1_000+i))
			items[i] = map[string]any{"transaction_id": tids[i], "amount_fen": 1_000 + i, "reason": "goal met",
				"key": fmt.Sprintf("camp-%d", i), "extra": map[string]string{"user_id": fmt.Sprint(100 + i), "nickname": fmt.Sprintf("camper %d", i)}}
		}
		items = append(items, map[string]any{"transaction_id": "4200000000000000000000000404", "amount_fen": 1, "key": "camp-unknown",
			"extra": map[string]string{"user_id": "999"}})
		b := s.Do("POST", s.RefundURL+"/refunds/batch", map[string]any{"idempotency_key": "camp-2026-12", "label": "camp", "items": items}, testkit.Admin())
		if b.Status != http.StatusAccepted {
			t.Fatalf("batch: %d %s", b.Status, b.Raw)
		}
		id, _ := b.Body["batch_id"].(string)
		var progress testkit.Response
		testkit.Eventually(t, func() error {
			progress = s.Do("GET", s.RefundURL+"/refunds/batches/"+id, nil, testkit.Admin())
			if progress.Body["done"] != float64(n+1) {
				return fmt.Errorf("batch progress: %s", progress.Raw)
			}
			return nil
		})
		if progress.Body["succeeded"] != float64(n) || progress.Body["failed"] != float64(1) {
			t.Errorf("batch ended %s", progress.Raw)
		}
		list, _ := progress.Body["items"].([]any)
		for i, raw := range list {
			it, _ := raw.(map[string]any)
			extra, _ := it["extra"].(map[string]any)
			if i < n {
				if it["status"] != "succeeded" || it["transaction_id"] != tids[i] || it["out_trade_no"] == "" ||
					extra["user_id"] != fmt.Sprint(100+i) || extra["nickname"] != fmt.Sprintf("camper %d", i) {
					t.Errorf("item %d: %v", i, it)
				}
				continue
			}
			if errv, _ := it["error"].(map[string]any); it["status"] != "failed" || errv["code"] != "TRANSACTION_NOT_FOUND" || extra["user_id"] != "999" {
				t.Errorf("the unknown payment's item: %v", it)
			}
		}
		for i := range n {
			o := s.Order(progressNo(list[i]))
			if held := s.SimRefunds(o.OutTradeNo); len(held) != 1 {
				t.Errorf("WeChat holds %d refunds of camper %d's fee, want 1", len(held), i)
			}
		}
		if held := s.SimRefunds(no); len(held) != 1 {
			t.Errorf("WeChat holds %d refunds of the single fee", len(held))
		}
	})
}

func progressNo(raw any) string {
	it, _ := raw.(map[string]any)
	no, _ := it["out_trade_no"].(string)
	return no
}

// A refund made in the merchant platform is adopted into the order's
// ledger from WeChat's word: what is left to refund stays true, the
// merchant hears refund.adopted, and cloudpay's own next refund is held to
// what is left.
func TestRefundMadeInTheMerchantPlatform(t *testing.T) {
	t.Parallel()
	testkit.ForEachChannel(t, func(t *testing.T, ch string) {
		s := testkit.New(t, testkit.Channel(ch))
		const no = "PLATFORMREF1"
		s.Paid(no, testkit.Alice, 1_000)
		outside := s.OutsideRefund(no, 300)
		testkit.Eventually(t, func() error {
			if e := s.Ledger(no); e.RefundedFen != 300 {
				return fmt.Errorf("ledger after the platform's refund: %+v", e)
			}
			if o := s.Order(no); o.RefundedFen != 300 { // projected last
				return fmt.Errorf("order after the platform's refund: %s %d", o.Status, o.RefundedFen)
			}
			return nil
		})
		if r := s.Refund(outside); r.Source != cloudpay.SourceOutside || r.Status != cloudpay.RefundSucceeded || r.AmountFen != 300 {
			t.Errorf("the platform's refund here: %+v", r)
		}
		if o := s.Order(no); o.Status != cloudpay.OrderPartiallyRefunded || o.RefundedFen != 300 {
			t.Errorf("order after the platform's refund: %s %d", o.Status, o.RefundedFen)
		}
		if ev := s.Events(outside); len(ev) != 1 || ev[0].Type != cloudpay.EventRefundAdopted {
			t.Errorf("events of the platform's refund: %+v", ev)
		}
		// The delivery again (WeChat retries) changes nothing.
		if r := s.SimPost("/refunds/"+outside+"/notify", nil); r.Status >= 300 {
			t.Fatalf("redeliver: %d %s", r.Status, r.Raw)
		}
		if e := s.Ledger(no); e.RefundedFen != 300 || e.Count != 1 {
			t.Errorf("ledger after the redelivery: %+v", e)
		}
		s.Advance(2 * time.Minute) // past WeChat's minute between refunds
		if r := s.Do("POST", s.RefundURL+"/refunds", map[string]any{"out_trade_no": no, "amount_fen": 701, "idempotency_key": "too-much"}, testkit.Admin()); r.Status != http.StatusUnprocessableEntity || r.ErrorCode() != "REFUND_EXCEEDS_PAID" {
			t.Errorf("refund past what is left: %d %s", r.Status, r.Raw)
		}
		if r := s.Do("POST", s.RefundURL+"/refunds", map[string]any{"out_trade_no": no, "amount_fen": 700, "idempotency_key": "the-rest"}, testkit.Admin()); r.Status != http.StatusAccepted {
			t.Errorf("refund of what is left: %d %s", r.Status, r.Raw)
		}
	})
}

// The camp team's flow as it is: 200 fees paid through another system,
// refunded by transaction_id in one batch that keeps the team's own
// columns, some refused by WeChat for now or for good and retried, every
// fee refunded exactly once at WeChat.
func TestCampBatchByTransactionID(t *testing.T) {
	t.Parallel()
	testkit.ForEachChannel(t, func(t *testing.T, ch string) {
		s := newStack(t, testkit.Channel(ch))
		const n = 200
		items := make([]map[string]any, n)
		s.Concurrently(n, func(i int) {
			_, tid := s.OutsidePayment(fmt.Sprintf("o_camper_%03d", i), 1990)
			items[i] = map[string]any{"transaction_id": tid, "amount_fen": 1990, "reason": "目标达成，退还押金",
				"key": fmt.Sprintf("camp-2026-%03d", i), "extra": map[string]string{"user_id": fmt.Sprint(1000 + i), "nickname": fmt.Sprintf("学员%d", i)}}
		})
		s.Fault("refund", "fail", 3, map[string]any{"code": "SYSTEM_ERROR"})
		s.Fault("refund", "fail", 2, map[string]any{"code": "INVALID_REQUEST"})
		r := s.do("POST", s.RefundURL+"/refunds/batch", map[string]any{"idempotency_key": "camp-2026", "label": "训练营 2026", "items": items}, admin())
		if r.status != http.StatusAccepted {
			t.Fatalf("batch: %d %s", r.status, r.raw)
		}
		id := str(r.body["batch_id"])
		p := s.waitBatch(id)
		if p.Total != n || p.Succeeded != n-5 || p.Failed != 5 {
			t.Fatalf("batch ended %+v, want %d succeeded and 5 failed", p, n-5)
		}
		for _, it := range p.Items {
			if it.Status != "failed" {
				continue
			}
			if rr := s.do("POST", s.RefundURL+"/refunds/"+it.OutRefundNo+"/retry", nil, admin()); rr.status != http.StatusOK {
				t.Fatalf("retry %s: %d %s", it.Key, rr.status, rr.raw)
			}
		}
		s.Advance(61 * time.Second)
		if _, err := s.Refunds.SendDue(context.Background(), 100); err != nil {
			t.Fatal(err)
		}
		if p = s.waitBatch(id); p.Succeeded != n {
			t.Fatalf("after retries: %+v", p)
		}
		seen := map[string]int{}
		for _, c := range s.SimCalls("refund") {
			no, _ := refundCall(t, c)
			seen[no]++
		}
		if len(seen) != n {
			t.Fatalf("%d distinct refunds reached WeChat, want %d", len(seen), n)
		}
		for i, it := range p.Items {
			if it.OutTradeNo == "" {
				t.Fatalf("item %d has no adopted order", i)
			}
			if held := s.SimRefunds(it.OutTradeNo); len(held) != 1 {
				t.Fatalf("WeChat holds %d refunds of fee %d", len(held), i)
			}
		}
	})
}

// A refund made in the merchant platform that the order's ledger cannot
// hold (cloudpay has reserved the rest for its own refund) is not
// entered: it is raised for a person, and the ledger never goes negative.
func TestPlatformRefundBeyondTheLedgerIsAFinding(t *testing.T) {
	t.Parallel()
	testkit.ForEachChannel(t, func(t *testing.T, ch string) {
		s := testkit.New(t, testkit.Channel(ch), testkit.ManualRefunds())
		const no = "PLATFORMREF2"
		s.Paid(no, testkit.Alice, 1_000)
		// Ours: 100 sent to WeChat, then 800 reserved and queued behind
		// WeChat's minute, so WeChat has not heard of it yet.
		for _, r := range []struct {
			fen int
			key string
		}{{100, "first"}, {800, "queued"}} {
			if resp := s.Do("POST", s.RefundURL+"/refunds", map[string]any{"out_trade_no": no, "amount_fen": r.fen, "idempotency_key": r.key}, testkit.Admin()); resp.Status != http.StatusAccepted {
				t.Fatalf("our refund of %d: %d %s", r.fen, resp.Status, resp.Raw)
			}
		}
		outside := s.OutsideRefund(no, 500) // WeChat holds 100 + 500 of 1000: fine there
		if r := s.Settle(outside, "SUCCESS"); r.Status >= 300 {
			t.Fatalf("settle the platform's refund: %d %s", r.Status, r.Raw)
		}
		testkit.Eventually(t, func() error {
			if ev := s.Events("refund:" + outside); len(ev) != 1 || ev[0].Type != cloudpay.EventReconMismatch {
				return fmt.Errorf("finding events: %+v", ev)
			}
			return nil
		})
		e := s.Ledger(no)
		if e.RefundedFen != 0 || e.ReservedFen != 900 || e.RefundableFen() < 0 {
			t.Errorf("ledger after a platform refund it cannot hold: %+v", e)
		}
		if _, err := s.Store.Refund(t.Context(), outside); cloudpay.ErrorCode(err) != cloudpay.CodeRefundNotFound {
			t.Errorf("the platform's refund was recorded anyway: %v", err)
		}
	})
}

// A user asks to refund a fee paid elsewhere by its transaction_id: the
// payment is adopted, and only its payer may ask.
func TestRefundRequestByTransactionID(t *testing.T) {
	t.Parallel()
	s := testkit.New(t)
	no, tid := s.OutsidePayment(testkit.Alice, 2_000)
	ask := func(openid string) testkit.Response {
		return s.Do("POST", s.RefundURL+"/refund-requests", map[string]any{"transaction_id": tid, "amount_fen": 500, "reason": "没去成"}, testkit.User(openid))
	}
	if r := ask(testkit.Bob); r.Status != http.StatusForbidden {
		t.Errorf("another user's request: %d %s", r.Status, r.Raw)
	}
	if _, err := s.Store.Order(t.Context(), no); cloudpay.ErrorCode(err) != cloudpay.CodeOrderNotFound {
		t.Errorf("another user's request adopted the payment: %v", err)
	}
	r := ask(testkit.Alice)
	if r.Status != http.StatusCreated || r.Body["out_trade_no"] != no || r.Body["status"] != "pending_review" {
		t.Errorf("the payer's request: %d %s", r.Status, r.Raw)
	}
	if r := s.Do("POST", s.RefundURL+"/refund-requests", map[string]any{"transaction_id": "12ab", "amount_fen": 1}, testkit.User(testkit.Alice)); r.Status != http.StatusBadRequest || r.ErrorField() != "transaction_id" {
		t.Errorf("a malformed transaction_id: %d %s", r.Status, r.Raw)
	}
}

// A payment WeChat holds for another merchant is not adopted.
func TestAdoptRefusesAnotherMerchantsPayment(t *testing.T) {
	t.Parallel()
	// An API v3 merchant; the simulator's Cloud Hosting side is another
	// merchant's (its sub-merchant number differs).
	s := testkit.New(t, testkit.Channel(wechat.V3), testkit.Sim(func(c *wechatsim.Config) { c.SubMchID = "1900000999" }))
	r := s.SimPost("/outside/payments", map[string]any{"amount_fen": 700, "openid": testkit.Alice, "channel": "cloudhosting"})
	tid, _ := r.Body["transaction_id"].(string)
	no, _ := r.Body["out_trade_no"].(string)
	if r.Status >= 300 || tid == "" {
		t.Fatalf("another merchant's payment: %d %s", r.Status, r.Raw)
	}
	a := s.Do("POST", s.CreatePaymentURL+"/orders/adopt", map[string]any{"transaction_id": tid}, testkit.Admin())
	if a.Status != http.StatusUnprocessableEntity || a.ErrorCode() != "OTHER_MERCHANT" {
		t.Fatalf("adopt another merchant's payment: %d %s", a.Status, a.Raw)
	}
	if _, err := s.Store.Order(t.Context(), no); cloudpay.ErrorCode(err) != cloudpay.CodeOrderNotFound {
		t.Errorf("another merchant's payment was recorded: %v", err)
	}
}
