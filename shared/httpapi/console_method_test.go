package httpapi_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// setMethod records on a stored order how it is being paid, as a payment
// attempt by that method does, so these tests do not depend on each
// method's payment flow.
func (s *stack) setMethod(no string, m cloudpay.PayMethod, tradeNo string) {
	s.t.Helper()
	set := bson.D{{Key: "method", Value: m}}
	if tradeNo != "" {
		set = append(set, bson.E{Key: "trade_no", Value: tradeNo})
	}
	res, err := s.Store.Database().Collection("orders").UpdateOne(context.Background(),
		bson.D{{Key: "_id", Value: no}}, bson.D{{Key: "$set", Value: set}})
	if err != nil || res.MatchedCount != 1 {
		s.t.Fatalf("set the method of %s: %v (%d matched)", no, err, res.MatchedCount)
	}
}

// The console lists orders by how they are paid, shows the method and
// WeChat's number of the payment on each, and refuses a method it does
// not know, naming the parameter.
func TestConsoleFiltersOrdersByMethod(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.Paid("METHOD01", alice, 500)
	for _, no := range []string{"METHOD02", "METHOD03", "METHOD04", "METHOD05", "METHOD06", "METHOD07"} {
		if r := s.createOrder(no, alice, 300); r.status != http.StatusCreated {
			t.Fatalf("create %s: %d %s", no, r.status, r.raw)
		}
	}
	s.setMethod("METHOD01", cloudpay.MethodJSAPI, "")
	s.setMethod("METHOD02", cloudpay.MethodNative, "METHOD02N2")
	s.setMethod("METHOD03", cloudpay.MethodH5, "")
	s.setMethod("METHOD04", cloudpay.MethodBalance, "")
	// METHOD05: no payment begun, no method.
	s.setMethod("METHOD06", cloudpay.MethodAlipayQR, "METHOD06A2")
	s.setMethod("METHOD07", cloudpay.MethodAlipayWap, "")

	get := func(path string) response { return s.do("GET", s.RefundURL+path, nil, admin()) }
	orders := func(r response) map[string]map[string]any {
		t.Helper()
		if r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		out := map[string]map[string]any{}
		list, _ := r.body["orders"].([]any)
		for _, o := range list {
			o := o.(map[string]any)
			out[str(o["out_trade_no"])] = o
		}
		return out
	}
	tests := []struct {
		query string
		want  []string
	}{
		{"method=jsapi", []string{"METHOD01"}},
		{"method=native", []string{"METHOD02"}},
		{"method=h5", []string{"METHOD03"}},
		{"method=balance", []string{"METHOD04"}},
		{"method=alipay_qr", []string{"METHOD06"}},
		{"method=alipay_wap", []string{"METHOD07"}},
		{"method=alipay_qr&status=unpaid&openid=" + alice, []string{"METHOD06"}},
		{"method=native&status=unpaid&openid=" + alice, []string{"METHOD02"}},
		{"method=jsapi&status=unpaid", nil},
		{"method=native&openid=" + bob, nil},
		{"", []string{"METHOD01", "METHOD02", "METHOD03", "METHOD04", "METHOD05", "METHOD06", "METHOD07"}},
	}
	for _, tc := range tests {
		t.Run("?"+tc.query, func(t *testing.T) {
			t.Parallel()
			got := orders(get("/admin/api/orders?" + tc.query))
			var nos []string
			for no := range got {
				nos = append(nos, no)
			}
			slices.Sort(nos)
			if !slices.Equal(nos, tc.want) {
				t.Fatalf("orders %v, want %v", nos, tc.want)
			}
		})
	}

	t.Run("each order shows its method and WeChat's number", func(t *testing.T) {
		t.Parallel()
		all := orders(get("/admin/api/orders"))
		for no, want := range map[string]struct{ method, tradeNo any }{
			"METHOD01": {"jsapi", nil}, "METHOD02": {"native", "METHOD02N2"}, "METHOD03": {"h5", nil},
			"METHOD04": {"balance", nil}, "METHOD05": {nil, nil},
			"METHOD06": {"alipay_qr", "METHOD06A2"}, "METHOD07": {"alipay_wap", nil},
		} {
			if o := all[no]; o["method"] != want.method || o["trade_no"] != want.tradeNo {
				t.Errorf("%s: method %v trade_no %v, want %v %v", no, o["method"], o["trade_no"], want.method, want.tradeNo)
			}
		}
		d := get("/admin/api/orders/METHOD02")
		o, _ := d.body["order"].(map[string]any)
		if d.status != http.StatusOK || o["method"] != "native" || o["trade_no"] != "METHOD02N2" {
			t.Errorf("order detail: %d %s", d.status, d.raw)
		}
		d = get("/admin/api/orders/METHOD06")
		o, _ = d.body["order"].(map[string]any)
		if d.status != http.StatusOK || o["method"] != "alipay_qr" || o["trade_no"] != "METHOD06A2" {
			t.Errorf("Alipay order detail: %d %s", d.status, d.raw)
		}
	})

	for _, q := range []string{"method=wechat", "method=JSAPI", "method=alipay", "method=alipay_pc", "method=%20", "method=jsapi&method=h5"} {
		t.Run("refused ?"+q, func(t *testing.T) {
			t.Parallel()
			if r := get("/admin/api/orders?" + q); r.status != http.StatusBadRequest || r.errorCode() != "INVALID_FIELD" || r.errorField() != "method" {
				t.Fatalf("%d %s, want 400 INVALID_FIELD naming method", r.status, r.raw)
			}
		})
	}
}

// The console's orders page offers the method filter with every method,
// and a column and detail fields for it.
func TestConsolePageHasTheMethodFilter(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	page := s.do("GET", s.RefundURL+"/admin/", nil, nil)
	if page.status != http.StatusOK {
		t.Fatalf("page: %d", page.status)
	}
	html := string(page.raw)
	for _, want := range []string{`<select id="orders-method" name="method">`, `<option value="jsapi">小程序 JSAPI</option>`,
		`<option value="native">Native 扫码</option>`, `<option value="h5">H5</option>`, `<option value="balance">余额</option>`,
		`<option value="alipay_qr">支付宝扫码</option>`, `<option value="alipay_wap">支付宝手机网站</option>`,
		`<th>支付方式</th>`, `id="order-method"`, `id="order-trade-no"`, `id="order-transaction-id-label"`, `id="order-trade-no-label"`} {
		if !strings.Contains(html, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
}
