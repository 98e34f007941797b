package checkout_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/checkout"
	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

func render(t *testing.T, p checkout.Page) string {
	t.Helper()
	var b bytes.Buffer
	if err := p.Render(&b); err != nil {
		t.Fatalf("render %s: %v", p.State, err)
	}
	return b.String()
}

// shown reports whether the element with id is in the page and not hidden.
func shown(html, id string) bool {
	m := regexp.MustCompile(`<[a-z]+ id="` + regexp.QuoteMeta(id) + `"[^>]*>`).FindString(html)
	return m != "" && !strings.Contains(m, " hidden")
}

func TestPageStates(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	order := checkout.Page{
		OutTradeNo: "ORDER|0001", Description: `年度会员 <script>alert("x")</script>`, AmountFen: 123456,
		CodeURL: "weixin://wxpay/bizpayurl?pr=abc1234", ExpiresAt: now.Add(15 * time.Minute), Now: now,
		StatusQuery: "exp=1767257100&sig=AbC-_d",
	}
	at := func(s checkout.State) checkout.Page { p := order; p.State = s; return p }
	blocks := []string{"state-pending", "state-paid", "state-expired", "state-invalid", "state-unavailable"}
	for _, tc := range []struct {
		page  checkout.Page
		shown string
		order bool // shows the amount and description
	}{
		{at(checkout.Pending), "state-pending", true},
		{at(checkout.Paid), "state-paid", true},
		{at(checkout.Expired), "state-expired", true},
		// Nothing of the order on a refused link: it may not even exist.
		{checkout.Page{State: checkout.Invalid}, "state-invalid", false},
		{checkout.Page{State: checkout.Unavailable}, "state-unavailable", false},
	} {
		t.Run(string(tc.page.State), func(t *testing.T) {
			t.Parallel()
			html := render(t, tc.page)
			for _, id := range blocks {
				if got := shown(html, id); got != (id == tc.shown) {
					t.Errorf("#%s shown: %v", id, got)
				}
			}
			if got := strings.Contains(html, "¥1,234.56"); got != tc.order {
				t.Errorf("amount shown: %v, want %v", got, tc.order)
			}
			if strings.Contains(html, "<script>alert") {
				t.Error("the description is not escaped")
			}
			if tc.order && !strings.Contains(html, "年度会员 &lt;script&gt;") {
				t.Error("the description is not shown")
			}
			// Only a pending page carries the QR code and polls.
			pending := tc.page.State == checkout.Pending
			if got := strings.Contains(html, "<svg"); got != pending {
				t.Errorf("QR code shown: %v", got)
			}
			if got := strings.Contains(html, `data-status-url="ORDER%7C0001/status?exp=1767257100&amp;sig=AbC-_d"`); got != pending {
				t.Errorf("status URL present: %v", got)
			}
			if got := strings.Contains(html, `data-remaining-ms="900000"`); got != pending {
				t.Errorf("remaining time present: %v", got)
			}
			// The CSP allows no inline script or style.
			if regexp.MustCompile(`<script>|<style|\sstyle=|\son[a-z]+=`).MatchString(html) {
				t.Error("inline script or style in the page")
			}
			for _, ref := range []string{`href="../checkout-assets/checkout.css"`, `src="../checkout-assets/checkout.js"`} {
				if !strings.Contains(html, ref) {
					t.Errorf("no %s", ref)
				}
			}
		})
	}
}

func TestPendingWithoutTimeLeft(t *testing.T) {
	t.Parallel()
	now := time.Now()
	html := render(t, checkout.Page{State: checkout.Pending, OutTradeNo: "ORDER0001", Description: "x", AmountFen: 1,
		CodeURL: "weixin://wxpay/bizpayurl?pr=abc1234", ExpiresAt: now.Add(-time.Minute), Now: now})
	if !strings.Contains(html, `data-remaining-ms="0"`) {
		t.Fatal("a past expiry is not 0 ms left")
	}
}

func TestAssets(t *testing.T) {
	t.Parallel()
	h := checkout.Assets()
	for _, tc := range []struct {
		path, contentType string
		status            int
	}{
		{"/checkout-assets/checkout.js", "text/javascript; charset=utf-8", http.StatusOK},
		{"/checkout-assets/checkout.css", "text/css; charset=utf-8", http.StatusOK},
		{"/checkout-assets/page.html", "", http.StatusNotFound},
		{"/checkout-assets/..%2fpage.html", "", http.StatusNotFound},
		{"/checkout-assets/", "", http.StatusNotFound},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
		if rec.Code != tc.status {
			t.Errorf("GET %s: %d, want %d", tc.path, rec.Code, tc.status)
			continue
		}
		if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", tc.path)
		}
		if tc.status != http.StatusOK {
			continue
		}
		if got := rec.Header().Get("Content-Type"); got != tc.contentType {
			t.Errorf("GET %s: Content-Type %q, want %q", tc.path, got, tc.contentType)
		}
		// Revalidated by ETag.
		req := httptest.NewRequest(http.MethodGet, tc.path, nil)
		req.Header.Set("If-None-Match", rec.Header().Get("ETag"))
		again := httptest.NewRecorder()
		h.ServeHTTP(again, req)
		if again.Code != http.StatusNotModified {
			t.Errorf("GET %s with its ETag: %d, want 304", tc.path, again.Code)
		}
	}
}

