package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/alipaysim"
	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// Alipay in the console, end to end in headless Chromium on testkit's
// stack with its Alipay simulator: the orders show 支付宝扫码 and 支付宝手机网站
// in the 支付方式 column, the filter offers both and finds them, and an order
// paid with Alipay shows Alipay's trade number under Alipay's names, with no
// WeChat shipping to enter.
func TestConsoleAlipayInChromium(t *testing.T) {
	if why := browserTools(); why != "" {
		t.Skip("no browser for the console test: " + why)
	}
	started := time.Now()
	// Alipay's day starts at noon (its bill of the day is read below);
	// WeChat's clock moves two days on then, so its bill of the day is
	// ready too.
	var wechatAhead atomic.Int64
	s := testkit.New(t, testkit.AlipayAtNoon(),
		testkit.Sim(func(c *wechatsim.Config) {
			c.Now = func() time.Time { return time.Now().Add(time.Duration(wechatAhead.Load())) }
		}))
	const (
		wechatNo = "ALIUI00001" // paid in the mini-program
		qrNo     = "ALIUI00002" // paid with Alipay's QR code
		wapNo    = "ALIUI00003" // Alipay's mobile cashier opened, not paid
	)
	s.Paid(wechatNo, testkit.Alice, 1990)
	for _, no := range []string{qrNo, wapNo} {
		if r := s.CreateOrder(no, testkit.Bob, 2990); r.Status != http.StatusCreated {
			t.Fatalf("create %s: %d %s", no, r.Status, r.Raw)
		}
	}
	pay := func(no string, body map[string]any) {
		if r := s.Do("POST", s.CreatePaymentURL+"/orders/"+no+"/pay", body, testkit.Admin()); r.Status != http.StatusOK {
			t.Fatalf("pay %s: %d %s", no, r.Status, r.Raw)
		}
	}
	pay(qrNo, map[string]any{"method": "alipay_qr"})
	pay(wapNo, map[string]any{"method": "alipay_wap"})
	// The order's first attempt is under its own number at Alipay.
	trade, err := s.Alipay.Pay(context.Background(), qrNo)
	if err != nil {
		t.Fatal(err)
	}
	if o := s.Order(qrNo); o.Status != cloudpay.OrderPaid || o.TransactionID != trade.TradeNo || trade.TradeNo == "" {
		t.Fatalf("the Alipay order after its notification: %+v, Alipay's trade_no %q", o, trade.TradeNo)
	}

	b := startBrowser(t)
	step := func(name string, f func(t *testing.T)) {
		if t.Failed() {
			return
		}
		t.Run(name, func(t *testing.T) {
			b.t = t
			f(t)
		})
		b.t = t
	}
	row := func(no, testID string) string {
		return `[data-testid="order-row-` + no + `"] [data-testid="` + testID + `"]`
	}

	step("the 支付方式 column", func(t *testing.T) {
		b.navigate(s.RefundURL + "/admin/")
		b.typeInto("#login-token", testkit.AdminToken)
		b.click("#login-submit")
		b.waitText(row(qrNo, "method"), "支付宝扫码")
		for no, want := range map[string]string{wechatNo: "小程序 JSAPI", wapNo: "支付宝手机网站"} {
			if got := b.text(row(no, "method")); got != want {
				t.Errorf("%s: method %q, want %q", no, got, want)
			}
		}
		// WeChat holds no Alipay payment to ship.
		for no, want := range map[string]string{wechatNo: "未发货", qrNo: "—"} {
			if got := b.text(row(no, "shipping")); got != want {
				t.Errorf("%s: shipping %q, want %q", no, got, want)
			}
		}
	})

	step("the filter", func(t *testing.T) {
		for value, want := range map[string]string{"alipay_qr": qrNo, "alipay_wap": wapNo} {
			b.click(`#orders-method option[value="` + value + `"]`)
			b.click("#orders-submit")
			b.waitFor("only the "+value+" order", func() (bool, error) {
				rows := b.findAll("#orders-table tbody tr")
				return len(rows) == 1 && strings.Contains(b.text("#orders-table tbody"), want), nil
			})
			if !strings.Contains(b.exec(`return location.hash`).(string), "method="+value) {
				t.Errorf("the %s filter is not in the page's address", value)
			}
		}
		if got := b.exec(`return [...document.querySelectorAll('#orders-method option')].map((o) => o.textContent).join('|')`); got != "全部|小程序 JSAPI|Native 扫码|H5|余额|支付宝扫码|支付宝手机网站" {
			t.Errorf("the filter offers %v", got)
		}
	})

	step("an order paid with Alipay", func(t *testing.T) {
		b.click(`#orders-method option[value="alipay_qr"]`)
		b.click("#orders-submit")
		b.click(`[data-testid="order-link-` + qrNo + `"]`)
		b.waitText("#order-status", "已支付")
		for css, want := range map[string]string{
			"#order-method": "支付宝扫码", "#order-transaction-id-label": "支付宝交易号", "#order-transaction-id": trade.TradeNo,
			"#order-trade-no-label": "支付宝侧商户单号", "#order-trade-no": "同订单号", "#order-shipping": "—", "#order-amount": "¥29.90",
		} {
			if got := b.text(css); got != want {
				t.Errorf("%s %q, want %q", css, got, want)
			}
		}
		if got := b.exec(`return document.querySelector('#shipping-submit').disabled`); got != true {
			t.Error("shipping can be entered for an Alipay payment")
		}
		b.screenshot(filepath.Join(screenshots, "order-alipay.png"))
	})

	step("a WeChat order keeps WeChat's names", func(t *testing.T) {
		b.navigate(s.RefundURL + "/admin/#/orders/" + wechatNo)
		b.waitText("#order-status", "已支付")
		for css, want := range map[string]string{
			"#order-method": "小程序 JSAPI", "#order-transaction-id-label": "微信支付单号", "#order-trade-no-label": "微信侧商户单号",
			"#order-transaction-id": s.Order(wechatNo).TransactionID,
		} {
			if got := b.text(css); got != want {
				t.Errorf("%s %q, want %q", css, got, want)
			}
		}
	})

	step("the day against Alipay's bill", func(t *testing.T) {
		day := s.AlipayDay()
		if _, err := s.Alipay.PlantBill(alipaysim.BillPlant{Date: day, Kind: "extra_payment", OutTradeNo: "OTHERALI01", AmountFen: 500}); err != nil {
			t.Fatal(err)
		}
		wechatAhead.Store(int64(48 * time.Hour))
		b.click("#nav-recon")
		// Alipay's bill of a day not over is refused: WeChat's part is
		// kept, Alipay's waits, and the page says so.
		b.exec(`document.querySelector('#recon-date').value = arguments[0]`, day)
		b.click("#recon-run")
		b.waitText("#recon-day-alipay-pending", "支付宝账单未取得")
		b.click("#recon-back")
		b.waitText(`[data-testid="recon-row-`+day+`"]`, "支付宝账单未取得")

		s.AdvanceAlipay(36 * time.Hour) // past 10:00 the next day: Alipay's bill is ready
		b.exec(`document.querySelector('#recon-date').value = arguments[0]`, day)
		b.click("#recon-run")
		b.waitText("#recon-day-date", day)
		b.waitText(`[data-testid="recon-total-alipay-payments"]`, "+1")
		cells := func(css string) string {
			return fmt.Sprint(b.exec(`return [...document.querySelectorAll(arguments[0])].map((tr) => [...tr.cells].map((c) => c.innerText).join(' | '))`, css))
		}
		got := cells(`#recon-totals tbody tr[data-testid^="recon-total-alipay-"]`)
		want := "[" + strings.Join([]string{
			"支付宝支付笔数 | 2 | 1 | +1",
			"支付宝支付金额 | ¥34.90 | ¥29.90 | +¥5.00",
			"支付宝退款笔数 | 0 | 0 | 一致",
			"支付宝退款金额 | ¥0.00 | ¥0.00 | 一致",
		}, " ") + "]"
		if !strings.HasPrefix(got, strings.TrimSuffix(want, "]")) {
			t.Errorf("Alipay's totals:\n got %s\nwant %s …", got, want)
		}
		if got := cells(`[data-testid="recon-total-payments"]`); !strings.HasPrefix(got, "[微信支付笔数 | ") {
			t.Errorf("WeChat's row beside Alipay's: %s", got)
		}
		if got := b.exec(`return document.querySelector('#recon-day-alipay-pending').hidden`); got != true {
			t.Error("Alipay's part still shown as waiting once compared")
		}
		if got := b.text("#recon-totals-bill"); got != "渠道账单" {
			t.Errorf("the bill column is %q with two bills", got)
		}
		diffs := cells("#recon-diffs tbody tr")
		if !strings.HasPrefix(diffs, "[支付宝有、本系统无 | OTHERALI01 | ") || !strings.Contains(diffs, "¥5.00 | — | 已完成\nSUCCESS | — | 待处理 | paid at Alipay under a number cloudpay never issued") {
			t.Errorf("Alipay's difference: %s", diffs)
		}
		b.screenshot(filepath.Join(screenshots, "recon-alipay.png"))
	})

	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("the page logged errors (a CSP violation or an exception):\n%s", strings.Join(errs, "\n"))
	}
	t.Logf("console Alipay test took %s", time.Since(started).Round(time.Millisecond))
}
