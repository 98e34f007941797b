package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

func TestPayFlowEndToEnd(t *testing.T) {
	t.Parallel()
	testkit.ForEachChannel(t, testPayFlowEndToEnd)
}

func testPayFlowEndToEnd(t *testing.T, ch string) {
	s := newStack(t, testkit.Channel(ch))
	created := s.createOrder("FLOW001", alice, 2590)
	if created.body["status"] != "unpaid" || created.body["amount_fen"] != float64(2590) {
		t.Fatalf("created order: %s", created.raw)
	}
	if created.header.Get("X-Request-Id") == "" {
		t.Fatal("response has no X-Request-Id")
	}

	p := s.createPayment("FLOW001", alice)
	if p.status != http.StatusOK {
		t.Fatalf("create payment: %d %s", p.status, p.raw)
	}
	pay, _ := p.body["payment"].(map[string]any)
	for _, field := range []string{"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"} {
		if v, _ := pay[field].(string); v == "" {
			t.Errorf("payment.%s is empty: %s", field, p.raw)
		}
	}
	if pkg, _ := pay["package"].(string); !strings.HasPrefix(pkg, "prepay_id=wx") {
		t.Errorf("payment.package = %q, want prepay_id=wx…", pkg)
	}
	if p.body["amount_fen"] != float64(2590) || p.body["out_trade_no"] != "FLOW001" || p.body["expires_at"] == nil {
		t.Errorf("payment response: %s", p.raw)
	}

	// What reached WeChat: the stored amount, the caller's openid and IP, our container.
	calls := s.SimCalls("unifiedorder")
	if len(calls) != 1 {
		t.Fatalf("unifiedorder calls = %d, want 1", len(calls))
	}
	var sent map[string]any
	raw, _ := json.Marshal(calls[0]["body"])
	_ = json.Unmarshal(raw, &sent)
	if ch == wechat.V3 {
		amount, _ := sent["amount"].(map[string]any)
		payer, _ := sent["payer"].(map[string]any)
		if amount["total"] != float64(2590) || payer["openid"] != alice || sent["mchid"] != wechatsim.DevMchID ||
			sent["out_trade_no"] != "FLOW001" || sent["notify_url"] != s.PaymentCallbackURL+"/callbacks/v3" {
			t.Errorf("jsapi request: %s", raw)
		}
		if pay["signType"] != "RSA" {
			t.Errorf("v3 payment signType = %v, want RSA", pay["signType"])
		}
	} else {
		want := map[string]any{"total_fee": float64(2590), "openid": alice, "spbill_create_ip": "203.0.113.7",
			"sub_mch_id": subMchID, "env_id": "test-env-1a2b3c", "callback_type": float64(2), "out_trade_no": "FLOW001"}
		for k, v := range want {
			if sent[k] != v {
				t.Errorf("unifiedorder %s = %v, want %v", k, sent[k], v)
			}
		}
		if c, _ := sent["container"].(map[string]any); c["service"] != "payment-callback" || c["path"] != "/callbacks/pay" {
			t.Errorf("unifiedorder container = %v", sent["container"])
		}
	}

	if st := s.status("FLOW001", alice); st.body["status"] != "paying" {
		t.Fatalf("status before paying: %s", st.raw)
	}
	// Asking again for the same unpaid order gives a usable payment again.
	if again := s.createPayment("FLOW001", alice); again.status != http.StatusOK {
		t.Fatalf("second create payment: %d %s", again.status, again.raw)
	}

	paid := s.simPost("/pay", map[string]any{"out_trade_no": "FLOW001"})
	if paid.status != http.StatusOK || !callbackOK(paid) {
		t.Fatalf("pay: callback not acknowledged: %s", paid.raw)
	}
	st := s.status("FLOW001", alice)
	if st.body["status"] != "paid" || st.body["transaction_id"] != paid.body["transaction_id"] || st.body["paid_at"] == nil {
		t.Fatalf("status after paying: %s", st.raw)
	}
	evs := s.Events("FLOW001")
	if len(evs) != 1 || evs[0].Type != cloudpay.EventOrderPaid || evs[0].Status != cloudpay.EventPending {
		t.Fatalf("events = %+v, want one pending order.paid", evs)
	}
	if r := s.createPayment("FLOW001", alice); r.status != http.StatusConflict || r.errorCode() != "ORDER_PAID" {
		t.Fatalf("payment for a paid order: %d %s", r.status, r.raw)
	}
	if n := len(s.SimCalls("unifiedorder")); n != 2 {
		t.Fatalf("unifiedorder calls = %d: a paid order must not reach WeChat again", n)
	}
}