// With both ways to pay offered, a pending or unavailable page links to
// each (?method= beside the link's own query, kept relative so the page
// works behind a prefix) and marks the one shown, and takes that method's
// name and colours; a page that has ended offers no choice.
func TestPageChoiceOfMethod(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	both := []cloudpay.PayMethod{cloudpay.MethodNative, cloudpay.MethodAlipayQR}
	base := checkout.Page{
		OutTradeNo: "ORDER0001", Description: "年度会员", AmountFen: 29900, ExpiresAt: now.Add(time.Minute), Now: now,
		StatusQuery: "exp=1767257100&sig=AbC-_d", Methods: both,
	}
	const (
		wechatTab = `<a id="method-wechat" class="method" href="?exp=1767257100&amp;sig=AbC-_d&amp;method=wechat"`
		alipayTab = `<a id="method-alipay" class="method" href="?exp=1767257100&amp;sig=AbC-_d&amp;method=alipay"`
		current   = ` aria-current="page">`
	)
	for _, tc := range []struct {
		name     string
		page     func(p *checkout.Page)
		want     []string
		refuse   []string
		provider string
	}{
		{"WeChat's code", func(p *checkout.Page) {
			p.State, p.Method, p.CodeURL = checkout.Pending, cloudpay.MethodNative, "weixin://wxpay/bizpayurl?pr=abc1234"
		}, []string{wechatTab + current, alipayTab + ">", "<title>微信支付 ¥299.00</title>", "另一部手机"}, []string{"<strong>支付宝</strong>"}, "wechat"},
		{"Alipay's code", func(p *checkout.Page) {
			p.State, p.Method, p.CodeURL = checkout.Pending, cloudpay.MethodAlipayQR, "https://qr.alipay.com/bax00001"
		}, []string{wechatTab + ">", alipayTab + current, "<title>支付宝 ¥299.00</title>", `aria-label="支付宝二维码"`, "<strong>支付宝</strong>「扫一扫」"},
			[]string{"另一部手机"}, "alipay"},
		{"Alipay failing", func(p *checkout.Page) { p.State, p.Method = checkout.Unavailable, cloudpay.MethodAlipayQR },
			[]string{wechatTab + ">", alipayTab + current, "<title>支付宝</title>", "换一种支付方式"}, []string{"<svg"}, "alipay"},
		{"paid with Alipay", func(p *checkout.Page) { p.State, p.Method = checkout.Paid, cloudpay.MethodAlipayWap },
			[]string{"<title>支付成功</title>", `<span class="mark" aria-hidden="true"></span>支付宝</header>`}, []string{`id="methods"`, "<svg"}, "alipay"},
		{"expired", func(p *checkout.Page) { p.State = checkout.Expired },
			[]string{"<title>已过期</title>", `</span>微信支付</header>`}, []string{`id="methods"`}, "wechat"},
		{"one method: no choice", func(p *checkout.Page) {
			p.State, p.Method, p.CodeURL, p.Methods = checkout.Pending, cloudpay.MethodAlipayQR, "https://qr.alipay.com/bax00001", []cloudpay.PayMethod{cloudpay.MethodAlipayQR}
		}, []string{"<title>支付宝 ¥299.00</title>"}, []string{`id="methods"`, "method="}, "alipay"},
		{"a refused link", func(p *checkout.Page) { *p = checkout.Page{State: checkout.Invalid, Methods: both} },
			[]string{"<title>微信支付</title>"}, []string{`id="methods"`}, "wechat"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := base
			tc.page(&p)
			html := render(t, p)
			for _, want := range tc.want {
				if !strings.Contains(html, want) {
					t.Errorf("the page lacks %s", want)
				}
			}
			for _, bad := range tc.refuse {
				if strings.Contains(html, bad) {
					t.Errorf("the page has %s", bad)
				}
			}
			if want := `data-provider="` + tc.provider + `"`; !strings.Contains(html, want) {
				t.Errorf("the page lacks %s", want)
			}
		})
	}
}

func TestMethodParam(t *testing.T) {
	t.Parallel()
	for param, want := range map[string]cloudpay.PayMethod{
		"wechat": cloudpay.MethodNative, "alipay": cloudpay.MethodAlipayQR,
		"": "", "native": "", "alipay_qr": "", "Alipay": "", "alipay_wap": "",
	} {
		if got := checkout.MethodParam(param); got != want {
			t.Errorf("?method=%s: %q, want %q", param, got, want)
		}
	}
	if got := checkout.Methods(); len(got) != 2 || got[0] != cloudpay.MethodNative || got[1] != cloudpay.MethodAlipayQR {
		t.Errorf("Methods() = %v", got)
	}
}
