package wechatsim_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// unboundResult is resultOf's name for the open interface's answer to a merchant that
// is not bound to the environment.
const unboundResult = "return_code FAIL: 受理关系不存在"

// A merchant that is not bound to the Cloud Hosting environment is answered by every
// pay API with errcode 0 and a v2 communication failure, return_code FAIL and
// 受理关系不存在, and nothing else: no result_code, no err_code, no sign
// (https://developers.weixin.qq.com/miniprogram/dev/wxcloudservice/wxcloudrun/src/development/pay/index.md).
// unifiedOrder adds the empty payment object it answers to every refusal.
func TestCHUnboundMerchant(t *testing.T) {
	e := newEnv(t, nil)
	e.paidOrder(t, "UB1")
	other := func(m map[string]any) map[string]any { return with(m, "sub_mch_id", "1999") }
	for _, tc := range []struct {
		path string
		body map[string]any
	}{
		{"/_/pay/unifiedOrder", other(orderReq("UB2"))},
		{"/_/pay/queryorder", other(map[string]any{"out_trade_no": "UB1"})},
		{"/_/pay/closeorder", other(map[string]any{"out_trade_no": "UB1"})},
		{"/_/pay/refund", other(refundReq("UB1", "UBR1", 10))},
		{"/_/pay/queryrefund", other(map[string]any{"out_trade_no": "UB1"})},
	} {
		t.Run(tc.path, func(t *testing.T) {
			env := e.api(t, tc.path, tc.body)
			if env.Errcode != 0 || env.Errmsg != "ok" {
				t.Fatalf("envelope %+v, want errcode 0", env)
			}
			d := env.Respdata
			payment, _ := d["payment"].(map[string]any)
			delete(d, "payment")
			want := map[string]any{"return_code": "FAIL", "return_msg": "受理关系不存在"}
			if len(d) != len(want) || d["return_code"] != want["return_code"] || d["return_msg"] != want["return_msg"] {
				t.Fatalf("respdata %v, want exactly %v", d, want)
			}
			if (payment != nil) != (tc.path == "/_/pay/unifiedOrder") {
				t.Fatalf("payment %v", payment)
			}
			if payment != nil && (payment["package"] != "prepay_id=" || payment["nonceStr"] != "") {
				t.Fatalf("payment %v, want no prepay", payment)
			}
		})
	}
	if _, ok := e.sim.Order("UB2"); ok {
		t.Fatal("an unbound merchant's unifiedOrder created an order")
	}
	if v, _ := e.sim.Order("UB1"); v.TradeState != "SUCCESS" || len(e.sim.Refunds("UB1")) != 0 {
		t.Fatalf("an unbound merchant's calls changed the order: %+v, refunds %v", v, e.sim.Refunds("UB1"))
	}
}

// Any other refused unifiedOrder also carries a payment object without a prepay, as
// observed (facts §1.3): errcode 0, result_code FAIL, package "prepay_id=".
func TestCHRefusedUnifiedOrderHasAnEmptyPayment(t *testing.T) {
	e := newEnv(t, nil)
	d := e.api(t, "/_/pay/unifiedOrder", with(orderReq("EP1"), "openid", nil)).Respdata
	payment, _ := d["payment"].(map[string]any)
	if d["result_code"] != "FAIL" || d["err_code"] != "PARAM_ERROR" || payment["package"] != "prepay_id=" ||
		payment["signType"] != "MD5" || d["prepay_id"] != nil {
		t.Fatalf("respdata %v", d)
	}
}

// queryorder answers the arrays coupon_id_list, coupon_type_list and coupon_fee_list,
// empty without a coupon, as the open interface's example answer shows
// (https://developers.weixin.qq.com/minigame/dev/wxcloudrun/src/development/pay/order/query.html),
// and cash_fee equal to total_fee.
func TestCHQueryOrderShape(t *testing.T) {
	e := newEnv(t, nil)
	e.create(t, "QS1")
	for _, paid := range []bool{false, true} {
		if paid {
			e.pay(t, "QS1")
		}
		d := e.api(t, "/_/pay/queryorder", map[string]any{"sub_mch_id": merchant, "out_trade_no": "QS1"}).Respdata
		for _, k := range []string{"coupon_id_list", "coupon_type_list", "coupon_fee_list"} {
			if l, ok := d[k].([]any); !ok || len(l) != 0 {
				t.Fatalf("paid %v: %s = %#v, want an empty array", paid, k, d[k])
			}
		}
		for _, k := range []string{"coupon_fee", "coupon_count", "coupon_fee_0", "settlement_total_fee"} {
			if d[k] != nil {
				t.Fatalf("paid %v: %s = %v without a coupon", paid, k, d[k])
			}
		}
		if attach, ok := d["attach"].(string); !ok || attach != "a1" {
			t.Fatalf("paid %v: attach %#v", paid, d["attach"])
		}
		if paid && (d["cash_fee"] != 100.0 || d["total_fee"] != 100.0) || !paid && d["cash_fee"] != nil {
			t.Fatalf("paid %v: respdata %v", paid, d)
		}
	}
	// attach is answered even when the order has none, as "".
	e.api(t, "/_/pay/unifiedOrder", with(orderReq("QS2"), "attach", nil))
	d := e.api(t, "/_/pay/queryorder", map[string]any{"sub_mch_id": merchant, "out_trade_no": "QS2"}).Respdata
	if attach, ok := d["attach"].(string); !ok || attach != "" {
		t.Fatalf("attach %#v, want \"\"", d["attach"])
	}
}

