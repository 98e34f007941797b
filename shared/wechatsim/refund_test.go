package wechatsim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

func manualRefunds(c *wechatsim.Config) { c.RefundSettleDelay = -1 }

func refundReq(no, refundNo string, refundFee int) map[string]any {
	return map[string]any{
		"sub_mch_id": merchant, "out_trade_no": no, "out_refund_no": refundNo,
		"total_fee": 100, "refund_fee": refundFee, "refund_desc": "test refund", "env_id": "prod-1",
		"callback_type": 2, "container": map[string]any{"service": "payment-callback", "path": "/callbacks/refund"},
	}
}

// paidOrder creates and pays a Cloud Hosting order of 100 fen.
func (e *env) paidOrder(t *testing.T, no string) string {
	t.Helper()
	e.create(t, no)
	txn, _ := e.pay(t, no)["transaction_id"].(string)
	return txn
}

func (e *env) refund(t *testing.T, body map[string]any) envelope {
	t.Helper()
	return e.api(t, "/_/pay/refund", body)
}

func (e *env) queryRefund(t *testing.T, body map[string]any) envelope {
	t.Helper()
	return e.api(t, "/_/pay/queryrefund", body)
}

func TestCHRefundRules(t *testing.T) {
	e := newEnv(t, manualRefunds)
	txn := e.paidOrder(t, "RP1")
	e.paidOrder(t, "RP2")
	e.create(t, "RU1")
	e.create(t, "RC1")
	e.api(t, "/_/pay/closeorder", map[string]any{"sub_mch_id": merchant, "out_trade_no": "RC1"})

	var firstID string
	tests := []struct {
		name    string
		req     map[string]any
		code    string
		desHas  string
		refunds int // refunds of RP1 afterwards
	}{
		{"unknown order", refundReq("NOPE", "X1", 10), "ORDERNOTEXIST", "", 0},
		{"unknown transaction_id", with(refundReq("", "X1", 10), "out_trade_no", nil, "transaction_id", "4200000000000"), "ORDERNOTEXIST", "", 0},
		{"unpaid order", refundReq("RU1", "X1", 10), "TRADE_STATE_ERROR", "", 0},
		{"closed order", refundReq("RC1", "X1", 10), "TRADE_STATE_ERROR", "", 0},
		{"total_fee differs from the order", with(refundReq("RP1", "X1", 10), "total_fee", 99), "INVALID_REQUEST", "total", 0},
		{"other merchant", with(refundReq("RP1", "X1", 10), "sub_mch_id", "1999"), unboundResult, "", 0},
		{"missing sub_mch_id", with(refundReq("RP1", "X1", 10), "sub_mch_id", nil), "PARAM_ERROR", "sub_mch_id", 0},
		{"no order number", with(refundReq("RP1", "X1", 10), "out_trade_no", nil), "PARAM_ERROR", "out_trade_no", 0},
		{"missing out_refund_no", with(refundReq("RP1", "X1", 10), "out_refund_no", nil), "PARAM_ERROR", "out_refund_no", 0},
		{"out_refund_no bad char", refundReq("RP1", "R#1", 10), "PARAM_ERROR", "out_refund_no", 0},
		{"out_refund_no 65 chars", refundReq("RP1", strings.Repeat("r", 65), 10), "PARAM_ERROR", "out_refund_no", 0},
		{"refund_fee zero", refundReq("RP1", "X1", 0), "PARAM_ERROR", "refund_fee", 0},
		{"refund_fee missing", with(refundReq("RP1", "X1", 10), "refund_fee", nil), "PARAM_ERROR", "refund_fee", 0},
		{"total_fee missing", with(refundReq("RP1", "X1", 10), "total_fee", nil), "PARAM_ERROR", "total_fee", 0},
		{"bad callback_type", with(refundReq("RP1", "X1", 10), "callback_type", 7), "PARAM_ERROR", "callback_type", 0},
		{"first refund with every allowed character", refundReq("RP1", "Az09_-|*@", 30), "SUCCESS", "", 1},
		{"same out_refund_no and amount is idempotent", refundReq("RP1", "Az09_-|*@", 30), "SUCCESS", "", 1},
		{"same out_refund_no, other amount", refundReq("RP1", "Az09_-|*@", 40), "INVALID_REQUEST", "", 1},
		{"over the order total", refundReq("RP1", "R2", 71), "INVALID_REQUEST", "退款金额超过", 1},
		{"up to the total, by transaction_id", with(refundReq("", "R2", 70), "out_trade_no", nil, "transaction_id", txn), "SUCCESS", "", 2},
		{"nothing left", refundReq("RP1", "R3", 1), "INVALID_REQUEST", "退款金额超过", 2},
		{"out_refund_no used again for another order", refundReq("RP2", "R2", 70), "INVALID_REQUEST", "RP1", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := e.refund(t, tt.req)
			if got := resultOf(env); got != tt.code {
				t.Fatalf("result %q (%v), want %q", got, env.Respdata["err_code_des"], tt.code)
			}
			if des, _ := env.Respdata["err_code_des"].(string); !strings.Contains(des, tt.desHas) {
				t.Fatalf("err_code_des %q does not mention %q", des, tt.desHas)
			}
			if n := len(e.sim.Refunds("RP1")); n != tt.refunds {
				t.Fatalf("order has %d refunds, want %d", n, tt.refunds)
			}
			if tt.code != "SUCCESS" {
				return
			}
			d := env.Respdata
			id, _ := d["refund_id"].(string)
			if !regexp.MustCompile(`^50\d{27}$`).MatchString(id) {
				t.Fatalf("refund_id %q", id)
			}
			if firstID == "" {
				firstID = id
			}
			if tt.name == "same out_refund_no and amount is idempotent" && id != firstID {
				t.Fatalf("retry got refund_id %s, want %s", id, firstID)
			}
			for k, want := range map[string]any{
				"return_code": "SUCCESS", "appid": wechatsim.SPAppID, "mch_id": wechatsim.SPMchID,
				"sub_mch_id": merchant, "transaction_id": txn, "out_trade_no": "RP1",
				"out_refund_no": tt.req["out_refund_no"], "refund_fee": float64(tt.req["refund_fee"].(int)),
				"total_fee": 100.0, "cash_fee": 100.0,
			} {
				if d[k] != want {
					t.Errorf("respdata.%s = %v, want %v", k, d[k], want)
				}
			}
		})
	}
	v, ok := e.sim.Refund("Az09_-|*@")
	if !ok || v.Requests != 3 || v.Status != "PROCESSING" || v.Channel != "cloudhosting" || v.RefundFee != 30 ||
		v.Reason != "test refund" || v.OutTradeNo != "RP1" || v.TransactionID != txn {
		t.Fatalf("refund view %+v", v)
	}
	if _, ok := e.sim.Refund("X1"); ok {
		t.Fatal("a refused refund was recorded")
	}

	t.Run("a closed refund frees its amount", func(t *testing.T) {
		if _, err := e.sim.SettleRefund(context.Background(), "R2", "CLOSED"); err != nil {
			t.Fatal(err)
		}
		if got := resultOf(e.refund(t, refundReq("RP1", "R3", 70))); got != "SUCCESS" {
			t.Fatalf("got %s", got)
		}
		if got := resultOf(e.refund(t, refundReq("RP1", "R4", 1))); got != "INVALID_REQUEST" {
			t.Fatalf("got %s", got)
		}
	})
	t.Run("a successful refund turns the order into REFUND", func(t *testing.T) {
		if _, err := e.sim.SettleRefund(context.Background(), "R3", "SUCCESS"); err != nil {
			t.Fatal(err)
		}
		d := e.api(t, "/_/pay/queryorder", map[string]any{"sub_mch_id": merchant, "out_trade_no": "RP1"}).Respdata
		if d["trade_state"] != "REFUND" || d["transaction_id"] != txn || d["time_end"] == nil {
			t.Fatalf("queryorder %v", d)
		}
		if v, _ := e.sim.Order("RP1"); v.TradeState != "REFUND" || v.PaidAt == nil {
			t.Fatalf("order %+v", v)
		}
		if got := resultOf(e.api(t, "/_/pay/unifiedOrder", orderReq("RP1"))); got != "ORDERPAID" {
			t.Fatalf("unifiedorder on a refunded order: %s", got)
		}
		if got := resultOf(e.api(t, "/_/pay/closeorder", map[string]any{"sub_mch_id": merchant, "out_trade_no": "RP1"})); got != "ORDERPAID" {
			t.Fatalf("closeorder on a refunded order: %s", got)
		}
		// A REFUND order can still be refunded (once the first refund closed there is room).
		if _, err := e.sim.SettleRefund(context.Background(), "Az09_-|*@", "CLOSED"); err != nil {
			t.Fatal(err)
		}
		if got := resultOf(e.refund(t, refundReq("RP1", "R5", 30))); got != "SUCCESS" {
			t.Fatalf("refund of a REFUND order: %s", got)
		}
		if status, out := e.control(t, "POST", "/notify", map[string]any{"out_trade_no": "RP1"}); status != 200 {
			t.Fatalf("the pay callback of a REFUND order cannot be replayed: %d %v", status, out)
		}
	})
}

