package withdraw_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/withdraw"
)

// Each limit refuses on one side of its boundary and accepts on the other,
// and a refusal leaves no trace: no ledger entry, nothing frozen, no bill
// at WeChat.
func TestWithdrawalLimits(t *testing.T) {
	t.Parallel()
	s := newStack(t, withdraw.Config{MinFen: 100, MaxFen: 300_000, DailyCount: 3, DailyFen: 400_000})
	type step struct {
		realName string       // recorded before the withdrawal
		fen      cloudpay.Fen // withdrawn
		key      string       // idempotency key; "" for a fresh one
		noKey    bool         // no idempotency key at all
		want     cloudpay.Code
		field    string // the field an INVALID_FIELD names
	}
	tests := []struct {
		name   string
		openid string
		credit cloudpay.Fen
		steps  []step
	}{
		{"minimum per withdrawal", "oLimitMinimum", 10_000, []step{
			{fen: 99, want: cloudpay.CodeBelowMinimum},
			{fen: 100},
		}},
		{"maximum per withdrawal", "oLimitMaximum", 400_000, []step{
			{fen: 300_001, realName: "张三", want: cloudpay.CodeAboveMaximum},
			{fen: 300_000},
		}},
		{"real name from 2000 CNY", "oLimitRealName", 400_000, []step{
			{fen: 199_999},
			{fen: 200_000, want: cloudpay.CodeRealNameRequired},
			{fen: 200_000, realName: "李四"},
		}},
		{"withdrawals per day", "oLimitDailyCount", 10_000, []step{
			{fen: 100}, {fen: 100}, {fen: 100},
			{fen: 100, want: cloudpay.CodeDailyCountExceeded},
		}},
		{"amount per day", "oLimitDailyAmount", 500_000, []step{
			{fen: 300_000, realName: "王五"},
			{fen: 100_000}, // 400,000 today: the limit itself
			{fen: 100, want: cloudpay.CodeDailyAmountExceeded},
		}},
		{"available balance", "oLimitBalance", 1_000, []step{
			{fen: 1_001, want: cloudpay.CodeInsufficientBalance},
			{fen: 1_000},
			{fen: 100, want: cloudpay.CodeInsufficientBalance},
		}},
		{"an empty wallet", "oLimitEmpty", 0, []step{
			{fen: 100, want: cloudpay.CodeInsufficientBalance},
		}},
		{"malformed amount", "oLimitBadAmount", 10_000, []step{
			{fen: 0, want: cloudpay.CodeInvalidField, field: "amount_fen"},
			{fen: -100, want: cloudpay.CodeInvalidField, field: "amount_fen"},
			{fen: cloudpay.MaxFen + 1, want: cloudpay.CodeInvalidField, field: "amount_fen"},
		}},
		{"malformed idempotency key", "oLimitBadKey", 10_000, []step{
			{fen: 100, noKey: true, want: cloudpay.CodeInvalidField, field: "idempotency_key"},
			{fen: 100, key: "line\nbreak", want: cloudpay.CodeInvalidField, field: "idempotency_key"},
			{fen: 100, key: strings.Repeat("k", 129), want: cloudpay.CodeInvalidField, field: "idempotency_key"},
			{fen: 100, key: strings.Repeat("k", 128)},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.credit > 0 {
				credit(t, s, tc.openid, "credit-"+tc.openid, tc.credit)
			}
			for i, st := range tc.steps {
				if st.realName != "" {
					if err := s.Withdrawals.SetRealName(ctx, tc.openid, st.realName); err != nil {
						t.Fatal(err)
					}
				}
				key := st.key
				if key == "" && !st.noKey {
					key = fmt.Sprintf("wd-%d", i)
				}
				id := cloudpay.WithdrawalID(tc.openid, key)
				before, balance := kinds(t, s, tc.openid), wallet(t, s, tc.openid)
				w, created, err := s.Withdrawals.Withdraw(ctx, tc.openid, st.fen, key)
				if st.want != "" {
					if c, f := code(err); c != st.want || f != st.field {
						t.Fatalf("step %d, %d fen: %v (code %s, field %q), want %s %q", i, st.fen, err, c, f, st.want, st.field)
					}
					nothingHappened(t, s, tc.openid, before, balance, id)
					continue
				}
				if err != nil || !created || w.ID != id || w.AmountFen != st.fen || w.Status != cloudpay.WithdrawalWaitingUser {
					t.Fatalf("step %d, %d fen: %+v created %v, %v; want it waiting for the user", i, st.fen, w, created, err)
				}
				after := wallet(t, s, tc.openid)
				if after.AvailableFen != balance.AvailableFen-st.fen || after.FrozenFen != balance.FrozenFen+st.fen ||
					after.WithdrawalsToday != balance.WithdrawalsToday+1 || after.WithdrawnTodayFen != balance.WithdrawnTodayFen+st.fen {
					t.Fatalf("step %d, %d fen: wallet went from %+v to %+v", i, st.fen, balance, after)
				}
				if got := kinds(t, s, tc.openid); len(got) != len(before)+1 || got[len(got)-1] != cloudpay.EntryFreeze {
					t.Fatalf("step %d: ledger went from %v to %v, want one freeze more", i, before, got)
				}
				bill, ok := s.Sim.Transfer(id)
				if n := sent(t, s, "transfer", id); !ok || n != 1 || bill.AmountFen != int64(st.fen) {
					t.Fatalf("step %d: WeChat's bill %+v (found %v) after %d calls", i, bill, ok, n)
				}
				if st.fen >= withdraw.RealNameFen && bill.UserName == "" {
					t.Fatalf("step %d: %d fen sent without the payee's name", i, st.fen)
				}
			}
		})
	}
}