// queryrefund answers v2's indexed fields, and the arrays of the open interface's
// example answer, present and empty as documented and observed
// (https://developers.weixin.qq.com/minigame/dev/wxcloudrun/src/development/pay/order/queryrefund.html).
func TestCHQueryRefundShape(t *testing.T) {
	e := newEnv(t, manualRefunds)
	txn := e.paidOrder(t, "QRS1")
	if got := resultOf(e.refund(t, refundReq("QRS1", "QRSR0", 30))); got != "SUCCESS" {
		t.Fatalf("refund: %s", got)
	}
	if got := resultOf(e.refund(t, refundReq("QRS1", "QRSR1", 20))); got != "SUCCESS" {
		t.Fatalf("refund: %s", got)
	}
	if _, err := e.sim.SettleRefund(context.Background(), "QRSR1", "SUCCESS"); err != nil {
		t.Fatal(err)
	}
	d := e.queryRefund(t, map[string]any{"sub_mch_id": merchant, "transaction_id": txn}).Respdata
	for k, want := range map[string]any{
		"return_code": "SUCCESS", "result_code": "SUCCESS", "total_fee": 100.0, "cash_fee": 100.0, "refund_count": 2.0,
		"total_refund_count": 2.0, "out_refund_no_0": "QRSR0", "refund_fee_0": 30.0, "settlement_refund_fee_0": 30.0,
		"refund_status_0": "PROCESSING", "refund_channel_0": "ORIGINAL", "refund_account_0": "REFUND_SOURCE_UNSETTLED_FUNDS",
		"refund_recv_accout_0": "支付用户的零钱", "out_refund_no_1": "QRSR1", "refund_fee_1": 20.0, "refund_status_1": "SUCCESS",
	} {
		if d[k] != want {
			t.Errorf("%s = %v, want %v", k, d[k], want)
		}
	}
	if d["refund_success_time_0"] != nil || d["refund_success_time_1"] == nil || d["refund_id_1"] == nil {
		t.Errorf("respdata %v", d)
	}
	for _, k := range []string{"out_refund_no_list", "refund_id_list", "refund_channel", "refund_fee_list",
		"settlement_refund_fee_list", "coupon_type_array", "coupon_refund_fee_list", "coupon_refund_count_list",
		"coupon_refund_id_array", "coupon_refund_fee_array", "refund_status_list", "refund_account_list",
		"refund_recv_accout_list", "refund_success_time_list"} {
		if l, ok := d[k].([]any); !ok || len(l) != 0 {
			t.Errorf("%s = %#v, want an empty array", k, d[k])
		}
	}
	for _, k := range []string{"coupon_refund_fee_0", "coupon_refund_count_0", "coupon_type_0_0", "settlement_total_fee"} {
		if d[k] != nil {
			t.Errorf("%s = %v without a coupon", k, d[k])
		}
	}
}

// headerSink is a container service that records the headers of what it receives.
type headerSink struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []http.Header
	body []map[string]any
}

func newHeaderSink(t *testing.T) *headerSink {
	t.Helper()
	s := &headerSink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		_ = json.Unmarshal(raw, &body)
		s.mu.Lock()
		s.got = append(s.got, r.Header.Clone())
		s.body = append(s.body, body)
		s.mu.Unlock()
		_, _ = io.WriteString(w, `{"errcode":0,"errmsg":"ok"}`)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *headerSink) received() ([]http.Header, []map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got), slices.Clone(s.body)
}

// Cloud Hosting's pay and refund callbacks reach the container as requests through
// WeChat do: X-WX-SOURCE set (wechatsim.CallbackSource), X-WX-ENV the environment the
// request named, a JSON body.
func TestCHCallbackHeaders(t *testing.T) {
	sink := newHeaderSink(t)
	e := newEnv(t, func(c *wechatsim.Config) {
		c.RefundSettleDelay = -1
		c.Services["payment-callback"] = sink.srv.URL
	})
	e.create(t, "HD1")
	pay := e.pay(t, "HD1")
	if got := resultOf(e.refund(t, with(refundReq("HD1", "HDR1", 40), "env_id", "prod-refunds"))); got != "SUCCESS" {
		t.Fatalf("refund: %s", got)
	}
	d, err := e.sim.SettleRefund(context.Background(), "HDR1", "SUCCESS")
	if err != nil || d.Callback == nil || !d.Callback.OK {
		t.Fatalf("settle: %+v %v", d, err)
	}
	headers, bodies := sink.received()
	if len(headers) != 2 || bodies[0]["outTradeNo"] != "HD1" || bodies[1]["outRefundNo"] != "HDR1" {
		t.Fatalf("received %v", bodies)
	}
	for i, env := range []string{"prod-1", "prod-refunds"} {
		h := headers[i]
		if h.Get("X-WX-SOURCE") != wechatsim.CallbackSource || h.Get("X-WX-ENV") != env ||
			h.Get("Content-Type") != "application/json" || h.Get("X-WX-OPENID") != "" {
			t.Fatalf("callback %d headers %v", i, h)
		}
	}
	// The delivery log shows them.
	cb, _ := pay["callback"].(map[string]any)
	logged, _ := cb["headers"].(map[string]any)
	if logged["X-Wx-Source"] != wechatsim.CallbackSource || logged["X-Wx-Env"] != "prod-1" {
		t.Fatalf("logged headers %v", logged)
	}
}