func TestCHRefundLimits(t *testing.T) {
	t.Run("at most 50 refunds per order", func(t *testing.T) {
		e := newEnv(t, manualRefunds)
		e.paidOrder(t, "L50")
		for i := range 50 {
			if got := resultOf(e.refund(t, refundReq("L50", "L50-"+itoa(int64(i)), 1))); got != "SUCCESS" {
				t.Fatalf("refund %d: %s", i, got)
			}
		}
		if got := resultOf(e.refund(t, refundReq("L50", "L50-50", 1))); got != "INVALID_REQ_TOO_MUCH" {
			t.Fatalf("51st refund: %s", got)
		}
		// Retrying an existing one is not a new refund.
		if got := resultOf(e.refund(t, refundReq("L50", "L50-7", 1))); got != "SUCCESS" {
			t.Fatalf("retry: %s", got)
		}
	})
	t.Run("no refund a year after payment", func(t *testing.T) {
		e := newEnv(t, manualRefunds)
		e.paidOrder(t, "OLD1")
		e.clock.Add(365 * 24 * time.Hour)
		if got := resultOf(e.refund(t, refundReq("OLD1", "O1", 1))); got != "SUCCESS" {
			t.Fatalf("at 365 days: %s", got)
		}
		e.clock.Add(time.Second)
		env := e.refund(t, refundReq("OLD1", "O2", 1))
		if got := resultOf(env); got != "INVALID_REQUEST" || !strings.Contains(env.Respdata["err_code_des"].(string), "365") {
			t.Fatalf("after 365 days: %s %v", got, env.Respdata["err_code_des"])
		}
	})
	t.Run("minimum interval between refunds of an order", func(t *testing.T) {
		e := newEnv(t, func(c *wechatsim.Config) {
			c.RefundSettleDelay = -1
			c.RefundMinInterval = time.Minute
		})
		e.paidOrder(t, "FQ1")
		e.paidOrder(t, "FQ2")
		steps := []struct {
			advance       time.Duration
			order, refund string
			want          string
		}{
			{0, "FQ1", "F1", "SUCCESS"},
			{59 * time.Second, "FQ1", "F2", "FREQUENCY_LIMITED"},
			{0, "FQ1", "F1", "SUCCESS"}, // an idempotent retry is not a new refund
			{0, "FQ2", "F3", "SUCCESS"}, // other orders are not limited
			{time.Second, "FQ1", "F2", "SUCCESS"},
		}
		for i, st := range steps {
			e.clock.Add(st.advance)
			if got := resultOf(e.refund(t, refundReq(st.order, st.refund, 10))); got != st.want {
				t.Fatalf("step %d: %s, want %s", i, got, st.want)
			}
		}
	})
}

