package wechatsim_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/h5"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/jsapi"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/native"

	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// prepayExpiry is the time_expire of every Native and H5 request here: a request made
// again must be identical to find its order's URL.
var prepayExpiry = time.Now().Add(2 * time.Hour).Truncate(time.Second)

func (e *v3env) nativeReq(no string, total int64) native.PrepayRequest {
	return native.PrepayRequest{
		Appid: core.String(wechatsim.DefaultAppID), Mchid: core.String(wechatsim.DevMchID),
		Description: core.String("Test order"), OutTradeNo: core.String(no), Attach: core.String("a1"),
		NotifyUrl:  core.String(e.sink.url("/notify/pay")),
		TimeExpire: core.Time(prepayExpiry),
		Amount:     &native.Amount{Total: core.Int64(total), Currency: core.String("CNY")},
	}
}

func (e *v3env) h5Req(no string, total int64) h5.PrepayRequest {
	return h5.PrepayRequest{
		Appid: core.String(wechatsim.DefaultAppID), Mchid: core.String(wechatsim.DevMchID),
		Description: core.String("Test order"), OutTradeNo: core.String(no), Attach: core.String("a1"),
		NotifyUrl:  core.String(e.sink.url("/notify/pay")),
		TimeExpire: core.Time(prepayExpiry),
		Amount:     &h5.Amount{Total: core.Int64(total), Currency: core.String("CNY")},
		SceneInfo: &h5.SceneInfo{PayerClientIp: core.String("203.0.113.7"),
			H5Info: &h5.H5Info{Type: core.String("Wap"), AppName: core.String("shop"), AppUrl: core.String("https://shop.example")}},
	}
}

func (e *v3env) nativePrepay(t *testing.T, req native.PrepayRequest) string {
	t.Helper()
	resp, _, err := (&native.NativeApiService{Client: e.sdk}).Prepay(context.Background(), req)
	if err != nil {
		t.Fatalf("native prepay: %v", err)
	}
	return str(resp.CodeUrl)
}

func (e *v3env) h5Prepay(t *testing.T, req h5.PrepayRequest) string {
	t.Helper()
	resp, _, err := (&h5.H5ApiService{Client: e.sdk}).Prepay(context.Background(), req)
	if err != nil {
		t.Fatalf("h5 prepay: %v", err)
	}
	return str(resp.H5Url)
}

