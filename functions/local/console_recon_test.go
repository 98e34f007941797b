package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// The console's 对账 page, end to end in headless Chromium. WeChat makes a
// day's bill only after 10:00 Beijing the next day, so this runs on
// testkit's stack, whose clock the test moves (the local stack has the wall
// clock): orders are paid and one refunded on a past day, WeChat's bill is
// made to disagree, then, the next morning, the operator sees a bill not
// ready yet, reconciles the day, reads the totals and the differences,
// downloads the CSV, and finds the day in the list.
func TestConsoleReconciliationInChromium(t *testing.T) {
	if why := browserTools(); why != "" {
		t.Skip("no browser for the console test: " + why)
	}
	started := time.Now()

	// WeChat makes the bill by its own clock: the stack's, once it is built.
	var stack atomic.Pointer[testkit.Stack]
	s := testkit.New(t, testkit.Sim(func(c *wechatsim.Config) {
		c.Now = func() time.Time {
			if s := stack.Load(); s != nil {
				return s.Now()
			}
			return time.Now()
		}
	}))
	stack.Store(s)

	// The day: three days back in Beijing, well within the three months
	// WeChat keeps bills, and never after the browser's today.
	now := time.Now().In(cloudpay.Beijing)
	day := time.Date(now.Year(), now.Month(), now.Day()-3, 11, 0, 0, 0, cloudpay.Beijing)
	date := day.Format(time.DateOnly)
	before := day.AddDate(0, 0, -1).Format(time.DateOnly)
	nextDay := day.AddDate(0, 0, 1).Format(time.DateOnly)
	s.Advance(day.Sub(s.Now()))

	// The day's business: four courses paid, one partly refunded, and a
	// payment another system took under the same merchant.
	const (
		refunded = "RECON0001" // 19.90, 3.50 of it refunded
		amount   = "RECON0002" // 299.00; WeChat's bill says 298.00
		missing  = "RECON0003" // 50.00; not in WeChat's bill
		revoked  = "RECON0004" // 8.80; WeChat's bill says REVOKED
	)
	paid := map[string]int64{refunded: 1990, amount: 29900, missing: 5000, revoked: 880}
	for _, no := range []string{refunded, amount, missing, revoked} {
		s.Paid(no, testkit.Alice, paid[no])
	}
	r := s.Do("POST", s.RefundURL+"/refunds", map[string]any{
		"out_trade_no": refunded, "amount_fen": 350, "reason": "一节课取消", "idempotency_key": "recon-console-1",
	}, testkit.Admin())
	refundNo, _ := r.Body["out_refund_no"].(string)
	if r.Status >= 300 || refundNo == "" {
		t.Fatalf("refund: %d %s", r.Status, r.Raw)
	}
	testkit.Eventually(t, func() error {
		if st := s.Refund(refundNo).Status; st != cloudpay.RefundSucceeded {
			return fmt.Errorf("the refund is %s, not succeeded yet", st)
		}
		return nil
	})
	outside, outsideTxn := s.OutsidePayment("oReconOutsider0001", 12800)
	for _, p := range []map[string]any{
		{"date": date, "kind": wechatsim.PlantAmount, "out_trade_no": amount, "amount_fen": 29800},
		{"date": date, "kind": wechatsim.PlantMissingPayment, "out_trade_no": missing},
		{"date": date, "kind": wechatsim.PlantStatus, "out_trade_no": revoked, "status": "REVOKED"},
	} {
		if r := s.SimPost("/bills/plant", p); r.Status >= 300 {
			t.Fatalf("plant %v: %d %s", p, r.Status, r.Raw)
		}
	}
	txn := map[string]string{outside: outsideTxn}
	for no := range paid {
		txn[no] = s.Order(no).TransactionID
	}
	// The next morning, after WeChat made the day's bill at 10:00.
	morning := day.AddDate(0, 0, 1).Add(-30 * time.Minute) // 10:30
	s.Advance(morning.Sub(s.Now()))
	t.Logf("stack and data ready in %s", time.Since(started).Round(time.Millisecond))

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

	step("login and the page's helpers", func(t *testing.T) {
		b.navigate(s.RefundURL + "/admin/")
		// Fees in 0.00001 yuan, shown by integer arithmetic; the Beijing day
		// of an instant; a difference's kind in words.
		var got map[string]any
		b.execAsync(`const done = arguments[arguments.length - 1];
			import(new URL('app.js', location.href)).then((m) => done({
				fees: [271000, 1234, -2000, 0, 123456789012].map(m.formatFeeUnits),
				deltas: [-5100, 100, 0].map(m.formatFenDelta),
				day: m.beijingDate(new Date('2026-01-31T16:30:00Z')),
				kinds: [{kind: 'unknown_payment', resolved: 'adopted'}, {kind: 'unknown_payment'}, {kind: 'unknown_refund', resolved: 'adopted'},
					{kind: 'missing_payment'}, {kind: 'missing_refund'}, {kind: 'amount'}, {kind: 'status'}].map(m.reconKind),
			})).catch((e) => done({error: String(e)}))`, &got)
		want := `{"day":"2026-02-01","deltas":["-¥51.00","+¥1.00","一致"],"fees":["¥2.71","¥0.01234","-¥0.02","¥0.00","¥1,234,567.89012"],` +
			`"kinds":["微信有、本系统无（已补录）","微信有、本系统无","微信退款、本系统无（已补录）","本系统有、微信账单无","本系统退款、微信账单无","金额不符","状态不符"]}`
		if raw, _ := json.Marshal(got); string(raw) != want {
			t.Errorf("page helpers:\n got %s\nwant %s", raw, want)
		}
		b.typeInto("#login-token", testkit.AdminToken)
		b.click("#login-submit")
		b.el("#page-orders")
		b.click("#nav-recon")
		b.el("#recon-empty")
	})

	setDate := func(d string) {
		b.exec(`document.querySelector('#recon-date').value = arguments[0]`, d)
	}

	step("a bill WeChat has not made yet", func(t *testing.T) {
		setDate(nextDay) // today, by the stack's clock
		b.click("#recon-run")
		b.waitText("#page-error", "账单尚未生成：微信支付每日 10 点后生成昨日账单")
		b.waitText("#page-error", "BILL_NOT_READY")
		if id, _ := b.find("#page-recon-day:not([hidden])"); id != "" {
			t.Error("the day view opened for a bill not ready")
		}
		b.el("#recon-empty")
	})

	step("reconcile the day", func(t *testing.T) {
		setDate(date)
		b.click("#recon-run")
		b.waitText("#recon-day-date", date)
		b.waitText("#recon-day-status", "已对账")
		b.waitText("#toast", date+" 对账完成：差异 4 笔，待处理 3 笔")
		if b.exec(`return document.querySelector('#page-error').hidden`) != true {
			t.Errorf("an error is still shown: %q", b.text("#page-error"))
		}
		b.screenshot(filepath.Join(screenshots, "recon-day.png"))
		checkReport(t, b, date, txn, outside)
		// WeChat's payment cloudpay had not seen is an order now.
		if o := s.Order(outside); o.Status != cloudpay.OrderPaid || o.TransactionID != outsideTxn {
			t.Errorf("the adopted payment: %s %s", o.Status, o.TransactionID)
		}
	})

	step("download the CSV", func(t *testing.T) {
		// The page fetches the file with the token and hands it over as a
		// Blob; the test keeps the Blob and stops the save.
		b.exec(`window.saved = [];
			const blob = URL.createObjectURL;
			URL.createObjectURL = (b) => { window.saved.push({blob: b}); return blob.call(URL, b); };
			HTMLAnchorElement.prototype.click = function () { window.saved.at(-1).name = this.download; };`)
		b.click("#recon-download")
		b.waitText("#toast", "已下载 reconciliation-"+date+".csv")
		var file struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			BOM   bool   `json:"bom"`
			Text  string `json:"text"`
			Error string `json:"error"`
		}
		b.execAsync(`const done = arguments[arguments.length - 1];
			const f = window.saved[0];
			Promise.all([f.blob.arrayBuffer(), f.blob.text()]).then(([buf, text]) => {
				const b = new Uint8Array(buf);
				done({name: f.name, type: f.blob.type, bom: b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf, text});
			}).catch((e) => done({error: String(e)}))`, &file)
		if file.Error != "" {
			t.Fatal(file.Error)
		}
		if file.Name != "reconciliation-"+date+".csv" || !strings.HasPrefix(file.Type, "text/csv") || !file.BOM {
			t.Errorf("file %q of type %q, BOM %v", file.Name, file.Type, file.BOM)
		}
		want := strings.Join([]string{
			"date,channel,kind,out_trade_no,transaction_id,out_refund_no,bill_yuan,our_yuan,bill_state,our_state,resolved,note",
			date + ",wechat,amount," + amount + "," + txn[amount] + ",,298.00,299.00,SUCCESS,paid,,",
			date + ",wechat,missing_payment," + missing + "," + txn[missing] + ",,0.00,50.00,,paid,,",
			date + ",wechat,status," + revoked + "," + txn[revoked] + ",,8.80,8.80,REVOKED,paid,,",
			date + ",wechat,unknown_payment," + outside + "," + outsideTxn + ",,128.00,0.00,SUCCESS,,adopted,",
		}, "\n") + "\n"
		if got := strings.ReplaceAll(strings.TrimPrefix(file.Text, "\uFEFF"), "\r\n", "\n"); got != want {
			t.Errorf("CSV:\n got %q\nwant %q", got, want)
		}
	})

	step("the list", func(t *testing.T) {
		// A day without a trade has no bill: compared with nothing.
		b.click("#recon-back")
		setDate(before)
		b.click("#recon-run")
		b.waitText("#recon-day-status", "无账单")
		b.el("#recon-day-no-statement")
		b.el("#recon-diffs-empty")
		b.waitText(`[data-testid="recon-total-payments"]`, "一致")

		b.click("#recon-back")
		// The list is fetched anew: wait for both days' rows, not the one the
		// page showed before.
		b.waitText(`[data-testid="recon-row-`+date+`"]`, "已对账")
		b.waitText(`[data-testid="recon-row-`+before+`"]`, "无账单")
		rows := b.exec(`return [...document.querySelectorAll('#recon-table tbody tr')].map((tr) => [...tr.cells].map((c) => c.innerText))`)
		got := fmt.Sprint(rows)
		wantPrefix := fmt.Sprintf("[[%s 已对账 4 3 %s", date, morning.Format("2006/01/02 15:04:05"))
		if !strings.HasPrefix(got, wantPrefix) || !strings.Contains(got, "] ["+before+" 无账单 0 0 ") || len(rows.([]any)) != 2 {
			t.Errorf("list, newest first:\n got %s\nwant %s…] [%s 无账单 0 0 …]]", got, wantPrefix, before)
		}
		b.screenshot(filepath.Join(screenshots, "recon.png"))

		// The day's page again, read back from the store this time.
		b.click(`[data-testid="recon-link-` + date + `"]`)
		b.waitText("#recon-day-date", date)
		checkReport(t, b, date, txn, outside)

		// What the page shows is what the API answers.
		r := s.Do(http.MethodGet, s.RefundURL+"/admin/api/reconciliations", nil, testkit.Admin())
		if reports, _ := r.Body["reports"].([]any); r.Status != http.StatusOK || len(reports) != 2 {
			t.Errorf("GET reconciliations: %d %s", r.Status, r.Raw)
		}
	})

	var problems []string
	for _, e := range b.consoleErrors() {
		// The 409 of the bill not ready is the server's answer, shown on the page.
		if !strings.Contains(e, "Failed to load resource") {
			problems = append(problems, e)
		}
	}
	if len(problems) > 0 {
		t.Errorf("the page logged errors (a CSP violation or an exception):\n%s", strings.Join(problems, "\n"))
	}
	t.Logf("console reconciliation test took %s", time.Since(started).Round(time.Millisecond))
}

