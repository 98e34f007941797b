package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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
	signer *checkout.Signer
	// shift moves the payment service's clock back, to make orders that
	// are already past their expiry.
	shift atomic.Int64
}

// patience is testkit.Patience: how long a loaded machine may take.
const patience = 5 * time.Minute

func newCheckoutEnv(t *testing.T) *checkoutEnv {
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
	e.svc = payment.New(storetest.New(t), gw, payment.Config{ExpireMinutes: 30, MaxExpireMinutes: 1440}, payment.WithClock(clock))
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
