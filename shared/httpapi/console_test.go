package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// The operator console's read routes.
func TestConsoleReadRoutes(t *testing.T) {
	t.Parallel()
	s := newStack(t, testkit.Channel(wechat.V3), testkit.ManualRefunds())
	s.Paid("CONSOLE01", alice, 5000)
	s.Paid("CONSOLE02", bob, 700)
	s.createOrder("CONSOLE03", alice, 300)
	no := str(s.postRefund("CONSOLE01", 1200, "k-console").body["out_refund_no"])

	get := func(path string) response { return s.do("GET", s.RefundURL+path, nil, admin()) }
	list := get("/admin/api/orders?openid=" + alice)
	orders, _ := list.body["orders"].([]any)
	if list.status != http.StatusOK || len(orders) != 2 || orders[0].(map[string]any)["out_trade_no"] != "CONSOLE03" {
		t.Fatalf("orders of alice: %d %s", list.status, list.raw)
	}
	if r := get("/admin/api/orders?status=paid"); len(r.body["orders"].([]any)) != 2 {
		t.Fatalf("paid orders: %s", r.raw)
	}
	today := s.Now().In(time.FixedZone("CST", 8*3600)).Format(time.DateOnly)
	if r := get("/admin/api/orders?from=" + today + "&to=" + today + "&limit=1"); len(r.body["orders"].([]any)) != 1 || r.body["next_cursor"] == nil {
		t.Fatalf("today, one per page: %s", r.raw)
	}
	if r := get("/admin/api/orders?from=2000-01-01&to=2000-01-02"); len(r.body["orders"].([]any)) != 0 {
		t.Fatalf("another day: %s", r.raw)
	}
	d := get("/admin/api/orders/CONSOLE01")
	refunds, _ := d.body["refunds"].([]any)
	if d.status != http.StatusOK || d.body["refundable_fen"] != float64(3800) || d.body["reserved_fen"] != float64(1200) ||
		len(refunds) != 1 || refunds[0].(map[string]any)["out_refund_no"] != no {
		t.Fatalf("order detail: %d %s", d.status, d.raw)
	}
	if d := get("/admin/api/orders/CONSOLE03"); d.body["refundable_fen"] != float64(0) {
		t.Fatalf("unpaid order detail: %s", d.raw)
	}
	s.credit(alice, "c-console", 1000)
	s.withdraw(alice, 500, "wd-console")
	if w := get("/admin/api/withdrawals?openid=" + alice); len(w.body["withdrawals"].([]any)) != 1 {
		t.Fatalf("withdrawals: %s", w.raw)
	}
	if r := get("/admin/api/dead-letters"); r.status != http.StatusOK {
		t.Fatalf("dead letters: %d %s", r.status, r.raw)
	}
	for _, path := range []string{"/admin/api/orders?status=lost", "/admin/api/orders?from=22-11-2026", "/admin/api/orders?limit=0",
		"/admin/api/orders?colour=red", "/admin/api/orders?cursor=x", "/admin/api/orders/bad%20no", "/admin/api/withdrawals?status=lost"} {
		if r := get(path); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s", path, r.status, r.raw)
		}
	}
	if r := get("/admin/api/orders/NOSUCH01"); r.status != http.StatusNotFound {
		t.Errorf("unknown order: %d", r.status)
	}
	if r := s.do("GET", s.RefundURL+"/admin/api/orders", nil, nil); r.status != http.StatusUnauthorized {
		t.Errorf("without a token: %d", r.status)
	}
}

// The refund function serves the console's page at /admin/ without a token
// (the page asks for one), and its API only with one.
func TestConsolePageIsServed(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	page := s.do("GET", s.RefundURL+"/admin/", nil, nil)
	if page.status != http.StatusOK || !strings.HasPrefix(page.header.Get("Content-Type"), "text/html") ||
		!strings.Contains(page.header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("page: %d %v", page.status, page.header)
	}
	req, _ := http.NewRequest("GET", s.RefundURL+"/admin", nil)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "admin/" {
		t.Fatalf("/admin: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if r := s.do("GET", s.RefundURL+"/admin/app.js", nil, nil); r.status != http.StatusOK {
		t.Fatalf("app.js: %d", r.status)
	}
	if r := s.do("GET", s.RefundURL+"/admin/secrets.txt", nil, nil); r.status != http.StatusNotFound {
		t.Fatalf("other files: %d", r.status)
	}
}
