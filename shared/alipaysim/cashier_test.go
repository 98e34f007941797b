package alipaysim_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/smartwalle/alipay/v3"

	"github.com/cloudpay/cloudpay/shared/alipaysim"
)

// browser follows no redirects, so the test sees where the cashier sends the user.
var browser = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func get(t *testing.T, target string) (int, string) {
	t.Helper()
	resp, err := browser.Get(target)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestWapCashierPaysAndReturnsSigned(t *testing.T) {
	t.Parallel()
	e := newEnv(t, alipaysim.Config{RetryDelays: fastRetries})
	rc := newReceiver(t)
	ctx := context.Background()

	var p alipay.TradeWapPay
	p.OutTradeNo, p.TotalAmount, p.Subject, p.ProductCode = "W1", "25.80", "会员<月卡>", "QUICK_WAP_WAY"
	p.NotifyURL, p.ReturnURL = rc.url(), "https://merchant.example/alipay/return"
	payURL, err := e.client.TradeWapPay(p)
	if err != nil {
		t.Fatalf("TradeWapPay: %v", err)
	}
	if !strings.HasPrefix(payURL.String(), e.srv.URL+alipaysim.GatewayPath+"?") {
		t.Fatalf("wap URL %s is not the simulator's gateway", payURL)
	}

	status, page := get(t, payURL.String())
	if status != http.StatusOK || !strings.Contains(page, "会员&lt;月卡&gt;") || !strings.Contains(page, "¥25.80") ||
		!strings.Contains(page, "付款") || !strings.Contains(page, `action="`+alipaysim.CashierPayPath+`"`) {
		t.Fatalf("cashier page (%d):\n%s", status, page)
	}
	if strings.Contains(page, "http://") || strings.Contains(page, "https://") {
		t.Errorf("cashier page refers to external assets:\n%s", page)
	}
	if q := e.query(t, "W1"); q.SubCode != "ACQ.TRADE_NOT_EXIST" {
		t.Errorf("query before paying at the cashier: %s %s, want ACQ.TRADE_NOT_EXIST", q.Code, q.SubCode)
	}

	resp, err := browser.PostForm(e.srv.URL+alipaysim.CashierPayPath, url.Values{"out_trade_no": {"W1"}})
	if err != nil {
		t.Fatalf("POST cashier: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("cashier pay: status %d, want 302", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Scheme+"://"+loc.Host+loc.Path != p.ReturnURL {
		t.Fatalf("redirect to %q, want %s?…", resp.Header.Get("Location"), p.ReturnURL)
	}
	ret := loc.Query()
	if err := e.client.VerifySign(ctx, ret); err != nil {
		t.Fatalf("SDK VerifySign of the return parameters: %v", err)
	}
	tr, _ := e.sim.Trade("W1")
	for k, want := range map[string]string{
		"method": "alipay.trade.wap.pay.return", "out_trade_no": "W1", "trade_no": tr.TradeNo,
		"total_amount": "25.80", "seller_id": alipaysim.DevSellerID, "app_id": alipaysim.DevAppID,
		"charset": "utf-8", "sign_type": "RSA2",
	} {
		if got := ret.Get(k); got != want {
			t.Errorf("return %s = %q, want %q", k, got, want)
		}
	}
	if ret.Get("timestamp") == "" {
		t.Error("return has no timestamp")
	}
	forged := url.Values{}
	for k, v := range ret {
		forged[k] = v
	}
	forged.Set("total_amount", "0.01")
	if err := e.client.VerifySign(ctx, forged); err == nil {
		t.Error("VerifySign accepted return parameters with another total_amount")
	}

	if tr.Status != alipaysim.StatusSuccess || tr.Method != alipaysim.TradeMethodWap {
		t.Errorf("trade after cashier pay = %+v", tr)
	}
	if got := rc.received(); len(got) != 1 || got[0].Get("out_trade_no") != "W1" {
		t.Errorf("notifications received before the redirect: %v", got)
	}
	if q := e.query(t, "W1"); q.TradeStatus != alipay.TradeStatusSuccess {
		t.Errorf("query after cashier pay: %s", q.TradeStatus)
	}

	// The cashier again (the user presses back): the trade is paid.
	if _, page := get(t, payURL.String()); !strings.Contains(page, "ACQ.TRADE_HAS_SUCCESS") {
		t.Errorf("cashier of a paid trade:\n%s", page)
	}
}

func TestWapRefusalsArePages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, alipaysim.Config{})
	stranger := newClient(t, e.srv, alipaysim.DevAppID, pkcs8(t), nil)
	var p alipay.TradeWapPay
	p.OutTradeNo, p.TotalAmount, p.Subject = "W2", "1.00", "x"
	bad, err := stranger.TradeWapPay(p)
	if err != nil {
		t.Fatal(err)
	}
	if status, page := get(t, bad.String()); status != http.StatusOK || !strings.Contains(page, "错误代码 <span id=\"code\">invalid-signature</span>") {
		t.Errorf("wap with a bad signature (%d):\n%s", status, page)
	}
	p.TotalAmount = "1.5"
	badAmount, err := e.client.TradeWapPay(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, page := get(t, badAmount.String()); !strings.Contains(page, "ACQ.INVALID_PARAMETER") {
		t.Errorf("wap with a malformed amount:\n%s", page)
	}
	if _, ok := e.sim.Trade("W2"); ok {
		t.Error("refused wap requests left a trade")
	}
}
