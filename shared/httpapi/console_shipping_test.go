package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cloudpay/cloudpay/shared/httpapi"
	"github.com/cloudpay/cloudpay/shared/shipping"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

func expressShipping(key, trackingNo string) map[string]any {
	return map[string]any{"idempotency_key": key, "logistics_type": "express", "shipping_list": []any{map[string]any{
		"tracking_no": trackingNo, "express_company": "YTO", "item_desc": "年度会员礼盒*1", "receiver_contact": "153****6068"}}}
}

// An operator enters an order's shipping from the console: uploaded once
// (201, then 200 for the same key), on both paths to WeChat; the order
// shows it; WeChat's refusal comes back in its words.
func TestConsoleShipsAnOrder(t *testing.T) {
	t.Parallel()
	testkit.ForEachChannel(t, func(t *testing.T, ch string) {
		s := newStack(t, testkit.Channel(ch))
		s.Paid("CSHIP00001", alice, 5000)
		url := s.RefundURL + "/admin/api/orders/CSHIP00001/shipping"
		if r := s.do("POST", url, expressShipping("parcel-1", "YT8759710021515"), nil); r.status != http.StatusUnauthorized {
			t.Fatalf("without a token: %d %s", r.status, r.raw)
		}
		first := s.do("POST", url, expressShipping("parcel-1", "YT8759710021515"), admin())
		if first.status != http.StatusCreated || first.body["status"] != "uploaded" || first.body["logistics_type"] != "express" ||
			first.body["delivery_mode"] != "unified" || first.body["out_trade_no"] != "CSHIP00001" {
			t.Fatalf("first: %d %s", first.status, first.raw)
		}
		if again := s.do("POST", url, expressShipping("parcel-1", "YT8759710021515"), admin()); again.status != http.StatusOK || again.body["status"] != "uploaded" {
			t.Fatalf("again: %d %s", again.status, again.raw)
		}
		sh, ok := s.Sim.MiniProgramShipment(s.Order("CSHIP00001").TransactionID)
		if !ok || sh.Uploads != 1 || sh.ViaToken != (ch == wechat.V3) {
			t.Fatalf("at WeChat: %+v (held %v)", sh, ok)
		}
		if r := s.do("POST", url, expressShipping("parcel-1", "SF0000000001"), admin()); r.status != http.StatusConflict || r.errorCode() != "SHIPPING_CONFLICT" {
			t.Fatalf("the key for another upload: %d %s", r.status, r.raw)
		}
		d := s.do("GET", s.RefundURL+"/admin/api/orders/CSHIP00001", nil, admin())
		if o, _ := d.body["order"].(map[string]any); o["shipping_state"] != "shipped" {
			t.Fatalf("order detail: %s", d.raw)
		}
		// WeChat takes one update; a third upload is refused for good.
		if r := s.do("POST", url, expressShipping("parcel-2", "YT0000000002"), admin()); r.status != http.StatusCreated {
			t.Fatalf("the update: %d %s", r.status, r.raw)
		}
		r := s.do("POST", url, expressShipping("parcel-3", "YT0000000003"), admin())
		if msg := (testkit.Response{Body: r.body}).ErrorMessage(); r.status != http.StatusConflict || r.errorCode() != "SHIPPING_REFUSED" || !strings.Contains(msg, "10060003") {
			t.Fatalf("a second update: %d %s", r.status, r.raw)
		}
	})
}

// WeChat not knowing the payment yet: 202, pending, close-expired sends it.
func TestConsoleShippingWeChatCannotTakeYetIsPending(t *testing.T) {
	t.Parallel()
	s := newStack(t, testkit.Channel(wechat.CloudHosting))
	s.Paid("CSHIP00002", alice, 5000)
	s.Sim.MiniProgramFail(10060001)
	r := s.do("POST", s.RefundURL+"/admin/api/orders/CSHIP00002/shipping", map[string]any{"idempotency_key": "k", "logistics_type": "virtual",
		"shipping_list": []any{map[string]any{"item_desc": "年度会员"}}}, admin())
	if r.status != http.StatusAccepted || r.body["status"] != "pending" || !strings.Contains(str(r.body["last_error"]), "10060001") {
		t.Fatalf("%d %s", r.status, r.raw)
	}
}

