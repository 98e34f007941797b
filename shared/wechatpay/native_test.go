package wechatpay_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/wechatpay"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

func TestPrepayNativeAndH5(t *testing.T) {
	s := newStack(t, wechatsim.Config{}, 5*time.Second)
	ctx := context.Background()

	o := order("V3NAT001")
	codeURL, err := s.gw.PrepayNative(ctx, wechat.PrepayRequest{Order: o})
	if err != nil || !strings.HasPrefix(codeURL, "weixin://wxpay/bizpayurl?pr=") {
		t.Fatalf("native: %q %v", codeURL, err)
	}
	call, body := lastCall(t, s.sim, "unifiedorder")
	expire, _ := time.Parse(time.RFC3339, body["time_expire"].(string))
	if call.Path != "/v3/pay/transactions/native" || body["appid"] != wechatsim.DefaultAppID || body["mchid"] != wechatsim.DevMchID ||
		body["description"] != "一杯咖啡" || body["out_trade_no"] != "V3NAT001" || body["attach"] != "table=7" ||
		!strings.HasSuffix(body["notify_url"].(string), "/callbacks/v3") || !expire.Equal(o.ExpiresAt.Truncate(time.Second)) ||
		!strings.HasSuffix(body["time_expire"].(string), "+08:00") || body["scene_info"] != nil || body["payer"] != nil {
		t.Fatalf("native request %s %v", call.Path, body)
	}
	if amount := body["amount"].(map[string]any); amount["total"] != 100.0 || amount["currency"] != "CNY" {
		t.Fatalf("amount %v", amount)
	}
	again, err := s.gw.PrepayNative(ctx, wechat.PrepayRequest{Order: o})
	if err != nil || again != codeURL {
		t.Fatalf("again: %q %v, want %q", again, err, codeURL)
	}
	if v, _ := s.sim.Order("V3NAT001"); v.TradeType != "NATIVE" || v.CodeURL != codeURL {
		t.Fatalf("at WeChat: %+v", v)
	}
	if _, err := s.gw.PrepayNative(ctx, wechat.PrepayRequest{Order: order("V3NAT002"), ClientIP: "203.0.113.7"}); err != nil {
		t.Fatal(err)
	}
	if _, body := lastCall(t, s.sim, "unifiedorder"); body["scene_info"].(map[string]any)["payer_client_ip"] != "203.0.113.7" {
		t.Fatalf("native scene_info %v", body["scene_info"])
	}

	h5URL, err := s.gw.PrepayH5(ctx, wechat.PrepayRequest{Order: order("V3H5O001"), ClientIP: "203.0.113.7"}, wechatpay.H5TypeWap)
	if err != nil {
		t.Fatal(err)
	}
	if u, err := url.Parse(h5URL); err != nil || u.Host != "wx.tenpay.com" || u.Query().Get("prepay_id") == "" {
		t.Fatalf("h5_url %q", h5URL)
	}
	call, body = lastCall(t, s.sim, "unifiedorder")
	scene, _ := body["scene_info"].(map[string]any)
	h5Info, _ := scene["h5_info"].(map[string]any)
	if call.Path != "/v3/pay/transactions/h5" || scene["payer_client_ip"] != "203.0.113.7" || h5Info["type"] != "Wap" ||
		!strings.HasSuffix(body["time_expire"].(string), "+08:00") || body["amount"].(map[string]any)["total"] != 100.0 {
		t.Fatalf("h5 request %s %v", call.Path, body)
	}
	if v, _ := s.sim.Order("V3H5O001"); v.TradeType != "MWEB" || v.H5URL != h5URL || v.H5Type != "Wap" {
		t.Fatalf("at WeChat: %+v", v)
	}

	// Paid by the user: the notification and the query tell the same payment.
	pay, err := s.sim.Pay(ctx, "V3NAT001")
	if err != nil {
		t.Fatal(err)
	}
	if n := s.inbox.last(t); n.err != nil || n.n.Transaction == nil || n.n.Transaction.OutTradeNo != "V3NAT001" || n.n.Transaction.TransactionID != pay.TransactionID {
		t.Fatalf("notification %+v", n)
	}
	if tx, err := s.gw.QueryOrder(ctx, "V3NAT001"); err != nil || tx.State != wechat.TradeSuccess || tx.OpenID != wechatsim.DevPayerOpenID {
		t.Fatalf("query: %+v %v", tx, err)
	}
}

