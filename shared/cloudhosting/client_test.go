package cloudhosting_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudhosting"
	"github.com/cloudpay/cloudpay/shared/cloudpay"
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
			_, params, err := gw.Prepay(context.Background(), cloudpay.PrepayRequest{Order: order(no), ClientIP: "203.0.113.7", EnvID: tc.header})
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
			_, _, err := gw.Prepay(context.Background(), cloudpay.PrepayRequest{Order: order("MAP1"), ClientIP: "203.0.113.7"})
			if got := cloudpay.ErrorCode(err); got != tc.want {
				t.Fatalf("code = %s (%v), want %s", got, err, tc.want)
			}
			we, ok := cloudpay.WeChatErrorOf(err)
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
	if err != nil || tx.State != cloudpay.TradeNotExist {
		t.Fatalf("unknown order: %+v %v", tx, err)
	}
	if _, _, err := gw.Prepay(ctx, cloudpay.PrepayRequest{Order: order("QC1"), ClientIP: "203.0.113.7"}); err != nil {
		t.Fatal(err)
	}
	if tx, err = gw.QueryOrder(ctx, "QC1"); err != nil || tx.State != cloudpay.TradeNotPay || tx.TotalFen != 100 {
		t.Fatalf("unpaid: %+v %v", tx, err)
	}
	if _, err := sim.Pay(ctx, "QC1"); err != nil {
		t.Fatal(err)
	}
	tx, err = gw.QueryOrder(ctx, "QC1")
	if err != nil || tx.State != cloudpay.TradeSuccess || tx.TransactionID == "" || tx.MchID != "1900000109" || tx.OpenID != "oUser0001" || tx.PaidAt.IsZero() {
		t.Fatalf("paid: %+v %v", tx, err)
	}
	if err := gw.CloseOrder(ctx, "QC1"); cloudpay.ErrorCode(err) != cloudpay.CodeOrderPaid {
		t.Fatalf("close a paid order: %v", err)
	}
	if _, _, err := gw.Prepay(ctx, cloudpay.PrepayRequest{Order: order("QC2"), ClientIP: "203.0.113.7"}); err != nil {
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
