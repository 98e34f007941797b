package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/alipay"
	"github.com/cloudpay/cloudpay/shared/alipaysim"
	"github.com/cloudpay/cloudpay/shared/checkout"
	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/storetest"
	"github.com/cloudpay/cloudpay/shared/wechatpay"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// The checkout routes on an engine of their own, over real HTTP, on a
// database of their own and the simulator as the API v3 channel (Native
// exists only there). The payment's notification is lost on purpose (the
// merchant's notify URL answers 503): the page learns of the payment by
// asking WeChat.
//
// (testkit cannot be imported here, inside the package it builds on.)
type checkoutEnv struct {
	t      *testing.T
	url    string
	svc    *payment.Service
	sim    *wechatsim.Simulator
	ali    *alipaysim.Simulator // with Alipay: its simulator, notifying a merchant that answers 503 too
	signer *checkout.Signer
	// shift moves the payment service's clock back, to make orders that
	// are already past their expiry.
	shift atomic.Int64
}

// patience is testkit.Patience: how long a loaded machine may take.
const patience = 5 * time.Minute

func newCheckoutEnv(t *testing.T) *checkoutEnv { return newCheckoutEnvWith(t, false) }

// newAlipayCheckoutEnv is newCheckoutEnv with Alipay configured too.
func newAlipayCheckoutEnv(t *testing.T) *checkoutEnv { return newCheckoutEnvWith(t, true) }