func TestPrepayNativeAndH5Errors(t *testing.T) {
	s := newStack(t, wechatsim.Config{}, 5*time.Second)
	ctx := context.Background()
	refused := func(t *testing.T, err error, code cloudpay.Code, wcode string, status int) {
		t.Helper()
		if got := cloudpay.ErrorCode(err); got != code {
			t.Fatalf("code %s (%v), want %s", got, err, code)
		}
		if we, ok := wechat.ErrorOf(err); !ok || we.Code != wcode || we.HTTPStatus != status {
			t.Fatalf("WeChatError %+v (found %v), want %s HTTP %d", we, ok, wcode, status)
		}
	}

	// Another trade type for a number, or a number closed: spent.
	s.prepay(t, "V3SPENT1") // JSAPI
	_, err := s.gw.PrepayNative(ctx, wechat.PrepayRequest{Order: order("V3SPENT1")})
	refused(t, err, cloudpay.CodeWeChatError, "OUT_TRADE_NO_USED", 403)
	_, err = s.gw.PrepayH5(ctx, wechat.PrepayRequest{Order: order("V3SPENT1"), ClientIP: "203.0.113.7"}, wechatpay.H5TypeIOS)
	refused(t, err, cloudpay.CodeWeChatError, "OUT_TRADE_NO_USED", 403)
	if _, err := s.gw.PrepayNative(ctx, wechat.PrepayRequest{Order: order("V3SPENT2")}); err != nil {
		t.Fatal(err)
	}
	if err := s.gw.CloseOrder(ctx, "V3SPENT2"); err != nil {
		t.Fatal(err)
	}
	_, err = s.gw.PrepayNative(ctx, wechat.PrepayRequest{Order: order("V3SPENT2")})
	refused(t, err, cloudpay.CodeWeChatError, "OUT_TRADE_NO_USED", 403)

	// Paid already.
	if _, err := s.gw.PrepayNative(ctx, wechat.PrepayRequest{Order: order("V3PAIDN1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.sim.Pay(ctx, "V3PAIDN1"); err != nil {
		t.Fatal(err)
	}
	_, err = s.gw.PrepayNative(ctx, wechat.PrepayRequest{Order: order("V3PAIDN1")})
	refused(t, err, cloudpay.CodeOrderPaid, "ORDERPAID", 400)

	// Faults of unifiedorder.
	for _, f := range []struct {
		code   string
		status int
	}{{"NO_AUTH", 403}, {"SYSTEM_ERROR", 500}} {
		if err := s.sim.AddFault(wechatsim.Fault{API: "unifiedorder", Mode: wechatsim.ModeFail, Count: 2, Code: f.code}); err != nil {
			t.Fatal(err)
		}
		_, err = s.gw.PrepayNative(ctx, wechat.PrepayRequest{Order: order("V3FAULT1")})
		refused(t, err, cloudpay.CodeWeChatError, f.code, f.status)
		_, err = s.gw.PrepayH5(ctx, wechat.PrepayRequest{Order: order("V3FAULT2"), ClientIP: "203.0.113.7"}, wechatpay.H5TypeAndroid)
		refused(t, err, cloudpay.CodeWeChatError, f.code, f.status)
	}

	// No answer in time: a timeout, and WeChat made the order all the same.
	impatient := newStack(t, wechatsim.Config{}, 200*time.Millisecond)
	if err := impatient.sim.AddFault(wechatsim.Fault{API: "unifiedorder", Mode: wechatsim.ModeTimeout, Count: 1, DelayMS: 2000}); err != nil {
		t.Fatal(err)
	}
	_, err = impatient.gw.PrepayH5(ctx, wechat.PrepayRequest{Order: order("V3SLOW01"), ClientIP: "203.0.113.7"}, wechatpay.H5TypeWap)
	if cloudpay.ErrorCode(err) != cloudpay.CodeWeChatTimeout {
		t.Fatalf("timeout: %v", err)
	}
	if _, ok := impatient.sim.Order("V3SLOW01"); !ok {
		t.Fatal("the timed-out prepay made no order")
	}

	// Refused before any call: H5 needs the payer's IP and a scene type.
	n := len(s.sim.Calls("unifiedorder"))
	for _, tc := range []struct{ ip, typ, field string }{{"", "Wap", "client_ip"}, {"nope", "Wap", "client_ip"}, {"203.0.113.7", "Desktop", "h5_type"}} {
		_, err := s.gw.PrepayH5(ctx, wechat.PrepayRequest{Order: order("V3H5BAD1"), ClientIP: tc.ip}, tc.typ)
		var ce *cloudpay.Error
		if cloudpay.ErrorCode(err) != cloudpay.CodeInvalidField || !errors.As(err, &ce) || ce.Field != tc.field {
			t.Fatalf("%+v: %v", tc, err)
		}
	}
	if _, err := s.gw.PrepayNative(ctx, wechat.PrepayRequest{Order: order("V3NATBD1"), ClientIP: "nope"}); cloudpay.ErrorCode(err) != cloudpay.CodeInvalidField {
		t.Fatalf("native with a bad client_ip: %v", err)
	}
	if got := len(s.sim.Calls("unifiedorder")); got != n {
		t.Fatalf("%d calls reached WeChat", got-n)
	}
}
