package cloudhosting_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudhosting"
	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

func order(no string) cloudpay.Order {
	now := time.Now()
	return cloudpay.Order{OutTradeNo: no, OpenID: "oUser0001", AmountFen: 100, Description: "d", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
}

// The environment that receives the callback: configuration first, then the
// request's X-WX-ENV, then Cloud Hosting's CBR_ENV_ID; none is an error.
func TestPrepayEnvironmentPrecedence(t *testing.T) {
	sim := wechatsim.New(wechatsim.Config{SubMchID: "1900000109"})
	t.Cleanup(sim.Close)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	for i, tc := range []struct {
		name, cfgEnv, header, cbr, want string
	}{
		{"config wins", "cfg-env", "hdr-env", "cbr-env", "cfg-env"},
		{"header next", "", "hdr-env", "cbr-env", "hdr-env"},
		{"CBR_ENV_ID last", "", "", "cbr-env", "cbr-env"},
		{"none", "", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := cloudhosting.New(cloudhosting.Config{APIURL: srv.URL, SubMchID: "1900000109", EnvID: tc.cfgEnv, CBREnvID: tc.cbr,
				CallbackService: "payment-callback", CallbackPath: "/callbacks/pay"}, nil)
			no := "ENV" + string(rune('A'+i))
			_, params, err := gw.Prepay(context.Background(), wechat.PrepayRequest{Order: order(no), ClientIP: "203.0.113.7", EnvID: tc.header})
			if tc.want == "" {
				if cloudpay.ErrorCode(err) != cloudpay.CodeInternal {
					t.Fatalf("err = %v, want a configuration error", err)
				}
				return
			}
			if err != nil || params.PaySign == "" {
				t.Fatalf("prepay: %v %+v", err, params)
			}
			if v, _ := sim.Order(no); v.EnvID != tc.want {
				t.Fatalf("env_id sent = %q, want %q", v.EnvID, tc.want)
			}
		})
	}
}

// WeChat's answers the simulator cannot give are served by a canned handler.
// A refusal (result_code FAIL) keeps WeChat's err_code in a WeChatError;
// failures of the transport or the envelope carry none.
func TestGatewayErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		body       string
		delay      time.Duration
		want       cloudpay.Code
		wantWeChat string
	}{
		{"transport errcode", 200, `{"errcode":-1,"errmsg":"system busy"}`, 0, cloudpay.CodeWeChatError, ""},
		{"return_code FAIL", 200, `{"errcode":0,"respdata":{"return_code":"FAIL","return_msg":"受理关系不存在"}}`, 0, cloudpay.CodeWeChatError, ""},
		{"result FAIL", 200, `{"errcode":0,"respdata":{"return_code":"SUCCESS","result_code":"FAIL","err_code":"SYSTEMERROR","err_code_des":"busy"}}`, 0, cloudpay.CodeWeChatError, "SYSTEMERROR"},
		{"already paid", 200, `{"errcode":0,"respdata":{"return_code":"SUCCESS","result_code":"FAIL","err_code":"ORDERPAID","err_code_des":"busy"}}`, 0, cloudpay.CodeOrderPaid, "ORDERPAID"},
		{"already closed", 200, `{"errcode":0,"respdata":{"return_code":"SUCCESS","result_code":"FAIL","err_code":"ORDERCLOSED","err_code_des":"busy"}}`, 0, cloudpay.CodeOrderClosed, "ORDERCLOSED"},
		{"errcode 0 without prepay_id", 200, `{"errcode":0,"respdata":{"return_code":"SUCCESS","result_code":"SUCCESS","prepay_id":"","payment":{"package":"prepay_id="}}}`, 0, cloudpay.CodeWeChatError, ""},
		{"HTTP 502", 502, `bad gateway`, 0, cloudpay.CodeWeChatError, ""},
		{"not the envelope", 200, `<xml>nope</xml>`, 0, cloudpay.CodeWeChatError, ""},
		{"no errcode", 200, `{"respdata":{}}`, 0, cloudpay.CodeWeChatError, ""},
		{"too slow", 200, `{"errcode":0}`, 300 * time.Millisecond, cloudpay.CodeWeChatTimeout, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				select {
				case <-time.After(tc.delay):
				case <-r.Context().Done():
					return
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			gw := cloudhosting.New(cloudhosting.Config{APIURL: srv.URL, SubMchID: "1900000109", EnvID: "e", Timeout: 100 * time.Millisecond}, nil)
			_, _, err := gw.Prepay(context.Background(), wechat.PrepayRequest{Order: order("MAP1"), ClientIP: "203.0.113.7"})
			if got := cloudpay.ErrorCode(err); got != tc.want {
				t.Fatalf("code = %s (%v), want %s", got, err, tc.want)
			}
			we, ok := wechat.ErrorOf(err)
			switch {
			case tc.wantWeChat == "" && ok:
				t.Fatalf("unexpected WeChatError %+v", we)
			case tc.wantWeChat != "" && (!ok || we.Code != tc.wantWeChat || we.Message != "busy"):
				t.Fatalf("WeChatError = %+v (found %v), want code %s with its description", we, ok, tc.wantWeChat)
			}
		})
	}
}

