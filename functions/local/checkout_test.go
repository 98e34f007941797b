package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"image"
	"image/png"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	qr "github.com/piglig/go-qr"

	"github.com/cloudpay/cloudpay/shared/checkout"
	"github.com/cloudpay/cloudpay/shared/serve"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// checkoutShots is where the checkout test writes its pictures: docs/ (the
// committed ones the README shows) when CLOUDPAY_SCREENSHOTS=1, else
// bin/checkout-screenshots (gitignored), so a test run leaves the tree clean.
func checkoutShots() string {
	root := filepath.Join("..", "..") // go test runs in functions/local
	if os.Getenv("CLOUDPAY_SCREENSHOTS") == "1" {
		return filepath.Join(root, "docs")
	}
	return filepath.Join(root, "bin", "checkout-screenshots")
}

// The hosted checkout page, end to end in headless Chromium against the
// whole local stack on the API v3 channel (Native is API v3's): the merchant
// asks for a Native payment, the page shows the amount, the description and
// a QR code that scans to WeChat's code_url; the simulator pays it and the
// page turns to 支付成功 without a reload. In another tab the page of an
// order with a minute to live counts down and turns to 已过期.
func TestCheckoutInChromium(t *testing.T) {
	if why := browserTools(); why != "" {
		t.Skip("no browser for the checkout test: " + why)
	}
	s, cfg := startCheckoutStack(t)
	api := &stackClient{t: t, base: s.base, token: cfg.AdminTokens[0]}
	signer := checkout.NewSigner("", cfg.AdminTokens[0]) // the stack's: CHECKOUT_KEY unset
	const (
		openid = "oCheckoutBuyer001"
		paidNo = "CHECKOUT0001"
		lateNo = "CHECKOUT0002"
	)

	// The order that will expire first, so its minute runs during the rest.
	expiring := !testing.Short()
	var lateLink string
	if expiring {
		api.call("POST", "/create-payment/orders", map[string]any{"out_trade_no": lateNo, "openid": openid, "amount_fen": 990,
			"description": "试听课", "expire_minutes": 1}, nil, 201)
		lateLink = checkoutLink(s.base, api.call("POST", "/create-payment/orders/"+lateNo+"/pay", map[string]any{"method": "native"}, nil, 200), signer, lateNo)
	}
	api.call("POST", "/create-payment/orders", map[string]any{"out_trade_no": paidNo, "openid": openid, "amount_fen": 29900,
		"description": "年度会员 · 专业版"}, nil, 201)
	prepared := api.call("POST", "/create-payment/orders/"+paidNo+"/pay", map[string]any{"method": "native"}, nil, 200)
	codeURL := str(prepared["code_url"])
	if !strings.HasPrefix(codeURL, "weixin://wxpay/bizpayurl") {
		t.Fatalf("pay answered code_url %q", codeURL)
	}
	link := checkoutLink(s.base, prepared, signer, paidNo)

	b := startBrowser(t)
	b.resize(560, 860) // the card and little else, for the pictures
	var lateTab string
	if expiring {
		b.navigate(lateLink)
		b.waitText("#countdown", ":")
		b.exec("window.cloudpayLoaded = 'late'")
		lateTab = b.window()
		b.switchTo(b.newTab())
	}

	b.navigate(link)
	if got := b.text("#amount"); got != "¥299.00" {
		t.Errorf("amount %q, want ¥299.00", got)
	}
	if got := b.text("#description"); got != "年度会员 · 专业版" {
		t.Errorf("description %q", got)
	}
	if hint := b.text("#state-pending .hint"); !strings.Contains(hint, "另一部手机") || !strings.Contains(hint, "扫一扫") {
		t.Errorf("the hint %q does not say to scan with WeChat on another phone", hint)
	}
	// The QR code, as the screen shows it, scans to WeChat's code_url.
	if got, err := qr.Decode(b.elementPNG("#qr")); err != nil || got != codeURL {
		t.Fatalf("the QR code on screen reads %q (%v), want %q", got, err, codeURL)
	}
	// The stack serves Alipay too, so the page offers it beside WeChat's, shown.
	if got := b.exec(`return [...document.querySelectorAll('#methods a')].map((a) => a.textContent + (a.getAttribute('aria-current') ? '*' : '')).join('|')`); got != "微信支付*|支付宝" {
		t.Errorf("the choice of method reads %v, want 微信支付*|支付宝", got)
	}
	// The countdown runs: mm:ss, and it changes.
	first := b.text("#countdown")
	if !regexp.MustCompile(`^\d{1,2}:\d{2}$`).MatchString(first) {
		t.Errorf("countdown %q", first)
	}
	b.waitFor("the countdown to move", func() (bool, error) { return b.text("#countdown") != first, nil })
	b.exec("window.cloudpayLoaded = 'paid'") // a reload would lose it
	b.screenshot(filepath.Join(checkoutShots(), "checkout-qr.png"))

	// The user scans and pays.
	api.call("POST", "/sim/pay", map[string]any{"out_trade_no": paidNo}, map[string]string{}, 200)
	b.waitText("#state-paid", "支付成功")
	if b.displayed("#state-pending") || b.displayed("#qr") {
		t.Error("the QR code is still shown after payment")
	}
	if got := b.exec("return window.cloudpayLoaded"); got != "paid" {
		t.Errorf("the page was reloaded (marker %v)", got)
	}
	if got := b.exec("return document.title"); got != "支付成功" {
		t.Errorf("title %v", got)
	}
	if got := b.text("#amount"); got != "¥299.00" {
		t.Errorf("amount after payment %q", got)
	}
	b.screenshot(filepath.Join(checkoutShots(), "checkout-paid.png"))
	if o := api.call("GET", "/create-payment/orders/"+paidNo, nil, nil, 200); o["status"] != "paid" {
		t.Errorf("order %s is %v after the page said paid", paidNo, o["status"])
	}

	checkoutWithAlipay(t, b, s, api, signer)

	if expiring {
		b.switchTo(lateTab)
		b.waitText("#state-expired", "已过期")
		if b.displayed("#state-pending") || b.displayed("#state-paid") {
			t.Error("the expired page still shows the QR code or a payment")
		}
		if got := b.exec("return window.cloudpayLoaded"); got != "late" {
			t.Errorf("the expiring page was reloaded (marker %v)", got)
		}
		// Not among the committed pictures: kept under bin/ for a look.
		b.screenshot(filepath.Join("..", "..", "bin", "checkout-screenshots", "checkout-expired.png"))
		// Once the order is over by the server's clock too, the page shows the same.
		testkit.Eventually(t, func() error {
			if st := getJSON(t, statusURL(lateLink)); st["expired"] != true {
				return fmt.Errorf("status of the expired order: %v", st)
			}
			return nil
		})
	}
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("the page logged errors: %v", errs)
	}
}