func TestCreateOrderIdempotency(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	first := s.createOrder("IDEM001", alice, 100)
	same := s.do("POST", s.CreatePaymentURL+"/orders", map[string]any{
		"out_trade_no": "IDEM001", "openid": alice, "amount_fen": 100, "description": "course fee"}, admin())
	if same.status != http.StatusOK || same.body["created_at"] != first.body["created_at"] {
		t.Fatalf("same order again: %d %s", same.status, same.raw)
	}
	diff := s.do("POST", s.CreatePaymentURL+"/orders", map[string]any{
		"out_trade_no": "IDEM001", "openid": alice, "amount_fen": 101, "description": "course fee"}, admin())
	if diff.status != http.StatusConflict || diff.errorCode() != "ORDER_CONFLICT" {
		t.Fatalf("different fields: %d %s", diff.status, diff.raw)
	}
	gen := s.do("POST", s.CreatePaymentURL+"/orders", map[string]any{"openid": alice, "amount_fen": 1, "description": "x"}, admin())
	no, _ := gen.body["out_trade_no"].(string)
	if gen.status != http.StatusCreated || !cloudpay.ValidOutTradeNo(no) || len(no) > 32 {
		t.Fatalf("generated order number: %d %s", gen.status, gen.raw)
	}
	if got := s.Order("IDEM001").AmountFen; got != 100 {
		t.Fatalf("stored amount %d after a conflicting request, want 100", got)
	}
}

func TestAdminAuth(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	body := map[string]any{"openid": alice, "amount_fen": 1, "description": "x"}
	for _, tc := range []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"no token", nil, http.StatusUnauthorized},
		{"wrong token", map[string]string{"Authorization": "Bearer nope"}, http.StatusUnauthorized},
		{"not bearer", map[string]string{"Authorization": "Basic " + adminToken}, http.StatusUnauthorized},
		{"current token", admin(), http.StatusCreated},
		{"rotated-out token still listed", map[string]string{"Authorization": "Bearer old-token"}, http.StatusCreated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := s.do("POST", s.CreatePaymentURL+"/orders", body, tc.header)
			if r.status != tc.want {
				t.Fatalf("status %d, want %d: %s", r.status, tc.want, r.raw)
			}
		})
	}
}

func TestCreatePaymentRefusals(t *testing.T) {
	t.Parallel()
	testkit.ForEachChannel(t, testCreatePaymentRefusals)
}

