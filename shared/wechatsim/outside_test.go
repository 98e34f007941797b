package wechatsim_test

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/jsapi"
	"github.com/wechatpay-apiv3/wechatpay-go/services/refunddomestic"

	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

var transactionIDShape = regexp.MustCompile(`^[0-9]{28}$`)

// outsidePayment makes a payment outside any back end through the control route.
func (e *env) outsidePayment(t *testing.T, body map[string]any) map[string]any {
	t.Helper()
	status, out := e.control(t, "POST", "/outside/payments", body)
	if status != 200 {
		t.Fatalf("POST /outside/payments %v: %d %v", body, status, out)
	}
	return out
}

func (e *env) outsideRefund(t *testing.T, body map[string]any) map[string]any {
	t.Helper()
	status, out := e.control(t, "POST", "/outside/refunds", body)
	if status != 200 {
		t.Fatalf("POST /outside/refunds %v: %d %v", body, status, out)
	}
	return out
}

func (e *v3env) queryByID(txn string) (*payments.Transaction, error) {
	tx, _, err := (&jsapi.JsapiApiService{Client: e.sdk}).QueryOrderById(context.Background(),
		jsapi.QueryOrderByIdRequest{TransactionId: core.String(txn), Mchid: core.String(wechatsim.DevMchID)})
	return tx, err
}

// calledBack reports whether svc received the refund callback of outRefundNo.
func calledBack(svc *service, outRefundNo any) bool {
	for _, b := range svc.received() {
		if b["outRefundNo"] == outRefundNo {
			return true
		}
	}
	return false
}

func (s *service) pathsSeen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.paths)
}