// checkoutWithAlipay: the payer opens a page that shows WeChat's QR code
// and picks 支付宝; the page shows Alipay's QR code, which scans to the
// qr_code Alipay made for the order's live attempt, and keeps it through a
// reload. Paid at Alipay (POST /sim/alipay/pay), the page turns to 支付成功
// without a reload.
func checkoutWithAlipay(t *testing.T, b *browser, s *stack, api *stackClient, signer *checkout.Signer) {
	t.Helper()
	const no = "CHECKOUT0003"
	api.call("POST", "/create-payment/orders", map[string]any{"out_trade_no": no, "openid": "oCheckoutBuyer003", "amount_fen": 12800,
		"description": "训练营 · 周末班"}, nil, 201)
	link := checkoutLink(s.base, api.call("POST", "/create-payment/orders/"+no+"/pay", map[string]any{"method": "native"}, nil, 200), signer, no)
	b.navigate(link)
	b.waitText("#brand", "微信支付")
	b.click("#method-alipay")
	b.waitText("#brand", "支付宝")
	if got := b.exec(`return document.querySelector('#method-alipay').getAttribute('aria-current')`); got != "page" {
		t.Errorf("the 支付宝 tab is not marked as shown (%v)", got)
	}
	if hint := b.text("#state-pending .hint"); !strings.Contains(hint, "支付宝") || strings.Contains(hint, "微信") {
		t.Errorf("the hint %q does not say to scan with Alipay", hint)
	}
	if got := b.text("#amount"); got != "¥128.00" {
		t.Errorf("amount %q, want ¥128.00", got)
	}
	order := api.call("GET", "/refund/admin/api/orders/"+no, nil, nil, 200)["order"].(map[string]any)
	tradeNo := str(order["trade_no"])
	if order["method"] != "alipay_qr" || tradeNo == "" {
		t.Fatalf("the order after picking 支付宝: method %v, trade_no %q", order["method"], tradeNo)
	}
	trade := api.call("GET", "/sim/alipay/trades/"+tradeNo, nil, map[string]string{}, 200)
	qrCode := str(trade["qr_code"])
	if !strings.HasPrefix(qrCode, "https://qr.alipay.com/") {
		t.Fatalf("Alipay's trade %s: %v", tradeNo, trade)
	}
	if got, err := qr.Decode(b.elementPNG("#qr")); err != nil || got != qrCode {
		t.Fatalf("the Alipay QR code on screen reads %q (%v), want %q", got, err, qrCode)
	}
	b.screenshot(filepath.Join(checkoutShots(), "checkout-alipay.png"))
	// A reload keeps Alipay's code: the page does not switch by itself.
	b.exec("location.reload()")
	b.waitText("#brand", "支付宝")
	if got, err := qr.Decode(b.elementPNG("#qr")); err != nil || got != qrCode {
		t.Fatalf("after a reload the QR code reads %q (%v), want %q", got, err, qrCode)
	}
	b.exec("window.cloudpayLoaded = 'alipay'")

	api.call("POST", "/sim/alipay/pay", map[string]any{"out_trade_no": tradeNo}, map[string]string{}, 200)
	b.waitText("#state-paid", "支付成功")
	if b.displayed("#state-pending") || b.displayed("#qr") || b.displayed("#methods") {
		t.Error("the QR code or the choice of method is still shown after payment")
	}
	if got := b.exec("return window.cloudpayLoaded"); got != "alipay" {
		t.Errorf("the page was reloaded (marker %v)", got)
	}
	if o := api.call("GET", "/create-payment/orders/"+no, nil, nil, 200); o["status"] != "paid" || o["method"] != "alipay_qr" {
		t.Errorf("order %s is %v by %v after the page said paid", no, o["status"], o["method"])
	}
}