func TestQueryAndCloseAgainstTheSimulator(t *testing.T) {
	sim := wechatsim.New(wechatsim.Config{SubMchID: "1900000109"})
	t.Cleanup(sim.Close)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	gw := cloudhosting.New(cloudhosting.Config{APIURL: srv.URL, SubMchID: "1900000109", EnvID: "e",
		CallbackService: "payment-callback", CallbackPath: "/callbacks/pay"}, nil)
	ctx := context.Background()

	tx, err := gw.QueryOrder(ctx, "NEVER1")
	if err != nil || tx.State != wechat.TradeNotExist {
		t.Fatalf("unknown order: %+v %v", tx, err)
	}
	if _, _, err := gw.Prepay(ctx, wechat.PrepayRequest{Order: order("QC1"), ClientIP: "203.0.113.7"}); err != nil {
		t.Fatal(err)
	}
	if tx, err = gw.QueryOrder(ctx, "QC1"); err != nil || tx.State != wechat.TradeNotPay || tx.TotalFen != 100 {
		t.Fatalf("unpaid: %+v %v", tx, err)
	}
	if _, err := sim.Pay(ctx, "QC1"); err != nil {
		t.Fatal(err)
	}
	tx, err = gw.QueryOrder(ctx, "QC1")
	if err != nil || tx.State != wechat.TradeSuccess || tx.TransactionID == "" || tx.MchID != "1900000109" || tx.OpenID != "oUser0001" || tx.PaidAt.IsZero() {
		t.Fatalf("paid: %+v %v", tx, err)
	}
	if err := gw.CloseOrder(ctx, "QC1"); cloudpay.ErrorCode(err) != cloudpay.CodeOrderPaid {
		t.Fatalf("close a paid order: %v", err)
	}
	if _, _, err := gw.Prepay(ctx, wechat.PrepayRequest{Order: order("QC2"), ClientIP: "203.0.113.7"}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // closing twice is fine: ORDERCLOSED means done
		if err := gw.CloseOrder(ctx, "QC2"); err != nil {
			t.Fatalf("close: %v", err)
		}
	}
	var sent map[string]any
	calls := sim.Calls("closeorder")
	_ = json.Unmarshal(calls[len(calls)-1].Body, &sent)
	if sent["sub_mch_id"] != "1900000109" || sent["out_trade_no"] != "QC2" {
		t.Fatalf("closeorder body %v", sent)
	}
}

func TestQueryOrderReadsAmountsGivenEitherWay(t *testing.T) {
	for _, tc := range []struct {
		name, fee string
		want      cloudpay.Fen
		wantErr   bool
	}{
		{"number", `2590`, 2590, false},
		{"text", `"2590"`, 2590, false},
		{"fraction", `"25.90"`, 0, true},
		{"negative", `-1`, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, `{"errcode":0,"respdata":{"return_code":"SUCCESS","result_code":"SUCCESS","trade_state":"SUCCESS",`+
					`"out_trade_no":"Q1","transaction_id":"42","sub_mch_id":"1900000109","total_fee":`+tc.fee+`}}`)
			}))
			defer srv.Close()
			gw := cloudhosting.New(cloudhosting.Config{APIURL: srv.URL, SubMchID: "1900000109"}, nil)
			tx, err := gw.QueryOrder(context.Background(), "Q1")
			if tc.wantErr {
				if cloudpay.ErrorCode(err) != cloudpay.CodeWeChatError {
					t.Fatalf("err = %v, want WECHAT_ERROR", err)
				}
				return
			}
			if err != nil || tx.TotalFen != tc.want {
				t.Fatalf("tx %+v err %v, want %d fen", tx, err, tc.want)
			}
		})
	}
}

// callbackSink is the payment-callback container: it records what Cloud
// Hosting delivers and acknowledges it.
type callbackSink struct {
	mu     sync.Mutex
	bodies map[string][][]byte // by path
}

