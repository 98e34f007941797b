package httpapi_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// The v3 twin of TestConcurrentDuplicateCallbacksPayOnce: genuine, signed
// copies of one TRANSACTION.SUCCESS arrive at once.
func TestConcurrentDuplicateNotificationsPayOnce(t *testing.T) {
	t.Parallel()
	s := newStack(t, testkit.Channel(wechat.V3))
	paid, _ := s.payWithCallbackHeld("V3DUP001", alice, 1200)
	const copies = 50
	var wg sync.WaitGroup
	for range copies {
		wg.Go(func() {
			r := s.simPost("/notify", map[string]any{"out_trade_no": "V3DUP001"})
			if r.status != http.StatusOK || r.body["ok"] != true {
				t.Errorf("copy not acknowledged: %d %s", r.status, r.raw)
			}
		})
	}
	wg.Wait()
	if n := s.Count("settlements"); n != 1 {
		t.Fatalf("settlements = %d, want 1", n)
	}
	if evs := s.Events("V3DUP001"); len(evs) != 1 || evs[0].Type != cloudpay.EventOrderPaid {
		t.Fatalf("events = %+v", evs)
	}
	if o := s.Order("V3DUP001"); o.Status != cloudpay.OrderPaid || o.TransactionID != paid.body["transaction_id"] {
		t.Fatalf("order: %+v", o)
	}
}

// Forged TRANSACTION.SUCCESS notifications for an unpaid order: every one
// is refused at the signature and nothing changes.
func TestForgedPayNotificationsChangeNothing(t *testing.T) {
	t.Parallel()
	s := newStack(t, testkit.Channel(wechat.V3))
	s.createOrder("V3FORGE1", alice, 800)
	if r := s.createPayment("V3FORGE1", alice); r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	for _, kind := range []string{"bad_signature", "signtest", "stale", "tampered", "unknown_serial", "bad_resource"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			d := s.simPost("/forge", map[string]any{"kind": kind, "out_trade_no": "V3FORGE1", "event_type": "TRANSACTION.SUCCESS"})
			if d.status != http.StatusOK || d.body["ok"] == true {
				t.Fatalf("forged notification accepted: %d %s", d.status, d.raw)
			}
			if st, _ := d.body["status"].(float64); st < 400 {
				t.Fatalf("forged notification answered %v, want 4xx/5xx", d.body["status"])
			}
			if o := s.Order("V3FORGE1"); o.Status != cloudpay.OrderPaying || s.Count("settlements") != 0 || s.Count("events") != 0 {
				t.Fatalf("a forged notification changed something: %+v", o)
			}
		})
	}
	// The v3 route refuses what is not a notification at all.
	for _, body := range []string{"", "{", `{"id":"x"}`} {
		if r := s.do("POST", s.PaymentCallbackURL+"/callbacks/v3", body, nil); r.status < 400 || r.body["code"] != "FAIL" {
			t.Errorf("body %q: %d %s", body, r.status, r.raw)
		}
	}
}

// Without the v3 channel configured, /callbacks/v3 exists but refuses.
func TestV3RouteWithoutTheChannel(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	if r := s.do("POST", s.PaymentCallbackURL+"/callbacks/v3", "{}", nil); r.status != http.StatusNotFound || r.body["code"] != "FAIL" {
		t.Fatalf("%d %s", r.status, r.raw)
	}
}