// The page and its status answer only a good link, with the page's
// security headers whatever the answer.
func TestCheckoutLinks(t *testing.T) {
	s, cfg := startCheckoutStack(t)
	api := &stackClient{t: t, base: s.base, token: cfg.AdminTokens[0]}
	signer := checkout.NewSigner("", cfg.AdminTokens[0])
	const no = "CHECKOUT0101"
	api.call("POST", "/create-payment/orders", map[string]any{"out_trade_no": no, "openid": "oCheckoutBuyer002", "amount_fen": 100,
		"description": "链接测试"}, nil, 201)
	good := checkoutLink(s.base, api.call("POST", "/create-payment/orders/"+no+"/pay", map[string]any{"method": "native"}, nil, 200), signer, no)
	u, _ := url.Parse(good)
	q := u.Query()
	bad := func(key, value string) string {
		v := url.Values{"exp": {q.Get("exp")}, "sig": {q.Get("sig")}}
		v.Set(key, value)
		return s.base + u.Path + "?" + v.Encode()
	}
	for _, tc := range []struct {
		name, url string
		status    int
	}{
		{"a good link", good, http.StatusOK},
		{"its status", statusURL(good), http.StatusOK},
		{"a bad signature", bad("sig", otherFirst(q.Get("sig"))), http.StatusNotFound},
		{"a later expiry", bad("exp", "9999999999"), http.StatusNotFound},
		{"no signature", s.base + u.Path, http.StatusNotFound},
		{"an expired link", s.base + "/create-payment" + signer.Link(no, time.Now().Add(-time.Second)), http.StatusNotFound},
		{"an expired link's status", statusURL(s.base + "/create-payment" + signer.Link(no, time.Now().Add(-time.Second))), http.StatusNotFound},
		{"another order's link", strings.Replace(good, no, "CHECKOUT0102", 1), http.StatusNotFound},
	} {
		resp, err := http.Get(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.status)
		}
		if got := resp.Header.Get("Content-Security-Policy"); got != checkout.CSP {
			t.Errorf("%s: CSP %q", tc.name, got)
		}
		if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", tc.name, resp.Header)
		}
	}
}