func newCallbackSink(t *testing.T) (*callbackSink, *httptest.Server) {
	sink := &callbackSink{bodies: map[string][][]byte{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		sink.mu.Lock()
		sink.bodies[r.URL.Path] = append(sink.bodies[r.URL.Path], raw)
		sink.mu.Unlock()
		_, _ = io.WriteString(w, `{"errcode":0,"errmsg":"ok"}`)
	}))
	t.Cleanup(srv.Close)
	return sink, srv
}

func (s *callbackSink) received(path string) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.bodies[path]...)
}

// paidOrder creates an order at the simulator and pays it.
func paidOrder(t *testing.T, sim *wechatsim.Simulator, gw *cloudhosting.Client, no string) {
	t.Helper()
	if _, _, err := gw.Prepay(context.Background(), wechat.PrepayRequest{Order: order(no), ClientIP: "203.0.113.7"}); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Pay(context.Background(), no); err != nil {
		t.Fatal(err)
	}
}

func TestRefundAgainstTheSimulator(t *testing.T) {
	sink, cbSrv := newCallbackSink(t)
	sim := wechatsim.New(wechatsim.Config{SubMchID: "1900000109", RefundSettleDelay: -1,
		Services: map[string]string{"payment-callback": cbSrv.URL}})
	t.Cleanup(sim.Close)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	gw := cloudhosting.New(cloudhosting.Config{APIURL: srv.URL, SubMchID: "1900000109", CBREnvID: "cbr-env",
		CallbackService: "payment-callback", CallbackPath: "/callbacks/pay", RefundCallbackPath: "/callbacks/refund"}, nil)
	ctx := context.Background()
	paidOrder(t, sim, gw, "RFORD1")

	res, err := gw.Refund(ctx, wechat.RefundRequest{OutTradeNo: "RFORD1", OutRefundNo: "RFORD1-R1", TotalFen: 100, RefundFen: 40, Reason: "broken"})
	if err != nil {
		t.Fatal(err)
	}
	if res.State != wechat.RefundProcessing || res.RefundID == "" || res.RefundFen != 40 || res.TotalFen != 100 ||
		res.OutTradeNo != "RFORD1" || res.OutRefundNo != "RFORD1-R1" || res.MchID != "1900000109" {
		t.Fatalf("accepted refund: %+v", res)
	}
	var sent map[string]any
	calls := sim.Calls("refund")
	if err := json.Unmarshal(calls[len(calls)-1].Body, &sent); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"sub_mch_id": "1900000109", "out_trade_no": "RFORD1", "out_refund_no": "RFORD1-R1", "total_fee": 100.0,
		"refund_fee": 40.0, "refund_desc": "broken", "env_id": "cbr-env", "callback_type": 2.0,
		"container": map[string]any{"service": "payment-callback", "path": "/callbacks/refund"}}
	if !reflect.DeepEqual(sent, want) {
		t.Fatalf("refund request\n got %v\nwant %v", sent, want)
	}

	q, err := gw.QueryRefund(ctx, "RFORD1-R1")
	if err != nil || q.State != wechat.RefundProcessing || q.RefundID != res.RefundID || q.RefundFen != 40 || q.TotalFen != 100 || !q.SucceededAt.IsZero() {
		t.Fatalf("processing: %+v %v", q, err)
	}
	if _, err := sim.SettleRefund(ctx, "RFORD1-R1", "SUCCESS"); err != nil {
		t.Fatal(err)
	}
	q, err = gw.QueryRefund(ctx, "RFORD1-R1")
	if err != nil || q.State != wechat.RefundSuccess || q.Account == "" || q.OutTradeNo != "RFORD1" || q.MchID != "1900000109" ||
		time.Since(q.SucceededAt).Abs() > time.Minute || q.SucceededAt.Location() != time.UTC {
		t.Fatalf("succeeded: %+v %v", q, err)
	}

	// The callback WeChat delivered names the refund and its outcome.
	bodies := sink.received("/callbacks/refund")
	if len(bodies) != 1 {
		t.Fatalf("%d refund callbacks delivered, want 1", len(bodies))
	}
	hint, err := cloudhosting.ParseRefundCallback(bodies[0])
	if err != nil {
		t.Fatal(err)
	}
	if hint != (wechat.RefundHint{OutRefundNo: "RFORD1-R1", OutTradeNo: "RFORD1", MchID: "1900000109", State: wechat.RefundSuccess}) {
		t.Fatalf("hint %+v from %s", hint, bodies[0])
	}

	// A second refund of the same order is found among its refunds.
	if _, err := gw.Refund(ctx, wechat.RefundRequest{OutTradeNo: "RFORD1", OutRefundNo: "RFORD1-R2", TotalFen: 100, RefundFen: 60}); err != nil {
		t.Fatal(err)
	}
	if q, err := gw.QueryRefund(ctx, "RFORD1-R2"); err != nil || q.State != wechat.RefundProcessing || q.RefundFen != 60 {
		t.Fatalf("second refund: %+v %v", q, err)
	}

	q, err = gw.QueryRefund(ctx, "NEVER-R1")
	if err != nil || q.State != wechat.RefundNotExist || q.OutRefundNo != "NEVER-R1" {
		t.Fatalf("unknown refund: %+v %v", q, err)
	}
}

