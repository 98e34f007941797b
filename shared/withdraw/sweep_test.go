package withdraw_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/withdraw"
)

// Sweeping a wallet entry whose request died before the withdrawal's
// document makes the document true; sweeps running at once (two job
// passes) agree, and sweeping the entry again changes nothing.
func TestSweepRepairsAnEntryOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	id := cloudpay.WithdrawalID(testkit.Alice, "wd-1")
	tests := []struct {
		name    string
		crashAt string
		crash   func(t *testing.T, s *testkit.Stack, c *withdraw.Service)
		want    cloudpay.WithdrawalStatus
		once    bool // only one sweep can repair it
	}{
		{
			name: "freeze", crashAt: "InsertWithdrawal", want: cloudpay.WithdrawalCreated, once: true,
			crash: func(t *testing.T, s *testkit.Stack, c *withdraw.Service) {
				if _, _, err := c.Withdraw(ctx, testkit.Alice, 3000, "wd-1"); !errors.Is(err, testkit.ErrCrash) {
					t.Fatalf("withdraw: %v, want the crash", err)
				}
			},
		},
		{
			name: "debit", crashAt: "SaveWithdrawal", want: cloudpay.WithdrawalSucceeded,
			crash: func(t *testing.T, s *testkit.Stack, c *withdraw.Service) {
				w, _, err := s.Withdrawals.Withdraw(ctx, testkit.Alice, 3000, "wd-1")
				if err != nil || w.Status != cloudpay.WithdrawalWaitingUser {
					t.Fatalf("withdraw: %+v, %v", w, err)
				}
				s.Fault("v3_notify", "drop", 1, nil)
				if r := s.SimPost("/transfers/"+id+"/confirm", nil); r.Status != 200 {
					t.Fatalf("confirm: %d %s", r.Status, r.Raw)
				}
				if _, err := c.Reconcile(ctx, id); !errors.Is(err, testkit.ErrCrash) {
					t.Fatalf("reconcile: %v, want the crash", err)
				}
				if w, _ := s.Store.Withdrawal(ctx, id); w.Status != cloudpay.WithdrawalWaitingUser {
					t.Fatalf("withdrawal after the crash: %+v", w)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := testkit.New(t, testkit.Channel(wechat.V3))
			if _, _, err := s.Withdrawals.Credit(ctx, testkit.Alice, "credit-1", 10_000, "reward"); err != nil {
				t.Fatal(err)
			}
			tc.crash(t, s, crashed(t, s, tc.crashAt))
			entries := s.CheckWallet(testkit.Alice)
			e := entries[len(entries)-1]
			if e.WithdrawalID != id {
				t.Fatalf("the newest entry is %+v, not the crashed request's", e)
			}

			var wg sync.WaitGroup
			var mu sync.Mutex
			repaired := 0
			for range 4 {
				wg.Go(func() {
					did, err := s.Withdrawals.Sweep(ctx, e)
					if err != nil {
						t.Error(err)
					}
					mu.Lock()
					defer mu.Unlock()
					if did {
						repaired++
					}
				})
			}
			wg.Wait()
			if repaired == 0 || (tc.once && repaired != 1) {
				t.Fatalf("%d sweeps repaired the entry", repaired)
			}
			w, err := s.Store.Withdrawal(ctx, id)
			if err != nil || w.Status != tc.want || w.AmountFen != 3000 || w.OpenID != testkit.Alice {
				t.Fatalf("withdrawal: %+v, %v", w, err)
			}
			if did, err := s.Withdrawals.Sweep(ctx, e); did || err != nil {
				t.Fatalf("sweeping again: %v, %v", did, err)
			}
			if again, _ := s.Store.Withdrawal(ctx, id); again.Status != w.Status || !again.UpdatedAt.Equal(w.UpdatedAt) {
				t.Fatalf("sweeping again changed the withdrawal:\n%+v\n%+v", w, again)
			}
			if n := len(s.CheckWallet(testkit.Alice)); n != len(entries) {
				t.Fatalf("the wallet has %d entries after sweeping, %d before", n, len(entries))
			}
		})
	}
}

// crashed is another instance of the withdraw function, on the stack's
// database and simulator, that dies at the write named at.
func crashed(t *testing.T, s *testkit.Stack, at string) *withdraw.Service {
	t.Helper()
	return withdraw.New(testkit.CrashingStore{Store: s.Store, At: at}, s.V3Gateway(),
		withdraw.Config{MinFen: 10, MaxFen: 500_000, DailyCount: 1000, DailyFen: 100_000_000}, withdraw.WithClock(s.Now))
}
