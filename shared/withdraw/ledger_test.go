package withdraw_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// A credit counts once per credit_id, however often and however
// concurrently it is posted; the credit_id reused for another amount or
// user is a conflict that changes no wallet; malformed credits name their
// field.
func TestCreditCountsOncePerCreditID(t *testing.T) {
	t.Parallel()
	s := newStack(t, roomy)
	type post struct {
		openid, creditID string
		fen              cloudpay.Fen
		memo             string
	}
	tests := []struct {
		name  string
		first []post // accepted before
		again post   // posted 30 times at once
		want  cloudpay.Code
		field string
		// what the owner of first (or of again) has afterwards
		available cloudpay.Fen
		entries   int
	}{
		{name: "the same credit again",
			first: []post{{"oCreditSame", "reward-1", 1234, "m"}}, again: post{"oCreditSame", "reward-1", 1234, "m"},
			available: 1234, entries: 1},
		{name: "a first credit posted at once",
			again:     post{"oCreditRace", "reward-1b", 1234, "m"},
			available: 1234, entries: 1},
		{name: "another amount",
			first: []post{{"oCreditAmount", "reward-2", 1234, "m"}}, again: post{"oCreditAmount", "reward-2", 1235, "m"},
			want: cloudpay.CodeCreditConflict, available: 1234, entries: 1},
		{name: "another user",
			first: []post{{"oCreditOwner", "reward-3", 1234, "m"}}, again: post{"oCreditOther", "reward-3", 1234, "m"},
			want: cloudpay.CodeCreditConflict, available: 1234, entries: 1},
		{name: "two credits",
			first: []post{{"oCreditTwo", "reward-4", 1000, "m"}}, again: post{"oCreditTwo", "reward-5", 234, "m"},
			available: 1234, entries: 2},
		{name: "malformed openid", again: post{"o bad", "reward-6", 100, "m"},
			want: cloudpay.CodeInvalidField, field: "openid"},
		{name: "no credit_id", again: post{"oCreditNoID", "", 100, "m"},
			want: cloudpay.CodeInvalidField, field: "credit_id"},
		{name: "credit_id too long", again: post{"oCreditLongID", strings.Repeat("c", 65), 100, "m"},
			want: cloudpay.CodeInvalidField, field: "credit_id"},
		{name: "no amount", again: post{"oCreditZero", "reward-7", 0, "m"},
			want: cloudpay.CodeInvalidField, field: "amount_fen"},
		{name: "negative amount", again: post{"oCreditNegative", "reward-8", -1, "m"},
			want: cloudpay.CodeInvalidField, field: "amount_fen"},
		{name: "memo too long", again: post{"oCreditMemo", "reward-9", 100, strings.Repeat("备", 129)},
			want: cloudpay.CodeInvalidField, field: "memo"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			owner := tc.again.openid
			for _, p := range tc.first {
				if _, created, err := s.Withdrawals.Credit(ctx, p.openid, p.creditID, p.fen, p.memo); err != nil || !created {
					t.Fatalf("first credit: created %v, %v", created, err)
				}
				owner = p.openid
			}
			const n = 30
			created := make([]bool, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					_, created[i], errs[i] = s.Withdrawals.Credit(ctx, tc.again.openid, tc.again.creditID, tc.again.fen, tc.again.memo)
				})
			}
			wg.Wait()
			wantCreated := 0
			if tc.want == "" && tc.entries > len(tc.first) {
				wantCreated = 1
			}
			if c := count(created); c != wantCreated {
				t.Errorf("%d of %d posts created the credit, want %d", c, n, wantCreated)
			}
			for _, err := range errs {
				if c, f := code(err); c != tc.want || f != tc.field {
					t.Fatalf("credit: %v (code %s, field %q), want %q %q", err, c, f, tc.want, tc.field)
				}
			}
			if !cloudpay.ValidOpenID(owner) {
				return
			}
			if w := wallet(t, s, owner); w.AvailableFen != tc.available || w.CreditedFen != tc.available || w.FrozenFen != 0 {
				t.Errorf("wallet %+v, want %d fen credited and available", w, tc.available)
			}
			if got := kinds(t, s, owner); len(got) != tc.entries {
				t.Errorf("ledger %v, want %d entries", got, tc.entries)
			}
			if owner != tc.again.openid && cloudpay.ValidOpenID(tc.again.openid) {
				if got := kinds(t, s, tc.again.openid); len(got) != 0 {
					t.Errorf("the conflicting credit wrote %v to %s's wallet", got, tc.again.openid)
				}
			}
		})
	}
}