func TestRefundFaults(t *testing.T) {
	sim := wechatsim.New(wechatsim.Config{SubMchID: "1900000109", RefundSettleDelay: -1})
	t.Cleanup(sim.Close)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	gw := cloudhosting.New(cloudhosting.Config{APIURL: srv.URL, SubMchID: "1900000109", EnvID: "e",
		CallbackService: "payment-callback", CallbackPath: "/callbacks/pay", RefundCallbackPath: "/callbacks/refund",
		Timeout: 300 * time.Millisecond}, nil)
	ctx := context.Background()
	paidOrder(t, sim, gw, "RFFORD1")
	refund := func(no string) error {
		_, err := gw.Refund(ctx, wechat.RefundRequest{OutTradeNo: "RFFORD1", OutRefundNo: no, TotalFen: 100, RefundFen: 10})
		return err
	}

	for _, tc := range []struct{ api, code string }{{"refund", "NOTENOUGH"}, {"refund", "SYSTEMERROR"}, {"queryrefund", "SYSTEMERROR"}} {
		t.Run(tc.api+" fails with "+tc.code, func(t *testing.T) {
			if err := sim.AddFault(wechatsim.Fault{API: tc.api, Mode: wechatsim.ModeFail, Count: 1, Code: tc.code}); err != nil {
				t.Fatal(err)
			}
			var err error
			if tc.api == "refund" {
				err = refund("RFFORD1-FAIL")
			} else {
				_, err = gw.QueryRefund(ctx, "RFFORD1-FAIL")
			}
			we, ok := wechat.ErrorOf(err)
			if cloudpay.ErrorCode(err) != cloudpay.CodeWeChatError || !ok || we.Code != tc.code {
				t.Fatalf("err = %v (WeChatError %+v), want WECHAT_ERROR with code %s", err, we, tc.code)
			}
		})
	}
	if _, ok := sim.Refund("RFFORD1-FAIL"); ok {
		t.Fatal("a failed refund was made")
	}

	// No answer in time: the refund may have been made, and it was.
	if err := sim.AddFault(wechatsim.Fault{API: "refund", Mode: wechatsim.ModeTimeout, Count: 1}); err != nil {
		t.Fatal(err)
	}
	if err := refund("RFFORD1-SLOW"); cloudpay.ErrorCode(err) != cloudpay.CodeWeChatTimeout {
		t.Fatalf("err = %v, want WECHAT_TIMEOUT", err)
	}
	if _, ok := sim.Refund("RFFORD1-SLOW"); !ok {
		t.Fatal("the timed-out refund is not at WeChat")
	}
	q, err := gw.QueryRefund(ctx, "RFFORD1-SLOW")
	if err != nil || q.State != wechat.RefundProcessing {
		t.Fatalf("query after timeout: %+v %v", q, err)
	}
}

