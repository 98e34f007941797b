package withdraw_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/withdraw"
)

var ctx = context.Background()

// roomy limits are met only by the tests of a limit.
var roomy = withdraw.Config{MinFen: 10, MaxFen: 500_000, DailyCount: 1000, DailyFen: 100_000_000}

// newStack is cloudpay on API v3, the only channel with transfers, with
// cfg's withdrawal limits.
func newStack(t *testing.T, cfg withdraw.Config) *testkit.Stack {
	t.Helper()
	return testkit.New(t, testkit.Channel(wechat.V3), testkit.WithdrawConfig(cfg))
}

// credit posts a credit from the business back end; any error fails the test.
func credit(t *testing.T, s *testkit.Stack, openid, creditID string, fen cloudpay.Fen) {
	t.Helper()
	if _, _, err := s.Withdrawals.Credit(ctx, openid, creditID, fen, "recycling reward"); err != nil {
		t.Fatalf("credit %s %d fen to %s: %v", creditID, fen, openid, err)
	}
}

// wallet is the balance the user sees.
func wallet(t *testing.T, s *testkit.Stack, openid string) withdraw.Wallet {
	t.Helper()
	w, err := s.Withdrawals.Wallet(ctx, openid)
	if err != nil {
		t.Fatalf("wallet of %s: %v", openid, err)
	}
	return w
}

// withdrawOK withdraws and fails the test on any error.
func withdrawOK(t *testing.T, s *testkit.Stack, openid string, fen cloudpay.Fen, key string) cloudpay.Withdrawal {
	t.Helper()
	w, _, err := s.Withdrawals.Withdraw(ctx, openid, fen, key)
	if err != nil {
		t.Fatalf("withdraw %d fen as %s (%s): %v", fen, openid, key, err)
	}
	return w
}

// kinds lists a wallet's ledger, checked to balance at every entry, by kind.
func kinds(t *testing.T, s *testkit.Stack, openid string) []cloudpay.WalletEntryKind {
	t.Helper()
	var out []cloudpay.WalletEntryKind
	for _, e := range s.CheckWallet(openid) {
		out = append(out, e.Kind)
	}
	return out
}

// sent counts the calls WeChat received for api about one transfer bill,
// named in the body (create) or in the path (query, cancel).
func sent(t *testing.T, s *testkit.Stack, api, outBillNo string) int {
	t.Helper()
	n := 0
	for _, c := range s.SimCalls(api) {
		body, _ := c["body"].(map[string]any)
		path, _ := c["path"].(string)
		p, _ := url.Parse(path)
		if body["out_bill_no"] == outBillNo || (p != nil && slices.Contains(strings.Split(p.Path, "/"), outBillNo)) {
			n++
		}
	}
	return n
}

// code is err's domain code, and the field it names.
func code(err error) (cloudpay.Code, string) {
	var e *cloudpay.Error
	if errors.As(err, &e) {
		return e.Code, e.Field
	}
	return cloudpay.ErrorCode(err), ""
}

// nothingHappened fails the test unless a refused request left no trace:
// no new ledger entry, the same balance, no withdrawal stored, no bill at
// WeChat.
func nothingHappened(t *testing.T, s *testkit.Stack, openid string, before []cloudpay.WalletEntryKind, balance withdraw.Wallet, id string) {
	t.Helper()
	if after := kinds(t, s, openid); !slices.Equal(after, before) {
		t.Errorf("the wallet ledger went from %v to %v", before, after)
	}
	if w := wallet(t, s, openid); w != balance {
		t.Errorf("the wallet went from %+v to %+v", balance, w)
	}
	if id == "" {
		return
	}
	if w, err := s.Store.Withdrawal(ctx, id); cloudpay.ErrorCode(err) != cloudpay.CodeWithdrawalNotFound {
		t.Errorf("a withdrawal was stored: %+v, %v", w, err)
	}
	if n := sent(t, s, "transfer", id); n != 0 {
		t.Errorf("WeChat received %d transfer calls", n)
	}
}
