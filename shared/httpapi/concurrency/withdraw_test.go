package concurrency_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

func TestConcurrentWithdrawalsNeverOverdraw(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Channel(wechat.V3))
	for i := range 5 {
		if r := credit(s, testkit.Alice, fmt.Sprintf("c-%d", i), 2000); r.Status != http.StatusCreated {
			t.Fatalf("credit: %d %s", r.Status, r.Raw)
		}
	}
	// 200 withdrawals of 100..298 fen (about 40,000 in all) against 10,000.
	const n = 200
	var wg sync.WaitGroup
	results := make([]testkit.Response, n)
	retried := make([]bool, n)
	for i := range n {
		wg.Go(func() {
			results[i], retried[i] = testkit.WhileBusy(func() testkit.Response {
				return withdraw(s, testkit.Alice, int64(100+i%100*2), fmt.Sprintf("wd-%d", i))
			})
		})
	}
	wg.Wait()
	var frozen int64
	accepted := map[string]int64{}
	for i, r := range results {
		switch {
		case r.Status == http.StatusCreated, r.Status == http.StatusOK && retried[i]:
			accepted[str(r.Body["id"])] = int64(100 + i%100*2)
			frozen += int64(100 + i%100*2)
		case r.Status == http.StatusUnprocessableEntity:
			if r.ErrorCode() != "INSUFFICIENT_BALANCE" {
				t.Fatalf("refusal: %s", r.Raw)
			}
		default:
			t.Fatalf("withdrawal %d: %d %s", i, r.Status, r.Raw)
		}
	}
	if frozen > 10_000 || len(accepted) == 0 {
		t.Fatalf("accepted %d withdrawals for %d fen of 10,000", len(accepted), frozen)
	}
	entries := s.CheckWallet(testkit.Alice)
	tail := entries[len(entries)-1]
	if int64(tail.FrozenFen) != frozen || tail.AvailableFen != cloudpay.Fen(10_000-frozen) {
		t.Fatalf("wallet %+v, accepted %d fen", tail, frozen)
	}
	sent := map[string]int{}
	for _, c := range s.SimCalls("transfer") {
		body, _ := c["body"].(map[string]any)
		sent[str(body["out_bill_no"])]++
	}
	for id := range accepted {
		if sent[id] != 1 {
			t.Errorf("withdrawal %s sent %d times", id, sent[id])
		}
	}
	if len(sent) != len(accepted) {
		t.Fatalf("%d bills at WeChat, %d withdrawals accepted", len(sent), len(accepted))
	}
}
