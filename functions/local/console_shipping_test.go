package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/testkit"
)

// Shipping in the console, end to end in headless Chromium on testkit's
// stack (its mini-program platform is the simulator, as the local stack's
// is): the main page says whether the mini-program is under
// WeChat's trade management, the orders show and filter their shipping,
// and an operator enters an order's shipping from its page — refused
// input stays in the page, a double submission uploads once, an update is
// taken and the next one refused in WeChat's words.
func TestConsoleShippingInChromium(t *testing.T) {
	if why := browserTools(); why != "" {
		t.Skip("no browser for the console test: " + why)
	}
	started := time.Now()
	s := testkit.New(t)
	const (
		parcel  = "SHIPUI0001" // shipped from the console
		waiting = "SHIPUI0002" // paid, nothing shipped
		unpaid  = "SHIPUI0003"
	)
	s.Paid(parcel, testkit.Alice, 1990)
	s.Paid(waiting, testkit.Alice, 500)
	if r := s.CreateOrder(unpaid, testkit.Alice, 300); r.Status != 201 {
		t.Fatalf("create %s: %d %s", unpaid, r.Status, r.Raw)
	}
	uploads := func() int {
		sh, _ := s.Sim.MiniProgramShipment(s.Order(parcel).TransactionID)
		return sh.Uploads
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

	step("the main page and the list", func(t *testing.T) {
		b.navigate(s.RefundURL + "/admin/")
		b.typeInto("#login-token", testkit.AdminToken)
		b.click("#login-submit")
		b.waitText("#trade-managed", "小程序已开通发货信息管理")
		if got := b.exec(`return document.querySelector('#trade-managed').dataset.state`); got != "yes" {
			t.Errorf("trade-managed line state %v", got)
		}
		b.waitText(`[data-testid="order-row-`+parcel+`"] [data-testid="shipping"]`, "未发货")
		b.waitText(`[data-testid="order-row-`+unpaid+`"] [data-testid="shipping"]`, "—")
	})

	step("input the page refuses, and input the server refuses", func(t *testing.T) {
		b.click(`[data-testid="order-link-` + parcel + `"]`)
		b.waitText("#order-shipping", "未发货")
		if got := b.exec(`return document.querySelector('#shipping-desc').value`); got != s.Order(parcel).Description {
			t.Errorf("item description prefilled with %v", got)
		}
		b.typeInto("#shipping-company", "YTO")
		b.click("#shipping-submit")
		b.waitText("#shipping-result", "请填写运单号")
		// SF needs a contact: WeChat's rule, checked by the server and named.
		b.typeInto("#shipping-company", "SF")
		b.typeInto("#shipping-tracking", "SF1234567890")
		b.click("#shipping-submit")
		b.waitText("#shipping-result", "shipping_list[0].contact")
		if n := uploads(); n != 0 {
			t.Fatalf("%d uploads reached WeChat", n)
		}
	})

	step("ship, once however often submitted", func(t *testing.T) {
		b.typeInto("#shipping-company", "YTO")
		b.typeInto("#shipping-tracking", "YT8759710021515")
		b.typeInto("#shipping-contact", "153****6068")
		b.exec(`const f = document.querySelector('#shipping-form'); f.requestSubmit(); f.requestSubmit();`)
		b.waitText("#shipping-result", "已上传")
		b.waitText("#order-shipping", "已发货")
		b.click("#shipping-submit") // the same content: the same key
		b.waitText("#shipping-result", "已上传")
		if n := uploads(); n != 1 {
			t.Fatalf("%d uploads at WeChat, want 1", n)
		}
		b.exec(`document.querySelector('#shipping-result').scrollIntoView({block: 'center'})`)
		b.screenshot(filepath.Join(screenshots, "order-shipping.png"))
	})

	step("an update, then WeChat's refusal", func(t *testing.T) {
		b.typeInto("#shipping-tracking", "YT0000000002")
		b.click("#shipping-submit")
		b.waitFor("the update at WeChat", func() (bool, error) { return uploads() == 2, nil })
		b.waitText("#shipping-result", "已上传")
		b.typeInto("#shipping-tracking", "YT0000000003")
		b.click("#shipping-submit")
		b.waitText("#shipping-result", "微信拒绝")
		b.waitText("#shipping-result", "10060003")
		if got := b.exec(`return document.querySelector('#shipping-result').dataset.state`); got != "refused" {
			t.Errorf("result state %v", got)
		}
	})

	step("filter by shipping", func(t *testing.T) {
		b.click("#nav-orders")
		b.click(`#orders-shipping option[value="shipped"]`)
		b.click("#orders-submit")
		b.waitFor("only the shipped order", func() (bool, error) {
			rows := b.findAll("#orders-table tbody tr")
			return len(rows) == 1 && strings.Contains(b.text("#orders-table tbody"), parcel), nil
		})
		b.waitText(`[data-testid="order-row-`+parcel+`"] [data-testid="shipping"]`, "已发货")
		b.click(`#orders-shipping option[value="none"]`)
		b.click("#orders-submit")
		b.waitFor("the orders with nothing shipped", func() (bool, error) {
			text := b.text("#orders-table tbody")
			return len(b.findAll("#orders-table tbody tr")) == 2 && strings.Contains(text, waiting) && strings.Contains(text, unpaid), nil
		})
		if !strings.Contains(b.exec(`return location.hash`).(string), "shipping=none") {
			t.Error("the filter is not in the page's address")
		}
	})

	var problems []string
	for _, e := range b.consoleErrors() {
		// The 400 and 409 above are the server's answers, shown on the page.
		if !strings.Contains(e, "Failed to load resource") {
			problems = append(problems, e)
		}
	}
	if len(problems) > 0 {
		t.Errorf("the page logged errors (a CSP violation or an exception):\n%s", strings.Join(problems, "\n"))
	}
	t.Logf("console shipping test took %s", time.Since(started).Round(time.Millisecond))
}