// Withdrawals racing for one wallet never freeze more than is available,
// never refuse what was there, and send each bill once; one idempotency
// key raced with itself is one withdrawal.
func TestConcurrentWithdrawalsNeverOverdraw(t *testing.T) {
	t.Parallel()
	s := newStack(t, roomy)
	const n = 30
	tests := []struct {
		name   string
		openid string
		credit cloudpay.Fen
		fen    func(i int) cloudpay.Fen
		key    func(i int) string
	}{
		// 200..490 fen, 10,350 in all, against 3,000.
		{"distinct keys", "oRaceDistinct", 3_000,
			func(i int) cloudpay.Fen { return cloudpay.Fen(200 + 10*i) }, func(i int) string { return fmt.Sprintf("wd-%d", i) }},
		{"one key, the whole balance", "oRaceOneKey", 3_000,
			func(int) cloudpay.Fen { return 3_000 }, func(int) string { return "wd-all" }},
		{"one key, two amounts", "oRaceTwoAmounts", 3_000,
			func(i int) cloudpay.Fen { return cloudpay.Fen(1000 + 1000*(i%2)) }, func(int) string { return "wd-same" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			credit(t, s, tc.openid, "c-"+tc.openid, tc.credit)
			ws := make([]cloudpay.Withdrawal, n)
			created := make([]bool, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { ws[i], created[i], errs[i] = s.Withdrawals.Withdraw(ctx, tc.openid, tc.fen(i), tc.key(i)) })
			}
			wg.Wait()

			accepted := map[string]cloudpay.Fen{} // by withdrawal ID
			var frozen cloudpay.Fen
			minRefused := cloudpay.MaxFen
			var conflicts []int
			for i, err := range errs {
				switch cloudpay.ErrorCode(err) {
				case "":
					if ws[i].AmountFen != tc.fen(i) || ws[i].ID != cloudpay.WithdrawalID(tc.openid, tc.key(i)) {
						t.Fatalf("withdrawal %d: %+v, asked for %d fen", i, ws[i], tc.fen(i))
					}
					if _, seen := accepted[ws[i].ID]; !seen {
						frozen += ws[i].AmountFen
					}
					accepted[ws[i].ID] = ws[i].AmountFen
				case cloudpay.CodeInsufficientBalance:
					minRefused = min(minRefused, tc.fen(i))
				case cloudpay.CodeWithdrawalConflict:
					conflicts = append(conflicts, i)
				default:
					t.Fatalf("withdrawal %d of %d fen: %v", i, tc.fen(i), err)
				}
			}
			if c := count(created); c != len(accepted) || c == 0 {
				t.Fatalf("%d withdrawals created, %d accepted", c, len(accepted))
			}
			tail := wallet(t, s, tc.openid)
			if frozen > tc.credit || tail.FrozenFen != frozen || tail.AvailableFen != tc.credit-frozen {
				t.Fatalf("accepted %d fen of %d; wallet %+v", frozen, tc.credit, tail)
			}
			// The balance only went down, so a refused amount was more than
			// was left then, and more than is left now.
			if tail.AvailableFen >= minRefused {
				t.Fatalf("%d fen refused for lack of balance, yet %d fen are available", minRefused, tail.AvailableFen)
			}
			ledger := kinds(t, s, tc.openid) // balanced and not negative at every entry
			if freezes := len(ledger) - 1; freezes != len(accepted) || slices.Index(ledger, cloudpay.EntryCredit) != 0 {
				t.Fatalf("ledger %v for %d withdrawals", ledger, len(accepted))
			}
			for id, fen := range accepted {
				bill, ok := s.Sim.Transfer(id)
				if c := sent(t, s, "transfer", id); c != 1 || !ok || bill.AmountFen != int64(fen) {
					t.Errorf("withdrawal %s: %d transfer calls, WeChat's bill %+v", id, c, bill)
				}
			}
			// A conflict is with the withdrawal its key holds, of another amount.
			for _, i := range conflicts {
				if held, ok := accepted[cloudpay.WithdrawalID(tc.openid, tc.key(i))]; !ok || held == tc.fen(i) {
					t.Fatalf("withdrawal %d of %d fen: a conflict, though its key holds %d fen (accepted %v)", i, tc.fen(i), held, ok)
				}
			}
		})
	}
}