func TestCHQueryRefund(t *testing.T) {
	e := newEnv(t, manualRefunds)
	txn := e.paidOrder(t, "QR1")
	e.paidOrder(t, "QR2")
	for i, fee := range []int{10, 20, 30, 5} {
		e.refund(t, refundReq("QR1", "QRF"+itoa(int64(i)), fee))
	}
	e.clock.Add(time.Hour)
	ctx := context.Background()
	_, _ = e.sim.SettleRefund(ctx, "QRF1", "SUCCESS")
	_, _ = e.sim.SettleRefund(ctx, "QRF2", "CLOSED")
	_, _ = e.sim.SettleRefund(ctx, "QRF3", "ABNORMAL")
	r0, _ := e.sim.Refund("QRF0")

	q := func(kv ...any) map[string]any { return with(map[string]any{"sub_mch_id": merchant}, kv...) }
	t.Run("by out_refund_no", func(t *testing.T) {
		d := e.queryRefund(t, q("out_refund_no", "QRF1")).Respdata
		for k, want := range map[string]any{
			"result_code": "SUCCESS", "refund_count": 1.0, "total_fee": 100.0, "out_trade_no": "QR1",
			"transaction_id": txn, "sub_mch_id": merchant, "out_refund_no_0": "QRF1", "refund_fee_0": 20.0,
			"refund_status_0": "SUCCESS", "refund_success_time_0": "2025-03-01 13:05:06",
			"refund_recv_accout_0": "支付用户的零钱",
		} {
			if d[k] != want {
				t.Errorf("%s = %v, want %v", k, d[k], want)
			}
		}
		if d["refund_id_0"] == nil || d["out_refund_no_1"] != nil {
			t.Fatalf("respdata %v", d)
		}
	})
	t.Run("by refund_id", func(t *testing.T) {
		d := e.queryRefund(t, q("refund_id", r0.RefundID)).Respdata
		if d["out_refund_no_0"] != "QRF0" || d["refund_status_0"] != "PROCESSING" || d["refund_success_time_0"] != nil {
			t.Fatalf("respdata %v", d)
		}
	})
	for _, by := range [][]any{{"out_trade_no", "QR1"}, {"transaction_id", txn}} {
		t.Run("every refund by "+by[0].(string), func(t *testing.T) {
			d := e.queryRefund(t, q(by...)).Respdata
			if d["refund_count"] != 4.0 {
				t.Fatalf("respdata %v", d)
			}
			var states []string
			for i := range 4 {
				states = append(states, d["refund_status_"+itoa(int64(i))].(string))
				if d["out_refund_no_"+itoa(int64(i))] != "QRF"+itoa(int64(i)) {
					t.Fatalf("refund %d is %v", i, d["out_refund_no_"+itoa(int64(i))])
				}
			}
			if want := []string{"PROCESSING", "SUCCESS", "REFUNDCLOSE", "CHANGE"}; !slices.Equal(states, want) {
				t.Fatalf("states %v, want %v", states, want)
			}
		})
	}
	for _, tt := range []struct {
		name string
		body map[string]any
		want string
	}{
		{"unknown out_refund_no", q("out_refund_no", "NOPE"), "REFUNDNOTEXIST"},
		{"unknown refund_id", q("refund_id", "5000"), "REFUNDNOTEXIST"},
		{"order without refunds", q("out_trade_no", "QR2"), "REFUNDNOTEXIST"},
		{"unknown order", q("out_trade_no", "NOPE"), "REFUNDNOTEXIST"},
		{"other merchant", with(q("out_refund_no", "QRF1"), "sub_mch_id", "1999"), unboundResult},
		{"no key", q(), "PARAM_ERROR"},
		{"no sub_mch_id", map[string]any{"out_refund_no": "QRF1"}, "PARAM_ERROR"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := resultOf(e.queryRefund(t, tt.body)); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func refundCallbacks(got []map[string]any) []map[string]any {
	var out []map[string]any
	for _, b := range got {
		if b["outRefundNo"] != nil {
			out = append(out, b)
		}
	}
	return out
}

func TestRefundSettlesOnItsOwn(t *testing.T) {
	for _, tt := range []struct {
		name  string
		delay time.Duration
	}{
		{"right after the reply", 0},
		{"after RefundSettleDelay", 80 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *wechatsim.Config) { c.RefundSettleDelay = tt.delay })
			txn := e.paidOrder(t, "AS1")
			start := time.Now()
			env := e.refund(t, refundReq("AS1", "ASR1", 40))
			if resultOf(env) != "SUCCESS" {
				t.Fatalf("refund %v", env.Respdata)
			}
			if tt.delay > 0 {
				if v, _ := e.sim.Refund("ASR1"); v.Status != "PROCESSING" {
					t.Fatalf("status %s right after the create call", v.Status)
				}
			}
			eventually(t, "the acknowledged refund callback", func() bool {
				v, _ := e.sim.Refund("ASR1")
				return v.CallbackAcked
			})
			if time.Since(start) < tt.delay {
				t.Fatalf("settled after %v, before the delay", time.Since(start))
			}
			v, _ := e.sim.Refund("ASR1")
			if v.Status != "SUCCESS" || v.SuccessTime == nil || !v.CallbackAcked {
				t.Fatalf("refund %+v", v)
			}
			body := refundCallbacks(e.svc.received())[0]
			wantKeys := []string{"returnCode", "appid", "mchId", "subAppid", "subMchId", "nonceStr", "transactionId",
				"outTradeNo", "refundId", "outRefundNo", "totalFee", "refundFee", "settlementTotalFee",
				"settlementRefundFee", "refundStatus", "successTime", "refundRecvAccout", "refundAccount", "refundRequestSource"}
			for _, k := range wantKeys {
				if _, ok := body[k]; !ok {
					t.Errorf("refund callback lacks %s", k)
				}
			}
			if len(body) != len(wantKeys) {
				t.Errorf("refund callback has %d keys, want %d: %v", len(body), len(wantKeys), body)
			}
			for k, want := range map[string]any{
				"returnCode": "SUCCESS", "appid": wechatsim.SPAppID, "mchId": wechatsim.SPMchID,
				"subAppid": wechatsim.DefaultAppID, "subMchId": merchant, "transactionId": txn, "outTradeNo": "AS1",
				"refundId": v.RefundID, "outRefundNo": "ASR1", "totalFee": 100.0, "refundFee": 40.0,
				"settlementTotalFee": 100.0, "settlementRefundFee": 40.0, "refundStatus": "SUCCESS",
				"successTime": "2025-03-01 12:05:06", "refundRequestSource": "API",
			} {
				if body[k] != want {
					t.Errorf("%s = %v, want %v", k, body[k], want)
				}
			}
			if p := e.svc.paths[len(e.svc.paths)-1]; p != "POST /payment-callback/callbacks/refund application/json" {
				t.Fatalf("request %q", p)
			}
			ds := e.sim.RefundDeliveries("ASR1")
			if len(ds) != 1 || ds[0].Kind != "refund_callback" || ds[0].Trigger != "settle" || !ds[0].OK || ds[0].OutTradeNo != "AS1" {
				t.Fatalf("deliveries %+v", ds)
			}
		})
	}
	t.Run("a negative delay never settles on its own", func(t *testing.T) {
		e := newEnv(t, manualRefunds)
		e.paidOrder(t, "AS2")
		e.refund(t, refundReq("AS2", "ASR2", 40))
		time.Sleep(30 * time.Millisecond)
		if v, _ := e.sim.Refund("ASR2"); v.Status != "PROCESSING" || len(refundCallbacks(e.svc.received())) != 0 {
			t.Fatalf("refund %+v", v)
		}
	})
	t.Run("settling by hand first wins", func(t *testing.T) {
		e := newEnv(t, func(c *wechatsim.Config) { c.RefundSettleDelay = 50 * time.Millisecond })
		e.paidOrder(t, "AS3")
		e.refund(t, refundReq("AS3", "ASR3", 40))
		if _, err := e.sim.SettleRefund(context.Background(), "ASR3", "ABNORMAL"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		if v, _ := e.sim.Refund("ASR3"); v.Status != "ABNORMAL" {
			t.Fatalf("status %s", v.Status)
		}
	})
}

func TestSettleRefund(t *testing.T) {
	e := newEnv(t, manualRefunds)
	e.paidOrder(t, "SR1")
	e.refund(t, refundReq("SR1", "SRA", 10))
	e.refund(t, refundReq("SR1", "SRB", 10))
	ctx := context.Background()
	steps := []struct {
		name, refund, state string
		status              int // 0: success
		sends               string
	}{
		{"PROCESSING to ABNORMAL", "SRA", "ABNORMAL", 0, "CHANGE"},
		{"ABNORMAL again changes nothing", "SRA", "ABNORMAL", 0, ""},
		{"ABNORMAL to SUCCESS", "SRA", "SUCCESS", 0, "SUCCESS"},
		{"SUCCESS is final", "SRA", "CLOSED", 409, ""},
		{"SUCCESS again changes nothing", "SRA", "SUCCESS", 0, ""},
		{"PROCESSING to CLOSED", "SRB", "CLOSED", 0, "REFUNDCLOSE"},
		{"CLOSED is final", "SRB", "SUCCESS", 409, ""},
		{"PROCESSING is not a settlement", "SRB", "PROCESSING", 400, ""},
		{"unknown state", "SRB", "DONE", 400, ""},
		{"unknown refund", "NOPE", "SUCCESS", 404, ""},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			before := len(refundCallbacks(e.svc.received()))
			v, err := e.sim.SettleRefund(ctx, st.refund, st.state)
			if st.status != 0 {
				var se *wechatsim.Error
				if !errors.As(err, &se) || se.Status != st.status {
					t.Fatalf("err %v, want status %d", err, st.status)
				}
				return
			}
			if err != nil || v.Status != st.state {
				t.Fatalf("view %+v, err %v", v, err)
			}
			got := refundCallbacks(e.svc.received())
			if st.sends == "" {
				if len(got) != before || v.Callback != nil {
					t.Fatalf("sent a callback: %v", got[before:])
				}
				return
			}
			if len(got) != before+1 || got[before]["refundStatus"] != st.sends || v.Callback == nil || !v.Callback.OK {
				t.Fatalf("callbacks %v, view callback %+v", got[before:], v.Callback)
			}
			if _, has := got[before]["successTime"]; has != (st.state == "SUCCESS") {
				t.Fatalf("successTime present = %v for %s", has, st.state)
			}
		})
	}
}

