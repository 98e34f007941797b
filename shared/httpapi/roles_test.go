package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/mongostore"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

var (
	allRoles  = []cloudpay.Role{cloudpay.RoleViewer, cloudpay.RoleOperator, cloudpay.RoleApprover, cloudpay.RoleService}
	readers   = allRoles
	console   = []cloudpay.Role{cloudpay.RoleViewer, cloudpay.RoleOperator, cloudpay.RoleApprover}
	movers    = []cloudpay.Role{cloudpay.RoleOperator, cloudpay.RoleService}
	approvers = []cloudpay.Role{cloudpay.RoleApprover}
	backEnd   = []cloudpay.Role{cloudpay.RoleService}
)

// adminRoute is one admin route and the roles that may call it.
type adminRoute struct {
	url     func(s *testkit.Stack) string
	method  string
	path    string
	body    any
	allowed []cloudpay.Role
}

func createPaymentURL(s *testkit.Stack) string { return s.CreatePaymentURL }
func refundURL(s *testkit.Stack) string        { return s.RefundURL }
func withdrawURL(s *testkit.Stack) string      { return s.WithdrawURL }
func closeExpiredURL(s *testkit.Stack) string  { return s.CloseExpiredURL }

// adminRoutes is every admin route of every function.
var adminRoutes = []adminRoute{
	{createPaymentURL, "POST", "/orders", map[string]any{"openid": testkit.Alice, "amount_fen": 100, "description": "x"}, backEnd},
	{createPaymentURL, "POST", "/orders/adopt", map[string]any{"out_trade_no": "ROLEPAID01"}, movers},
	{createPaymentURL, "GET", "/orders/ROLEPAID01", nil, readers},
	{createPaymentURL, "POST", "/orders/ROLEUNPAID/pay", map[string]any{"method": "native"}, backEnd},
	{createPaymentURL, "GET", "/orders/ROLEPAID01/payment", nil, readers},
	{createPaymentURL, "POST", "/orders/ROLEPAID01/shipping", map[string]any{"idempotency_key": "k", "logistics_type": "virtual", "shipping_list": []any{map[string]any{"item_desc": "x"}}}, movers},
	{createPaymentURL, "GET", "/orders/ROLEPAID01/shipping/k", nil, readers},
	{createPaymentURL, "GET", "/shipping/trade-managed", nil, readers},
	{refundURL, "POST", "/refunds", map[string]any{"out_trade_no": "ROLEPAID01", "amount_fen": 1, "idempotency_key": "role-r"}, movers},
	{refundURL, "GET", "/refunds?out_trade_no=ROLEPAID01", nil, readers},
	{refundURL, "POST", "/refunds/batch", map[string]any{"idempotency_key": "role-b", "items": []any{map[string]any{"out_trade_no": "ROLEPAID01", "amount_fen": 1, "key": "role-b1"}}}, movers},
	{refundURL, "GET", "/refunds/batches/nosuchbatch", nil, readers},
	{refundURL, "GET", "/refunds/RFNOSUCHREFUND", nil, readers},
	{refundURL, "POST", "/refunds/RFNOSUCHREFUND/retry", nil, approvers},
	{refundURL, "POST", "/refunds/RFNOSUCHREFUND/approve", nil, approvers},
	{refundURL, "POST", "/refunds/RFNOSUCHREFUND/reject", nil, approvers},
	{refundURL, "GET", "/admin/api/orders", nil, console},
	{refundURL, "GET", "/admin/api/orders/ROLEPAID01", nil, console},
	{refundURL, "GET", "/admin/api/withdrawals", nil, console},
	{refundURL, "GET", "/admin/api/reconciliations", nil, console},
	{refundURL, "GET", "/admin/api/reconciliations/2026-01-01", nil, console},
	{refundURL, "POST", "/admin/api/reconciliations/2026-01-01", nil, []cloudpay.Role{cloudpay.RoleOperator, cloudpay.RoleApprover}},
	{refundURL, "POST", "/admin/api/orders/ROLEPAID01/shipping", map[string]any{"idempotency_key": "k2", "logistics_type": "virtual", "shipping_list": []any{map[string]any{"item_desc": "x"}}}, []cloudpay.Role{cloudpay.RoleOperator}},
	{refundURL, "GET", "/admin/api/shipping/trade-managed", nil, console},
	{refundURL, "GET", "/admin/api/dead-letters", nil, console},
	{refundURL, "GET", "/admin/api/audit", nil, console},
	{refundURL, "POST", "/admin/api/dead-letters/nosuchevent/redeliver", nil, approvers},
	{withdrawURL, "POST", "/wallets/" + testkit.Alice + "/credits", map[string]any{"credit_id": "role-c", "amount_fen": 100, "reason": "x"}, movers},
	{withdrawURL, "PUT", "/wallets/" + testkit.Alice + "/profile", map[string]any{"real_name": "张三"}, movers},
	{withdrawURL, "GET", "/wallets/" + testkit.Alice, nil, readers},
	{withdrawURL, "GET", "/wallets/" + testkit.Alice + "/entries", nil, readers},
	{closeExpiredURL, "GET", "/dead-letters", nil, console},
	{closeExpiredURL, "POST", "/dead-letters/nosuchevent/redeliver", nil, approvers},
}

