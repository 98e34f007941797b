package httpapi_test

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"testing"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// walletEntries is a page of GET /wallet/entries, decoded strictly: an
// amount that is not an integer fails the decoding.
type walletEntries struct {
	Entries []struct {
		Seq          int64  `json:"seq"`
		Kind         string `json:"kind"`
		AmountFen    int64  `json:"amount_fen"`
		AvailableFen int64  `json:"available_fen"`
		FrozenFen    int64  `json:"frozen_fen"`
		OutTradeNo   string `json:"out_trade_no"`
		OutRefundNo  string `json:"out_refund_no"`
		WithdrawalID string `json:"withdrawal_id"`
		CreditID     string `json:"credit_id"`
		Memo         string `json:"memo"`
		CreatedAt    string `json:"created_at"`
	} `json:"entries"`
	NextBefore int64 `json:"next_before"`
}

func (p walletEntries) seqs() []int64 {
	out := []int64{}
	for _, e := range p.Entries {
		out = append(out, e.Seq)
	}
	return out
}

// appendWalletEntry appends what the balance-pay code appends (a payment
// from the balance, a refund of one), with balanced totals.
func (s *stack) appendWalletEntry(openid string, kind cloudpay.WalletEntryKind, fen cloudpay.Fen, outTradeNo, outRefundNo string) {
	s.t.Helper()
	_, _, err := s.Store.AppendWalletEntry(context.Background(), openid, string(kind)+":"+outTradeNo+":"+outRefundNo,
		func(tail cloudpay.WalletEntry, _ bool) (cloudpay.WalletEntry, error) {
			e := tail
			e.Kind, e.AmountFen, e.OutTradeNo, e.OutRefundNo, e.CreatedAt = kind, fen, outTradeNo, outRefundNo, s.Now()
			e.CreditID, e.Memo, e.WithdrawalID, e.Withdrawal = "", "", "", nil
			if kind == cloudpay.EntryPayment {
				e.AvailableFen, e.DebitedFen = e.AvailableFen-fen, e.DebitedFen+fen
			} else {
				e.AvailableFen, e.DebitedFen = e.AvailableFen+fen, e.DebitedFen-fen
			}
			return e, nil
		})
	if err != nil {
		s.t.Fatalf("append %s to %s: %v", kind, openid, err)
	}
}

