package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/testkit"
)

// GET /admin/api/me tells the console who it is logged in as: each console
// role by its name, a token of ADMIN_TOKENS as admin. The back end's token
// may not use the console, and no token, or an unknown one, is 401.
func TestConsoleMe(t *testing.T) {
	t.Parallel()
	s := testkit.New(t)
	url := s.RefundURL + "/admin/api/me"
	for _, role := range []cloudpay.Role{cloudpay.RoleViewer, cloudpay.RoleOperator, cloudpay.RoleApprover} {
		r := s.Do("GET", url, nil, testkit.As(role))
		if r.Status != http.StatusOK || r.Str("name") != testkit.OperatorName(role) || r.Str("role") != string(role) || len(r.Body) != 2 {
			t.Errorf("%s: %d %s", role, r.Status, r.Raw)
		}
	}
	if r := s.Do("GET", url, nil, testkit.Admin()); r.Status != http.StatusOK || r.Str("role") != string(cloudpay.RoleAdmin) || r.Str("name") == "" {
		t.Errorf("an ADMIN_TOKENS token: %d %s", r.Status, r.Raw)
	}
	r := s.Do("GET", url, nil, testkit.As(cloudpay.RoleService))
	if r.Status != http.StatusForbidden || r.ErrorCode() != string(cloudpay.CodeForbiddenRole) {
		t.Errorf("the service token: %d %s", r.Status, r.Raw)
	}
	for name, h := range map[string]map[string]string{
		"no token":       nil,
		"an unknown one": {"Authorization": "Bearer not-a-token"},
	} {
		if r := s.Do("GET", url, nil, h); r.Status != http.StatusUnauthorized || r.ErrorCode() != string(cloudpay.CodeUnauthorized) {
			t.Errorf("%s: %d %s", name, r.Status, r.Raw)
		}
	}
	// Asking who one is, is no action: nothing in the audit log.
	if page := s.Do("GET", s.RefundURL+"/admin/api/audit", nil, testkit.As(cloudpay.RoleViewer)); page.Status != http.StatusOK {
		t.Fatalf("audit: %d %s", page.Status, page.Raw)
	} else if entries, _ := page.Body["entries"].([]any); len(entries) != 0 {
		t.Errorf("GET /admin/api/me was logged: %s", page.Raw)
	}
}