// Each role on each admin route: let through (whatever the route then
// answers) or refused with 403 FORBIDDEN_ROLE naming the roles needed; no
// token is 401; an ADMIN_TOKENS token has every role. Every call with a
// token to a state-changing route, of every kind, lands in the audit log
// (allowed or refused); reads and calls without a valid token do not.
func TestEveryRoleOnEveryAdminRoute(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Channel(wechat.V3))
	s.Paid("ROLEPAID01", testkit.Alice, 500)
	s.CreateOrder("ROLEUNPAID", testkit.Alice, 500)
	for _, rt := range adminRoutes {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			before := s.Count("audit")
			url := rt.url(s) + rt.path
			if r := s.Do(rt.method, url, rt.body, nil); r.Status != http.StatusUnauthorized {
				t.Errorf("without a token: %d %s", r.Status, r.Raw)
			}
			if r := s.Do(rt.method, url, rt.body, map[string]string{"Authorization": "Bearer not-a-token"}); r.Status != http.StatusUnauthorized {
				t.Errorf("with an unknown token: %d %s", r.Status, r.Raw)
			}
			for _, role := range allRoles {
				r := s.Do(rt.method, url, rt.body, testkit.As(role))
				if slices.Contains(rt.allowed, role) {
					if r.Status == http.StatusForbidden || r.Status == http.StatusUnauthorized {
						t.Errorf("%s may: %d %s", role, r.Status, r.Raw)
					}
					continue
				}
				if r.Status != http.StatusForbidden || r.ErrorCode() != string(cloudpay.CodeForbiddenRole) || !strings.Contains(r.ErrorMessage(), string(rt.allowed[0])) {
					t.Errorf("%s may not: %d %s", role, r.Status, r.Raw)
				}
			}
			if r := s.Do(rt.method, url, rt.body, testkit.Admin()); r.Status == http.StatusForbidden || r.Status == http.StatusUnauthorized {
				t.Errorf("an ADMIN_TOKENS token: %d %s", r.Status, r.Raw)
			}
			want := int64(0)
			if rt.method != "GET" {
				want = int64(len(allRoles) + 1) // each named role, and the ADMIN_TOKENS token
			}
			if got := s.Count("audit") - before; got != want {
				t.Errorf("%d audit entries, want %d", got, want)
			}
		})
	}
}