// A payment made outside any back end is paid at WeChat, queryable by either number on
// either channel, refundable through either channel, and never called back.
func TestOutsidePayment(t *testing.T) {
	e := newV3Env(t, nil)
	ctx := context.Background()
	out := e.outsidePayment(t, map[string]any{"amount_fen": 250, "openid": "oBuyer42"})
	no, _ := out["out_trade_no"].(string)
	txn, _ := out["transaction_id"].(string)
	if !strings.HasPrefix(no, "OS20250301120506") || len(no) != 28 || !transactionIDShape.MatchString(txn) ||
		out["trade_state"] != "SUCCESS" || out["total_fee"] != 250.0 || out["sub_openid"] != "oBuyer42" ||
		out["sub_mch_id"] != merchant || out["channel"] != "cloudhosting" || out["outside"] != true ||
		out["prepay_id"] != "" || out["time_end"] != "20250301120506" {
		t.Fatalf("POST /outside/payments: %v", out)
	}
	paidAt := e.clock.Now()

	t.Run("Cloud Hosting queryorder, by either number", func(t *testing.T) {
		for _, req := range []map[string]any{
			{"sub_mch_id": merchant, "out_trade_no": no},
			{"sub_mch_id": merchant, "transaction_id": txn},
			{"sub_mch_id": merchant, "transaction_id": txn, "out_trade_no": "SOMEOTHER1"}, // transaction_id wins
		} {
			d := e.api(t, "/_/pay/queryorder", req).Respdata
			if d["result_code"] != "SUCCESS" || d["trade_state"] != "SUCCESS" || d["out_trade_no"] != no ||
				d["transaction_id"] != txn || d["total_fee"] != 250.0 || d["cash_fee"] != 250.0 ||
				d["sub_openid"] != "oBuyer42" || d["time_end"] != "20250301120506" || d["sub_mch_id"] != merchant {
				t.Fatalf("queryorder %v: %v", req, d)
			}
		}
		d := e.api(t, "/_/pay/queryorder", map[string]any{"sub_mch_id": merchant, "transaction_id": "4200000000202503010000000000"}).Respdata
		if d["err_code"] != "ORDERNOTEXIST" {
			t.Fatalf("unknown transaction_id: %v", d)
		}
	})
	t.Run("API v3 query, by either number", func(t *testing.T) {
		tx := e.query(t, no)
		if str(tx.TransactionId) != txn || str(tx.TradeState) != "SUCCESS" || i64(tx.Amount.Total) != 250 ||
			str(tx.Payer.Openid) != "oBuyer42" || str(tx.SuccessTime) != "2025-03-01T12:05:06+08:00" {
			t.Fatalf("by out_trade_no: %+v", tx)
		}
		tx, err := e.queryByID(txn)
		if err != nil || str(tx.OutTradeNo) != no || str(tx.TransactionId) != txn || str(tx.TradeState) != "SUCCESS" ||
			i64(tx.Amount.Total) != 250 || str(tx.Payer.Openid) != "oBuyer42" || str(tx.SuccessTime) != "2025-03-01T12:05:06+08:00" ||
			str(tx.Mchid) != merchant {
			t.Fatalf("by transaction_id: %+v %v", tx, err)
		}
		_, err = e.queryByID("4200000000202503010000000000")
		apiError(t, err, http.StatusNotFound, "ORDER_NOT_EXIST")
	})
	t.Run("no pay callback, ever", func(t *testing.T) {
		if d := e.sim.Deliveries(no); len(d) != 0 {
			t.Fatalf("deliveries %+v", d)
		}
		if len(e.svc.received()) != 0 || len(e.sink.received()) != 0 {
			t.Fatal("something was delivered")
		}
		if status, out := e.control(t, "POST", "/notify", map[string]any{"out_trade_no": no}); status != 409 || !strings.HasPrefix(errorCode(out), "ORDER_OUTSIDE") {
			t.Fatalf("replay: %d %v", status, out)
		}
		if status, out := e.control(t, "POST", "/pay", map[string]any{"out_trade_no": no}); status != 409 {
			t.Fatalf("pay again: %d %v", status, out)
		}
	})
	t.Run("refundable through both channels, by transaction_id", func(t *testing.T) {
		env := e.refund(t, with(refundReq("", "OSR-CH", 50), "out_trade_no", nil, "transaction_id", txn, "total_fee", 250))
		if resultOf(env) != "SUCCESS" || env.Respdata["out_trade_no"] != no || env.Respdata["transaction_id"] != txn {
			t.Fatalf("Cloud Hosting refund: %v", env.Respdata)
		}
		req := e.refundReq("", "OSR-V3", 60)
		req.OutTradeNo, req.TransactionId, req.Amount.Total = nil, core.String(txn), core.Int64(250)
		r, _, err := (&refunddomestic.RefundsApiService{Client: e.sdk}).Create(ctx, req)
		if err != nil || str(r.OutTradeNo) != no || str(r.TransactionId) != txn || i64(r.Amount.Refund) != 60 {
			t.Fatalf("v3 refund: %+v %v", r, err)
		}
		// 140 fen is left to refund.
		req = e.refundReq("", "OSR-V3-2", 141)
		req.OutTradeNo, req.TransactionId, req.Amount.Total = nil, core.String(txn), core.Int64(250)
		_, _, err = (&refunddomestic.RefundsApiService{Client: e.sdk}).Create(ctx, req)
		apiError(t, err, http.StatusBadRequest, "INVALID_REQUEST")
	})
	t.Run("defaults and the v3 channel", func(t *testing.T) {
		out := e.outsidePayment(t, map[string]any{"amount_fen": 1})
		if out["sub_openid"] != wechatsim.DevOpenID || out["channel"] != "cloudhosting" || out["sub_mch_id"] != merchant {
			t.Fatalf("defaults: %v", out)
		}
		out = e.outsidePayment(t, map[string]any{"amount_fen": 7, "channel": "v3", "out_trade_no": "OTHERSYS-0001"})
		if out["out_trade_no"] != "OTHERSYS-0001" || out["channel"] != "v3" || out["sub_mch_id"] != wechatsim.DevMchID {
			t.Fatalf("v3: %v", out)
		}
		if tx := e.query(t, "OTHERSYS-0001"); str(tx.Mchid) != wechatsim.DevMchID || i64(tx.Amount.Total) != 7 {
			t.Fatalf("v3 query: %+v", tx)
		}
	})
	t.Run("bad requests", func(t *testing.T) {
		for _, tt := range []struct {
			name   string
			body   any
			status int
			code   string
		}{
			{"no amount", map[string]any{}, 400, "INVALID_FIELD: amount_fen"},
			{"negative amount", map[string]any{"amount_fen": -1}, 400, "INVALID_FIELD: amount_fen"},
			{"fractional amount", map[string]any{"amount_fen": 1.5}, 400, "INVALID_FIELD: amount_fen"},
			{"bad channel", map[string]any{"amount_fen": 1, "channel": "alipay"}, 400, "INVALID_FIELD: channel"},
			{"bad openid", map[string]any{"amount_fen": 1, "openid": "o user"}, 400, "INVALID_FIELD: openid"},
			{"short out_trade_no", map[string]any{"amount_fen": 1, "out_trade_no": "AB1"}, 400, "INVALID_FIELD: out_trade_no"},
			{"unknown field", map[string]any{"amount_fen": 1, "total_fee": 1}, 400, "INVALID_FIELD: total_fee"},
			{"out_trade_no taken", map[string]any{"amount_fen": 1, "out_trade_no": no}, 409, "OUT_TRADE_NO_USED"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				status, out := e.control(t, "POST", "/outside/payments", tt.body)
				if status != tt.status || !strings.HasPrefix(errorCode(out), tt.code) {
					t.Fatalf("got %d %q, want %d %q", status, errorCode(out), tt.status, tt.code)
				}
			})
		}
	})
	if v, _ := e.sim.Order(no); v.PaidAt == nil || !v.PaidAt.Equal(paidAt) {
		t.Fatalf("paid at %v, want %v", v.PaidAt, paidAt)
	}
}