// Bad input is answered 400 naming the field, with the parsing
// create-payment's route does, and nothing reaches WeChat.
func TestConsoleShippingInputIsChecked(t *testing.T) {
	t.Parallel()
	s := newStack(t, testkit.Channel(wechat.CloudHosting))
	s.Paid("CSHIP00003", alice, 5000)
	s.createOrder("CSHIP00004", alice, 300)
	item := []any{map[string]any{"item_desc": "x"}}
	for _, tc := range []struct {
		name  string
		no    string
		body  any
		field string
	}{
		{"no key", "CSHIP00003", map[string]any{"logistics_type": "virtual", "shipping_list": item}, "idempotency_key"},
		{"unknown logistics", "CSHIP00003", map[string]any{"idempotency_key": "k", "logistics_type": "drone", "shipping_list": item}, "logistics_type"},
		{"unknown mode", "CSHIP00003", map[string]any{"idempotency_key": "k", "logistics_type": "virtual", "delivery_mode": "all", "shipping_list": item}, "delivery_mode"},
		{"express without a tracking number", "CSHIP00003", map[string]any{"idempotency_key": "k", "logistics_type": "express", "shipping_list": item}, "shipping_list[0].tracking_no"},
		{"nothing shipped", "CSHIP00003", map[string]any{"idempotency_key": "k", "logistics_type": "virtual", "shipping_list": []any{}}, "shipping_list"},
		{"an unknown field", "CSHIP00003", map[string]any{"idempotency_key": "k", "logistics_type": "virtual", "shipping_list": item, "colour": "red"}, "colour"},
		{"a bad order number", "bad%20no", map[string]any{"idempotency_key": "k", "logistics_type": "virtual", "shipping_list": item}, "out_trade_no"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do("POST", s.RefundURL+"/admin/api/orders/"+tc.no+"/shipping", tc.body, admin())
			if r.status != http.StatusBadRequest || r.errorField() != tc.field {
				t.Errorf("%d %s, want a 400 naming %s", r.status, r.raw, tc.field)
			}
		})
	}
	if r := s.do("POST", s.RefundURL+"/admin/api/orders/CSHIP00004/shipping", expressShipping("k", "YT1"), admin()); r.errorCode() != "ORDER_NOT_PAID" {
		t.Errorf("an unpaid order: %d %s", r.status, r.raw)
	}
	if r := s.do("POST", s.RefundURL+"/admin/api/orders/NOSUCH0001/shipping", expressShipping("k", "YT1"), admin()); r.status != http.StatusNotFound {
		t.Errorf("an unknown order: %d %s", r.status, r.raw)
	}
	if _, ok := s.Sim.MiniProgramShipment(s.Order("CSHIP00003").TransactionID); ok {
		t.Error("bad input reached WeChat")
	}
}