func TestRefundCallbackDelivery(t *testing.T) {
	t.Run("target inherited from the order", func(t *testing.T) {
		e := newEnv(t, manualRefunds)
		e.paidOrder(t, "RT1")
		e.refund(t, with(refundReq("RT1", "RTR1", 10), "callback_type", nil, "container", nil, "env_id", nil))
		v, _ := e.sim.SettleRefund(context.Background(), "RTR1", "SUCCESS")
		if !v.Callback.OK || v.Callback.URL != e.svc.srv.URL+"/payment-callback/callbacks/pay" {
			t.Fatalf("callback %+v", v.Callback)
		}
	})
	t.Run("unknown service is a failed, logged delivery", func(t *testing.T) {
		e := newEnv(t, manualRefunds)
		e.paidOrder(t, "RT2")
		e.refund(t, with(refundReq("RT2", "RTR2", 10), "container", map[string]any{"service": "ghost", "path": "/"}))
		v, _ := e.sim.SettleRefund(context.Background(), "RTR2", "SUCCESS")
		if v.Callback.OK || !strings.Contains(v.Callback.Error, "ghost") {
			t.Fatalf("callback %+v", v.Callback)
		}
	})
	t.Run("redelivered until acknowledged", func(t *testing.T) {
		e := newEnv(t, func(c *wechatsim.Config) {
			c.RefundSettleDelay = -1
			c.RetryDelays = []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}
		})
		e.paidOrder(t, "RT3")
		e.refund(t, refundReq("RT3", "RTR3", 10))
		e.svc.set(reply{200, `{"errcode":0}`}, reply{200, `{"errcode":1}`}, reply{500, ``})
		v, _ := e.sim.SettleRefund(context.Background(), "RTR3", "SUCCESS")
		if v.Callback.OK {
			t.Fatalf("first delivery %+v", v.Callback)
		}
		eventually(t, "an acknowledged redelivery", func() bool {
			r, _ := e.sim.Refund("RTR3")
			return r.CallbackAcked
		})
		time.Sleep(20 * time.Millisecond)
		ds := e.sim.RefundDeliveries("RTR3")
		if len(ds) != 3 || ds[1].Trigger != "retry" || ds[2].Attempt != 3 || !ds[2].OK {
			t.Fatalf("deliveries %+v", ds)
		}
		// The order's own pay callback is not affected by refund acknowledgements.
		if o, _ := e.sim.Order("RT3"); !o.CallbackAcked {
			t.Fatal("order lost its callback acknowledgement")
		}
	})
	t.Run("drop and duplicate faults", func(t *testing.T) {
		e := newEnv(t, manualRefunds)
		e.paidOrder(t, "RT4")
		e.refund(t, refundReq("RT4", "RTR4", 10))
		e.refund(t, refundReq("RT4", "RTR5", 10))
		addFault(t, e, map[string]any{"api": "refund_callback", "mode": "drop", "count": 1})
		addFault(t, e, map[string]any{"api": "refund_callback", "mode": "duplicate", "count": 1})
		v, _ := e.sim.SettleRefund(context.Background(), "RTR4", "SUCCESS")
		if !v.Callback.Dropped || len(refundCallbacks(e.svc.received())) != 0 {
			t.Fatalf("callback %+v", v.Callback)
		}
		_, _ = e.sim.SettleRefund(context.Background(), "RTR5", "SUCCESS")
		got := refundCallbacks(e.svc.received())
		if len(got) != 2 || got[0]["outRefundNo"] != "RTR5" || got[1]["outRefundNo"] != "RTR5" {
			t.Fatalf("received %v", got)
		}
		if ds := e.sim.RefundDeliveries("RTR5"); len(ds) != 2 || !ds[0].Duplicate {
			t.Fatalf("deliveries %+v", ds)
		}
	})
}

