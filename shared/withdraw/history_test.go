package withdraw_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/testkit"
)

// appendEntry appends a balance payment or a refund of one to a wallet
// through the store, as the balance-pay code does, keeping the totals
// balanced; any error fails the test.
func appendEntry(t *testing.T, s *testkit.Stack, openid string, kind cloudpay.WalletEntryKind, fen cloudpay.Fen, outTradeNo, outRefundNo string) {
	t.Helper()
	ref := string(kind) + ":" + outTradeNo + ":" + outRefundNo
	_, _, err := s.Store.AppendWalletEntry(ctx, openid, ref, func(tail cloudpay.WalletEntry, _ bool) (cloudpay.WalletEntry, error) {
		e := tail
		e.Kind, e.AmountFen, e.OutTradeNo, e.OutRefundNo, e.CreatedAt = kind, fen, outTradeNo, outRefundNo, s.Now()
		e.CreditID, e.Memo, e.WithdrawalID, e.Withdrawal = "", "", "", nil
		switch kind {
		case cloudpay.EntryPayment:
			e.AvailableFen -= fen
			e.DebitedFen += fen
		case cloudpay.EntryRefund:
			e.AvailableFen += fen
			e.DebitedFen -= fen
		}
		return e, nil
	})
	if err != nil {
		t.Fatalf("append %s of %d fen to %s: %v", kind, fen, openid, err)
	}
}