func testCreatePaymentRefusals(t *testing.T, ch string) {
	s := newStack(t, testkit.GatewayTimeout(testkit.FaultTimeout), testkit.Channel(ch))
	transportFailure := "-1" // the open interface's own errcode
	if ch == wechat.V3 {
		transportFailure = "503" // an HTTP status
	}
	s.createOrder("REF001", alice, 500)

	t.Run("no openid", func(t *testing.T) {
		t.Parallel()
		r := s.do("POST", s.CreatePaymentURL+"/payments", map[string]any{"out_trade_no": "REF001"}, nil)
		if r.status != http.StatusUnauthorized || r.errorCode() != "OPENID_REQUIRED" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
	t.Run("openid without X-WX-SOURCE", func(t *testing.T) {
		t.Parallel()
		// A public caller can forge X-WX-OPENID; only WeChat's path sets X-WX-SOURCE.
		h := map[string]string{"X-WX-OPENID": alice}
		for _, r := range []response{
			s.do("POST", s.CreatePaymentURL+"/payments", map[string]any{"out_trade_no": "REF001"}, h),
			s.do("GET", s.CreatePaymentURL+"/payments/REF001", nil, h),
		} {
			if r.status != http.StatusUnauthorized || r.errorCode() != "OPENID_REQUIRED" {
				t.Fatalf("%d %s", r.status, r.raw)
			}
		}
	})
	t.Run("another user's order", func(t *testing.T) {
		t.Parallel()
		if r := s.createPayment("REF001", bob); r.status != http.StatusForbidden || r.errorCode() != "FORBIDDEN" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		if r := s.status("REF001", bob); r.status != http.StatusForbidden {
			t.Fatalf("status of another user's order: %d %s", r.status, r.raw)
		}
	})
	t.Run("unknown order", func(t *testing.T) {
		t.Parallel()
		if r := s.createPayment("NOPE001", alice); r.status != http.StatusNotFound || r.errorCode() != "ORDER_NOT_FOUND" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
	// Serial: the simulator's faults are one queue, and a parallel
	// subtest's call could take another's fault.
	for _, tc := range []struct {
		name, fault string
		extra       map[string]any
		status      int
		code        string
	}{
		{"WeChat refuses", "fail", map[string]any{"code": "SYSTEMERROR"}, http.StatusBadGateway, "WECHAT_ERROR"},
		{"transport error", "fail", map[string]any{"code": transportFailure}, http.StatusBadGateway, "WECHAT_ERROR"},
		{"WeChat times out", "timeout", nil, http.StatusGatewayTimeout, "WECHAT_TIMEOUT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			no := "WX" + strings.ToUpper(strings.ReplaceAll(tc.name, " ", ""))
			if len(no) > 32 {
				no = no[:32]
			}
			s.createOrder(no, alice, 700)
			s.Fault("unifiedorder", tc.fault, 1, tc.extra)
			r := s.createPayment(no, alice)
			if r.status != tc.status || r.errorCode() != tc.code {
				t.Fatalf("%d %s, want %d %s", r.status, r.raw, tc.status, tc.code)
			}
			if o := s.Order(no); o.Status != cloudpay.OrderUnpaid || o.PrepayID != "" {
				t.Fatalf("order half-recorded after a failed prepay: %+v", o)
			}
			// The next attempt, with WeChat healthy again, works.
			if r := s.createPayment(no, alice); r.status != http.StatusOK {
				t.Fatalf("retry after the fault: %d %s", r.status, r.raw)
			}
		})
	}
	t.Run("closed order", func(t *testing.T) {
		t.Parallel()
		s.createOrder("CLOSED01", alice, 300)
		st := cloudpay.Settlement{OutTradeNo: "CLOSED01", Outcome: cloudpay.SettledClosed, Source: "test", CreatedAt: time.Now()}
		if _, _, err := s.Store.ClaimSettlement(context.Background(), st); err != nil {
			t.Fatal(err)
		}
		if err := s.Store.ProjectSettlement(context.Background(), st, time.Now()); err != nil {
			t.Fatal(err)
		}
		if r := s.createPayment("CLOSED01", alice); r.status != http.StatusConflict || r.errorCode() != "ORDER_CLOSED" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
	t.Run("expired order", func(t *testing.T) {
		t.Parallel()
		r := s.do("POST", s.CreatePaymentURL+"/orders", map[string]any{
			"out_trade_no": "EXP001", "openid": alice, "amount_fen": 10, "description": "x", "expire_minutes": 1}, admin())
		if r.status != http.StatusCreated {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		s.Advance(2 * time.Minute)
		if r := s.createPayment("EXP001", alice); r.status != http.StatusConflict || r.errorCode() != "ORDER_EXPIRED" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
}

func TestLateCallbackSeenByStatusAndPrepay(t *testing.T) {
	t.Parallel()
	testkit.ForEachChannel(t, testLateCallbackSeenByStatusAndPrepay)
}

func testLateCallbackSeenByStatusAndPrepay(t *testing.T, ch string) {
	s := newStack(t, testkit.Channel(ch))
	for _, no := range []string{"LATE001", "LATE002"} {
		s.payWithCallbackHeld(no, alice, 990)
		if o := s.Order(no); o.Status != cloudpay.OrderPaying {
			t.Fatalf("dropped callback changed the order: %+v", o)
		}
	}
	// The page polls the status: WeChat is asked, the payment is recorded.
	if st := s.status("LATE001", alice); st.body["status"] != "paid" {
		t.Fatalf("status with a lost callback: %s", st.raw)
	}
	// The user taps pay again: WeChat says ORDERPAID; the payment is recorded.
	if r := s.createPayment("LATE002", alice); r.status != http.StatusConflict || r.errorCode() != "ORDER_PAID" {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	for _, no := range []string{"LATE001", "LATE002"} {
		if o := s.Order(no); o.Status != cloudpay.OrderPaid {
			t.Errorf("%s: %s, want paid", no, o.Status)
		}
		if evs := s.Events(no); len(evs) != 1 {
			t.Errorf("%s: %d events, want 1", no, len(evs))
		}
	}
}

func TestConcurrentDuplicateCallbacksPayOnce(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	// The genuine callback is held back, then 200 copies arrive at once.
	paid, cbBody := s.payWithCallbackHeld("DUP001", alice, 1200)
	body, _ := json.Marshal(cbBody)
	if !bytes.Contains(body, []byte(`"outTradeNo":"DUP001"`)) {
		t.Fatalf("no callback body to replay: %s", paid.raw)
	}

	const copies = 200
	var recorded atomic.Int32
	var wg sync.WaitGroup
	for range copies {
		wg.Go(func() {
			resp, err := http.Post(s.PaymentCallbackURL+"/callbacks/pay", "application/json", bytes.NewReader(body))
			if err != nil {
				t.Errorf("post callback: %v", err)
				return
			}
			defer resp.Body.Close()
			var reply struct {
				ErrCode *int   `json:"errcode"`
				ErrMsg  string `json:"errmsg"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil || reply.ErrCode == nil || *reply.ErrCode != 0 || reply.ErrMsg != "ok" {
				t.Errorf("reply %d errcode %v (%v), want errcode 0", resp.StatusCode, reply.ErrCode, err)
				return
			}
			if resp.Header.Get("X-Cloudpay-Verdict") == "recorded" {
				recorded.Add(1)
			}
			// Acknowledged means stored: the outcome must be visible now.
			st, found, err := s.Store.Settlement(context.Background(), "DUP001")
			if err != nil || !found || st.Outcome != cloudpay.SettledPaid {
				t.Errorf("acknowledged before the payment was stored: %+v %v %v", st, found, err)
			}
			if o, err := s.Store.Order(context.Background(), "DUP001"); err != nil || o.Status != cloudpay.OrderPaid {
				t.Errorf("acknowledged before the order showed paid: %v %v", o.Status, err)
			}
		})
	}
	wg.Wait()
	if n := recorded.Load(); n != 1 {
		t.Fatalf("%d copies recorded the payment, want exactly 1", n)
	}
	if n := s.Count("settlements"); n != 1 {
		t.Fatalf("settlements = %d, want exactly 1", n)
	}
	if evs := s.Events("DUP001"); len(evs) != 1 || evs[0].Type != cloudpay.EventOrderPaid {
		t.Fatalf("events = %+v, want exactly one order.paid", evs)
	}
	if o := s.Order("DUP001"); o.Status != cloudpay.OrderPaid || o.TransactionID != paid.body["transaction_id"] {
		t.Fatalf("order after the storm: %+v", o)
	}
}

func TestCallbacksThatMustChangeNothing(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.createOrder("HINT001", alice, 800)
	if r := s.createPayment("HINT001", alice); r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	// Serial subtests: each counts the documents of the one stack, which
	// the last ones add to.
	for _, tc := range []struct {
		name    string
		forge   map[string]any
		wantAck bool
	}{
		// WeChat says NOTPAY: refuse, so a genuine-but-early callback is retried.
		{"forged for an unpaid order", map[string]any{"out_trade_no": "HINT001"}, false},
		{"amount differs from the order", map[string]any{"out_trade_no": "HINT001", "total_fee": 1}, false},
		// Not ours: acknowledge, since a retry can never change the answer.
		{"unknown order", map[string]any{"out_trade_no": "GHOST001", "service": "payment-callback", "path": "/callbacks/pay"}, true},
		{"another merchant", map[string]any{"out_trade_no": "HINT001", "sub_mch_id": "1999999999"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.simPost("/forge", tc.forge)
			if r.status != http.StatusOK {
				t.Fatalf("forge: %d %s", r.status, r.raw)
			}
			if ok, _ := r.body["ok"].(bool); ok != tc.wantAck {
				t.Fatalf("acknowledged = %v, want %v: %s", ok, tc.wantAck, r.raw)
			}
			if o := s.Order("HINT001"); o.Status != cloudpay.OrderPaying || o.TransactionID != "" || o.PaidAt != nil {
				t.Fatalf("order changed: %+v", o)
			}
			if n := s.Count("settlements"); n != 0 {
				t.Fatalf("settlements = %d, want 0", n)
			}
			if n := s.Count("events"); n != 0 {
				t.Fatalf("events = %d, want 0", n)
			}
			if n := s.Count("orders"); n != 1 {
				t.Fatalf("orders = %d, want 1", n)
			}
		})
	}
	t.Run("amount differs on an order WeChat has paid", func(t *testing.T) {
		s.payWithCallbackHeld("HINT002", alice, 800)
		r := s.simPost("/forge", map[string]any{"out_trade_no": "HINT002", "total_fee": 1})
		if ok, _ := r.body["ok"].(bool); ok {
			t.Fatalf("a callback whose amount differs from the order was acknowledged: %s", r.raw)
		}
		if o := s.Order("HINT002"); o.Status != cloudpay.OrderPaying || s.Count("settlements") != 0 {
			t.Fatalf("a callback with a wrong amount changed the order: %+v", o)
		}
	})
	t.Run("malformed body", func(t *testing.T) {
		for _, body := range []string{"", "{", "[]", `{"outTradeNo":""}`, `{"outTradeNo":"` + strings.Repeat("A", 40) + `"}`, `{"outTradeNo":"X1","totalFee":"1.5"}`} {
			r := s.do("POST", s.PaymentCallbackURL+"/callbacks/pay", body, nil)
			if r.status != http.StatusBadRequest || r.body["errcode"] == float64(0) {
				t.Errorf("body %q: %d %s", body, r.status, r.raw)
			}
		}
	})
}

func TestCallbackReplayedAfterRestart(t *testing.T) {
	t.Parallel()
	testkit.ForEachChannel(t, testCallbackReplayedAfterRestart)
}

func testCallbackReplayedAfterRestart(t *testing.T, ch string) {
	s := newStack(t, testkit.Channel(ch))
	s.createOrder("RST001", alice, 4200)
	if r := s.createPayment("RST001", alice); r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if r := s.simPost("/pay", map[string]any{"out_trade_no": "RST001"}); !callbackOK(r) {
		t.Fatalf("pay: %s", r.raw)
	}
	before := s.Order("RST001")

	s.RestartCallback()
	replay := s.simPost("/notify", map[string]any{"out_trade_no": "RST001"})
	if ok, _ := replay.body["ok"].(bool); replay.status != http.StatusOK || !ok {
		t.Fatalf("replay after restart not acknowledged: %d %s", replay.status, replay.raw)
	}
	after := s.Order("RST001")
	if after.Status != cloudpay.OrderPaid || !after.UpdatedAt.Equal(before.UpdatedAt) || after.TransactionID != before.TransactionID {
		t.Fatalf("order changed by the replay: before %+v after %+v", before, after)
	}
	if n := s.Count("settlements"); n != 1 {
		t.Fatalf("settlements = %d, want 1", n)
	}
	if evs := s.Events("RST001"); len(evs) != 1 {
		t.Fatalf("events = %d, want 1", len(evs))
	}
}

func TestCallbackStoreFailureAsksForRetry(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.createOrder("DOWN001", alice, 100)
	if r := s.createPayment("DOWN001", alice); r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	// WeChat's query fails while the callback is handled: nothing is decided.
	s.Fault("queryorder", "fail", 1, map[string]any{"code": "SYSTEMERROR"})
	first := s.simPost("/pay", map[string]any{"out_trade_no": "DOWN001"})
	if callbackOK(first) {
		t.Fatalf("callback acknowledged although the payment could not be confirmed: %s", first.raw)
	}
	if n := s.Count("settlements"); n != 0 {
		t.Fatalf("settlements = %d after an unconfirmed callback", n)
	}
	// WeChat's retry (15 s later at the soonest) succeeds.
	s.Advance(15 * time.Second)
	if r := s.simPost("/notify", map[string]any{"out_trade_no": "DOWN001"}); r.body["ok"] != true {
		t.Fatalf("retry: %s", r.raw)
	}
	if o := s.Order("DOWN001"); o.Status != cloudpay.OrderPaid {
		t.Fatalf("order after retry: %s", o.Status)
	}
}

// A crash between the settlement claim and the order projection leaves the
// order saying "paying"; the claim is the authority, so readers repair it
// without WeChat's help and nobody is asked to pay again.
func TestProjectionBehindItsSettlementIsRepaired(t *testing.T) {
	t.Parallel()
	testkit.ForEachChannel(t, testProjectionBehindItsSettlementIsRepaired)
}

func testProjectionBehindItsSettlementIsRepaired(t *testing.T, ch string) {
	s := newStack(t, testkit.Channel(ch))
	ctx := context.Background()
	s.createOrder("CRASH001", alice, 650)
	if r := s.createPayment("CRASH001", alice); r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	st := cloudpay.Settlement{OutTradeNo: "CRASH001", Outcome: cloudpay.SettledPaid, TransactionID: "4200000000000000000000000001",
		AmountFen: 650, Source: "callback", PaidAt: time.Now().UTC().Truncate(time.Millisecond), CreatedAt: time.Now()}
	if _, _, err := s.Store.ClaimSettlement(ctx, st); err != nil {
		t.Fatal(err)
	}
	// WeChat unreachable: the repair must not depend on it.
	s.Fault("queryorder", "fail", 5, map[string]any{"code": "SYSTEMERROR"})
	s.Fault("unifiedorder", "fail", 5, map[string]any{"code": "SYSTEMERROR"})
	if r := s.status("CRASH001", alice); r.body["status"] != "paid" || r.body["transaction_id"] != st.TransactionID {
		t.Fatalf("status: %s", r.raw)
	}
	if evs := s.Events("CRASH001"); len(evs) != 1 || evs[0].Type != cloudpay.EventOrderPaid {
		t.Fatalf("events: %+v", evs)
	}

	s.createOrder("CRASH002", alice, 650)
	st.OutTradeNo = "CRASH002"
	if _, _, err := s.Store.ClaimSettlement(ctx, st); err != nil {
		t.Fatal(err)
	}
	// The merchant's back end sees the same truth.
	if r := s.do("GET", s.CreatePaymentURL+"/orders/CRASH002", nil, admin()); r.body["status"] != "paid" {
		t.Fatalf("admin view of an order settled as paid: %s", r.raw)
	}
	st.OutTradeNo = "CRASH003"
	s.createOrder("CRASH003", alice, 650)
	if _, _, err := s.Store.ClaimSettlement(ctx, st); err != nil {
		t.Fatal(err)
	}
	before := len(s.SimCalls("unifiedorder"))
	if r := s.createPayment("CRASH003", alice); r.status != http.StatusConflict || r.errorCode() != "ORDER_PAID" {
		t.Fatalf("payment for an order settled as paid: %d %s", r.status, r.raw)
	}
	if after := len(s.SimCalls("unifiedorder")); after != before {
		t.Fatal("an order settled as paid reached WeChat for a new prepay")
	}
}

// The hint can be right while WeChat's own record disagrees with our order
// (the same out_trade_no used outside cloudpay): WeChat's answer is checked
// against the order too, and a disagreement records nothing.
func TestWeChatsAnswerMustMatchTheOrder(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	// Serial subtests: each drops a callback with a fault, and the
	// simulator's faults are one queue.
	for _, tc := range []struct {
		name, no    string
		wechatFee   int64
		wechatPayer string
	}{
		{"amount at WeChat differs", "WXAMT001", 99999, alice},
		{"payer at WeChat differs", "WXPAY001", 800, bob},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// WeChat's side first, as someone else created it, then paid.
			r := s.simPost("/_/pay/unifiedOrder", map[string]any{
				"body": "elsewhere", "openid": tc.wechatPayer, "out_trade_no": tc.no, "spbill_create_ip": "203.0.113.9",
				"env_id": "other-env", "sub_mch_id": subMchID, "total_fee": tc.wechatFee, "callback_type": 2,
				"container": map[string]any{"service": "payment-callback", "path": "/callbacks/pay"}})
			if resp, _ := r.body["respdata"].(map[string]any); resp["result_code"] != "SUCCESS" {
				t.Fatalf("unifiedorder at the simulator: %s", r.raw)
			}
			s.Fault("pay_callback", "drop", 1, nil)
			s.simPost("/pay", map[string]any{"out_trade_no": tc.no})
			s.createOrder(tc.no, alice, 800)

			// A callback whose own amount matches our order.
			fwd := s.simPost("/forge", map[string]any{"out_trade_no": tc.no, "total_fee": 800})
			if ok, _ := fwd.body["ok"].(bool); ok {
				t.Fatalf("acknowledged although WeChat's record differs: %s", fwd.raw)
			}
			if st := s.status(tc.no, alice); st.body["status"] != "unpaid" {
				t.Fatalf("status after WeChat disagreed: %s", st.raw)
			}
			if o := s.Order(tc.no); o.Status != cloudpay.OrderUnpaid || o.TransactionID != "" {
				t.Fatalf("order changed: %+v", o)
			}
			if _, found, _ := s.Store.Settlement(context.Background(), tc.no); found {
				t.Fatal("a settlement was recorded")
			}
			if evs := s.Events(tc.no); len(evs) != 0 {
				t.Fatalf("events: %+v", evs)
			}
		})
	}
}

// Some callbacks may lack fields; one without totalFee is still a hint, and
// WeChat's answer decides.
func TestCallbackWithoutAmountIsConfirmedByWeChat(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	_, body := s.payWithCallbackHeld("NOAMT001", alice, 1500)
	delete(body, "totalFee")
	r := s.do("POST", s.PaymentCallbackURL+"/callbacks/pay", body, nil)
	if r.body["errcode"] != float64(0) || r.header.Get("X-Cloudpay-Verdict") != "recorded" {
		t.Fatalf("callback without an amount: %d %s %v", r.status, r.raw, r.header)
	}
	if o := s.Order("NOAMT001"); o.Status != cloudpay.OrderPaid {
		t.Fatalf("order %s, want paid", o.Status)
	}
}

// Without a configured environment, the callback goes to the environment
// the mini-program called through (X-WX-ENV); with neither, nothing is sent.
func TestCallbackEnvironmentFromTheRequest(t *testing.T) {
	t.Parallel()
	s := newStack(t, testkit.WithoutEnvID())
	s.createOrder("ENVHDR01", alice, 100)
	h := user(alice)
	h["X-WX-ENV"] = "prod-from-header"
	if r := s.do("POST", s.CreatePaymentURL+"/payments", map[string]any{"out_trade_no": "ENVHDR01"}, h); r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	o := s.do("GET", s.SimURL+wechatsim.ControlPrefix+"/orders/ENVHDR01", nil, nil)
	if o.body["env_id"] != "prod-from-header" {
		t.Fatalf("env_id at WeChat: %s", o.raw)
	}
	s.createOrder("ENVHDR02", alice, 100)
	if r := s.createPayment("ENVHDR02", alice); r.status != http.StatusInternalServerError || len(s.SimCalls("unifiedorder")) != 1 {
		t.Fatalf("no environment at all: %d %s", r.status, r.raw)
	}
}