func TestNotifyRefund(t *testing.T) {
	e := newEnv(t, manualRefunds)
	e.paidOrder(t, "NR1")
	e.refund(t, refundReq("NR1", "NRR1", 10))
	ctx := context.Background()
	if _, err := e.sim.NotifyRefund(ctx, "NRR1", ""); err == nil {
		t.Fatal("a PROCESSING refund was notified")
	}
	d, err := e.sim.NotifyRefund(ctx, "NRR1", "SUCCESS")
	if err != nil || !d.OK || d.Trigger != "notify" || d.EventType != "SUCCESS" {
		t.Fatalf("delivery %+v %v", d, err)
	}
	got := refundCallbacks(e.svc.received())
	if len(got) != 1 || got[0]["refundStatus"] != "SUCCESS" || got[0]["successTime"] == nil {
		t.Fatalf("received %v", got)
	}
	if v, _ := e.sim.Refund("NRR1"); v.Status != "PROCESSING" {
		t.Fatalf("a notification changed the refund: %s", v.Status)
	}
	_, _ = e.sim.SettleRefund(ctx, "NRR1", "CLOSED")
	d, _ = e.sim.NotifyRefund(ctx, "NRR1", "")
	if got := refundCallbacks(e.svc.received()); len(got) != 3 || got[2]["refundStatus"] != "REFUNDCLOSE" || d.EventType != "CLOSED" {
		t.Fatalf("received %v", got)
	}
	if _, err := e.sim.NotifyRefund(ctx, "NOPE", ""); err == nil {
		t.Fatal("unknown refund notified")
	}
}