// A user's history lists every movement of their wallet, newest first:
// credits, a withdrawal frozen and paid out, a payment from the balance
// and its refund, each naming what it refers to; pages follow one
// another without a gap or a repeat; malformed pages name their field;
// and nobody sees another user's movements.
func TestHistoryListsTheWalletNewestFirst(t *testing.T) {
	t.Parallel()
	s := newStack(t, roomy)
	const alice, bob = "oHistoryAlice", "oHistoryBob"
	credit(t, s, alice, "h-1", 1000)
	credit(t, s, alice, "h-2", 500)
	w := withdrawOK(t, s, alice, 300, "h-wd")
	if r := s.SimPost("/transfers/"+w.ID+"/confirm", nil); r.Status != 200 {
		t.Fatalf("confirm: %d %s", r.Status, r.Raw)
	}
	testkit.Eventually(t, func() error {
		got, err := s.Withdrawals.Withdrawal(ctx, alice, w.ID)
		if err == nil && got.Status != cloudpay.WithdrawalSucceeded {
			return fmt.Errorf("withdrawal is %s", got.Status)
		}
		return err
	})
	appendEntry(t, s, alice, cloudpay.EntryPayment, 200, "HISTORY0001", "")
	appendEntry(t, s, alice, cloudpay.EntryRefund, 50, "HISTORY0001", "RHISTORY0001")
	credit(t, s, bob, "h-bob", 70)
	s.CheckWallet(alice)

	all, next, err := s.Withdrawals.History(ctx, alice, 0, 0)
	if err != nil || next != 0 {
		t.Fatalf("history: next %d, %v", next, err)
	}
	var got []cloudpay.WalletEntryKind
	for _, e := range all {
		got = append(got, e.Kind)
	}
	want := []cloudpay.WalletEntryKind{cloudpay.EntryRefund, cloudpay.EntryPayment, cloudpay.EntryDebit, cloudpay.EntryFreeze, cloudpay.EntryCredit, cloudpay.EntryCredit}
	if !slices.Equal(got, want) {
		t.Fatalf("kinds %v, want %v", got, want)
	}
	for i, e := range all {
		if e.Seq != int64(len(all)-i) || e.OpenID != alice {
			t.Fatalf("entry %d: seq %d of %s", i, e.Seq, e.OpenID)
		}
	}
	if e := all[0]; e.OutTradeNo != "HISTORY0001" || e.OutRefundNo != "RHISTORY0001" || e.AmountFen != 50 || e.AvailableFen != 1050 {
		t.Errorf("refund entry: %+v", e)
	}
	if e := all[1]; e.OutTradeNo != "HISTORY0001" || e.OutRefundNo != "" || e.AmountFen != 200 || e.AvailableFen != 1000 {
		t.Errorf("payment entry: %+v", e)
	}
	if e := all[2]; e.WithdrawalID != w.ID || e.AmountFen != 300 || e.FrozenFen != 0 {
		t.Errorf("debit entry: %+v", e)
	}
	if e := all[3]; e.WithdrawalID != w.ID || e.AmountFen != 300 || e.AvailableFen != 1200 || e.FrozenFen != 300 {
		t.Errorf("freeze entry: %+v", e)
	}
	if e := all[5]; e.CreditID != "h-1" || e.Memo != "recycling reward" || e.AmountFen != 1000 || e.AvailableFen != 1000 {
		t.Errorf("first credit: %+v", e)
	}

	seqs := func(es []cloudpay.WalletEntry) []int64 {
		out := []int64{}
		for _, e := range es {
			out = append(out, e.Seq)
		}
		return out
	}
	tests := []struct {
		name     string
		openid   string
		before   int64
		limit    int
		want     []int64
		wantNext int64
		field    string // the field a refusal names
	}{
		{name: "a first page", openid: alice, limit: 4, want: []int64{6, 5, 4, 3}, wantNext: 3},
		{name: "the page after it", openid: alice, before: 3, limit: 4, want: []int64{2, 1}},
		{name: "a page that ends at the first entry", openid: alice, before: 3, limit: 2, want: []int64{2, 1}},
		{name: "a page in the middle", openid: alice, before: 5, limit: 2, want: []int64{4, 3}, wantNext: 3},
		{name: "one per page", openid: alice, before: 2, limit: 1, want: []int64{1}},
		{name: "before the first entry", openid: alice, before: 1, limit: 5, want: []int64{}},
		{name: "before past the newest", openid: alice, before: 1000, limit: 2, want: []int64{6, 5}, wantNext: 5},
		{name: "the largest page", openid: alice, limit: 100, want: []int64{6, 5, 4, 3, 2, 1}},
		{name: "another user's own entries", openid: bob, want: []int64{1}},
		{name: "a user with no wallet", openid: "oHistoryNobody", want: []int64{}},
		{name: "limit too large", openid: alice, limit: 101, field: "limit"},
		{name: "negative limit", openid: alice, limit: -1, field: "limit"},
		{name: "negative before", openid: alice, before: -1, field: "before"},
		{name: "malformed openid", openid: "o bad", field: "openid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			page, next, err := s.Withdrawals.History(ctx, tc.openid, tc.before, tc.limit)
			if tc.field != "" {
				if c, f := code(err); c != cloudpay.CodeInvalidField || f != tc.field {
					t.Fatalf("error %v (%s, %s), want %s naming %s", err, c, f, cloudpay.CodeInvalidField, tc.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := seqs(page); !slices.Equal(got, tc.want) || next != tc.wantNext {
				t.Fatalf("seqs %v next %d, want %v next %d", got, next, tc.want, tc.wantNext)
			}
			for _, e := range page {
				if e.OpenID != tc.openid {
					t.Fatalf("entry %s of %s in %s's history", e.ID, e.OpenID, tc.openid)
				}
			}
		})
	}

	// Following next from the newest visits every entry once, in order.
	var walked []int64
	for before, pages := int64(0), 0; ; pages++ {
		if pages > 10 {
			t.Fatalf("more pages than entries: %v", walked)
		}
		page, next, err := s.Withdrawals.History(ctx, alice, before, 4)
		if err != nil {
			t.Fatal(err)
		}
		walked = append(walked, seqs(page)...)
		if next == 0 {
			break
		}
		before = next
	}
	if !slices.Equal(walked, []int64{6, 5, 4, 3, 2, 1}) {
		t.Fatalf("walked %v", walked)
	}
}