// The open interface converts v2's XML, where every value is text: counts
// and amounts may come as numbers or as numeric strings.
func TestQueryRefundReadsValuesGivenEitherWay(t *testing.T) {
	for _, tc := range []struct {
		name, fields string
		want         wechat.RefundResult
		wantErr      bool
	}{
		{"numbers", `"refund_count":2,"total_fee":100,"out_refund_no_0":"R0","refund_status_0":"SUCCESS","refund_fee_0":1,` +
			`"out_refund_no_1":"R1","refund_id_1":"50","refund_status_1":"CHANGE","refund_fee_1":40,"refund_recv_accout_1":"支付用户的零钱"`,
			wechat.RefundResult{OutRefundNo: "R1", OutTradeNo: "Q1", RefundID: "50", State: wechat.RefundAbnormal, RefundFen: 40, TotalFen: 100, MchID: "1900000109", Account: "支付用户的零钱"}, false},
		{"text", `"refund_count":"2","total_fee":"100","out_refund_no_0":"R0","refund_status_0":"SUCCESS","refund_fee_0":"1",` +
			`"out_refund_no_1":"R1","refund_id_1":50,"refund_status_1":"REFUNDCLOSE","refund_fee_1":"40"`,
			wechat.RefundResult{OutRefundNo: "R1", OutTradeNo: "Q1", RefundID: "50", State: wechat.RefundClosed, RefundFen: 40, TotalFen: 100, MchID: "1900000109"}, false},
		{"no count", `"total_fee":100,"out_refund_no_0":"R1","refund_status_0":"SUCCESS","refund_fee_0":40,"refund_success_time_0":"2026-01-02 08:04:05"`,
			wechat.RefundResult{OutRefundNo: "R1", OutTradeNo: "Q1", State: wechat.RefundSuccess, RefundFen: 40, TotalFen: 100, MchID: "1900000109",
				SucceededAt: time.Date(2026, 1, 2, 0, 4, 5, 0, time.UTC)}, false},
		// Cloud Hosting's example answer lists refunds in arrays instead.
		{"arrays", `"refund_count":2,"total_fee":100,"out_refund_no_list":["R0","R1"],"refund_status_list":["SUCCESS","SUCCESS"],` +
			`"refund_id_list":["49",50],"refund_fee_list":[1,"40"],"refund_success_time_list":["2026-01-02 08:04:05","2026-01-02 08:04:06"],` +
			`"refund_recv_accout_list":["支付用户的零钱","支付用户的零钱"]`,
			wechat.RefundResult{OutRefundNo: "R1", OutTradeNo: "Q1", RefundID: "50", State: wechat.RefundSuccess, RefundFen: 40, TotalFen: 100, MchID: "1900000109",
				Account: "支付用户的零钱", SucceededAt: time.Date(2026, 1, 2, 0, 4, 6, 0, time.UTC)}, false},
		{"empty arrays", `"refund_count":1,"out_refund_no_list":[],"refund_status_list":[]`, wechat.RefundResult{}, true},
		{"not a list", `"refund_count":1,"out_refund_no_list":"R1"`, wechat.RefundResult{}, true},
		// Arrays are paired by position: any disagreement in length is unreadable,
		// never another refund's status or a zero amount.
		{"arrays of other lengths", `"refund_count":2,"out_refund_no_list":["R0","R1"],"refund_status_list":["SUCCESS","REFUNDCLOSE","SUCCESS"],"refund_fee_list":[40,40]`,
			wechat.RefundResult{}, true},
		{"amounts missing", `"refund_count":2,"out_refund_no_list":["R0","R1"],"refund_status_list":["SUCCESS","SUCCESS"],"refund_fee_list":[40]`, wechat.RefundResult{}, true},
		{"amount null", `"refund_count":1,"out_refund_no_list":["R1"],"refund_status_list":["SUCCESS"],"refund_fee_list":[null]`, wechat.RefundResult{}, true},
		{"count disagrees", `"refund_count":1,"out_refund_no_list":["R0","R1"],"refund_status_list":["SUCCESS","SUCCESS"],"refund_fee_list":[40,40]`, wechat.RefundResult{}, true},
		{"shapes mixed: the indexed ones alone", `"refund_count":1,"out_refund_no_0":"R1","refund_status_0":"PROCESSING","refund_fee_0":40,` +
			`"out_refund_no_list":["R1"],"refund_status_list":["SUCCESS"],"refund_success_time_list":["2026-01-02 08:04:06"]`,
			wechat.RefundResult{OutRefundNo: "R1", OutTradeNo: "Q1", State: wechat.RefundProcessing, RefundFen: 40, MchID: "1900000109"}, false},
		{"not listed", `"refund_count":1,"out_refund_no_0":"R0","refund_status_0":"SUCCESS"`, wechat.RefundResult{}, true},
		{"unknown status", `"out_refund_no_0":"R1","refund_status_0":"MAYBE"`, wechat.RefundResult{}, true},
		{"fractional amount", `"out_refund_no_0":"R1","refund_status_0":"SUCCESS","refund_fee_0":"0.40"`, wechat.RefundResult{}, true},
		{"bad time", `"out_refund_no_0":"R1","refund_status_0":"SUCCESS","refund_success_time_0":"20260102080405"`, wechat.RefundResult{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, `{"errcode":0,"respdata":{"return_code":"SUCCESS","result_code":"SUCCESS",`+
					`"out_trade_no":"Q1","sub_mch_id":"1900000109",`+tc.fields+`}}`)
			}))
			defer srv.Close()
			gw := cloudhosting.New(cloudhosting.Config{APIURL: srv.URL, SubMchID: "1900000109"}, nil)
			got, err := gw.QueryRefund(context.Background(), "R1")
			if tc.wantErr {
				if cloudpay.ErrorCode(err) != cloudpay.CodeWeChatError {
					t.Fatalf("err = %v, want WECHAT_ERROR", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v\nwant %+v", got, err, tc.want)
			}
		})
	}
}