// A refund made in the merchant platform follows the refund rules, settles like any
// refund and is called back where WeChat knows to call back, with source VENDOR_PLATFORM.
func TestOutsideRefundCloudHosting(t *testing.T) {
	outside := newService(t) // where refunds made in the merchant platform are called back
	e := newEnv(t, func(c *wechatsim.Config) { c.OutsideRefundCallbackURL = outside.srv.URL + "/outside/refund" })
	pay := e.outsidePayment(t, map[string]any{"amount_fen": 100})
	no, txn := pay["out_trade_no"].(string), pay["transaction_id"].(string)

	// Settled right after the reply (RefundSettleDelay 0), as WeChat would.
	v := e.outsideRefund(t, map[string]any{"transaction_id": txn, "amount_fen": 30, "reason": "damaged"})
	rno, _ := v["out_refund_no"].(string)
	if !regexp.MustCompile(`^MP20250301120506[0-9]{12}$`).MatchString(rno) || v["status"] != "PROCESSING" ||
		v["source"] != "VENDOR_PLATFORM" || v["channel"] != "cloudhosting" || v["refund_fee"] != 30.0 ||
		v["total_fee"] != 100.0 || v["out_trade_no"] != no || v["transaction_id"] != txn || v["reason"] != "damaged" {
		t.Fatalf("POST /outside/refunds: %v", v)
	}
	eventually(t, "the refund callback", func() bool { return len(outside.received()) == 1 })
	cb := outside.received()[0]
	if cb["outRefundNo"] != rno || cb["refundFee"] != 30.0 || cb["totalFee"] != 100.0 || cb["refundStatus"] != "SUCCESS" ||
		cb["refundRequestSource"] != "VENDOR_PLATFORM" || cb["transactionId"] != txn || cb["outTradeNo"] != no ||
		cb["subMchId"] != merchant || cb["successTime"] != "2025-03-01 12:05:06" {
		t.Fatalf("refund callback %v", cb)
	}
	if paths := outside.pathsSeen(); len(paths) != 1 || !strings.HasPrefix(paths[0], "POST /outside/refund application/json") {
		t.Fatalf("delivered to %v", paths)
	}
	eventually(t, "the acknowledgement", func() bool {
		r, _ := e.sim.Refund(rno)
		return r.Status == "SUCCESS" && r.CallbackAcked
	})
	if len(e.svc.received()) != 0 {
		t.Fatalf("the pay callback service got %v", e.svc.received())
	}

	t.Run("it lowers what is refundable", func(t *testing.T) {
		tooMuch := with(refundReq("", "API-R1", 71), "out_trade_no", nil, "transaction_id", txn)
		if env := e.refund(t, tooMuch); resultOf(env) != "INVALID_REQUEST" || !strings.Contains(env.Respdata["err_code_des"].(string), "after 30 of 100") {
			t.Fatalf("71 after 30: %v", env.Respdata)
		}
		status, out := e.control(t, "POST", "/outside/refunds", map[string]any{"out_trade_no": no, "amount_fen": 71})
		if status != 409 || !strings.HasPrefix(errorCode(out), "INVALID_REQUEST") {
			t.Fatalf("outside refund of 71 after 30: %d %v", status, out)
		}
		if env := e.refund(t, with(tooMuch, "refund_fee", 70)); resultOf(env) != "SUCCESS" {
			t.Fatalf("70 after 30: %v", env.Respdata)
		}
		d := e.api(t, "/_/pay/queryrefund", map[string]any{"sub_mch_id": merchant, "transaction_id": txn}).Respdata
		if d["refund_count"] != 2.0 || d["out_refund_no_0"] != rno || d["refund_fee"] != 100.0 {
			t.Fatalf("queryrefund by transaction_id: %v", d)
		}
	})
	t.Run("the same out_refund_no is the same refund", func(t *testing.T) {
		e.paidOrder(t, "MPIDEM1")
		first := e.outsideRefund(t, map[string]any{"out_trade_no": "MPIDEM1", "amount_fen": 10, "out_refund_no": "MP-IDEM-1"})
		again := e.outsideRefund(t, map[string]any{"out_trade_no": "MPIDEM1", "amount_fen": 10, "out_refund_no": "MP-IDEM-1"})
		if first["refund_id"] != again["refund_id"] || again["requests"] != 2.0 {
			t.Fatalf("first %v, again %v", first, again)
		}
		status, out := e.control(t, "POST", "/outside/refunds", map[string]any{"out_trade_no": "MPIDEM1", "amount_fen": 11, "out_refund_no": "MP-IDEM-1"})
		if status != 409 || !strings.HasPrefix(errorCode(out), "INVALID_REQUEST") {
			t.Fatalf("other amount: %d %v", status, out)
		}
	})
	t.Run("a back end's order: the refund target it gave, never its pay callback target", func(t *testing.T) {
		e.paidOrder(t, "MPORD01") // its container is /callbacks/pay
		v := e.outsideRefund(t, map[string]any{"out_trade_no": "MPORD01", "amount_fen": 5})
		eventually(t, "the default target", func() bool { return calledBack(outside, v["out_refund_no"]) })
		if env := e.refund(t, refundReq("MPORD01", "MPORD01-API", 5)); resultOf(env) != "SUCCESS" { // names /callbacks/refund
			t.Fatalf("API refund: %v", env.Respdata)
		}
		v = e.outsideRefund(t, map[string]any{"out_trade_no": "MPORD01", "amount_fen": 6})
		eventually(t, "the order's refund target", func() bool { return calledBack(e.svc, v["out_refund_no"]) })
		paths := e.svc.pathsSeen()
		for i, b := range e.svc.received() {
			if b["outRefundNo"] != nil && !strings.HasPrefix(paths[i], "POST /payment-callback/callbacks/refund ") {
				t.Fatalf("a refund callback went to %s", paths[i])
			}
		}
	})
	t.Run("bad requests", func(t *testing.T) {
		e.create(t, "MPUNPAID")
		for _, tt := range []struct {
			name   string
			body   any
			status int
			code   string
		}{
			{"no order number", map[string]any{"amount_fen": 1}, 400, "INVALID_FIELD: out_trade_no"},
			{"bad transaction_id", map[string]any{"transaction_id": "42x", "amount_fen": 1}, 400, "INVALID_FIELD: transaction_id"},
			{"no amount", map[string]any{"out_trade_no": no}, 400, "INVALID_FIELD: amount_fen"},
			{"bad out_refund_no", map[string]any{"out_trade_no": no, "amount_fen": 1, "out_refund_no": "R#1"}, 400, "INVALID_FIELD: out_refund_no"},
			{"unknown order", map[string]any{"out_trade_no": "NOPE01", "amount_fen": 1}, 404, "ORDER_NOT_FOUND"},
			{"unknown transaction", map[string]any{"transaction_id": "4200000000202503010000000000", "amount_fen": 1}, 404, "ORDER_NOT_FOUND"},
			{"unpaid order", map[string]any{"out_trade_no": "MPUNPAID", "amount_fen": 1}, 409, "ORDER_NOT_PAID"},
			{"unknown field", map[string]any{"out_trade_no": no, "refund_fee": 1}, 400, "INVALID_FIELD: refund_fee"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				status, out := e.control(t, "POST", "/outside/refunds", tt.body)
				if status != tt.status || !strings.HasPrefix(errorCode(out), tt.code) {
					t.Fatalf("got %d %q, want %d %q", status, errorCode(out), tt.status, tt.code)
				}
			})
		}
	})
}