// startCheckoutStack serves the local stack on the API v3 channel, as
// `PAY_CHANNEL=v3 make run` does, until the test ends.
func startCheckoutStack(t *testing.T) (*stack, config) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var cfg config
	if err := serve.Load(ctx, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.DataDir, cfg.MongoURI, cfg.Channel, cfg.SimPort = t.TempDir(), "", wechat.V3, 0
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := build(ctx, cfg, ln, slog.New(slog.DiscardHandler))
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	t.Cleanup(s.close)
	go func() { _ = serve.Serve(ctx, serve.Config{}, ln, s.handler, slog.New(slog.DiscardHandler)) }()
	return s, cfg
}

// checkoutLink is the page's absolute URL: the pay answer's checkout_url
// (a path on create-payment) or, from a create-payment that does not give
// one, a link signed as the stack signs them.
func checkoutLink(base string, prepared map[string]any, signer *checkout.Signer, no string) string {
	path := str(prepared["checkout_url"])
	if path == "" {
		path = signer.Link(no, time.Now().Add(time.Hour))
	}
	if strings.HasPrefix(path, "http") {
		return path
	}
	return base + "/create-payment" + path
}

// statusURL is the status route of a page's URL.
func statusURL(page string) string {
	path, query, _ := strings.Cut(page, "?")
	return path + "/status?" + query
}

func getJSON(t *testing.T, u string) map[string]any {
	t.Helper()
	c := &stackClient{t: t}
	return c.call("GET", u, nil, map[string]string{}, http.StatusOK)
}

// elementPNG is what the screen shows of an element.
func (b *browser) elementPNG(css string) image.Image {
	b.t.Helper()
	id := b.el(css)
	var enc string
	b.must(b.call(http.MethodGet, b.sess("/element/"+id+"/screenshot"), nil, &enc), "screenshot of "+css)
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		b.t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		b.t.Fatal(err)
	}
	return img
}

// displayed reports whether css selects an element that is shown.
func (b *browser) displayed(css string) bool {
	b.t.Helper()
	id, err := b.find(css)
	b.must(err, "find "+css)
	if id == "" {
		return false
	}
	var shown bool
	b.must(b.call(http.MethodGet, b.sess("/element/"+id+"/displayed"), nil, &shown), "displayed "+css)
	return shown
}

// window is the current tab's handle.
func (b *browser) window() string {
	b.t.Helper()
	var h string
	b.must(b.call(http.MethodGet, b.sess("/window"), nil, &h), "window handle")
	return h
}

// newTab opens a blank tab and returns its handle.
func (b *browser) newTab() string {
	b.t.Helper()
	var w struct {
		Handle string `json:"handle"`
	}
	b.must(b.call(http.MethodPost, b.sess("/window/new"), map[string]string{"type": "tab"}, &w), "new tab")
	return w.Handle
}

func (b *browser) switchTo(handle string) {
	b.t.Helper()
	b.must(b.call(http.MethodPost, b.sess("/window"), map[string]string{"handle": handle}, nil), "switch tab")
}

// resize sets the browser window's outer size.
func (b *browser) resize(width, height int) {
	b.t.Helper()
	b.must(b.call(http.MethodPost, b.sess("/window/rect"), map[string]int{"width": width, "height": height}, nil), "resize the window")
}

// otherFirst is sig with its first character changed (to "x", or "y" when
// it is already "x": a good signature starts with "x" once in 64 links).
func otherFirst(sig string) string {
	if strings.HasPrefix(sig, "x") {
		return "y" + sig[1:]
	}
	return "x" + sig[1:]
}