// The day's quota is the Beijing day's: at 00:01 in Beijing, two minutes
// after it was used up and on the same UTC day, it is whole again.
func TestDailyQuotaResetsAtBeijingMidnight(t *testing.T) {
	t.Parallel()
	s := newStack(t, withdraw.Config{MinFen: 100, MaxFen: 500_000, DailyCount: 2, DailyFen: 1_000})
	now := s.Now()
	bj := now.In(cloudpay.Beijing)
	midnight := time.Date(bj.Year(), bj.Month(), bj.Day()+1, 0, 0, 0, 0, cloudpay.Beijing)
	s.Advance(midnight.Sub(now) - time.Minute) // 23:59 in Beijing, 15:59 UTC
	before := s.Now()

	// One clock for the whole stack: the cases run side by side in each phase.
	tests := []struct {
		name, openid string
		fen          cloudpay.Fen
		accepted     int // before the quota is used up
		want         cloudpay.Code
	}{
		{"count", "oDayCount", 100, 2, cloudpay.CodeDailyCountExceeded},
		{"amount", "oDayAmount", 600, 1, cloudpay.CodeDailyAmountExceeded},
	}
	for _, tc := range tests {
		credit(t, s, tc.openid, "c-"+tc.openid, 10_000)
		for i := range tc.accepted {
			withdrawOK(t, s, tc.openid, tc.fen, fmt.Sprintf("before-%d", i))
		}
		if _, _, err := s.Withdrawals.Withdraw(ctx, tc.openid, tc.fen, "before-refused"); cloudpay.ErrorCode(err) != tc.want {
			t.Fatalf("%s: at 23:59 in Beijing: %v, want %s", tc.name, err, tc.want)
		}
		if w := wallet(t, s, tc.openid); w.WithdrawalsToday != tc.accepted || w.WithdrawnTodayFen != tc.fen*cloudpay.Fen(tc.accepted) {
			t.Fatalf("%s: wallet at 23:59 %+v", tc.name, w)
		}
	}

	s.Advance(2 * time.Minute) // 00:01 in Beijing, still the same UTC day
	if after := s.Now(); cloudpay.BeijingDay(after) == cloudpay.BeijingDay(before) ||
		after.UTC().Format(time.DateOnly) != before.UTC().Format(time.DateOnly) {
		t.Fatalf("the clock went from %s to %s: not across Beijing midnight alone", before, after)
	}
	for _, tc := range tests {
		if w := wallet(t, s, tc.openid); w.WithdrawalsToday != 0 || w.WithdrawnTodayFen != 0 || w.FrozenFen != tc.fen*cloudpay.Fen(tc.accepted) {
			t.Fatalf("%s: wallet at 00:01 %+v, want a fresh day's quota and yesterday's money still frozen", tc.name, w)
		}
		for i := range tc.accepted {
			withdrawOK(t, s, tc.openid, tc.fen, fmt.Sprintf("after-%d", i))
		}
		if _, _, err := s.Withdrawals.Withdraw(ctx, tc.openid, tc.fen, "after-refused"); cloudpay.ErrorCode(err) != tc.want {
			t.Fatalf("%s: the new day's quota used up: %v, want %s", tc.name, err, tc.want)
		}
		s.CheckWallet(tc.openid)
	}
}