// Without a known target nor Config.OutsideRefundCallbackURL the callback is logged as
// undeliverable, and the refund still happens.
func TestOutsideRefundWithoutTarget(t *testing.T) {
	e := newEnv(t, manualRefunds)
	pay := e.outsidePayment(t, map[string]any{"amount_fen": 100})
	v := e.outsideRefund(t, map[string]any{"out_trade_no": pay["out_trade_no"], "amount_fen": 100})
	got, err := e.sim.SettleRefund(context.Background(), v["out_refund_no"].(string), "SUCCESS")
	if err != nil || got.Status != "SUCCESS" || got.Callback.OK || !strings.Contains(got.Callback.Error, "OutsideRefundCallbackURL") {
		t.Fatalf("settled %+v (callback %+v), %v", got, got.Callback, err)
	}
	if o, _ := e.sim.Order(pay["out_trade_no"].(string)); o.TradeState != "REFUND" {
		t.Fatalf("order is %s", o.TradeState)
	}
}

// On API v3 the REFUND.SUCCESS notification of a refund made in the merchant platform
// goes to the order's notify_url, or for an outside payment to Config.OutsideNotifyURL.
func TestOutsideRefundV3(t *testing.T) {
	outside := newNotifySink(t) // the notify URL configured in the merchant platform
	e := newV3Env(t, func(c *wechatsim.Config) { c.OutsideNotifyURL = outside.url("/notify/outside") })
	ctx := context.Background()

	pay := e.outsidePayment(t, map[string]any{"amount_fen": 90}) // only the v3 URL is set: channel v3
	no, txn := pay["out_trade_no"].(string), pay["transaction_id"].(string)
	if pay["channel"] != "v3" || pay["sub_mch_id"] != wechatsim.DevMchID {
		t.Fatalf("default channel: %v", pay)
	}
	v := e.outsideRefund(t, map[string]any{"out_trade_no": no, "amount_fen": 40, "out_refund_no": "MPV3-1"})
	if v["status"] != "PROCESSING" || v["channel"] != "v3" || v["source"] != "VENDOR_PLATFORM" {
		t.Fatalf("refund %v", v)
	}
	if q := e.queryRefund(t, "MPV3-1"); str((*string)(q.Status)) != "PROCESSING" || i64(q.Amount.Refund) != 40 || str(q.TransactionId) != txn {
		t.Fatalf("v3 query: %+v", q)
	}
	settled, err := e.sim.SettleRefund(ctx, "MPV3-1", "SUCCESS")
	if err != nil || !settled.Callback.OK || settled.Callback.URL != outside.url("/notify/outside") {
		t.Fatalf("settle: %+v %v", settled.Callback, err)
	}
	got := outside.received()
	if len(got) != 1 || got[0].err != nil || got[0].path != "/notify/outside" || got[0].eventType != "REFUND.SUCCESS" {
		t.Fatalf("received %+v", got)
	}
	c := got[0].content
	amount, _ := c["amount"].(map[string]any)
	if c["out_refund_no"] != "MPV3-1" || c["out_trade_no"] != no || c["transaction_id"] != txn || c["refund_status"] != "SUCCESS" ||
		c["mchid"] != wechatsim.DevMchID || amount["refund"] != 40.0 || amount["total"] != 90.0 {
		t.Fatalf("content %v", c)
	}

	t.Run("a back end's order: its notify_url", func(t *testing.T) {
		e.prepay(t, "MPV3ORD1")
		if _, err := e.sim.Pay(ctx, "MPV3ORD1"); err != nil {
			t.Fatal(err)
		}
		e.outsideRefund(t, map[string]any{"out_trade_no": "MPV3ORD1", "amount_fen": 100, "out_refund_no": "MPV3-2"})
		d, err := e.sim.SettleRefund(ctx, "MPV3-2", "SUCCESS")
		if err != nil || !d.Callback.OK || d.Callback.URL != e.sink.url("/notify/pay") {
			t.Fatalf("settle: %+v %v", d.Callback, err)
		}
		_, _, err = (&refunddomestic.RefundsApiService{Client: e.sdk}).Create(ctx, e.refundReq("MPV3ORD1", "AFTER", 1))
		apiError(t, err, http.StatusBadRequest, "INVALID_REQUEST")
	})
	t.Run("forged notifications of it go to the same place", func(t *testing.T) {
		d, err := e.sim.ForgeV3(ctx, wechatsim.ForgeV3Request{Kind: wechatsim.ForgeBadSignature, OutRefundNo: "MPV3-1"})
		if err != nil || d.URL != outside.url("/notify/outside") {
			t.Fatalf("forged %+v %v", d, err)
		}
	})
}