func TestV3NativeAndH5Prepay(t *testing.T) {
	e := newV3Env(t, nil)
	ctx := context.Background()
	nsvc := &native.NativeApiService{Client: e.sdk}
	hsvc := &h5.H5ApiService{Client: e.sdk}

	codeURL := e.nativePrepay(t, e.nativeReq("NATIVE01", 100))
	if !strings.HasPrefix(codeURL, "weixin://wxpay/bizpayurl?pr=") || len(codeURL) <= len("weixin://wxpay/bizpayurl?pr=") {
		t.Fatalf("code_url %q", codeURL)
	}
	if again := e.nativePrepay(t, e.nativeReq("NATIVE01", 100)); again != codeURL {
		t.Fatalf("the same request again answered %q, not %q", again, codeURL)
	}
	v, ok := e.sim.Order("NATIVE01")
	if !ok || v.TradeType != "NATIVE" || v.TradeState != "NOTPAY" || v.CodeURL != codeURL || v.Channel != wechatsim.ChannelV3 ||
		v.NotifyURL != e.sink.url("/notify/pay") || v.SubOpenID != "" || v.TotalFee != 100 {
		t.Fatalf("native order at WeChat: %+v", v)
	}

	h5URL := e.h5Prepay(t, e.h5Req("H5ORDER01", 200))
	u, err := url.Parse(h5URL)
	if err != nil || u.Scheme != "https" || u.Host != "wx.tenpay.com" || u.Path != "/cgi-bin/mmpayweb-bin/checkmweb" ||
		u.Query().Get("prepay_id") == "" || u.Query().Get("package") == "" {
		t.Fatalf("h5_url %q", h5URL)
	}
	if again := e.h5Prepay(t, e.h5Req("H5ORDER01", 200)); again != h5URL {
		t.Fatalf("the same request again answered %q, not %q", again, h5URL)
	}
	v, _ = e.sim.Order("H5ORDER01")
	if v.TradeType != "MWEB" || v.H5URL != h5URL || v.H5Type != "Wap" || v.SpbillCreateIP != "203.0.113.7" || v.PrepayID != u.Query().Get("prepay_id") {
		t.Fatalf("h5 order at WeChat: %+v", v)
	}

	t.Run("conflicts", func(t *testing.T) {
		e.prepay(t, "JSAPI01") // JSAPI first
		_, _, err := nsvc.Prepay(ctx, e.nativeReq("JSAPI01", 100))
		apiError(t, err, 403, "OUT_TRADE_NO_USED")
		_, _, err = hsvc.Prepay(ctx, e.h5Req("NATIVE01", 100))
		apiError(t, err, 403, "OUT_TRADE_NO_USED")
		_, _, err = nsvc.Prepay(ctx, e.nativeReq("H5ORDER01", 200))
		apiError(t, err, 403, "OUT_TRADE_NO_USED")
		_, _, err = (&jsapi.JsapiApiService{Client: e.sdk}).Prepay(ctx, e.prepayReq("NATIVE01", 100))
		apiError(t, err, 403, "OUT_TRADE_NO_USED")
		_, _, err = nsvc.Prepay(ctx, e.nativeReq("NATIVE01", 101))
		apiError(t, err, 400, "INVALID_REQUEST")
		other := e.h5Req("H5ORDER01", 200)
		other.SceneInfo.H5Info.Type = core.String("iOS")
		_, _, err = hsvc.Prepay(ctx, other)
		apiError(t, err, 400, "INVALID_REQUEST")

		e.nativePrepay(t, e.nativeReq("NATIVE02", 100))
		if _, err := nsvc.CloseOrder(ctx, native.CloseOrderRequest{OutTradeNo: core.String("NATIVE02"), Mchid: core.String(wechatsim.DevMchID)}); err != nil {
			t.Fatal(err)
		}
		_, _, err = nsvc.Prepay(ctx, e.nativeReq("NATIVE02", 100))
		apiError(t, err, 403, "OUT_TRADE_NO_USED")
		_, _, err = hsvc.Prepay(ctx, e.h5Req("NATIVE02", 100))
		apiError(t, err, 403, "OUT_TRADE_NO_USED")
		if v, _ := e.sim.Order("NATIVE02"); v.TradeState != "CLOSED" {
			t.Fatalf("closed order: %+v", v)
		}
	})

	t.Run("h5 scene_info is required", func(t *testing.T) {
		base := map[string]any{
			"appid": wechatsim.DefaultAppID, "mchid": wechatsim.DevMchID, "description": "d", "out_trade_no": "H5BAD001",
			"notify_url": e.sink.url("/notify/pay"), "amount": map[string]any{"total": 1},
		}
		for _, tt := range []struct {
			scene any
			want  string
		}{
			{nil, "scene_info"},
			{map[string]any{"h5_info": map[string]any{"type": "Wap"}}, "scene_info.payer_client_ip"},
			{map[string]any{"payer_client_ip": "not-an-ip", "h5_info": map[string]any{"type": "Wap"}}, "scene_info.payer_client_ip"},
			{map[string]any{"payer_client_ip": "203.0.113.7"}, "scene_info.h5_info"},
			{map[string]any{"payer_client_ip": "203.0.113.7", "h5_info": map[string]any{}}, "scene_info.h5_info.type"},
			{map[string]any{"payer_client_ip": "203.0.113.7", "h5_info": map[string]any{"type": "Desktop"}}, "scene_info.h5_info.type"},
		} {
			body := with(base)
			if tt.scene != nil {
				body["scene_info"] = tt.scene
			}
			resp, raw := e.raw(t, "POST", "/v3/pay/transactions/h5", jsonString(body), nil)
			var out map[string]any
			_ = json.Unmarshal(raw, &out)
			msg, _ := out["message"].(string)
			field := ""
			if f := strings.Fields(msg); len(f) > 1 {
				field = strings.TrimSuffix(f[1], ":")
			}
			if resp.StatusCode != 400 || out["code"] != "PARAM_ERROR" || field != tt.want {
				t.Fatalf("scene %v: %d %s", tt.scene, resp.StatusCode, raw)
			}
			checkSigned(t, resp.Header, raw)
		}
		if _, ok := e.sim.Order("H5BAD001"); ok {
			t.Fatal("a refused prepay made an order")
		}
		// Native: scene_info is optional, but payer_client_ip is required when it is sent.
		nb := with(base, "out_trade_no", "NATBAD01", "scene_info", map[string]any{"device_id": "x"})
		resp, raw := e.raw(t, "POST", "/v3/pay/transactions/native", jsonString(nb), nil)
		if resp.StatusCode != 400 || !strings.Contains(string(raw), "missing scene_info.payer_client_ip") {
			t.Fatalf("native without payer_client_ip: %d %s", resp.StatusCode, raw)
		}
	})

	t.Run("pay notifies with the trade type", func(t *testing.T) {
		for _, tt := range []struct{ no, tradeType string }{{"NATIVE01", "NATIVE"}, {"H5ORDER01", "MWEB"}} {
			before := len(e.sink.received())
			status, out := e.control(t, "POST", "/pay", map[string]any{"out_trade_no": tt.no})
			if status != 200 || out["trade_state"] != "SUCCESS" {
				t.Fatalf("pay %s: %d %v", tt.no, status, out)
			}
			got := e.sink.received()
			if len(got) != before+1 || got[before].err != nil || got[before].eventType != "TRANSACTION.SUCCESS" {
				t.Fatalf("notifications %+v", got[before:])
			}
			c := got[before].content
			payer, _ := c["payer"].(map[string]any)
			if c["trade_type"] != tt.tradeType || c["out_trade_no"] != tt.no || c["trade_state"] != "SUCCESS" ||
				payer["openid"] != wechatsim.DevPayerOpenID || got[before].path != "/notify/pay" {
				t.Fatalf("notification of %s: %v", tt.no, c)
			}
			if q := e.query(t, tt.no); str(q.TradeType) != tt.tradeType || str(q.TradeState) != "SUCCESS" {
				t.Fatalf("query %s: %+v", tt.no, q)
			}
			_, _, err := nsvc.Prepay(ctx, e.nativeReq("NATIVE01", 100))
			apiError(t, err, 400, "ORDERPAID")
		}
	})

	t.Run("faults of unifiedorder apply", func(t *testing.T) {
		addFault(t, e.env, map[string]any{"api": "unifiedorder", "mode": "fail", "code": "NO_AUTH", "count": 2})
		_, _, err := nsvc.Prepay(ctx, e.nativeReq("FAULTN01", 100))
		apiError(t, err, 403, "NO_AUTH")
		_, _, err = hsvc.Prepay(ctx, e.h5Req("FAULTH01", 100))
		apiError(t, err, 403, "NO_AUTH")
		for _, no := range []string{"FAULTN01", "FAULTH01"} {
			if _, ok := e.sim.Order(no); ok {
				t.Fatalf("a failed prepay made %s", no)
			}
		}
		addFault(t, e.env, map[string]any{"api": "unifiedorder", "mode": "timeout", "count": 1})
		impatient := sdkClient(t, e.pre.URL, 200*time.Millisecond)
		if _, _, err := (&native.NativeApiService{Client: impatient}).Prepay(ctx, e.nativeReq("FAULTN02", 100)); err == nil {
			t.Fatal("the call answered")
		}
		v, ok := e.sim.Order("FAULTN02")
		if !ok || v.CodeURL == "" {
			t.Fatalf("WeChat did not act on the timed-out prepay: %+v", v)
		}
		if again := e.nativePrepay(t, e.nativeReq("FAULTN02", 100)); again != v.CodeURL {
			t.Fatalf("retry answered %q, not %q", again, v.CodeURL)
		}
	})
}

