package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/console"
	"github.com/cloudpay/cloudpay/shared/serve"
)

// screenshots is where the console test writes a picture of each page:
// bin/console-screenshots (gitignored) by default, so a test run leaves the
// work tree clean; CONSOLE_SCREENSHOTS names another directory, relative to
// the repository root unless absolute. `make screenshots` sets it to
// docs/console to refresh the committed pictures the README links.
var screenshots = screenshotDir(os.Getenv("CONSOLE_SCREENSHOTS"))

func screenshotDir(dir string) string {
	root := filepath.Join("..", "..") // go test runs in functions/local
	switch {
	case dir == "":
		return filepath.Join(root, "bin", "console-screenshots")
	case filepath.IsAbs(dir):
		return dir
	default:
		return filepath.Join(root, dir)
	}
}

// The operator's console, end to end in headless Chromium against the whole
// local stack: log in, find a paid order and refund part of it, run a batch
// of 20 with two failures and retry them, run a batch of payments made
// outside cloudpay from a list with its own columns, review two refund
// requests, and read withdrawals and dead letters.
func TestConsoleInChromium(t *testing.T) {
	if why := browserTools(); why != "" {
		t.Skip("no browser for the console test: " + why)
	}
	started := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Business notifications go to a receiver that fails until told
	// otherwise; a one-nanosecond retry window makes each failure a dead
	// letter at once.
	var receiverOK atomic.Bool
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if receiverOK.Load() {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		http.Error(w, "merchant system down", http.StatusServiceUnavailable)
	}))
	defer receiver.Close()

	var cfg config
	if err := serve.Load(ctx, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.DataDir, cfg.MongoURI, cfg.SimPort = t.TempDir(), "", 0
	cfg.Outbox.URL, cfg.Outbox.Secret, cfg.Outbox.RetryWindow = receiver.URL, "console-test-secret", time.Nanosecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := build(ctx, cfg, ln, slog.New(slog.DiscardHandler))
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	defer s.close()
	go func() { _ = serve.Serve(ctx, serve.Config{}, ln, s.handler, slog.New(slog.DiscardHandler)) }()

	api := &stackClient{t: t, base: s.base, token: cfg.AdminTokens[0]}
	const (
		alice = "oConsoleAlice0001"
		bob   = "oConsoleBob000002"
	)
	// The orders: one to refund by hand, a training camp of 20 to refund in
	// a batch, two that users ask to refund, one never paid.
	api.paidOrder("COURSE0001", alice, 1990, "Go 入门课")
	camp := make([]string, 20)
	for i := range camp {
		camp[i] = fmt.Sprintf("CAMP2026S%03d", i+1)
		api.paidOrder(camp[i], fmt.Sprintf("oCamper%010d", i+1), 29900, "夏令营 2026")
	}
	api.paidOrder("COURSE0003", bob, 5000, "Rust 进阶课")
	api.paidOrder("COURSE0004", bob, 8800, "算法训练营")
	api.call("POST", "/create-payment/orders", map[string]any{"out_trade_no": "COURSE0002", "openid": bob, "amount_fen": 990, "description": "试听课"}, nil, 201)
	// A withdrawal paid out and one waiting for the user.
	api.call("POST", "/withdraw/wallets/"+alice+"/credits", map[string]any{"credit_id": "console-reward-1", "amount_fen": 8000, "memo": "推荐奖励"}, nil, 201)
	w1 := api.call("POST", "/withdraw/withdrawals", map[string]any{"amount_fen": 3000, "idempotency_key": "console-wd-1"}, user(alice), 201)
	api.call("POST", "/sim/transfers/"+str(w1["id"])+"/confirm", nil, nil, 200)
	api.call("POST", "/withdraw/withdrawals", map[string]any{"amount_fen": 1200, "idempotency_key": "console-wd-2"}, user(alice), 201)
	t.Logf("stack and data ready in %s", time.Since(started).Round(time.Millisecond))

	b := startBrowser(t)
	page := s.base + "/refund/admin/"
	// Each step builds on the one before: after a failure the rest would
	// only fail for the same reason.
	step := func(name string, f func(t *testing.T)) {
		if t.Failed() {
			return
		}
		t.Run(name, func(t *testing.T) {
			b.t, api.t = t, t
			f(t)
		})
		b.t, api.t = t, t
	}

	step("login", func(t *testing.T) {
		// The refund function serves the page itself, under its strict CSP.
		resp, err := http.Get(page)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Security-Policy") != console.CSP {
			t.Fatalf("GET %s: %d, CSP %q", page, resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
		}
		b.navigate(page)
		b.el("#login-token")
		b.screenshot(filepath.Join(screenshots, "login.png"))
		// The money helpers, in the page itself: yuan to fen by the digits
		// (0.29 × 100 is 28.999… in floating point), fen to yuan.
		var got map[string]any
		b.execAsync(`const done = arguments[arguments.length - 1];
			import(new URL('app.js', location.href)).then((m) => done({
				fen: ['0.29', '1.1', '19.99', '0.07', '299', '007.50', '10000000'].map((s) => m.parseYuan(s).fen),
				refused: ['1.234', '-1', '0', '1e3', '.5', '10000000.01', ''].map((s) => !!m.parseYuan(s).error),
				yuan: [1990, 1, 0, 123456789].map(m.formatFen),
				time: m.formatTime('2026-01-31T16:30:00Z'),
				base: [m.apiBase('/refund/admin/'), m.apiBase('/admin/')],
			})).catch((e) => done({error: String(e)}))`, &got)
		want := `{"base":["/refund",""],"fen":[29,110,1999,7,29900,750,1000000000],"refused":[true,true,true,true,true,true,true],"time":"2026/02/01 00:30:00","yuan":["¥19.90","¥0.01","¥0.00","¥1,234,567.89"]}`
		if raw, _ := json.Marshal(got); string(raw) != want {
			t.Errorf("page helpers:\n got %s\nwant %s", raw, want)
		}

		b.typeInto("#login-token", "not-the-token")
		b.click("#login-submit")
		b.waitText("#login-error", "令牌无效")
		b.typeInto("#login-token", cfg.AdminTokens[0])
		b.click("#login-submit")
		b.el("#page-orders")
		// Kept for this tab's session only.
		if got := b.exec(`return [sessionStorage.getItem('cloudpay.console.token'), localStorage.length, document.cookie]`); fmt.Sprint(got) != fmt.Sprintf("[%s 0 ]", cfg.AdminTokens[0]) {
			t.Errorf("token storage: %v", got)
		}
	})

	step("orders", func(t *testing.T) {
		b.waitText(`[data-testid="order-row-COURSE0002"]`, "待支付")
		b.waitText(`[data-testid="order-row-COURSE0001"]`, "已支付")
		b.waitText(`[data-testid="order-row-COURSE0001"]`, "¥19.90")
		if n := len(b.findAll("#orders-table tbody tr")); n != 24 {
			t.Errorf("%d orders listed, want 24", n)
		}
		b.screenshot(filepath.Join(screenshots, "orders.png"))

		// By status, then by date: today in Beijing holds them all, yesterday none.
		b.click(`#orders-status option[value="unpaid"]`)
		b.click("#orders-submit")
		b.waitFor("only the unpaid order", func() (bool, error) {
			rows := b.findAll("#orders-table tbody tr")
			return len(rows) == 1 && strings.Contains(b.text("#orders-table tbody"), "COURSE0002"), nil
		})
		today := time.Now().In(cloudpay.Beijing)
		b.navigate(page + "#/orders?from=" + today.AddDate(0, 0, -1).Format(time.DateOnly) + "&to=" + today.AddDate(0, 0, -1).Format(time.DateOnly))
		b.el("#orders-empty")

		// Find the paid order by its number and open it.
		b.click("#orders-reset")
		b.typeInto("#orders-out-trade-no", "COURSE0001")
		b.click("#orders-submit")
		b.waitFor("one order found", func() (bool, error) {
			return len(b.findAll("#orders-table tbody tr")) == 1 && strings.Contains(b.text("#orders-table tbody"), "COURSE0001"), nil
		})
		b.click(`[data-testid="order-link-COURSE0001"]`)
		b.waitText("#order-status", "已支付")
		b.waitText("#order-refundable", "¥19.90")
		if got := b.text("#order-amount"); got != "¥19.90" {
			t.Errorf("amount %q", got)
		}
		order := api.call("GET", "/create-payment/orders/COURSE0001", nil, nil, 200)
		if got := b.text("#order-transaction-id"); got == "" || got != str(order["transaction_id"]) {
			t.Errorf("transaction_id %q, want %v", got, order["transaction_id"])
		}
		paidAt, _ := time.Parse(time.RFC3339Nano, str(order["paid_at"]))
		if got, want := b.text("#order-paid-at"), paidAt.In(cloudpay.Beijing).Format("2006/01/02 15:04:05"); got != want {
			t.Errorf("paid_at shown %q, want %q (Beijing time)", got, want)
		}
	})

	step("refund part of an order", func(t *testing.T) {
		b.click("#order-refund")
		b.waitText("#refund-refundable", "¥19.90")
		// More than is refundable, or a third decimal, is refused before anything is sent.
		b.typeInto("#refund-amount", "20")
		b.click("#refund-submit")
		b.waitText("#refund-error", "超过可退金额")
		b.typeInto("#refund-amount", "1.234")
		b.click("#refund-submit")
		b.waitText("#refund-error", "最多两位小数")
		if calls := api.simCalls("refund"); calls != 0 {
			t.Fatalf("%d refund calls reached WeChat after refused input", calls)
		}
		b.typeInto("#refund-amount", "3.50")
		b.typeInto("#refund-reason", "一节课取消")
		b.screenshot(filepath.Join(screenshots, "refund-dialog.png"))
		// A double click submits once; the dialog's key would make a second
		// submission the same refund anyway.
		b.exec(`const f = document.querySelector('#refund-form'); f.requestSubmit(); f.requestSubmit();`)
		b.waitFor("the dialog to close", func() (bool, error) {
			return b.exec(`return document.querySelector('#refund-dialog').open`) == false, nil
		})
		b.waitText("#order-refundable", "¥16.40")
		refunds := api.call("GET", "/refund/refunds?out_trade_no=COURSE0001", nil, nil, 200)
		list, _ := refunds["refunds"].([]any)
		if len(list) != 1 || list[0].(map[string]any)["amount_fen"] != float64(350) {
			t.Fatalf("refunds of COURSE0001: %v", refunds)
		}
		no := str(list[0].(map[string]any)["out_refund_no"])
		api.waitRefund(no, "succeeded")
		// A reload keeps the session and shows the refund settled.
		b.exec(`location.reload()`)
		b.waitText("#order-status", "部分退款")
		b.waitText(`[data-testid="refund-row-`+no+`"]`, "退款成功")
		b.waitText(`[data-testid="refund-row-`+no+`"]`, "¥3.50")
		b.waitText(`[data-testid="refund-row-`+no+`"]`, "一节课取消")
		b.waitText("#order-refunded", "¥3.50")
		b.waitText("#order-refundable", "¥16.40")
		b.screenshot(filepath.Join(screenshots, "order-detail.png"))
	})

	step("batch refund", func(t *testing.T) {
		b.click("#nav-batch")
		// Errors are shown per line and nothing is sent.
		b.typeInto("#batch-csv", "out_trade_no,amount,reason\nCAMP2026S001,1.234,x\nbad,1,y\nCAMP2026S002,1\n")
		b.click("#batch-check")
		b.waitText("#batch-errors", "第 2 行")
		b.waitText("#batch-errors", "第 3 行")
		if b.exec(`return document.querySelector('#batch-confirm').open`) != false {
			t.Fatal("confirm dialog opened for a CSV with errors")
		}

		// Amounts that floating point gets wrong (0.29, 1.1, 19.99, 0.07).
		amounts := []string{"299", "149.50", "0.29", "1.1", "19.99", "0.07", "100", "299.00", "50.5", "88.88"}
		var csv strings.Builder
		csv.WriteString("out_trade_no,amount,reason\n")
		var totalFen int64
		want := map[string]int64{}
		for i, no := range camp {
			a := amounts[i%len(amounts)]
			fen := yuanToFen(t, a)
			totalFen += fen
			want[no] = fen
			reason := "夏令营取消"
			if i == 3 {
				reason = `"天气原因, 延期"`
			}
			fmt.Fprintf(&csv, "%s,%s,%s\n", no, a, reason)
		}
		b.typeInto("#batch-csv", csv.String())
		b.typeInto("#batch-label", "2026 夏令营")
		b.click("#batch-check")
		b.waitText("#batch-confirm-count", "20")
		if got, want := b.text("#batch-confirm-total"), formatYuan(totalFen); got != want {
			t.Errorf("confirm total %q, want %q", got, want)
		}
		b.screenshot(filepath.Join(screenshots, "batch-confirm.png"))

		// Two refunds fail at WeChat; the rest are slow enough to watch.
		api.call("POST", "/sim/faults", map[string]any{"api": "refund", "mode": "fail", "count": 2, "code": "SYSTEM_ERROR"}, nil, 201)
		api.call("POST", "/sim/faults", map[string]any{"api": "refund", "mode": "delay", "count": 18, "delay_ms": 1000}, nil, 201)
		b.exec(`const f = document.querySelector('#batch-confirm-form'); f.requestSubmit(); f.requestSubmit();`)
		b.el("#batch-run")
		// The bar is caught mid-way when the machine lets the page poll in
		// time; how fast the batch runs is not what this test asserts.
		var midway float64
		b.waitFor("the progress bar to move", func() (bool, error) {
			v := b.exec(`return Number(document.querySelector('#batch-progress').getAttribute('aria-valuenow'))`)
			midway, _ = v.(float64)
			return midway > 0, nil
		})
		t.Logf("progress bar first seen at %v %%", midway)
		b.screenshot(filepath.Join(screenshots, "batch-progress.png"))
		b.waitFor("the progress bar at 100 %", func() (bool, error) {
			return b.exec(`return document.querySelector('#batch-progress').getAttribute('aria-valuenow')`) == "100", nil
		})
		b.waitText("#batch-progress-text", "20 / 20（100%）")
		b.waitText("#batch-summary", "成功 18 笔，失败 2 笔")
		b.waitFor("the bar to fill its track, 18 parts green and 2 red", func() (bool, error) {
			got := b.exec(`const w = (s) => document.querySelector(s).getBoundingClientRect().width;
				const all = w('#batch-progress');
				return [Math.round(w('#batch-progress-bar') * 20 / all), Math.round(w('#batch-progress-failed') * 20 / all)]`)
			return fmt.Sprint(got) == "[18 2]", nil
		})
		b.el("#batch-retry")
		failedRows := b.exec(`return [...document.querySelectorAll('#batch-results tbody tr.failed')].map((r) => r.innerText)`).([]any)
		if len(failedRows) != 2 {
			t.Fatalf("%d failed rows, want 2: %v", len(failedRows), failedRows)
		}
		for _, r := range failedRows {
			if s := fmt.Sprint(r); !strings.Contains(s, "退款失败") || !strings.Contains(s, "SYSTEM_ERROR") {
				t.Errorf("failed row %q lacks status or code", s)
			}
		}
		b.screenshot(filepath.Join(screenshots, "batch-result.png"))

		// One batch, whatever the double submission; amounts exact to the fen.
		batchID := strings.TrimPrefix(b.exec(`return decodeURIComponent(location.hash)`).(string), "#/batch/")
		progress := api.call("GET", "/refund/refunds/batches/"+batchID, nil, nil, 200)
		if progress["amount_fen"] != float64(totalFen) {
			t.Errorf("batch amount_fen %v, want %d", progress["amount_fen"], totalFen)
		}
		for _, it := range progress["items"].([]any) {
			it := it.(map[string]any)
			if it["amount_fen"] != float64(want[str(it["out_trade_no"])]) {
				t.Errorf("item %v: amount_fen %v, want %d", it["out_trade_no"], it["amount_fen"], want[str(it["out_trade_no"])])
			}
		}
		if all := api.call("GET", "/refund/refunds?label="+urlQuery("2026 夏令营")+"&limit=200", nil, nil, 200); len(all["refunds"].([]any)) != 20 {
			t.Errorf("%d refunds in the batch's label, want 20", len(all["refunds"].([]any)))
		}

		b.click("#batch-retry")
		b.waitFor("every item to succeed after the retry", func() (bool, error) {
			return strings.Contains(b.text("#batch-summary"), "成功 20 笔，失败 0 笔"), nil
		})
		b.waitText("#batch-progress-text", "20 / 20（100%）")
		if n := len(b.findAll("#batch-results tbody tr.failed")); n != 0 {
			t.Errorf("%d rows still failed after the retry", n)
		}
		if b.exec(`return document.querySelector('#batch-retry').hidden`) != true {
			t.Error("retry still offered with nothing failed")
		}
	})

	step("batch refund of payments made elsewhere", func(t *testing.T) {
		// A training camp paid through another system: the team's list holds
		// WeChat's numbers, not orders of ours, and its own user ids and
		// nicknames, which the results must show beside each refund.
		campers := []struct {
			paidFen                   int64
			amount, userID, nickname  string
			transactionID, outTradeNo string
		}{
			{paidFen: 59900, amount: "299", userID: "u1001", nickname: "小明"},
			{paidFen: 29900, amount: "299.00", userID: "u1002", nickname: "Li, Lei"},
			{paidFen: 1990, amount: "19.9", userID: "u1003", nickname: "阿花"},
		}
		for i := range campers {
			c := &campers[i]
			p := api.call("POST", "/sim/outside/payments", map[string]any{"amount_fen": c.paidFen, "openid": fmt.Sprintf("oOutsideCamper%04d", i+1)}, map[string]string{}, 200)
			c.transactionID, c.outTradeNo = str(p["transaction_id"]), str(p["out_trade_no"])
			if c.transactionID == "" || c.outTradeNo == "" {
				t.Fatalf("outside payment: %v", p)
			}
		}
		const unknown = "4200000000000000000000000000" // no payment at WeChat
		csv := "transaction_id,金额,原因,user_id,nickname\n" +
			campers[0].transactionID + ",299,训练营取消,u1001,小明\n" +
			campers[1].transactionID + `,299.00,训练营取消,u1002,"Li, Lei"` + "\n" +
			unknown + ",50,训练营取消,u1004,查无此单\n" +
			campers[2].transactionID + ",19.9,,u1003,阿花\n"
		b.click("#nav-batch")
		b.typeInto("#batch-csv", csv)
		b.typeInto("#batch-label", "2026 冬令营（外部）")
		b.click("#batch-check")
		b.waitText("#batch-confirm-count", "4")
		if got, want := b.text("#batch-confirm-total"), formatYuan(29900+29900+5000+1990); got != want {
			t.Errorf("confirm total %q, want %q", got, want)
		}
		b.waitText("#batch-confirm-columns", "user_id、nickname")
		b.exec(`document.querySelector('#batch-confirm-form').requestSubmit()`)
		b.el("#batch-run")
		b.waitFor("the progress bar at 100 %", func() (bool, error) {
			return b.exec(`return document.querySelector('#batch-progress').getAttribute('aria-valuenow')`) == "100", nil
		})
		b.waitText("#batch-progress-text", "4 / 4（100%）")
		b.waitText("#batch-summary", "成功 3 笔，失败 1 笔")

		// One column per extra name, in the CSV's order, after the number.
		// The results, even after a reload: the tab remembers that order.
		for _, when := range []string{"", "after a reload"} {
			if when != "" {
				b.exec(`location.reload()`)
				b.waitText("#batch-summary", "成功 3 笔，失败 1 笔")
			}
			header := b.exec(`return [...document.querySelectorAll('#batch-results thead th')].map((th) => th.textContent)`)
			if got, want := fmt.Sprint(header), "[# 订单号 / 微信支付单号 user_id nickname 退款单号 金额 状态 错误码 错误信息]"; got != want {
				t.Errorf("results header %s:\n got %s\nwant %s", when, got, want)
			}
		}
		rows := b.exec(`return [...document.querySelectorAll('#batch-results tbody tr')].map((tr) =>
			[tr.className, ...[...tr.cells].map((td) => td.innerText)])`).([]any)
		if len(rows) != 4 {
			t.Fatalf("%d rows, want 4: %v", len(rows), rows)
		}
		cells := func(i int) []string {
			var out []string
			for _, c := range rows[i].([]any) {
				out = append(out, fmt.Sprint(c))
			}
			return out
		}
		for i, c := range []int{0, 1, 3} {
			row, want := cells(c), campers[i]
			// The WeChat number, and the order it was adopted as.
			if row[0] != "" || row[2] != want.transactionID+"\n订单 "+want.outTradeNo || row[3] != want.userID || row[4] != want.nickname ||
				row[7] != "退款成功" || row[8] != "—" {
				t.Errorf("row %d: %q", c+1, row)
			}
		}
		if row := cells(2); row[0] != "failed" || row[2] != unknown || row[3] != "u1004" || row[4] != "查无此单" ||
			row[7] != "退款失败" || row[8] != "TRANSACTION_NOT_FOUND" {
			t.Errorf("the unknown payment's row: %q", row)
		}
		b.screenshot(filepath.Join(screenshots, "batch-outside.png"))

		// What the back end holds, and what WeChat refunded.
		batchID := strings.TrimPrefix(b.exec(`return decodeURIComponent(location.hash)`).(string), "#/batch/")
		items := api.call("GET", "/refund/refunds/batches/"+batchID, nil, nil, 200)["items"].([]any)
		if it := items[1].(map[string]any); it["transaction_id"] != campers[1].transactionID || fmt.Sprint(it["extra"]) != "map[nickname:Li, Lei user_id:u1002]" {
			t.Errorf("item 2: %v", it)
		}
		for i, c := range campers {
			refunds := api.call("GET", "/sim/refunds?out_trade_no="+c.outTradeNo, nil, map[string]string{}, 200)["refunds"].([]any)
			if len(refunds) != 1 || refunds[0].(map[string]any)["refund_fee"] != float64(yuanToFen(t, c.amount)) {
				t.Errorf("camper %d: WeChat's refunds %v, want one of %s yuan", i+1, refunds, c.amount)
			}
		}
	})

	step("review refund requests", func(t *testing.T) {
		r1 := api.call("POST", "/refund/refund-requests", map[string]any{"out_trade_no": "COURSE0003", "amount_fen": 2000, "reason": "课程时间冲突"}, user(bob), 201)
		r2 := api.call("POST", "/refund/refund-requests", map[string]any{"out_trade_no": "COURSE0004", "amount_fen": 8800, "reason": "不想上了"}, user(bob), 201)
		approve, reject := str(r1["out_refund_no"]), str(r2["out_refund_no"])
		b.click("#nav-requests")
		b.waitText(`[data-testid="request-row-`+approve+`"]`, "待审核")
		b.waitText(`[data-testid="request-row-`+reject+`"]`, "¥88.00")
		b.screenshot(filepath.Join(screenshots, "requests.png"))

		b.click(`[data-testid="approve-` + approve + `"]`)
		b.typeInto("#review-note", "同意，已核实")
		b.click("#review-submit")
		b.waitFor("the approved request to leave the queue", func() (bool, error) {
			id, err := b.find(`[data-testid="request-row-` + approve + `"]`)
			return id == "", err
		})
		b.click(`[data-testid="reject-` + reject + `"]`)
		b.click("#review-submit")
		b.waitText("#review-error", "拒绝时请填写备注")
		b.typeInto("#review-note", "已开课超过一半，不予退款")
		b.click("#review-submit")
		b.el("#requests-empty")

		if r := api.call("GET", "/refund/refunds/"+approve, nil, nil, 200); r["status"] == "pending_review" || r["status"] == "rejected" || r["note"] != "同意，已核实" {
			t.Errorf("approved request: %v", r)
		}
		if r := api.call("GET", "/refund/refunds/"+reject, nil, nil, 200); r["status"] != "rejected" || r["note"] != "已开课超过一半，不予退款" {
			t.Errorf("rejected request: %v", r)
		}
		b.click(`#requests-status option[value=""]`)
		b.waitText(`[data-testid="request-row-`+reject+`"]`, "已拒绝")
	})

	step("withdrawals", func(t *testing.T) {
		b.click("#nav-withdrawals")
		b.waitText(`[data-testid="withdrawal-row-`+str(w1["id"])+`"]`, "提现成功")
		b.waitText("#withdrawals-table tbody", "待用户确认")
		b.waitText("#withdrawals-table tbody", "¥12.00")
		b.screenshot(filepath.Join(screenshots, "withdrawals.png"))
	})

	step("dead letters", func(t *testing.T) {
		// One pass of close-expired: every event fails at the receiver and,
		// with the retry window over, becomes a dead letter.
		report := s.job.Run(ctx)
		if raw, _ := json.Marshal(report); !bytes.Contains(raw, []byte(`"notifications_sent":0`)) {
			t.Logf("pass: %s", raw)
		}
		id := "order.paid:COURSE0001"
		row := `[data-testid="dead-letter-row-` + id + `"]`
		b.click("#nav-dead-letters")
		b.waitText(row, "投递失败")
		b.screenshot(filepath.Join(screenshots, "dead-letters.png"))
		// The receiver still failing: the error is shown, the letter stays.
		b.click(`[data-testid="redeliver-` + id + `"]`)
		b.waitText("#page-error", "DELIVERY_FAILED")
		b.waitText(row+` [data-testid="attempts"]`, "2")
		// Fixed: redelivered, and gone from the list.
		receiverOK.Store(true)
		b.click(`[data-testid="redeliver-` + id + `"]`)
		b.waitText("#toast", "已重新投递")
		b.waitFor("the letter to leave the list", func() (bool, error) {
			e, err := b.find(row)
			return e == "", err
		})
	})

	step("logout and an expired token", func(t *testing.T) {
		b.click("#logout")
		b.el("#login-token")
		if got := b.exec(`return sessionStorage.getItem('cloudpay.console.token')`); got != nil {
			t.Errorf("token kept after logout: %v", got)
		}
		// A token that stops working (rotated away, say) sends the operator
		// back to the login.
		b.typeInto("#login-token", cfg.AdminTokens[0])
		b.click("#login-submit")
		b.el("#page-dead-letters") // back where the operator was
		b.exec(`sessionStorage.setItem('cloudpay.console.token', 'revoked')`)
		b.click("#nav-withdrawals")
		b.waitText("#login-error", "令牌无效")
		if got := b.exec(`return [sessionStorage.getItem('cloudpay.console.token'), document.querySelector('#app').hidden]`); fmt.Sprint(got) != "[<nil> true]" {
			t.Errorf("after a 401: token and app hidden = %v", got)
		}
	})

	var problems []string
	logged := b.consoleErrors()
	if len(logged) == 0 {
		// The 401 of the wrong token at least is there: reading the log failed.
		t.Error("read nothing from the browser's console log")
	}
	for _, e := range logged {
		// The 401s, 502 and 422 above are the server's answers, shown on the page.
		if !strings.Contains(e, "Failed to load resource") {
			problems = append(problems, e)
		}
	}
	if len(problems) > 0 {
		t.Errorf("the page logged errors (a CSP violation or an exception):\n%s", strings.Join(problems, "\n"))
	}
	t.Logf("console test took %s", time.Since(started).Round(time.Millisecond))
}