// Every state-changing admin call is in the audit log before its answer:
// who (name and role), what (route, subject, amount), the request id and
// the result; a call the role may not make is logged as refused, and so is
// a call refused for its input. No token is ever in it.
func TestAuditLogOfAdminActions(t *testing.T) {
	t.Parallel()
	s := testkit.New(t)
	s.Paid("AUDIT00001", testkit.Alice, 500)
	audit := func(q mongostore.AuditQuery) []cloudpay.AuditEntry {
		t.Helper()
		list, err := s.Store.Audit(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		return list
	}

	r := s.Do("POST", s.RefundURL+"/refunds", map[string]any{"out_trade_no": "AUDIT00001", "amount_fen": 120, "idempotency_key": "audit-1"},
		map[string]string{"Authorization": "Bearer " + testkit.RoleToken(cloudpay.RoleOperator), "X-Request-Id": "req-audit-1"})
	if r.Status != http.StatusAccepted {
		t.Fatalf("refund: %d %s", r.Status, r.Raw)
	}
	got := audit(mongostore.AuditQuery{Actor: testkit.OperatorName(cloudpay.RoleOperator)})
	if len(got) != 1 {
		t.Fatalf("operator's entries: %+v", got)
	}
	e := got[0]
	if e.Role != cloudpay.RoleOperator || e.Function != "refund" || e.Method != "POST" || e.Route != "/refunds" || e.Subject != "AUDIT00001" ||
		e.AmountFen != 120 || e.Status != http.StatusAccepted || e.Outcome != cloudpay.AuditDone || e.RequestID != "req-audit-1" || e.At.IsZero() {
		t.Fatalf("entry: %+v", e)
	}

	// Refused for the role: logged as refused, with the code.
	if r := s.Do("POST", s.RefundURL+"/refunds", map[string]any{"out_trade_no": "AUDIT00001", "amount_fen": 50, "idempotency_key": "audit-2"},
		testkit.As(cloudpay.RoleViewer)); r.Status != http.StatusForbidden {
		t.Fatalf("viewer refund: %d %s", r.Status, r.Raw)
	}
	got = audit(mongostore.AuditQuery{Actor: testkit.OperatorName(cloudpay.RoleViewer)})
	if len(got) != 1 || got[0].Outcome != cloudpay.AuditRefused || got[0].Code != cloudpay.CodeForbiddenRole || got[0].Status != http.StatusForbidden ||
		got[0].AmountFen != 50 || got[0].Subject != "AUDIT00001" {
		t.Fatalf("viewer's entries: %+v", got)
	}

	// Refused for its input, and an approver's decision on a refund: by subject.
	if r := s.Do("POST", s.RefundURL+"/refunds/RFNOSUCHREFUND/approve", nil, testkit.As(cloudpay.RoleApprover)); r.Status != http.StatusNotFound {
		t.Fatalf("approve unknown: %d %s", r.Status, r.Raw)
	}
	got = audit(mongostore.AuditQuery{Subject: "RFNOSUCHREFUND"})
	if len(got) != 1 || got[0].Outcome != cloudpay.AuditRefused || got[0].Code != cloudpay.CodeRefundNotFound || got[0].Actor != testkit.OperatorName(cloudpay.RoleApprover) {
		t.Fatalf("approve entries: %+v", got)
	}

	// The console's 操作日志 reads it by operator, subject and day.
	page := s.Do("GET", s.RefundURL+"/admin/api/audit?actor="+testkit.OperatorName(cloudpay.RoleOperator), nil, testkit.As(cloudpay.RoleViewer))
	if entries, _ := page.Body["entries"].([]any); page.Status != http.StatusOK || len(entries) != 1 ||
		entries[0].(map[string]any)["subject"] != "AUDIT00001" || entries[0].(map[string]any)["outcome"] != "done" {
		t.Fatalf("GET /admin/api/audit by actor: %d %s", page.Status, page.Raw)
	}
	from, to := e.At.In(cloudpay.Beijing).Format(time.DateOnly), time.Now().In(cloudpay.Beijing).Format(time.DateOnly)
	page = s.Do("GET", s.RefundURL+"/admin/api/audit?subject=AUDIT00001&from="+from+"&to="+to, nil, testkit.As(cloudpay.RoleViewer))
	if entries, _ := page.Body["entries"].([]any); len(entries) != 2 {
		t.Fatalf("GET /admin/api/audit by subject and day: %s", page.Raw)
	}
	if r := s.Do("GET", s.RefundURL+"/admin/api/audit?from=yesterday", nil, testkit.As(cloudpay.RoleViewer)); r.Status != http.StatusBadRequest || r.ErrorField() != "from" {
		t.Fatalf("a bad date: %d %s", r.Status, r.Raw)
	}

	// Reads are not actions; a user's own call is not an admin call.
	s.Do("GET", s.RefundURL+"/refunds?out_trade_no=AUDIT00001", nil, testkit.As(cloudpay.RoleViewer))
	all := audit(mongostore.AuditQuery{})
	if len(all) != 3 {
		t.Fatalf("audit log: %d entries, want 3: %+v", len(all), all)
	}
	for _, e := range all {
		for _, v := range []string{e.Actor, e.Subject, e.Route, e.RequestID, string(e.Code)} {
			if strings.Contains(v, "test-token") || strings.Contains(v, testkit.AdminToken) {
				t.Fatalf("a token in the audit log: %+v", e)
			}
		}
	}
}

// Four eyes: an admin refund over REFUND_FOUR_EYES_FEN waits for approval,
// which its creator cannot give, another approver can; one at or under the
// threshold goes at once.
func TestFourEyesOnLargeRefunds(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.RefundConfig(refund.Config{MinInterval: time.Nanosecond, FourEyesFen: 1000}))
	s.Paid("EYES000001", testkit.Alice, 5000)
	asApprover := testkit.As(cloudpay.RoleApprover)
	create := func(key string, fen int64, h map[string]string) testkit.Response {
		t.Helper()
		r := s.Do("POST", s.RefundURL+"/refunds", map[string]any{"out_trade_no": "EYES000001", "amount_fen": fen, "idempotency_key": key}, h)
		if r.Status/100 != 2 {
			t.Fatalf("refund %s: %d %s", key, r.Status, r.Raw)
		}
		return r
	}
	small := create("eyes-small", 1000, testkit.As(cloudpay.RoleOperator))
	if small.Str("status") == string(cloudpay.RefundPendingReview) || small.Body["four_eyes"] == true {
		t.Fatalf("a refund at the threshold waits: %s", small.Raw)
	}

	// A token with every role (ADMIN_TOKENS) that asked for a large refund
	// cannot approve it.
	big := create("eyes-big", 1001, testkit.Admin())
	no := big.Str("out_refund_no")
	if big.Str("status") != string(cloudpay.RefundPendingReview) || big.Body["four_eyes"] != true || big.Str("created_by") == "" {
		t.Fatalf("a large refund: %s", big.Raw)
	}
	if r := s.Do("POST", s.RefundURL+"/refunds/"+no+"/approve", nil, testkit.Admin()); r.Status != http.StatusForbidden || r.ErrorCode() != string(cloudpay.CodeFourEyes) {
		t.Fatalf("approved by its creator: %d %s", r.Status, r.Raw)
	}
	if got := s.Refund(no); got.Status != cloudpay.RefundPendingReview || len(s.SimRefunds("EYES000001")) != 1 {
		t.Fatalf("after the refused approval: %+v, WeChat has %d refunds", got, len(s.SimRefunds("EYES000001")))
	}
	r := s.Do("POST", s.RefundURL+"/refunds/"+no+"/approve", map[string]any{"note": "checked"}, asApprover)
	if r.Status != http.StatusOK || r.Str("status") == string(cloudpay.RefundPendingReview) {
		t.Fatalf("approved by another approver: %d %s", r.Status, r.Raw)
	}
	testkit.Eventually(t, func() error {
		if n := len(s.SimRefunds("EYES000001")); n != 2 {
			return fmt.Errorf("WeChat has %d refunds", n)
		}
		return nil
	})

	// A batch whose total is over the threshold: each of its refunds waits
	// for another named token, though each is small.
	s.Paid("EYES000002", testkit.Alice, 900)
	s.Paid("EYES000003", testkit.Alice, 900)
	b := s.Do("POST", s.RefundURL+"/refunds/batch", map[string]any{"idempotency_key": "eyes-batch", "items": []any{
		map[string]any{"out_trade_no": "EYES000002", "amount_fen": 600, "key": "eyes-b1"},
		map[string]any{"out_trade_no": "EYES000003", "amount_fen": 600, "key": "eyes-b2"},
	}}, testkit.Admin())
	if b.Status != http.StatusAccepted {
		t.Fatalf("batch: %d %s", b.Status, b.Raw)
	}
	var held []string
	testkit.Eventually(t, func() error {
		list := s.Do("GET", s.RefundURL+"/refunds?status=pending_review", nil, testkit.Admin())
		held = held[:0]
		for _, it := range list.Body["refunds"].([]any) {
			if m := it.(map[string]any); m["batch_id"] == b.Str("batch_id") && m["four_eyes"] == true {
				held = append(held, m["out_refund_no"].(string))
			}
		}
		if len(held) != 2 {
			return fmt.Errorf("held items: %v", held)
		}
		return nil
	})
	if r := s.Do("POST", s.RefundURL+"/refunds/"+held[0]+"/approve", nil, testkit.Admin()); r.ErrorCode() != string(cloudpay.CodeFourEyes) {
		t.Fatalf("a batch item approved by the batch's creator: %d %s", r.Status, r.Raw)
	}
	if len(s.SimRefunds("EYES000002"))+len(s.SimRefunds("EYES000003")) != 0 {
		t.Fatal("a held batch item reached WeChat")
	}
	if r := s.Do("POST", s.RefundURL+"/refunds/"+held[0]+"/approve", nil, asApprover); r.Status != http.StatusOK {
		t.Fatalf("a batch item approved by another: %d %s", r.Status, r.Raw)
	}

	// Rejecting is for anyone who may decide, the creator included.
	other := create("eyes-other", 2000, testkit.As(cloudpay.RoleOperator))
	if r := s.Do("POST", s.RefundURL+"/refunds/"+other.Str("out_refund_no")+"/reject", nil, asApprover); r.Status != http.StatusOK || r.Str("status") != string(cloudpay.RefundRejected) {
		t.Fatalf("reject: %d %s", r.Status, r.Raw)
	}
}