// The idempotency key fixes the withdrawal: the same key again is the same
// withdrawal, in whatever state it is, with no new freeze and no new bill;
// with another amount it is a conflict that changes nothing; keys are the
// user's own.
func TestIdempotencyKeyFixesTheWithdrawal(t *testing.T) {
	t.Parallel()
	s := newStack(t, roomy)
	tests := []struct {
		name       string
		openid     string
		settle     string // what WeChat does to the bill first: "", "confirm" or "decline"
		fen        cloudpay.Fen
		key        string
		want       cloudpay.Code
		wantStatus cloudpay.WithdrawalStatus
	}{
		{"same amount while waiting", "oKeyWaiting", "", 2000, "wd-1", "", cloudpay.WithdrawalWaitingUser},
		{"same amount after success", "oKeySucceeded", "confirm", 2000, "wd-1", "", cloudpay.WithdrawalSucceeded},
		{"same amount after failure", "oKeyFailed", "decline", 2000, "wd-1", "", cloudpay.WithdrawalFailed},
		{"another amount", "oKeyAmount", "", 2001, "wd-1", cloudpay.CodeWithdrawalConflict, ""},
		{"another amount after failure", "oKeyAmountFailed", "decline", 1999, "wd-1", cloudpay.CodeWithdrawalConflict, ""},
		{"another key", "oKeyOther", "", 2000, "wd-2", "", cloudpay.WithdrawalWaitingUser},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			credit(t, s, tc.openid, "c-"+tc.openid, 5000)
			first := withdrawOK(t, s, tc.openid, 2000, "wd-1")
			if tc.settle != "" {
				if r := s.SimPost("/transfers/"+first.ID+"/"+tc.settle, nil); r.Status != 200 {
					t.Fatalf("%s at WeChat: %d %s", tc.settle, r.Status, r.Raw)
				}
			}
			// Bob's key of the same name is Bob's own withdrawal.
			bob := "oBob" + tc.openid
			credit(t, s, bob, "c-"+bob, 5000)
			if w := withdrawOK(t, s, bob, 2000, "wd-1"); w.ID == first.ID {
				t.Fatalf("two users' keys made one withdrawal %s", w.ID)
			}

			before, balance := kinds(t, s, tc.openid), wallet(t, s, tc.openid)
			w, created, err := s.Withdrawals.Withdraw(ctx, tc.openid, tc.fen, tc.key)
			if cloudpay.ErrorCode(err) != tc.want {
				t.Fatalf("again: %v, want %q", err, tc.want)
			}
			if tc.want != "" {
				nothingHappened(t, s, tc.openid, before, balance, "")
				if n := sent(t, s, "transfer", first.ID); n != 1 {
					t.Fatalf("%d transfer calls for the first withdrawal", n)
				}
				return
			}
			if w.Status != tc.wantStatus || w.AmountFen != tc.fen {
				t.Fatalf("again: %+v, want %s", w, tc.wantStatus)
			}
			if tc.key != "wd-1" {
				if !created || w.ID == first.ID {
					t.Fatalf("another key: %+v created %v, want a new withdrawal", w, created)
				}
				return
			}
			if created || w.ID != first.ID {
				t.Fatalf("again: %+v created %v, want withdrawal %s as it was", w, created, first.ID)
			}
			if after := kinds(t, s, tc.openid); !slices.Equal(after, before) {
				t.Fatalf("the same withdrawal again changed the ledger from %v to %v", before, after)
			}
			if after := wallet(t, s, tc.openid); after != balance {
				t.Fatalf("the same withdrawal again changed the wallet from %+v to %+v", balance, after)
			}
			if n := sent(t, s, "transfer", first.ID); n != 1 {
				t.Fatalf("%d transfer calls for one withdrawal", n)
			}
		})
	}
}

func count(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}
