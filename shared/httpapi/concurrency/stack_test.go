// Package concurrency_test holds the HTTP API's two longest money-safety
// races: two close-expired passes over 500 items, and 200 withdrawals
// against one wallet. They wait on the store most of their time, and a test
// binary has one store process, so in shared/httpapi they ran as its tail;
// as a package of their own they have their own store, and go test runs them
// beside the other packages.
package concurrency_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/cloudpay/cloudpay/shared/job"
	"github.com/cloudpay/cloudpay/shared/testkit"
)

// runJob makes one pass through close-expired's HTTP route.
func runJob(t *testing.T, s *testkit.Stack) job.Report {
	t.Helper()
	r := s.Do("POST", s.CloseExpiredURL+"/run", nil, map[string]string{"Authorization": "Bearer " + testkit.JobToken})
	if r.Status != http.StatusOK {
		t.Fatalf("run: %d %s", r.Status, r.Raw)
	}
	var rep job.Report
	if err := json.Unmarshal(r.Raw, &rep); err != nil {
		t.Fatalf("decode %s: %v", r.Raw, err)
	}
	return rep
}

func credit(s *testkit.Stack, openid, creditID string, fen int64) testkit.Response {
	return s.Do("POST", s.WithdrawURL+"/wallets/"+openid+"/credits",
		map[string]any{"credit_id": creditID, "amount_fen": fen, "memo": "recycling reward"}, testkit.Admin())
}

func withdraw(s *testkit.Stack, openid string, fen int64, key string) testkit.Response {
	return s.Do("POST", s.WithdrawURL+"/withdrawals", map[string]any{"amount_fen": fen, "idempotency_key": key}, testkit.User(openid))
}

func str(v any) string { s, _ := v.(string); return s }