// checkReport reads the day's totals and differences off the page.
func checkReport(t *testing.T, b *browser, date string, txn map[string]string, outside string) {
	t.Helper()
	b.waitText(`[data-testid="recon-total-fees"]`, "¥")
	cells := func(css string) string {
		return fmt.Sprint(b.exec(`return [...document.querySelectorAll(arguments[0])].map((tr) => [...tr.cells].map((c) => c.innerText).join(' | '))`, css))
	}
	// WeChat: 19.90 + 298.00 + 8.80 (revoked, still a row) + 128.00; ours:
	// 19.90 + 299.00 + 50.00 + 8.80 + 128.00 (adopted). Fees 0.60% of each
	// payment, half up to the fen, less that of the refund.
	fee := func(fen int64) int64 { return (fen*6 + 500) / 1000 }
	fees := fee(1990) + fee(29800) + fee(880) + fee(12800) - fee(350)
	wantTotals := "[" + strings.Join([]string{
		"支付笔数 | 4 | 5 | -1",
		"支付金额 | ¥454.70 | ¥505.70 | -¥51.00",
		"退款笔数 | 1 | 1 | 一致",
		"退款金额 | ¥3.50 | ¥3.50 | 一致",
		"手续费 | " + formatYuan(fees) + " | — | —",
	}, " ") + "]"
	if got := cells("#recon-totals tbody tr"); got != wantTotals {
		t.Errorf("totals on %s:\n got %s\nwant %s", date, got, wantTotals)
	}
	// In the report's order, by kind: amount, missing_payment, status,
	// unknown_payment.
	wantDiffs := "[" + strings.Join([]string{
		"金额不符 | RECON0002 | " + txn["RECON0002"] + " | — | ¥298.00 | ¥299.00 | 支付成功\nSUCCESS | 已支付\npaid | 待处理 | —",
		"本系统有、微信账单无 | RECON0003 | " + txn["RECON0003"] + " | — | — | ¥50.00 | — | 已支付\npaid | 待处理 | —",
		"状态不符 | RECON0004 | " + txn["RECON0004"] + " | — | ¥8.80 | ¥8.80 | 已撤销\nREVOKED | 已支付\npaid | 待处理 | —",
		"微信有、本系统无（已补录） | " + outside + " | " + txn[outside] + " | — | ¥128.00 | — | 支付成功\nSUCCESS | — | 已补录 | —",
	}, " ") + "]"
	if got := cells("#recon-diffs tbody tr"); got != wantDiffs {
		t.Errorf("differences on %s:\n got %q\nwant %q", date, got, wantDiffs)
	}
	b.waitText("#recon-diff-count", "共 4 笔，待处理 3 笔")
}
