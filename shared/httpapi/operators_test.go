package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/mongostore"
	"github.com/cloudpay/cloudpay/shared/storetest"
)

func tokenHash(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// The audit middleware around routes that panic, lose their caller or take
// large bodies, and what it leaves out.
func TestAuditedEdges(t *testing.T) {
	t.Parallel()
	store := storetest.New(t)
	g := newGuard("refund", AdminConfig{Operators: []string{"ops:operator:" + tokenHash("ops-token")}, Audit: store})
	r := newEngine("refund", orDiscard(nil))
	r.POST("/boom", append(g.act(cloudpay.RoleOperator), func(*gin.Context) { panic("boom") })...)
	r.POST("/slow", append(g.act(cloudpay.RoleOperator), func(c *gin.Context) { c.JSON(http.StatusAccepted, gin.H{"ok": true}) })...)
	var seen int
	r.POST("/big", append(g.act(cloudpay.RoleOperator), func(c *gin.Context) {
		b, _ := io.ReadAll(c.Request.Body)
		seen = len(b)
		c.Status(http.StatusNoContent)
	})...)
	do := func(ctx context.Context, path, token string, body []byte) *httptest.ResponseRecorder {
		req := httptest.NewRequestWithContext(ctx, "POST", path, bytes.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		return w
	}
	entries := func(route string) []cloudpay.AuditEntry {
		t.Helper()
		all, err := store.Audit(context.Background(), mongostore.AuditQuery{Actor: "ops"})
		if err != nil {
			t.Fatal(err)
		}
		var out []cloudpay.AuditEntry
		for _, e := range all {
			if e.Route == route {
				out = append(out, e)
			}
		}
		return out
	}

	// A panic is answered 500 (not an empty 200) and logged as failed.
	if w := do(context.Background(), "/boom", "ops-token", []byte(`{"amount_fen":5}`)); w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), "INTERNAL") {
		t.Fatalf("panicking handler: %d %s", w.Code, w.Body)
	}
	if e := entries("/boom"); len(e) != 1 || e[0].Outcome != cloudpay.AuditFailed || e[0].Status != 500 || e[0].AmountFen != 5 {
		t.Fatalf("entries of the panic: %+v", e)
	}

	// A caller who hung up: the action's entry is written all the same.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	do(ctx, "/slow", "ops-token", nil)
	if e := entries("/slow"); len(e) != 1 || e[0].Outcome != cloudpay.AuditDone {
		t.Fatalf("entries after the caller left: %+v", e)
	}

	// A body larger than the audit reads (its subject then unread) reaches the
	// handler whole.
	big := append([]byte(`{"out_trade_no":"BIG0000001","pad":"`), bytes.Repeat([]byte("x"), 3*MaxBody)...)
	big = append(big, `"}`...)
	if w := do(context.Background(), "/big", "ops-token", big); w.Code != http.StatusNoContent || seen != len(big) {
		t.Fatalf("a large body: %d, the handler read %d of %d bytes", w.Code, seen, len(big))
	}
	if e := entries("/big"); len(e) != 1 || e[0].Outcome != cloudpay.AuditDone {
		t.Fatalf("entries of the large body: %+v", e)
	}

	// Strangers are not an admin's action: no entry.
	if w := do(context.Background(), "/slow", "", nil); w.Code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", w.Code)
	}
	all, err := store.Audit(context.Background(), mongostore.AuditQuery{Actor: "unknown"})
	if err != nil || len(all) != 0 {
		t.Fatalf("entries of a stranger: %+v %v", all, err)
	}
}

// An ADMIN_TOKENS token is named by a fingerprint, the same whatever the
// list's order; OPERATORS may not use such names.
func TestLegacyTokenNamesAreStable(t *testing.T) {
	t.Parallel()
	name := func(tokens ...string) string {
		admins, err := AdminConfig{Tokens: tokens}.admins()
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range admins {
			if string(a.clear) == "tok-x" {
				return a.name
			}
		}
		return ""
	}
	if a, b := name("tok-x", "tok-y"), name("tok-y", "tok-x"); a != b || !strings.HasPrefix(a, legacyPrefix) {
		t.Fatalf("names %q and %q", a, b)
	}
	if err := (AdminConfig{Operators: []string{"admin-1234abcd:approver:" + tokenHash("t")}}).Validate(); err == nil || !strings.Contains(err.Error(), "OPERATORS entry 1") {
		t.Fatalf("a reserved name: %v", err)
	}
	for _, bad := range []string{"x:viewer", "x:root:" + tokenHash("t"), "x:viewer:abc", ":viewer:" + tokenHash("t")} {
		if err := (AdminConfig{Operators: []string{bad}}).Validate(); err == nil || strings.Contains(err.Error(), tokenHash("t")) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if err := (AdminConfig{}).Validate(); err == nil || !strings.Contains(err.Error(), "OPERATORS") {
		t.Errorf("no tokens at all: %v", err)
	}
}