func newCheckoutEnvWith(t *testing.T, withAlipay bool) *checkoutEnv {
	t.Helper()
	e := &checkoutEnv{t: t, signer: checkout.NewSigner("", "checkout-test-admin-token")}
	lost := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(lost.Close)
	e.sim = wechatsim.New(wechatsim.Config{RetryDelays: []time.Duration{}})
	t.Cleanup(e.sim.Close)
	simSrv := httptest.NewServer(e.sim.Handler())
	t.Cleanup(simSrv.Close)
	gw, err := wechatpay.New(context.Background(), wechatpay.Config{
		MchID: wechatsim.DevMchID, AppID: wechatsim.DefaultAppID, MchSerial: wechatsim.DevMerchantSerial,
		PrivateKey: wechatsim.DevMerchantPrivateKeyPEM, APIv3Key: wechatsim.DevAPIv3Key,
		PublicKey: wechatsim.DevPlatformPublicKeyPEM, PublicKeyID: wechatsim.DevPublicKeyID,
		NotifyURL: lost.URL + "/callbacks/v3", APIURL: simSrv.URL, Timeout: patience,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return time.Now().Add(-time.Duration(e.shift.Load())) }
	opts := []payment.Option{payment.WithClock(clock)}
	if withAlipay {
		e.ali = alipaysim.New(alipaysim.Config{RetryDelays: []time.Duration{}})
		t.Cleanup(e.ali.Close)
		aliSrv := httptest.NewServer(e.ali.Handler())
		t.Cleanup(aliSrv.Close)
		c, err := alipay.New(alipay.Config{
			AppID: alipaysim.DevAppID, PrivateKey: alipaysim.DevAppPrivateKeyPEM, PublicKey: alipaysim.DevAlipayPublicKeyPEM,
			SellerID: alipaysim.DevSellerID, NotifyURL: lost.URL + "/callbacks/alipay",
			GatewayURL: aliSrv.URL + alipaysim.GatewayPath, Timeout: patience,
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, payment.WithAlipay(alipay.NewGateway(c)))
	}
	e.svc = payment.New(storetest.New(t), gw, payment.Config{ExpireMinutes: 30, MaxExpireMinutes: 1440}, opts...)
	r := newEngine("create-payment", orDiscard(nil))
	registerCheckout(r, e.svc, e.signer, nil)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

func (e *checkoutEnv) order(no string, fen int64, description string) {
	e.t.Helper()
	if _, _, err := e.svc.CreateOrder(context.Background(), payment.NewOrder{
		OutTradeNo: no, OpenID: "oCheckoutUser0001", AmountFen: cloudpay.Fen(fen), Description: description,
	}); err != nil {
		e.t.Fatal(err)
	}
}

// link is a good link to the order for an hour.
func (e *checkoutEnv) link(no string) string { return e.signer.Link(no, time.Now().Add(time.Hour)) }

// statusLink is the status route of a page link.
func statusLink(link string) string {
	path, query, _ := strings.Cut(link, "?")
	return path + "/status?" + query
}

type checkoutAnswer struct {
	status int
	header http.Header
	body   string
}

func (e *checkoutEnv) get(path string) checkoutAnswer {
	e.t.Helper()
	resp, err := http.Get(e.url + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return checkoutAnswer{status: resp.StatusCode, header: resp.Header, body: string(raw)}
}

func (a checkoutAnswer) json(t *testing.T) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal([]byte(a.body), &out); err != nil {
		t.Fatalf("not JSON: %v: %s", err, a.body)
	}
	return out
}

// guarded fails unless the answer carries the page's security headers.
func guarded(t *testing.T, what string, a checkoutAnswer) {
	t.Helper()
	for h, want := range map[string]string{
		"Content-Security-Policy": checkout.CSP, "X-Content-Type-Options": "nosniff",
		"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
	} {
		if got := a.header.Get(h); got != want {
			t.Errorf("%s: %s %q, want %q", what, h, got, want)
		}
	}
}

// shows reports whether the page shows the block with id (present, not hidden).
func shows(body, id string) bool {
	i := strings.Index(body, `id="`+id+`"`)
	if i < 0 {
		return false
	}
	tag := body[i:]
	return !strings.Contains(tag[:strings.IndexByte(tag, '>')], " hidden")
}

// Every link that is not good for an order gets the same 404, whether
// the order exists or not, from the page and from its status alike.
func TestCheckoutRefusesLinks(t *testing.T) {
	t.Parallel()
	e := newCheckoutEnv(t)
	e.order("CHKREAL001", 1234, "年度会员")
	past := time.Now().Add(-time.Second)
	tamper := func(link, key, value string) string {
		path, query, _ := strings.Cut(link, "?")
		q, _ := url.ParseQuery(query)
		q.Set(key, value)
		return path + "?" + q.Encode()
	}
	other := e.link("CHKOTHER01")
	_, otherQuery, _ := strings.Cut(other, "?")
	links := func(no string) map[string]string {
		good := e.link(no)
		return map[string]string{
			"no query":               "/checkout/" + no,
			"no signature":           tamper(good, "sig", ""),
			"a changed signature":    tamper(good, "sig", changedFirst(good[strings.Index(good, "sig=")+4:])),
			"a later expiry":         tamper(good, "exp", "9999999999"),
			"an expired link":        e.signer.Link(no, past),
			"another key's link":     checkout.NewSigner("another-key", "").Link(no, time.Now().Add(time.Hour)),
			"another order's proof":  "/checkout/" + no + "?" + otherQuery,
			"a malformed order no":   "/checkout/" + no + "%20?" + otherQuery,
			"an order no too short":  e.link("AB1"),
			"an order no in a query": tamper(good, "out_trade_no", "CHKOTHER01"),
		}
	}
	var page, status string
	for _, no := range []string{"CHKREAL001", "CHKNONE001"} {
		for name, link := range links(no) {
			if name == "an order no in a query" {
				continue // extra parameters are ignored: it is a good link
			}
			p := e.get(link)
			if p.status != http.StatusNotFound || !shows(p.body, "state-invalid") || strings.Contains(p.body, "¥") {
				t.Errorf("%s, %s: %d, want the 404 page: %.300s", no, name, p.status, p.body)
			}
			guarded(t, no+", "+name, p)
			s := e.get(statusLink(link))
			if s.status != http.StatusNotFound || s.json(t)["error"].(map[string]any)["code"] != "NOT_FOUND" {
				t.Errorf("%s, %s, status: %d %s, want 404 NOT_FOUND", no, name, s.status, s.body)
			}
			guarded(t, no+", "+name+", status", s)
			if page == "" {
				page, status = p.body, s.body
			}
			if p.body != page || s.body != status {
				t.Errorf("%s, %s: the answer differs from another refusal", no, name)
			}
		}
	}
	// A good link to no order is refused the same way.
	if p := e.get(e.link("CHKNONE001")); p.status != http.StatusNotFound || p.body != page {
		t.Errorf("a good link to no order: %d, not the same 404 page", p.status)
	}
	if s := e.get(statusLink(e.link("CHKNONE001"))); s.status != http.StatusNotFound || s.body != status {
		t.Errorf("a good link to no order, status: %d %s, not the same 404", s.status, s.body)
	}
}

// The page of an unpaid order shows the amount, the description and the
// Native QR code of WeChat's code_url, and its status turns to paid once
// the user pays, though WeChat's notification is lost.
func TestCheckoutPageToPaid(t *testing.T) {
	t.Parallel()
	e := newCheckoutEnv(t)
	const no = "CHKPAY0001"
	e.order(no, 1234, "年度会员 <b>Pro</b>")
	link := e.link(no)

	p := e.get(link)
	if p.status != http.StatusOK || !shows(p.body, "state-pending") || shows(p.body, "state-paid") {
		t.Fatalf("GET the page: %d: %.500s", p.status, p.body)
	}
	guarded(t, "the page", p)
	if ct := p.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	for _, want := range []string{"¥12.34", "年度会员 &lt;b&gt;Pro&lt;/b&gt;", "另一部手机"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the page does not show %q", want)
		}
	}
	v, ok := e.sim.Order(no)
	if !ok || v.TradeType != "NATIVE" || v.CodeURL == "" {
		t.Fatalf("WeChat has no Native prepay for the order: %+v", v)
	}
	qr, err := checkout.QRSVG(v.CodeURL)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.body, string(qr)) {
		t.Fatalf("the page's QR code is not WeChat's code_url %q", v.CodeURL)
	}
	// A reload shows the same live QR code.
	if again := e.get(link); again.status != http.StatusOK || !strings.Contains(again.body, string(qr)) {
		t.Fatalf("reload: %d, another QR code", again.status)
	}
	// Without Alipay there is nothing to choose, and asking for it changes nothing.
	if tabs := methodTabs(p.body); len(tabs) != 0 || !strings.Contains(p.body, "<title>微信支付 ¥12.34</title>") {
		t.Errorf("a page without Alipay offers %v, title %q", tabs, title(p.body))
	}
	if a := e.get(link + "&method=alipay"); a.status != http.StatusOK || !strings.Contains(a.body, string(qr)) || len(methodTabs(a.body)) != 0 {
		t.Fatalf("?method=alipay without Alipay: %d, not the same page", a.status)
	}

	s := e.get(statusLink(link)).json(t)
	if s["paid"] != false || s["expired"] != false || s["amount_fen"] != float64(1234) {
		t.Fatalf("status before payment: %v", s)
	}
	// The page's polls ask WeChat about the order once in a while, not each time.
	asked := len(e.sim.Calls("queryorder"))
	for range 5 {
		e.get(statusLink(link))
	}
	if n := len(e.sim.Calls("queryorder")) - asked; n > 1 {
		t.Errorf("5 polls in a row asked WeChat %d times", n)
	}
	if _, err := time.Parse(time.RFC3339, s["expires_at"].(string)); err != nil {
		t.Fatalf("expires_at: %v", err)
	}

	if _, err := e.sim.Pay(context.Background(), no); err != nil {
		t.Fatal(err)
	}
	// The status route asks WeChat within askWeChatEvery; a loaded machine
	// may only delay it.
	deadline := time.Now().Add(patience)
	for {
		a := e.get(statusLink(link))
		s := a.json(t)
		if s["paid"] == true && s["status"] == "paid" && s["expired"] == false {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status after payment: %s", a.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The page itself now says so.
	p = e.get(link)
	if p.status != http.StatusOK || !shows(p.body, "state-paid") || shows(p.body, "state-pending") || strings.Contains(p.body, "<svg") {
		t.Fatalf("the page of a paid order: %d: %.500s", p.status, p.body)
	}
	if !strings.Contains(p.body, "¥12.34") {
		t.Error("the paid page does not show the amount")
	}
}

// An order past its expiry shows 已过期, and its status says so.
func TestCheckoutPageExpired(t *testing.T) {
	t.Parallel()
	e := newCheckoutEnv(t)
	const no = "CHKEXP0001"
	e.shift.Store(int64(time.Hour))
	e.order(no, 500, "体验课")
	e.shift.Store(0)
	link := e.link(no)
	p := e.get(link)
	if p.status != http.StatusOK || !shows(p.body, "state-expired") || shows(p.body, "state-pending") || strings.Contains(p.body, "<svg") {
		t.Fatalf("the page of an expired order: %d: %.500s", p.status, p.body)
	}
	if s := e.get(statusLink(link)).json(t); s["paid"] != false || s["expired"] != true {
		t.Fatalf("status of an expired order: %v", s)
	}
}

// When WeChat cannot prepare the payment, the page says to try again
// (not that the link is bad) and shows nothing of the order.
func TestCheckoutPageUnavailable(t *testing.T) {
	t.Parallel()
	e := newCheckoutEnv(t)
	const no = "CHKFAIL001"
	e.order(no, 500, "体验课")
	if err := e.sim.AddFault(wechatsim.Fault{API: "unifiedorder", Mode: wechatsim.ModeFail, Count: 100, Code: "NO_AUTH"}); err != nil {
		t.Fatal(err)
	}
	p := e.get(e.link(no))
	if p.status < 400 || p.status == http.StatusNotFound || !shows(p.body, "state-unavailable") || strings.Contains(p.body, "¥") {
		t.Fatalf("the page when WeChat refuses: %d: %.500s", p.status, p.body)
	}
	guarded(t, "the unavailable page", p)
}

// methodTab is a link of the page's choice of method.
type methodTab struct {
	href    string
	current bool
}

var methodTabRE = regexp.MustCompile(`<a id="method-(\w+)" class="method" href="([^"]*)"( aria-current="page")?>`)

// methodTabs are the page's links to each method, by ?method= value.
func methodTabs(body string) map[string]methodTab {
	out := map[string]methodTab{}
	for _, m := range methodTabRE.FindAllStringSubmatch(body, -1) {
		out[m[1]] = methodTab{href: html.UnescapeString(m[2]), current: m[3] != ""}
	}
	return out
}

func title(body string) string {
	_, rest, _ := strings.Cut(body, "<title>")
	t, _, _ := strings.Cut(rest, "</title>")
	return t
}

// liveTradeNo is the number the order's newest attempt is known by at
// WeChat or Alipay.
func (e *checkoutEnv) liveTradeNo(no string) (cloudpay.Order, string) {
	e.t.Helper()
	o, err := e.svc.Order(context.Background(), no)
	if err != nil {
		e.t.Fatal(err)
	}
	if o.TradeNo != "" {
		return o, o.TradeNo
	}
	return o, no
}

// qrOf is the page's QR code of content.
func qrOf(t *testing.T, content string) string {
	t.Helper()
	svg, err := checkout.QRSVG(content)
	if err != nil {
		t.Fatal(err)
	}
	return string(svg)
}

// With Alipay configured the page offers both ways to pay, WeChat's first,
// as links; the payer picks one and the page shows its QR code, whichever
// is live. Reloads and status polls keep the method picked: only picking
// another switches the order's live payment.
func TestCheckoutAlipayChoice(t *testing.T) {
	t.Parallel()
	e := newAlipayCheckoutEnv(t)
	const no = "CHKALI0001"
	e.order(no, 29900, "年度会员")
	link := e.link(no)
	_, query, _ := strings.Cut(link, "?")

	p := e.get(link)
	if p.status != http.StatusOK || !shows(p.body, "state-pending") || title(p.body) != "微信支付 ¥299.00" {
		t.Fatalf("the page: %d %q: %.500s", p.status, title(p.body), p.body)
	}
	v, ok := e.sim.Order(no)
	if !ok || v.TradeType != "NATIVE" || !strings.Contains(p.body, qrOf(t, v.CodeURL)) {
		t.Fatalf("the first page is not WeChat's QR code: %+v", v)
	}
	tabs := methodTabs(p.body)
	want := map[string]methodTab{"wechat": {"?" + query + "&method=wechat", true}, "alipay": {"?" + query + "&method=alipay", false}}
	if len(tabs) != 2 || tabs["wechat"] != want["wechat"] || tabs["alipay"] != want["alipay"] {
		t.Fatalf("tabs %+v, want %+v", tabs, want)
	}

	// The payer picks Alipay: the link the tab names, relative to the page.
	pick := strings.TrimSuffix(link, "?"+query) + tabs["alipay"].href
	a := e.get(pick)
	o, tradeNo := e.liveTradeNo(no)
	if a.status != http.StatusOK || !shows(a.body, "state-pending") || o.Method != cloudpay.MethodAlipayQR || tradeNo == no {
		t.Fatalf("?method=alipay: %d, order %s by %s under %s: %.500s", a.status, o.Status, o.Method, tradeNo, a.body)
	}
	trade, ok := e.ali.Trade(tradeNo)
	if !ok || trade.QRCode == "" || trade.TotalFen != 29900 {
		t.Fatalf("Alipay's trade %s: %+v %v", tradeNo, trade, ok)
	}
	alipayQR := qrOf(t, trade.QRCode)
	if !strings.Contains(a.body, alipayQR) || strings.Contains(a.body, qrOf(t, v.CodeURL)) {
		t.Fatal("the page does not show Alipay's qr_code alone")
	}
	for _, want := range []string{"<title>支付宝 ¥299.00</title>", `data-provider="alipay"`, `aria-label="支付宝二维码"`, "<strong>支付宝</strong>「扫一扫」"} {
		if !strings.Contains(a.body, want) {
			t.Errorf("the Alipay page lacks %s", want)
		}
	}
	if tabs := methodTabs(a.body); !tabs["alipay"].current || tabs["wechat"].current {
		t.Errorf("tabs on the Alipay page: %+v", tabs)
	}

	// Reloads (with the choice or without it) and polls: the same Alipay
	// code, no new attempt, nothing asked of WeChat's prepay or close.
	prepays, closes := len(e.sim.Calls("unifiedorder")), len(e.sim.Calls("closeorder"))
	for _, u := range []string{pick, link, pick} {
		if r := e.get(u); r.status != http.StatusOK || !strings.Contains(r.body, alipayQR) || !methodTabs(r.body)["alipay"].current {
			t.Fatalf("reload %s: %d, not the Alipay code", u, r.status)
		}
		for range 3 {
			if s := e.get(statusLink(link)).json(t); s["paid"] != false || s["expired"] != false {
				t.Fatalf("status: %v", s)
			}
		}
	}
	if _, again := e.liveTradeNo(no); again != tradeNo {
		t.Errorf("reloads and polls made a new attempt %s (was %s)", again, tradeNo)
	}
	if n, m := len(e.sim.Calls("unifiedorder"))-prepays, len(e.sim.Calls("closeorder"))-closes; n != 0 || m != 0 {
		t.Errorf("reloads and polls asked WeChat for %d prepays and %d closes", n, m)
	}

	// Picking WeChat again: a new WeChat attempt, its code shown.
	w := e.get(strings.TrimSuffix(link, "?"+query) + methodTabs(a.body)["wechat"].href)
	o, wechatNo := e.liveTradeNo(no)
	nv, ok := e.sim.Order(wechatNo)
	if w.status != http.StatusOK || o.Method != cloudpay.MethodNative || !ok || !strings.Contains(w.body, qrOf(t, nv.CodeURL)) || strings.Contains(w.body, alipayQR) {
		t.Fatalf("back to WeChat: %d, order by %s under %s", w.status, o.Method, wechatNo)
	}

	// The Alipay code, still on someone's screen, is paid after all (its
	// notification lost): Alipay could not close a code nobody had scanned,
	// so the page's status finds the payment, and the page says 支付成功.
	if _, err := e.ali.Pay(context.Background(), tradeNo); err != nil {
		t.Fatal(err)
	}
	e.awaitPaidStatus(t, link, "after the old Alipay code was paid")
	if p := e.get(link + "&method=wechat"); !shows(p.body, "state-paid") || !strings.Contains(p.body, `data-provider="alipay"`) {
		t.Fatalf("the page after the Alipay payment: %d: %.500s", p.status, p.body)
	}
	if o, _ := e.liveTradeNo(no); o.Status != cloudpay.OrderPaid || o.Method != cloudpay.MethodAlipayQR {
		t.Fatalf("order %s by %s", o.Status, o.Method)
	}
}

// The Alipay QR code paid at Alipay, its notification lost: the page's
// status turns to paid, and the page says 支付成功 under Alipay's name.
func TestCheckoutAlipayToPaid(t *testing.T) {
	t.Parallel()
	e := newAlipayCheckoutEnv(t)
	const no = "CHKALI0002"
	e.order(no, 1234, "体验课")
	link := e.link(no)
	if p := e.get(link + "&method=alipay"); p.status != http.StatusOK || !shows(p.body, "state-pending") {
		t.Fatalf("the Alipay page: %d", p.status)
	}
	_, tradeNo := e.liveTradeNo(no)
	if _, err := e.ali.Pay(context.Background(), tradeNo); err != nil {
		t.Fatal(err)
	}
	e.awaitPaidStatus(t, link, "after paying at Alipay")
	// Whatever the link asks for, the order is paid.
	for _, u := range []string{link, link + "&method=wechat", link + "&method=alipay"} {
		p := e.get(u)
		if p.status != http.StatusOK || !shows(p.body, "state-paid") || strings.Contains(p.body, "<svg") || len(methodTabs(p.body)) != 0 {
			t.Fatalf("%s: %d: %.500s", u, p.status, p.body)
		}
		if !strings.Contains(p.body, `data-provider="alipay"`) || !strings.Contains(p.body, "¥12.34") {
			t.Errorf("%s: the paid page is not Alipay's, or lacks the amount", u)
		}
	}
	if o, _ := e.liveTradeNo(no); o.Status != cloudpay.OrderPaid || o.Method != cloudpay.MethodAlipayQR {
		t.Fatalf("order %s by %s", o.Status, o.Method)
	}
}

// When Alipay cannot prepare the QR code, the page says to try again and
// links to WeChat's, which works.
func TestCheckoutAlipayUnavailable(t *testing.T) {
	t.Parallel()
	e := newAlipayCheckoutEnv(t)
	const no = "CHKALI0003"
	e.order(no, 500, "体验课")
	if err := e.ali.AddFault(alipaysim.Fault{Method: alipaysim.MethodPrecreate, Mode: alipaysim.ModeFail, Count: 100}); err != nil {
		t.Fatal(err)
	}
	link := e.link(no)
	p := e.get(link + "&method=alipay")
	if p.status < 400 || p.status == http.StatusNotFound || !shows(p.body, "state-unavailable") || strings.Contains(p.body, "¥") {
		t.Fatalf("the page when Alipay fails: %d: %.500s", p.status, p.body)
	}
	guarded(t, "the unavailable Alipay page", p)
	tabs := methodTabs(p.body)
	if !tabs["alipay"].current || tabs["wechat"].href == "" {
		t.Fatalf("tabs on the unavailable page: %+v", tabs)
	}
	path, _, _ := strings.Cut(link, "?")
	w := e.get(path + tabs["wechat"].href)
	_, tradeNo := e.liveTradeNo(no)
	v, _ := e.sim.Order(tradeNo)
	if w.status != http.StatusOK || !shows(w.body, "state-pending") || v.CodeURL == "" || !strings.Contains(w.body, qrOf(t, v.CodeURL)) {
		t.Fatalf("WeChat's page after Alipay failed: %d: %.300s", w.status, w.body)
	}
}

func TestCheckoutAssets(t *testing.T) {
	t.Parallel()
	e := newCheckoutEnv(t)
	for _, f := range []string{"checkout.js", "checkout.css"} {
		a := e.get(checkout.AssetsPath + f)
		if a.status != http.StatusOK || a.header.Get("X-Content-Type-Options") != "nosniff" || len(a.body) == 0 {
			t.Errorf("GET %s: %d", f, a.status)
		}
	}
	if a := e.get(checkout.AssetsPath + "page.html"); a.status != http.StatusNotFound {
		t.Errorf("GET page.html: %d, want 404", a.status)
	}
}

func TestCheckoutStatusView(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	live, over := now.Add(time.Minute), now.Add(-time.Minute)
	for _, tc := range []struct {
		status        cloudpay.OrderStatus
		expiresAt     time.Time
		paid, expired bool
	}{
		{cloudpay.OrderUnpaid, live, false, false},
		{cloudpay.OrderPaying, live, false, false},
		{cloudpay.OrderUnpaid, now, false, true},
		{cloudpay.OrderPaying, over, false, true},
		{cloudpay.OrderClosed, live, false, true},
		{cloudpay.OrderPaid, over, true, false},
		{cloudpay.OrderPartiallyRefunded, over, true, false},
		{cloudpay.OrderRefunded, live, true, false},
	} {
		v := viewCheckoutStatus(cloudpay.Order{Status: tc.status, ExpiresAt: tc.expiresAt, AmountFen: 99}, now)
		if v.Paid != tc.paid || v.Expired != tc.expired || v.AmountFen != 99 || v.Status != tc.status {
			t.Errorf("%s, expiring %s: %+v, want paid %v, expired %v", tc.status, tc.expiresAt.Sub(now), v, tc.paid, tc.expired)
		}
	}
	raw, _ := json.Marshal(viewCheckoutStatus(cloudpay.Order{Status: cloudpay.OrderPaid, ExpiresAt: now, AmountFen: 1}, now))
	if want := `{"status":"paid","paid":true,"expired":false,"expires_at":"2026-01-01T08:00:00Z","amount_fen":1}`; !bytes.Equal(raw, []byte(want)) {
		t.Errorf("view %s, want %s", raw, want)
	}
}

func TestWeChatAsksSpaced(t *testing.T) {
	t.Parallel()
	a := &wechatAsks{every: 10 * time.Second, last: map[string]time.Time{}}
	t0 := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		no   string
		at   time.Duration
		want bool
	}{
		{"ORDER0001", 0, true},
		{"ORDER0001", 2 * time.Second, false},
		{"ORDER0002", 2 * time.Second, true}, // each order has its own turn
		{"ORDER0001", 9 * time.Second, false},
		{"ORDER0001", 10 * time.Second, true},
		{"ORDER0001", 12 * time.Second, false},
		{"ORDER0001", 5 * time.Second, true}, // a clock that went back does not silence it
	} {
		if got := a.due(tc.no, t0.Add(tc.at)); got != tc.want {
			t.Errorf("%s at +%s: due %v, want %v", tc.no, tc.at, got, tc.want)
		}
	}
	// Stale entries are swept as the map grows.
	for i := range 5000 {
		a.due(fmt.Sprintf("SWEEP%05d", i), t0)
	}
	a.due("ORDER0003", t0.Add(time.Minute))
	if n := len(a.last); n > 4097 {
		t.Errorf("%d entries after a sweep", n)
	}
}

// changedFirst is sig with its first character changed ("A", or "B" when
// it already is "A": a good signature starts with "A" once in 64 links).
func changedFirst(sig string) string {
	if strings.HasPrefix(sig, "A") {
		return "B" + sig[1:]
	}
	return "A" + sig[1:]
}

// awaitPaidStatus polls the page's status until it says paid.
func (e *checkoutEnv) awaitPaidStatus(t *testing.T, link, when string) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for {
		a := e.get(statusLink(link))
		if s := a.json(t); s["paid"] == true && s["status"] == "paid" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %s: %s", when, a.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