func TestRefundControlRoutes(t *testing.T) {
	e := newEnv(t, manualRefunds)
	e.paidOrder(t, "CR1")
	e.refund(t, refundReq("CR1", "CRR1", 10))
	e.refund(t, refundReq("CR1", "CRR2", 20))

	status, out := e.control(t, "GET", "/refunds/CRR1", nil)
	if status != 200 || out["status"] != "PROCESSING" || out["refund_fee"] != 10.0 || out["total_fee"] != 100.0 ||
		out["channel"] != "cloudhosting" || out["requests"] != 1.0 || out["out_trade_no"] != "CR1" || out["created_at"] == nil {
		t.Fatalf("GET /refunds/CRR1: %d %v", status, out)
	}
	status, out = e.control(t, "GET", "/refunds?out_trade_no=CR1", nil)
	if rs, _ := out["refunds"].([]any); status != 200 || len(rs) != 2 || rs[1].(map[string]any)["out_refund_no"] != "CRR2" {
		t.Fatalf("GET /refunds: %d %v", status, out)
	}
	status, out = e.control(t, "POST", "/refunds/CRR1/settle", map[string]any{"status": "SUCCESS"})
	if cb, _ := out["callback"].(map[string]any); status != 200 || out["status"] != "SUCCESS" || out["success_time"] == nil || cb["ok"] != true {
		t.Fatalf("settle: %d %v", status, out)
	}
	status, out = e.control(t, "POST", "/refunds/CRR1/notify", nil)
	if status != 200 || out["ok"] != true || out["kind"] != "refund_callback" || out["out_refund_no"] != "CRR1" {
		t.Fatalf("notify: %d %v", status, out)
	}
	status, out = e.control(t, "POST", "/refunds/CRR2/notify", map[string]any{"status": "ABNORMAL"})
	if status != 200 || out["ok"] != true {
		t.Fatalf("notify ABNORMAL: %d %v", status, out)
	}
	status, out = e.control(t, "GET", "/callbacks?out_refund_no=CRR1", nil)
	if ds, _ := out["deliveries"].([]any); status != 200 || len(ds) != 2 {
		t.Fatalf("GET /callbacks?out_refund_no: %d %v", status, out)
	}
	status, out = e.control(t, "GET", "/callbacks?out_trade_no=CR1", nil)
	if ds, _ := out["deliveries"].([]any); status != 200 || len(ds) != 4 { // the pay callback and three refund ones
		t.Fatalf("GET /callbacks?out_trade_no: %d %v", status, out)
	}
	for _, tt := range []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"unknown refund", "GET", "/refunds/NOPE", nil, 404, "REFUND_NOT_FOUND"},
		{"settle unknown", "POST", "/refunds/NOPE/settle", map[string]any{"status": "SUCCESS"}, 404, "REFUND_NOT_FOUND"},
		{"settle final", "POST", "/refunds/CRR1/settle", map[string]any{"status": "CLOSED"}, 409, "REFUND_FINAL"},
		{"settle bad status", "POST", "/refunds/CRR2/settle", map[string]any{"status": "DONE"}, 400, "INVALID_FIELD: status"},
		{"settle without body", "POST", "/refunds/CRR2/settle", nil, 400, "INVALID_JSON"},
		{"settle unknown field", "POST", "/refunds/CRR2/settle", map[string]any{"state": "SUCCESS"}, 400, "INVALID_FIELD: state"},
		{"notify processing", "POST", "/refunds/CRR2/notify", map[string]any{}, 409, "REFUND_PROCESSING"},
		{"notify bad status", "POST", "/refunds/CRR2/notify", map[string]any{"status": "PROCESSING"}, 400, "INVALID_FIELD: status"},
		{"notify unknown", "POST", "/refunds/NOPE/notify", nil, 404, "REFUND_NOT_FOUND"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, out := e.control(t, tt.method, tt.path, tt.body)
			if status != tt.status || !strings.HasPrefix(errorCode(out), tt.code) {
				t.Fatalf("got %d %q, want %d %q", status, errorCode(out), tt.status, tt.code)
			}
		})
	}
}