// The console's order list filters by shipping state: shipped, partly
// shipped (a split delivery not all delivered), none yet.
func TestConsoleOrdersFilterByShipping(t *testing.T) {
	t.Parallel()
	s := newStack(t, testkit.Channel(wechat.CloudHosting))
	s.Paid("CSHIPPED01", alice, 500)
	s.Paid("CSHIPPART1", alice, 500)
	s.Paid("CSHIPNONE1", alice, 500)
	s.createOrder("CSHIPNONE2", alice, 500)
	ship := func(no string, body map[string]any) {
		t.Helper()
		if r := s.do("POST", s.RefundURL+"/admin/api/orders/"+no+"/shipping", body, admin()); r.status != http.StatusCreated {
			t.Fatalf("ship %s: %d %s", no, r.status, r.raw)
		}
	}
	ship("CSHIPPED01", expressShipping("k", "YT0000000001"))
	ship("CSHIPPART1", map[string]any{"idempotency_key": "k", "logistics_type": "express", "delivery_mode": "split",
		"shipping_list": []any{map[string]any{"tracking_no": "YT0000000002", "express_company": "YTO", "item_desc": "上册"}}})

	for _, tc := range []struct {
		filter string
		want   []string // newest first
		state  string   // what the rows show
	}{
		{"shipped", []string{"CSHIPPED01"}, "shipped"},
		{"partly_shipped", []string{"CSHIPPART1"}, "partly_shipped"},
		{"none", []string{"CSHIPNONE2", "CSHIPNONE1"}, ""},
	} {
		t.Run(tc.filter, func(t *testing.T) {
			r := s.do("GET", s.RefundURL+"/admin/api/orders?openid="+alice+"&shipping="+tc.filter, nil, admin())
			orders, _ := r.body["orders"].([]any)
			var got []string
			for _, o := range orders {
				o := o.(map[string]any)
				got = append(got, str(o["out_trade_no"]))
				if state, _ := o["shipping_state"].(string); state != tc.state {
					t.Errorf("%v shows shipping_state %q, want %q", o["out_trade_no"], state, tc.state)
				}
			}
			if r.status != http.StatusOK || strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("%d: %v, want %v (%s)", r.status, got, tc.want, r.raw)
			}
		})
	}
	if r := s.do("GET", s.RefundURL+"/admin/api/orders?openid="+alice, nil, admin()); len(r.body["orders"].([]any)) != 4 {
		t.Errorf("without the filter: %s", r.raw)
	}
	if r := s.do("GET", s.RefundURL+"/admin/api/orders?shipping=lost", nil, admin()); r.status != http.StatusBadRequest || r.errorField() != "shipping" {
		t.Errorf("an unknown shipping state: %d %s", r.status, r.raw)
	}
}

// The console asks on demand whether the mini-program is under WeChat's
// trade management.
func TestConsoleTradeManaged(t *testing.T) {
	t.Parallel()
	testkit.ForEachChannel(t, func(t *testing.T, ch string) {
		s := newStack(t, testkit.Channel(ch))
		url := s.RefundURL + "/admin/api/shipping/trade-managed"
		if r := s.do("GET", url, nil, nil); r.status != http.StatusUnauthorized {
			t.Fatalf("without a token: %d", r.status)
		}
		if r := s.do("GET", url, nil, admin()); r.status != http.StatusOK || r.body["is_trade_managed"] != true {
			t.Fatalf("managed: %d %s", r.status, r.raw)
		}
		s.Sim.SetTradeManaged(false)
		if r := s.do("GET", url, nil, admin()); r.status != http.StatusOK || r.body["is_trade_managed"] != false {
			t.Fatalf("not managed: %d %s", r.status, r.raw)
		}
		s.Sim.MiniProgramFail(-1)
		if r := s.do("GET", url, nil, admin()); r.status/100 != 5 || r.errorCode() == "" {
			t.Fatalf("WeChat busy: %d %s", r.status, r.raw)
		}
	})
}

// Without a mini-program (no MINIPROGRAM_SECRET off Cloud Hosting) the
// console says so with SHIPPING_NOT_CONFIGURED, which the page shows as
// 未配置.
func TestConsoleShippingNotConfigured(t *testing.T) {
	t.Parallel()
	off := shipping.New(nil, nil, "", shipping.Config{}, nil, nil)
	srv := httptest.NewServer(httpapi.Refund(nil, httpapi.Console{Shipping: off}, httpapi.AdminConfig{Tokens: []string{adminToken}}, httpapi.UserConfig{}, nil))
	defer srv.Close()
	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/admin/api/shipping/trade-managed", ""},
		{"POST", "/admin/api/orders/CSHIP00005/shipping", `{"idempotency_key":"k","logistics_type":"virtual","shipping_list":[{"item_desc":"x"}]}`},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(raw), `"code":"SHIPPING_NOT_CONFIGURED"`) {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, resp.StatusCode, raw)
		}
	}
}
