package cloudhosting_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cloudpay/cloudpay/shared/cloudhosting"
	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// A merchant number the environment has not bound (WECHAT_SUB_MCH_ID wrong, or the
// binding not yet authorised) is answered by the open interface with return_code FAIL,
// 受理关系不存在. Every call fails with a WeChat error that says it is a configuration
// error and what to do; none passes for an answer about the order or refund (not
// NOTEXIST, not a refusal with an err_code a caller might act on).
func TestUnboundMerchantIsAConfigurationError(t *testing.T) {
	sim := wechatsim.New(wechatsim.Config{SubMchID: "1900000109", Services: map[string]string{"payment-callback": "http://127.0.0.1:1"}})
	t.Cleanup(sim.Close)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	gw := cloudhosting.New(cloudhosting.Config{APIURL: srv.URL, SubMchID: "1999999999", EnvID: "e",
		CallbackService: "payment-callback", CallbackPath: "/callbacks/pay", RefundCallbackPath: "/callbacks/refund"}, nil)
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"unifiedorder": func() error {
			_, _, err := gw.Prepay(ctx, wechat.PrepayRequest{Order: order("UNB1"), ClientIP: "203.0.113.7"})
			return err
		},
		"queryorder": func() error {
			tx, err := gw.QueryOrder(ctx, "UNB1")
			if err == nil {
				t.Errorf("queryorder answered %+v", tx)
			}
			return err
		},
		"queryorder by transaction_id": func() error {
			_, err := gw.QueryTransaction(ctx, "4200000000202503011234567890")
			return err
		},
		"closeorder": func() error { return gw.CloseOrder(ctx, "UNB1") },
		"refund": func() error {
			_, err := gw.Refund(ctx, wechat.RefundRequest{OutTradeNo: "UNB1", OutRefundNo: "UNB1-R1", TotalFen: 100, RefundFen: 10})
			return err
		},
		"queryrefund": func() error {
			r, err := gw.QueryRefund(ctx, "UNB1-R1")
			if err == nil {
				t.Errorf("queryrefund answered %+v", r)
			}
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			err := call()
			if cloudpay.ErrorCode(err) != cloudpay.CodeWeChatError {
				t.Fatalf("err %v, want %s", err, cloudpay.CodeWeChatError)
			}
			if we, ok := wechat.ErrorOf(err); ok {
				t.Fatalf("err carries WeChat's refusal %+v; an unbound merchant is no refusal of the call", we)
			}
			for _, want := range []string{"受理关系不存在", "configuration", "WECHAT_SUB_MCH_ID", "微信支付配置"} {
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("err %q does not say %q", err, want)
				}
			}
		})
	}
	if len(sim.Calls("")) != 6 {
		t.Fatalf("WeChat received %d calls, want one each", len(sim.Calls("")))
	}
}