// Outside payments and refunds survive a crash: after the restart they are queryable,
// refundable and settle with their callback; no pay callback is ever sent for them.
func TestPersistOutsidePaymentsAndRefunds(t *testing.T) {
	t.Parallel()
	outside := newService(t)
	p := newPersistent(t, func(c *wechatsim.Config) { c.OutsideRefundCallbackURL = outside.srv.URL + "/outside/refund" })
	e := p.cur
	pay := e.outsidePayment(t, map[string]any{"amount_fen": 100, "openid": "oPersist1"})
	no, txn := pay["out_trade_no"].(string), pay["transaction_id"].(string)
	e.outsideRefund(t, map[string]any{"transaction_id": txn, "amount_fen": 25, "out_refund_no": "MPP-1"}) // stays PROCESSING

	e = p.restart(t)
	if o, ok := e.sim.Order(no); !ok || !o.Outside || o.TransactionID != txn || o.TotalFee != 100 || o.SubOpenID != "oPersist1" {
		t.Fatalf("order after restart: %+v %v", o, ok)
	}
	d := e.api(t, "/_/pay/queryorder", map[string]any{"sub_mch_id": merchant, "transaction_id": txn}).Respdata
	if d["out_trade_no"] != no || d["trade_state"] != "SUCCESS" || d["total_fee"] != 100.0 {
		t.Fatalf("queryorder after restart: %v", d)
	}
	if r, ok := e.sim.Refund("MPP-1"); !ok || r.Source != "VENDOR_PLATFORM" || r.Status != "PROCESSING" || r.RefundFee != 25 {
		t.Fatalf("refund after restart: %+v %v", r, ok)
	}
	settled, err := e.sim.SettleRefund(context.Background(), "MPP-1", "SUCCESS")
	if err != nil || !settled.Callback.OK {
		t.Fatalf("settle after restart: %+v %v", settled.Callback, err)
	}
	if got := outside.received(); len(got) != 1 || got[0]["outRefundNo"] != "MPP-1" || got[0]["refundFee"] != 25.0 ||
		got[0]["refundRequestSource"] != "VENDOR_PLATFORM" {
		t.Fatalf("callbacks %v", got)
	}
	for _, d := range e.sim.Deliveries(no) { // the restart resumed no pay callback
		if d.Kind != wechatsim.KindRefundCallback {
			t.Fatalf("delivered after restart: %+v", d)
		}
	}
	e.outsideRefund(t, map[string]any{"out_trade_no": no, "amount_fen": 75, "out_refund_no": "MPP-2"})

	e = p.restart(t)
	if r, _ := e.sim.Refund("MPP-1"); r.Status != "SUCCESS" || !r.CallbackAcked {
		t.Fatalf("settled refund after restart: %+v", r)
	}
	if r, _ := e.sim.Refund("MPP-2"); r.Source != "VENDOR_PLATFORM" || r.RefundFee != 75 {
		t.Fatalf("second refund after restart: %+v", r)
	}
	if env := e.refund(t, with(refundReq("", "API-AFTER", 1), "out_trade_no", nil, "transaction_id", txn)); resultOf(env) != "INVALID_REQUEST" {
		t.Fatalf("refund beyond the paid amount after restart: %v", env.Respdata)
	}
	if ds := e.sim.Deliveries(no); len(ds) != 0 { // the restart resumed no pay callback
		t.Fatalf("deliveries after restart: %+v", ds)
	}
	if len(p.svc.received()) != 0 {
		t.Fatalf("the pay callback service got %v", p.svc.received())
	}
}
