package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/testkit"
)

// Roles and the audit log in the console, end to end in headless Chromium
// on testkit's stack (one named token per role): the back end's token
// cannot log in; a viewer sees no action, an approver decides requests but
// makes no refund, an operator the reverse, and a large refund cannot be
// approved by the token that asked for it; the 操作日志 page lists what a
// named operator did through the API, filters it by operator, subject and
// day and pages back; an order's page shows who refunded it and who
// approved its refund.
func TestConsoleRolesInChromium(t *testing.T) {
	if why := browserTools(); why != "" {
		t.Skip("no browser for the console test: " + why)
	}
	started := time.Now()
	s := testkit.New(t, testkit.RefundConfig(refund.Config{MinInterval: time.Minute, FourEyesFen: 1000}))
	const (
		refunded = "ROLEUI0001" // refunded by the operator through the API
		asked    = "ROLEUI0002" // its user asks for a refund; the approver approves it
		later    = "ROLEUI0003" // its user asks for a refund while the operator is logged in
		large    = "ROLEUI0004" // a large refund asked for with an ADMIN_TOKENS token: four eyes
	)
	s.Paid(refunded, testkit.Alice, 1990)
	s.Paid(asked, testkit.Bob, 5000)
	s.Paid(later, testkit.Bob, 800)
	s.Paid(large, testkit.Alice, 5000)
	operator, approver, viewer := testkit.OperatorName(cloudpay.RoleOperator), testkit.OperatorName(cloudpay.RoleApprover), testkit.OperatorName(cloudpay.RoleViewer)

	r := s.Do("POST", s.RefundURL+"/refunds", map[string]any{"out_trade_no": refunded, "amount_fen": 350, "reason": "一节课取消", "idempotency_key": "roles-ui-1"},
		map[string]string{"Authorization": "Bearer " + testkit.RoleToken(cloudpay.RoleOperator), "X-Request-Id": "req-roles-ui-1"})
	refundNo := r.Str("out_refund_no")
	if r.Status != http.StatusAccepted || refundNo == "" {
		t.Fatalf("the operator's refund: %d %s", r.Status, r.Raw)
	}
	// A viewer's try is refused, and logged as refused (after the refund: the
	// log's order is its entries' ids, made from their times in nanoseconds).
	if r := s.Do("POST", s.RefundURL+"/refunds", map[string]any{"out_trade_no": refunded, "amount_fen": 100, "idempotency_key": "roles-ui-2"},
		testkit.As(cloudpay.RoleViewer)); r.Status != http.StatusForbidden {
		t.Fatalf("the viewer's refund: %d %s", r.Status, r.Raw)
	}
	req := s.Do("POST", s.RefundURL+"/refund-requests", map[string]any{"out_trade_no": asked, "amount_fen": 2000, "reason": "课程时间冲突", "idempotency_key": "roles-ui-ask"},
		testkit.User(testkit.Bob))
	requestNo := req.Str("out_refund_no")
	if req.Status != http.StatusCreated || requestNo == "" {
		t.Fatalf("the user's request: %d %s", req.Status, req.Raw)
	}
	big := s.Do("POST", s.RefundURL+"/refunds", map[string]any{"out_trade_no": large, "amount_fen": 1500, "reason": "整单取消", "idempotency_key": "roles-ui-big"}, testkit.Admin())
	bigNo := big.Str("out_refund_no")
	if big.Status != http.StatusAccepted || bigNo == "" || big.Body["four_eyes"] != true {
		t.Fatalf("the large refund: %d %s", big.Status, big.Raw)
	}

	b := startBrowser(t)
	page := s.RefundURL + "/admin/"
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
	// shown says whether an element exists and is displayed.
	shown := func(css string) bool {
		b.t.Helper()
		id, err := b.find(css)
		if err != nil {
			b.t.Fatal(err)
		}
		if id == "" {
			return false
		}
		var on bool
		b.must(b.call(http.MethodGet, b.sess("/element/"+id+"/displayed"), nil, &on), "displayed "+css)
		return on
	}
	expect := func(what map[string]bool) {
		b.t.Helper()
		for css, want := range what {
			if got := shown(css); got != want {
				b.t.Errorf("%s shown: %v, want %v", css, got, want)
			}
		}
	}
	// login logs out whoever is logged in, then logs in with token: the
	// page says who it is.
	login := func(token, want string) {
		b.t.Helper()
		if shown("#logout") {
			b.click("#logout")
		}
		b.typeInto("#login-token", token)
		b.click("#login-submit")
		b.waitText("#whoami", want)
	}
	requestRow := `[data-testid="request-row-` + requestNo + `"]`
	approve, reject := `[data-testid="approve-`+requestNo+`"]`, `[data-testid="reject-`+requestNo+`"]`

	step("the back end's token cannot log in", func(t *testing.T) {
		b.navigate(page)
		b.typeInto("#login-token", testkit.RoleToken(cloudpay.RoleService))
		b.click("#login-submit")
		b.waitText("#login-error", "商户后端（service）令牌，不能登录运营后台")
		if got := b.exec(`return [sessionStorage.getItem('cloudpay.console.token'), document.querySelector('#app').hidden]`); fmt.Sprint(got) != "[<nil> true]" {
			t.Errorf("after the refusal: token and app hidden = %v", got)
		}
	})

	step("a viewer sees no action", func(t *testing.T) {
		login(testkit.RoleToken(cloudpay.RoleViewer), viewer+"（只读）")
		expect(map[string]bool{"#nav-batch": false, "#nav-audit": true})
		b.navigate(page + "#/orders/" + refunded)
		b.waitText("#order-status", "部分退款")
		expect(map[string]bool{"#order-refund": false, "#shipping-submit": false, `[data-denied="shipping"]`: true})
		// The role is kept with the token for the tab's session: a reload knows it.
		b.exec(`document.querySelector('#whoami').textContent = ''; document.querySelector('#order-status').replaceChildren(); location.reload()`)
		b.waitText("#order-status", "部分退款")
		b.waitText("#whoami", viewer+"（只读）")
		expect(map[string]bool{"#order-refund": false, "#shipping-submit": false})
		b.click("#nav-requests")
		b.waitText(requestRow, "待审核")
		expect(map[string]bool{approve: false, reject: false, `#page-requests [data-denied="review"]`: true})
		b.click("#nav-recon")
		b.el("#page-recon")
		expect(map[string]bool{"#recon-run": false})
		b.navigate(page + "#/batch")
		b.el("#batch-denied")
		expect(map[string]bool{"#batch-check": false})
	})

	step("the order's page shows who refunded it", func(t *testing.T) {
		b.navigate(page + "#/orders/" + refunded)
		b.waitText("#order-audit tbody", operator)
		rows := b.exec(`return [...document.querySelectorAll('#order-audit tbody tr')].map((tr) => tr.dataset.outcome + '|' + tr.innerText)`).([]any)
		if len(rows) != 2 {
			t.Fatalf("%d entries on the order's page, want the refund and the refused try: %v", len(rows), rows)
		}
		// Newest first: the viewer's refused try, then the operator's refund.
		done, refused := fmt.Sprint(rows[1]), fmt.Sprint(rows[0])
		for _, want := range []string{"done|", operator, "操作员", "发起退款", "POST /refunds", refunded, "¥3.50", "成功"} {
			if !strings.Contains(done, want) {
				t.Errorf("the refund's entry lacks %q: %q", want, done)
			}
		}
		for _, want := range []string{"refused|", viewer, "被拒绝", "403", "FORBIDDEN_ROLE", "¥1.00"} {
			if !strings.Contains(refused, want) {
				t.Errorf("the refused try's entry lacks %q: %q", want, refused)
			}
		}
		b.waitText(`[data-testid="refund-history-`+refundNo+`"]`, operator+" 发起")
		b.click("#order-audit-link")
		b.waitFor("the log of the order", func() (bool, error) {
			return len(b.findAll(`#audit-table tbody tr`)) == 2 && b.exec(`return document.querySelector('#audit-subject').value`) == refunded, nil
		})
	})

	step("four eyes: no approving one's own large refund", func(t *testing.T) {
		login(testkit.AdminToken, "（管理员）")
		expect(map[string]bool{"#nav-batch": true})
		b.click("#nav-requests")
		b.waitText(`[data-testid="request-row-`+bigNo+`"]`, "¥15.00")
		b.waitText(`[data-testid="request-history-`+bigNo+`"]`, "发起（须他人批准）")
		if got := b.exec(`const a = document.querySelector(arguments[0]); return [a.disabled, a.title]`, `[data-testid="approve-`+bigNo+`"]`); fmt.Sprint(got) != "[true 四眼原则：须由发起人以外的审核员批准]" {
			t.Errorf("the creator's approve button: %v", got)
		}
		if got := b.exec(`return document.querySelector(arguments[0]).disabled`, `[data-testid="reject-`+bigNo+`"]`); got != false {
			t.Errorf("the creator's reject button disabled: %v", got)
		}
	})

	step("an approver decides, and makes no refund", func(t *testing.T) {
		login(testkit.RoleToken(cloudpay.RoleApprover), approver+"（审核员）")
		expect(map[string]bool{"#nav-batch": false})
		b.navigate(page + "#/orders/" + refunded)
		b.waitText("#order-status", "部分退款")
		expect(map[string]bool{"#order-refund": false, "#shipping-submit": false})
		b.click("#nav-recon")
		b.el("#recon-run")
		b.click("#nav-requests")
		b.waitText(requestRow, "待审核")
		expect(map[string]bool{approve: true, reject: true, `#page-requests [data-denied="review"]`: false})
		// Another token's large refund: this approver may approve it.
		if got := b.exec(`return document.querySelector(arguments[0]).disabled`, `[data-testid="approve-`+bigNo+`"]`); got != false {
			t.Errorf("another approver's approve button disabled: %v", got)
		}
		b.click(approve)
		b.typeInto("#review-note", "同意，已核实")
		b.click("#review-submit")
		b.waitFor("the approved request to leave the queue", func() (bool, error) {
			id, err := b.find(requestRow)
			return id == "", err
		})
		// Who approved it, on its order's page.
		b.navigate(page + "#/orders/" + asked)
		b.waitText(`[data-testid="refund-history-`+requestNo+`"]`, approver+"（审核员）批准退款 · 成功")
	})

	step("an operator refunds, and decides nothing", func(t *testing.T) {
		// Another request to decide, from the same user.
		r := s.Do("POST", s.RefundURL+"/refund-requests", map[string]any{"out_trade_no": later, "amount_fen": 800, "reason": "不想上了", "idempotency_key": "roles-ui-ask-2"},
			testkit.User(testkit.Bob))
		second := r.Str("out_refund_no")
		if r.Status != http.StatusCreated || second == "" {
			t.Fatalf("the second request: %d %s", r.Status, r.Raw)
		}
		login(testkit.RoleToken(cloudpay.RoleOperator), operator+"（操作员）")
		expect(map[string]bool{"#nav-batch": true})
		b.navigate(page + "#/orders/" + refunded)
		b.waitText("#order-status", "部分退款")
		expect(map[string]bool{"#order-refund": true, "#shipping-submit": true, `[data-denied="shipping"]`: false})
		b.click("#nav-requests")
		b.waitText(`[data-testid="request-row-`+second+`"]`, "待审核")
		expect(map[string]bool{`[data-testid="approve-` + second + `"]`: false, `[data-testid="reject-` + second + `"]`: false})
		// A request's history, read when asked: the approved one.
		b.click(`#requests-status option[value=""]`)
		b.click(`[data-testid="request-history-load-` + requestNo + `"]`)
		b.waitText(`[data-testid="request-history-`+requestNo+`"]`, approver+"（审核员）批准退款")
		b.navigate(page + "#/batch")
		b.el("#batch-check")
		expect(map[string]bool{"#batch-denied": false})
	})

	step("the 操作日志 page", func(t *testing.T) {
		b.click("#nav-audit")
		b.waitText("#audit-table tbody", "批准退款")
		rows := func() []string {
			var out []string
			for _, r := range b.exec(`return [...document.querySelectorAll('#audit-table tbody tr')].map((tr) => tr.dataset.actor + '|' + tr.dataset.subject + '|' + tr.innerText)`).([]any) {
				out = append(out, fmt.Sprint(r))
			}
			return out
		}
		all := rows()
		if len(all) != 4 {
			t.Fatalf("%d entries, want 4 (the refund, the refused try, the large refund, the approval): %q", len(all), all)
		}
		// Newest first; the refund in full: time in Beijing, who, what, amount, result, request id.
		if !strings.HasPrefix(all[0], approver+"|"+requestNo+"|") || !strings.HasPrefix(all[3], operator+"|"+refunded+"|") {
			t.Errorf("order of the entries: %q", all)
		}
		today := time.Now().In(cloudpay.Beijing).Format("2006/01/02")
		for _, want := range []string{today, "操作员", "发起退款", "refund · POST /refunds", "¥3.50", "成功", "req-roles-ui-1"} {
			if !strings.Contains(all[3], want) {
				t.Errorf("the refund's entry lacks %q: %q", want, all[3])
			}
		}
		b.screenshot(filepath.Join(screenshots, "audit.png"))

		// By operator.
		b.typeInto("#audit-actor", operator)
		b.click("#audit-submit")
		b.waitFor("only the operator's entry", func() (bool, error) {
			got := rows()
			return len(got) == 1 && strings.HasPrefix(got[0], operator+"|"+refunded+"|"), nil
		})
		if h := b.exec(`return location.hash`).(string); !strings.Contains(h, "actor="+operator) {
			t.Errorf("the filter is not in the page's address: %s", h)
		}
		// By subject: the order, whoever acted on it.
		b.click("#audit-reset")
		b.waitFor("the filter reset", func() (bool, error) { return len(rows()) == 4, nil })
		b.typeInto("#audit-subject", refunded)
		b.click("#audit-submit")
		b.waitFor("the order's two entries", func() (bool, error) {
			got := rows()
			return len(got) == 2 && strings.HasPrefix(got[0], viewer+"|"+refunded+"|") && strings.HasPrefix(got[1], operator+"|"+refunded+"|"), nil
		})
		// By day: today holds them, yesterday none; a range backwards is refused in the page.
		day := time.Now().In(cloudpay.Beijing)
		b.navigate(page + "#/audit?from=" + day.Format(time.DateOnly) + "&to=" + day.Format(time.DateOnly))
		b.waitFor("today's entries", func() (bool, error) { return len(rows()) == 4, nil })
		yesterday := day.AddDate(0, 0, -1).Format(time.DateOnly)
		b.navigate(page + "#/audit?from=" + yesterday + "&to=" + yesterday)
		b.el("#audit-empty")
		b.navigate(page + "#/audit")
		b.waitFor("every entry", func() (bool, error) { return len(rows()) == 4, nil })
		b.exec(`const f = document.querySelector('#audit-search');
			f.elements.from.value = arguments[0]; f.elements.to.value = arguments[1]; f.requestSubmit();`, day.Format(time.DateOnly), yesterday)
		b.waitText("#page-error", "开始日期不能晚于结束日期")
	})

	step("paging back through the log", func(t *testing.T) {
		// 60 more entries: a viewer's refused approvals, back to back.
		for i := range 60 {
			if r := s.Do("POST", s.RefundURL+"/refunds/"+refundNo+"/approve", nil, testkit.As(cloudpay.RoleViewer)); r.Status != http.StatusForbidden {
				t.Fatalf("refused approval %d: %d %s", i, r.Status, r.Raw)
			}
		}
		b.navigate(page + "#/orders")
		b.click("#nav-audit")
		b.waitFor("the first page", func() (bool, error) { return len(b.findAll("#audit-table tbody tr")) == 50, nil })
		b.click("#audit-more")
		b.waitFor("all 64 entries", func() (bool, error) { return len(b.findAll("#audit-table tbody tr")) == 64, nil })
		if shown("#audit-more") {
			t.Error("more offered after the last page")
		}
		if got := b.exec(`return document.querySelector('#audit-table tbody tr:last-child').dataset.actor`); got != operator {
			t.Errorf("the oldest entry is %v's, want the operator's refund", got)
		}
	})

	if errs := b.consoleErrors(); len(errs) > 0 {
		var problems []string
		for _, e := range errs {
			// The 401 and 403s above are the server's answers, shown on the page.
			if !strings.Contains(e, "Failed to load resource") {
				problems = append(problems, e)
			}
		}
		if len(problems) > 0 {
			t.Errorf("the page logged errors (a CSP violation or an exception):\n%s", strings.Join(problems, "\n"))
		}
	}
	t.Logf("console roles test took %s", time.Since(started).Round(time.Millisecond))
}