func user(openid string) map[string]string {
	return map[string]string{"X-WX-OPENID": openid, "X-WX-SOURCE": "wx_client"}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func urlQuery(s string) string {
	return strings.NewReplacer(" ", "%20").Replace(s)
}

// yuanToFen reads a test amount by its digits, as the page must.
func yuanToFen(t *testing.T, s string) int64 {
	t.Helper()
	whole, frac, _ := strings.Cut(s, ".")
	frac = (frac + "00")[:2]
	var fen int64
	if _, err := fmt.Sscanf(whole+frac, "%d", &fen); err != nil {
		t.Fatalf("amount %q: %v", s, err)
	}
	return fen
}

func formatYuan(fen int64) string {
	y := fmt.Sprint(fen / 100)
	var b strings.Builder
	for i, c := range y {
		if i > 0 && (len(y)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return fmt.Sprintf("¥%s.%02d", b.String(), fen%100)
}

// stackClient calls the local stack's routes as the back end, a user or
// the simulator's control would.
type stackClient struct {
	t     *testing.T
	base  string
	token string
}

// call sends a JSON request (the admin token unless header says otherwise)
// and fails the test unless the status is want.
func (c *stackClient) call(method, path string, body any, header map[string]string, want int) map[string]any {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if header == nil {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s: HTTP %d, want %d: %s", method, path, resp.StatusCode, want, raw)
	}
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return out
}

// paidOrder creates an order, asks for its payment as the user and pays it
// in the simulator.
func (c *stackClient) paidOrder(no, openid string, fen int64, description string) {
	c.t.Helper()
	c.call("POST", "/create-payment/orders", map[string]any{"out_trade_no": no, "openid": openid, "amount_fen": fen, "description": description}, nil, 201)
	c.call("POST", "/create-payment/payments", map[string]any{"out_trade_no": no}, user(openid), 200)
	c.call("POST", "/sim/pay", map[string]any{"out_trade_no": no}, map[string]string{}, 200)
	deadline := time.Now().Add(30 * time.Second)
	for c.call("GET", "/create-payment/orders/"+no, nil, nil, 200)["status"] != "paid" {
		if time.Now().After(deadline) {
			c.t.Fatalf("order %s not paid", no)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// simCalls counts the calls WeChat received on one API.
func (c *stackClient) simCalls(api string) int {
	c.t.Helper()
	out := c.call("GET", "/sim/calls?api="+api, nil, map[string]string{}, 200)
	calls, _ := out["calls"].([]any)
	return len(calls)
}

func (c *stackClient) waitRefund(no, status string) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := c.call("GET", "/refund/refunds/"+no, nil, nil, 200)
		if r["status"] == status {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("refund %s is %v, want %s", no, r["status"], status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