func TestPersistNativeAndH5Orders(t *testing.T) {
	p := newPersistent(t, nil)
	e := p.cur
	codeURL := e.nativePrepay(t, e.nativeReq("PNATIVE1", 100))
	h5URL := e.h5Prepay(t, e.h5Req("PH5ORDE1", 100))
	before := map[string]wechatsim.OrderView{}
	for _, no := range []string{"PNATIVE1", "PH5ORDE1"} {
		before[no], _ = e.sim.Order(no)
	}

	e = p.restart(t)
	for no, want := range before {
		got, ok := e.sim.Order(no)
		if !ok || got.CodeURL != want.CodeURL || got.H5URL != want.H5URL || got.H5Type != want.H5Type || got.TradeType != want.TradeType {
			t.Fatalf("%s after a restart: %+v, want %+v", no, got, want)
		}
	}
	if again := e.nativePrepay(t, e.nativeReq("PNATIVE1", 100)); again != codeURL {
		t.Fatalf("code_url after a restart %q, want %q", again, codeURL)
	}
	if again := e.h5Prepay(t, e.h5Req("PH5ORDE1", 100)); again != h5URL {
		t.Fatalf("h5_url after a restart %q, want %q", again, h5URL)
	}
	_, _, err := (&native.NativeApiService{Client: e.sdk}).Prepay(context.Background(), e.nativeReq("PH5ORDE1", 100))
	apiError(t, err, 403, "OUT_TRADE_NO_USED")
}