func TestCHRefundFaults(t *testing.T) {
	e := newEnv(t, manualRefunds)
	e.paidOrder(t, "RF1")
	t.Run("fail does not refund", func(t *testing.T) {
		addFault(t, e, map[string]any{"api": "refund", "mode": "fail", "count": 1, "code": "NOTENOUGH"})
		if got := resultOf(e.refund(t, refundReq("RF1", "RFR1", 10))); got != "NOTENOUGH" {
			t.Fatalf("got %s", got)
		}
		if _, ok := e.sim.Refund("RFR1"); ok {
			t.Fatal("a failed call refunded")
		}
	})
	t.Run("timeout refunds without answering", func(t *testing.T) {
		addFault(t, e, map[string]any{"api": "refund", "mode": "timeout", "count": 1})
		client := &http.Client{Timeout: 150 * time.Millisecond}
		raw, _ := json.Marshal(refundReq("RF1", "RFR2", 10))
		resp, err := client.Post(e.srv.URL+"/_/pay/refund", "application/json", bytes.NewReader(raw))
		if err == nil {
			resp.Body.Close()
			t.Fatal("the call answered")
		}
		if v, ok := e.sim.Refund("RFR2"); !ok || v.Status != "PROCESSING" {
			t.Fatalf("WeChat did not act on the timed-out refund: %+v", v)
		}
		// The merchant retries with the same out_refund_no: the same refund.
		if got := resultOf(e.refund(t, refundReq("RF1", "RFR2", 10))); got != "SUCCESS" {
			t.Fatalf("retry: %s", got)
		}
		if v, _ := e.sim.Refund("RFR2"); v.Requests != 2 || len(e.sim.Refunds("RF1")) != 1 {
			t.Fatalf("refund %+v", v)
		}
	})
	t.Run("queryrefund delay and numeric fail", func(t *testing.T) {
		addFault(t, e, map[string]any{"api": "queryrefund", "mode": "delay", "count": 1, "delay_ms": 60})
		addFault(t, e, map[string]any{"api": "queryrefund", "mode": "fail", "count": 1, "code": -1})
		start := time.Now()
		q := map[string]any{"sub_mch_id": merchant, "out_refund_no": "RFR2"}
		if got := resultOf(e.queryRefund(t, q)); got != "SUCCESS" || time.Since(start) < 60*time.Millisecond {
			t.Fatalf("got %s after %v", got, time.Since(start))
		}
		if env := e.queryRefund(t, q); env.Errcode != -1 {
			t.Fatalf("got %+v", env)
		}
	})
	if n := len(e.sim.Calls("refund")); n != 3 {
		t.Fatalf("%d refund calls logged, want 3", n)
	}
}
