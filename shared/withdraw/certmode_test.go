package withdraw_test

import (
	"fmt"
	"testing"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
	"github.com/cloudpay/cloudpay/shared/withdraw"
)

// A merchant still on platform certificates withdraws like any other: the
// payee's name travels encrypted with the certificate, WeChat's answers
// and its notification of the paid bill are verified with it.
func TestWithdrawalForAPlatformCertificateMerchant(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Channel(wechat.V3), testkit.PlatformCertificates(),
		testkit.WithdrawConfig(withdraw.Config{MinFen: 10, MaxFen: 500_000, DailyCount: 10, DailyFen: 1_000_000}))
	credit(t, s, "oCertPayee01", "c1", 300_000)
	if err := s.Withdrawals.SetRealName(ctx, "oCertPayee01", "张三"); err != nil {
		t.Fatal(err)
	}
	w, _, err := s.Withdrawals.Withdraw(ctx, "oCertPayee01", 250_000, "wd-1")
	if err != nil || w.Status != cloudpay.WithdrawalWaitingUser {
		t.Fatalf("withdraw: %+v, %v", w, err)
	}
	if bill, ok := s.Sim.Transfer(w.ID); !ok || bill.UserName != "张三" {
		t.Fatalf("WeChat's bill: %+v", bill)
	}
	if s.Sim.Signing() != wechatsim.SignCertificate {
		t.Fatal("the simulator does not sign with its certificate")
	}
	if r := s.SimPost("/transfers/"+w.ID+"/confirm", nil); r.Status != 200 {
		t.Fatalf("confirm: %d %s", r.Status, r.Raw)
	}
	testkit.Eventually(t, func() error {
		got, err := s.Store.Withdrawal(ctx, w.ID) // as the notification left it
		if err != nil || got.Status != cloudpay.WithdrawalSucceeded {
			return fmt.Errorf("withdrawal %+v, %v", got, err)
		}
		return nil
	})
}