// A user reads their wallet's history page by page, newest first, with
// balance payments and refunds naming their order; the merchant's back
// end reads anyone's; nobody reads another user's through the user route;
// a malformed page names its field.
func TestWalletEntriesOverHTTP(t *testing.T) {
	t.Parallel()
	s := newStack(t, testkit.Channel(wechat.V3))
	for i, fen := range []int64{1000, 500} {
		if r := s.credit(alice, "entries-"+strconv.Itoa(i), fen); r.status != http.StatusCreated {
			t.Fatalf("credit: %d %s", r.status, r.raw)
		}
	}
	wd := s.withdraw(alice, 300, "wd-entries")
	if wd.status != http.StatusCreated {
		t.Fatalf("withdraw: %d %s", wd.status, wd.raw)
	}
	s.appendWalletEntry(alice, cloudpay.EntryPayment, 200, "ENTRIES0001", "")
	s.appendWalletEntry(alice, cloudpay.EntryRefund, 80, "ENTRIES0001", "RENTRIES0001")
	if r := s.credit(bob, "entries-bob", 70); r.status != http.StatusCreated {
		t.Fatalf("credit bob: %d %s", r.status, r.raw)
	}

	page := func(url string, header map[string]string) walletEntries {
		t.Helper()
		r := s.do("GET", url, nil, header)
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", url, r.status, r.raw)
		}
		var p walletEntries
		decode(t, r.raw, &p)
		return p
	}
	first := page(s.WithdrawURL+"/wallet/entries?limit=2", user(alice))
	if got := first.seqs(); !slices.Equal(got, []int64{5, 4}) || first.NextBefore != 4 {
		t.Fatalf("first page: %v next %d", got, first.NextBefore)
	}
	refund, payment := first.Entries[0], first.Entries[1]
	if refund.Kind != "refund" || refund.OutTradeNo != "ENTRIES0001" || refund.OutRefundNo != "RENTRIES0001" ||
		refund.AmountFen != 80 || refund.AvailableFen != 1080 || refund.FrozenFen != 300 || refund.CreatedAt == "" {
		t.Errorf("refund entry: %+v", refund)
	}
	if payment.Kind != "payment" || payment.OutTradeNo != "ENTRIES0001" || payment.OutRefundNo != "" || payment.AmountFen != 200 || payment.AvailableFen != 1000 {
		t.Errorf("payment entry: %+v", payment)
	}
	rest := page(s.WithdrawURL+"/wallet/entries?before=4", user(alice))
	if got := rest.seqs(); !slices.Equal(got, []int64{3, 2, 1}) || rest.NextBefore != 0 {
		t.Fatalf("the rest: %v next %d", got, rest.NextBefore)
	}
	freeze, second, firstCredit := rest.Entries[0], rest.Entries[1], rest.Entries[2]
	if freeze.Kind != "freeze" || freeze.WithdrawalID != str(wd.body["id"]) || freeze.AmountFen != 300 || freeze.FrozenFen != 300 {
		t.Errorf("freeze entry: %+v", freeze)
	}
	if second.Kind != "credit" || second.CreditID != "entries-1" || second.Memo != "recycling reward" || second.AvailableFen != 1500 {
		t.Errorf("second credit: %+v", second)
	}
	if firstCredit.CreditID != "entries-0" || firstCredit.AmountFen != 1000 {
		t.Errorf("first credit: %+v", firstCredit)
	}
	// The keys that do not apply to an entry's kind are absent.
	if r := s.do("GET", s.WithdrawURL+"/wallet/entries?before=2", nil, user(alice)); r.status != http.StatusOK {
		t.Fatalf("oldest page: %d %s", r.status, r.raw)
	} else if e := r.body["entries"].([]any)[0].(map[string]any); len(e) != 8 || e["out_trade_no"] != nil || e["withdrawal_id"] != nil {
		t.Errorf("a credit's keys: %s", r.raw)
	}

	if admin := page(s.WithdrawURL+"/wallets/"+alice+"/entries?limit=100", admin()); !slices.Equal(admin.seqs(), []int64{5, 4, 3, 2, 1}) {
		t.Errorf("the merchant's view: %v", admin.seqs())
	}
	if own := page(s.WithdrawURL+"/wallet/entries", user(bob)); len(own.Entries) != 1 || own.Entries[0].CreditID != "entries-bob" {
		t.Errorf("bob's own history: %+v", own)
	}
	nobody := s.do("GET", s.WithdrawURL+"/wallet/entries", nil, user("oNobody_0123456789"))
	if e, ok := nobody.body["entries"].([]any); nobody.status != http.StatusOK || !ok || len(e) != 0 || nobody.body["next_before"] != nil {
		t.Errorf("an empty wallet: %d %s", nobody.status, nobody.raw)
	}

	refused := []struct {
		name, path string
		header     map[string]string
		status     int
		code       string
		field      string
	}{
		{"limit 0", "/wallet/entries?limit=0", user(alice), http.StatusBadRequest, "INVALID_FIELD", "limit"},
		{"limit too large", "/wallet/entries?limit=101", user(alice), http.StatusBadRequest, "INVALID_FIELD", "limit"},
		{"limit not a number", "/wallet/entries?limit=2.5", user(alice), http.StatusBadRequest, "INVALID_FIELD", "limit"},
		{"before 0", "/wallet/entries?before=0", user(alice), http.StatusBadRequest, "INVALID_FIELD", "before"},
		{"negative before", "/wallet/entries?before=-3", user(alice), http.StatusBadRequest, "INVALID_FIELD", "before"},
		{"before not a number", "/wallet/entries?before=x", user(alice), http.StatusBadRequest, "INVALID_FIELD", "before"},
		{"limit twice", "/wallet/entries?limit=1&limit=2", user(alice), http.StatusBadRequest, "INVALID_FIELD", "limit"},
		{"another user by parameter", "/wallet/entries?openid=" + alice, user(bob), http.StatusBadRequest, "UNKNOWN_FIELD", "openid"},
		{"no user", "/wallet/entries", nil, http.StatusUnauthorized, "OPENID_REQUIRED", ""},
		{"a user on the merchant's route", "/wallets/" + alice + "/entries", user(bob), http.StatusUnauthorized, "UNAUTHORIZED", ""},
		{"malformed openid", "/wallets/o%20bad/entries", admin(), http.StatusBadRequest, "INVALID_FIELD", "openid"},
		{"merchant's bad limit", "/wallets/" + alice + "/entries?limit=-1", admin(), http.StatusBadRequest, "INVALID_FIELD", "limit"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := s.do("GET", s.WithdrawURL+tc.path, nil, tc.header)
			if r.status != tc.status || r.errorCode() != tc.code || r.errorField() != tc.field {
				t.Fatalf("%d %s, want %d %s naming %q", r.status, r.raw, tc.status, tc.code, tc.field)
			}
		})
	}
}
