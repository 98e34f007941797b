package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
	"github.com/cloudpay/cloudpay/shared/withdraw"
)

func (s *stack) credit(openid, creditID string, fen int64) response {
	return s.do("POST", s.WithdrawURL+"/wallets/"+openid+"/credits",
		map[string]any{"credit_id": creditID, "amount_fen": fen, "memo": "recycling reward"}, admin())
}

func (s *stack) withdraw(openid string, fen int64, key string) response {
	return s.do("POST", s.WithdrawURL+"/withdrawals", map[string]any{"amount_fen": fen, "idempotency_key": key}, user(openid))
}

func (s *stack) wallet(openid string) withdraw.Wallet {
	s.t.Helper()
	r := s.do("GET", s.WithdrawURL+"/wallet", nil, user(openid))
	if r.status != http.StatusOK {
		s.t.Fatalf("wallet: %d %s", r.status, r.raw)
	}
	var w withdraw.Wallet
	decode(s.t, r.raw, &w)
	return w
}

func TestWithdrawalEndToEnd(t *testing.T) {
	t.Parallel()
	s := newStack(t, testkit.Channel(wechat.V3))
	if r := s.credit(alice, "recycle-001", 10_000); r.status != http.StatusCreated {
		t.Fatalf("credit: %d %s", r.status, r.raw)
	}
	r := s.withdraw(alice, 3000, "wd-1")
	if r.status != http.StatusCreated || r.body["status"] != "waiting_user" || str(r.body["package_info"]) == "" {
		t.Fatalf("withdraw: %d %s", r.status, r.raw)
	}
	id := str(r.body["id"])
	if w := s.wallet(alice); w.AvailableFen != 7000 || w.FrozenFen != 3000 || w.WithdrawnTodayFen != 3000 {
		t.Fatalf("wallet while waiting: %+v", w)
	}
	// The user taps 确认收款 in wx.requestMerchantTransfer; WeChat notifies.
	if c := s.simPost("/transfers/"+id+"/confirm", nil); c.status != http.StatusOK {
		t.Fatalf("confirm: %d %s", c.status, c.raw)
	}
	got := s.do("GET", s.WithdrawURL+"/withdrawals/"+id, nil, user(alice))
	if got.body["status"] != "succeeded" || got.body["package_info"] != nil {
		t.Fatalf("withdrawal after confirming: %s", got.raw)
	}
	if w := s.wallet(alice); w.AvailableFen != 7000 || w.FrozenFen != 0 || w.DebitedFen != 3000 {
		t.Fatalf("wallet after the transfer: %+v", w)
	}
	if evs := s.Events(id); len(evs) != 1 || evs[0].Type != cloudpay.EventWithdrawalSucceeded {
		t.Fatalf("events: %+v", evs)
	}
	if again := s.withdraw(alice, 3000, "wd-1"); again.status != http.StatusOK || again.body["id"] != id {
		t.Fatalf("same key again: %d %s", again.status, again.raw)
	}
	if again := s.withdraw(alice, 3001, "wd-1"); again.status != http.StatusConflict || again.errorCode() != "WITHDRAWAL_CONFLICT" {
		t.Fatalf("same key, other amount: %d %s", again.status, again.raw)
	}
	if n := len(s.SimCalls("transfer")); n != 1 {
		t.Fatalf("transfer calls = %d, want 1", n)
	}
	if r := s.do("GET", s.WithdrawURL+"/withdrawals/"+id, nil, user(bob)); r.status != http.StatusForbidden {
		t.Fatalf("another user's withdrawal: %d %s", r.status, r.raw)
	}
	list := s.do("GET", s.WithdrawURL+"/withdrawals", nil, user(alice))
	if l, _ := list.body["withdrawals"].([]any); len(l) != 1 {
		t.Fatalf("list: %s", list.raw)
	}
	s.CheckWallet(alice)
}

func TestCreditPostedConcurrentlyCountsOnce(t *testing.T) {
	t.Parallel()
	s := newStack(t, testkit.Channel(wechat.V3))
	var created atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			r, _ := whileBusy(func() response { return s.credit(alice, "order-4711-reward", 1234) })
			switch r.status {
			case http.StatusCreated:
				created.Add(1)
			case http.StatusOK:
			default:
				t.Errorf("credit: %d %s", r.status, r.raw)
			}
		})
	}
	wg.Wait()
	if created.Load() != 1 {
		t.Fatalf("%d credits created, want 1", created.Load())
	}
	if w := s.wallet(alice); w.AvailableFen != 1234 || w.CreditedFen != 1234 {
		t.Fatalf("wallet: %+v", w)
	}
	for _, tc := range []struct {
		openid string
		fen    int64
	}{{alice, 1235}, {bob, 1234}} {
		if r := s.credit(tc.openid, "order-4711-reward", tc.fen); r.status != http.StatusConflict || r.errorCode() != "CREDIT_CONFLICT" {
			t.Fatalf("credit_id reused: %d %s", r.status, r.raw)
		}
	}
	if len(s.CheckWallet(alice)) != 1 || len(s.CheckWallet(bob)) != 0 {
		t.Fatal("a conflicting credit changed a wallet")
	}
}

func TestWithdrawalWithAnUnknownResult(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, settle string // what WeChat's bill becomes ("" = nothing known)
		want         string
		available    cloudpay.Fen
		frozen       cloudpay.Fen
	}{
		{"WeChat says FAIL", "FAIL", "failed", 5000, 0},
		{"WeChat says SUCCESS", "SUCCESS", "succeeded", 3000, 0},
		{"WeChat does not answer", "", "processing", 3000, 2000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStack(t, testkit.Channel(wechat.V3), testkit.GatewayTimeout(testkit.FaultTimeout))
			s.credit(alice, "c-1", 5000)
			s.Fault("transfer", "timeout", 1, nil)
			r := s.withdraw(alice, 2000, "wd-unknown")
			id := str(r.body["id"])
			if r.status != http.StatusCreated || r.body["status"] != "processing" {
				t.Fatalf("withdraw with a timeout: %d %s", r.status, r.raw)
			}
			if w := s.wallet(alice); w.FrozenFen != 2000 {
				t.Fatalf("a timeout must keep the money frozen: %+v", w)
			}
			switch tc.settle {
			case "":
				s.Fault("querytransfer", "fail", 1, map[string]any{"code": "SYSTEM_ERROR"})
			default:
				s.Fault("v3_notify", "drop", 1, nil) // the notification is lost too
				body := map[string]any{"state": tc.settle}
				if tc.settle == "FAIL" {
					body["fail_reason"] = "ACCOUNT_FROZEN"
				}
				if c := s.simPost("/transfers/"+id+"/settle", body); c.status != http.StatusOK {
					t.Fatalf("settle at WeChat: %d %s", c.status, c.raw)
				}
			}
			got := s.do("GET", s.WithdrawURL+"/withdrawals/"+id, nil, user(alice))
			if got.status != http.StatusOK || got.body["status"] != tc.want {
				t.Fatalf("withdrawal: %d %s, want %s", got.status, got.raw, tc.want)
			}
			if w := s.wallet(alice); w.AvailableFen != tc.available || w.FrozenFen != tc.frozen {
				t.Fatalf("wallet %+v, want available %d frozen %d", w, tc.available, tc.frozen)
			}
			s.CheckWallet(alice)
			if n := len(s.SimCalls("transfer")); n != 1 {
				t.Fatalf("transfer calls = %d: out_bill_no must not be sent again while unknown", n)
			}
		})
	}
}

func TestTransferNotificationsThatMustChangeNothingWrong(t *testing.T) {
	t.Parallel()
	s := newStack(t, testkit.Channel(wechat.V3))
	s.credit(alice, "c-1", 5000)
	id := str(s.withdraw(alice, 2000, "wd-forge").body["id"])
	for _, kind := range []string{"bad_signature", "signtest", "stale", "tampered", "unknown_serial", "bad_resource"} {
		d := s.simPost("/forge", map[string]any{"kind": kind, "out_bill_no": id, "event_type": "MCHTRANSFER.BILL.FINISHED"})
		if d.status != http.StatusOK || d.body["ok"] == true {
			t.Fatalf("forged %s accepted: %d %s", kind, d.status, d.raw)
		}
	}
	if w := s.wallet(alice); w.FrozenFen != 2000 || w.DebitedFen != 0 {
		t.Fatalf("forgeries changed the wallet: %+v", w)
	}
	if c := s.simPost("/transfers/"+id+"/confirm", nil); c.status != http.StatusOK {
		t.Fatalf("confirm: %d %s", c.status, c.raw)
	}
	for range 3 {
		if r := s.simPost("/transfers/"+id+"/notify", nil); r.status != http.StatusOK || r.body["ok"] != true {
			t.Fatalf("duplicate notification: %d %s", r.status, r.raw)
		}
	}
	if w := s.wallet(alice); w.DebitedFen != 2000 || w.FrozenFen != 0 || w.AvailableFen != 3000 {
		t.Fatalf("wallet after duplicates: %+v", w)
	}
	if evs := s.Events(id); len(evs) != 1 {
		t.Fatalf("events: %+v", evs)
	}
	entries := s.CheckWallet(alice)
	if len(entries) != 3 { // credit, freeze, debit
		t.Fatalf("%d ledger entries, want 3", len(entries))
	}
}

func TestWithdrawalLimits(t *testing.T) {
	t.Parallel()
	s := newStack(t, testkit.Channel(wechat.V3), testkit.WithdrawConfig(withdraw.Config{MinFen: 100, MaxFen: 300_000, DailyCount: 3, DailyFen: 250_000}))
	s.credit(alice, "c-big", 1_000_000)
	// Serial subtests: what follows them relies on their having been
	// refused first (the real name is set after).
	for _, tc := range []struct {
		name string
		fen  int64
		code string
	}{
		{"below the minimum", 99, "WITHDRAWAL_BELOW_MINIMUM"},
		{"above the maximum", 300_001, "WITHDRAWAL_ABOVE_MAXIMUM"},
		{"2000 CNY without a real name", 200_000, "REAL_NAME_REQUIRED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := s.withdraw(alice, tc.fen, "k-"+tc.name); r.status != http.StatusUnprocessableEntity || r.errorCode() != tc.code {
				t.Fatalf("%d %s, want 422 %s", r.status, r.raw, tc.code)
			}
		})
	}
	if r := s.withdraw(bob, 100, "k-empty"); r.errorCode() != "INSUFFICIENT_BALANCE" {
		t.Fatalf("empty wallet: %d %s", r.status, r.raw)
	}
	if len(s.CheckWallet(alice)) != 1 || len(s.SimCalls("transfer")) != 0 {
		t.Fatal("a refused withdrawal changed something")
	}

	// With the name on file, 2000 CNY goes out with the name, encrypted.
	if r := s.do("PUT", s.WithdrawURL+"/wallets/"+alice+"/profile", map[string]any{"real_name": "张三"}, admin()); r.status != http.StatusOK {
		t.Fatalf("profile: %d %s", r.status, r.raw)
	}
	big := s.withdraw(alice, 200_000, "k-big")
	if big.status != http.StatusCreated {
		t.Fatalf("2000 CNY with a name: %d %s", big.status, big.raw)
	}
	if v, ok := s.Sim.Transfer(str(big.body["id"])); !ok || v.UserName != "张三" {
		t.Fatalf("WeChat got user_name %q", v.UserName)
	}
	// Daily totals: 200,000 used; 60,000 more would pass 250,000.
	if r := s.withdraw(alice, 60_000, "k-day-amount"); r.errorCode() != "DAILY_AMOUNT_EXCEEDED" {
		t.Fatalf("daily amount: %d %s", r.status, r.raw)
	}
	s.withdraw(alice, 100, "k-2")
	s.withdraw(alice, 100, "k-3")
	if r := s.withdraw(alice, 100, "k-4"); r.errorCode() != "DAILY_COUNT_EXCEEDED" {
		t.Fatalf("daily count: %d %s", r.status, r.raw)
	}
	// The next Beijing day starts afresh.
	s.Advance(24 * time.Hour)
	if r := s.withdraw(alice, 100, "k-5"); r.status != http.StatusCreated {
		t.Fatalf("next day: %d %s", r.status, r.raw)
	}
	s.CheckWallet(alice)
}

func TestWithdrawalCancelledByTheUser(t *testing.T) {
	t.Parallel()
	s := newStack(t, testkit.Channel(wechat.V3))
	s.credit(alice, "c-1", 5000)
	id := str(s.withdraw(alice, 2000, "wd-cancel").body["id"])
	if r := s.do("POST", s.WithdrawURL+"/withdrawals/"+id+"/cancel", nil, user(bob)); r.status != http.StatusForbidden {
		t.Fatalf("another user cancels: %d %s", r.status, r.raw)
	}
	r := s.do("POST", s.WithdrawURL+"/withdrawals/"+id+"/cancel", nil, user(alice))
	if r.status != http.StatusOK {
		t.Fatalf("cancel: %d %s", r.status, r.raw)
	}
	// WeChat cancels right after answering CANCELING, and notifies.
	testkit.Eventually(t, func() error {
		if w := s.wallet(alice); w.FrozenFen != 0 {
			return fmt.Errorf("still frozen after the cancellation: %+v", w)
		}
		return nil
	})
	got := s.do("GET", s.WithdrawURL+"/withdrawals/"+id, nil, user(alice))
	if got.body["status"] != "cancelled" || s.wallet(alice).AvailableFen != 5000 {
		t.Fatalf("after cancelling: %s %+v", got.raw, s.wallet(alice))
	}
	if evs := s.Events(id); len(evs) != 1 || evs[0].Type != cloudpay.EventWithdrawalFailed {
		t.Fatalf("events: %+v", evs)
	}
	if again := s.do("POST", s.WithdrawURL+"/withdrawals/"+id+"/cancel", nil, user(alice)); again.status != http.StatusConflict || again.errorCode() != "WITHDRAWAL_STATE" {
		t.Fatalf("cancel twice: %d %s", again.status, again.raw)
	}
	s.CheckWallet(alice)
}

// A remark WeChat would refuse is refused before calling: the money is not
// left frozen behind a call that never happened.
func TestWithdrawalRefusedBeforeCalling(t *testing.T) {
	t.Parallel()
	cfg := withdraw.Config{MinFen: 10, MaxFen: 500_000, DailyCount: 10, DailyFen: 1_000_000,
		Remark: "这是一个超过三十二个字符的转账备注，微信支付会拒绝它，所以在调用之前就拒绝"}
	s := newStack(t, testkit.Channel(wechat.V3), testkit.WithdrawConfig(cfg))
	s.credit(alice, "c-1", 5000)
	r := s.withdraw(alice, 1000, "wd-remark")
	if r.status != http.StatusCreated || r.body["status"] != "failed" {
		t.Fatalf("withdraw: %d %s", r.status, r.raw)
	}
	if w := s.wallet(alice); w.AvailableFen != 5000 || w.FrozenFen != 0 || w.WithdrawnTodayFen != 0 {
		t.Fatalf("wallet: %+v", w)
	}
	if n := len(s.SimCalls("transfer")); n != 0 {
		t.Fatalf("transfer calls = %d", n)
	}
	s.CheckWallet(alice)
}

// A transfer the user never confirms expires at WeChat; its FAIL gives the
// money back, whether the notification or the page's next look comes first.
func TestUnconfirmedWithdrawalExpires(t *testing.T) {
	t.Parallel()
	s := newStack(t, testkit.Channel(wechat.V3), testkit.Sim(func(c *wechatsim.Config) { c.TransferConfirmWindow = 300 * time.Millisecond }))
	s.credit(alice, "c-1", 5000)
	id := str(s.withdraw(alice, 2000, "wd-expire").body["id"])
	var got response
	testkit.Eventually(t, func() error {
		got = s.do("GET", s.WithdrawURL+"/withdrawals/"+id, nil, user(alice))
		if got.body["status"] != "failed" {
			return fmt.Errorf("never expired: %s", got.raw)
		}
		return nil
	})
	if got.body["fail_reason"] != "OVERDUE_CLOSE" {
		t.Fatalf("expired withdrawal: %s", got.raw)
	}
	if w := s.wallet(alice); w.AvailableFen != 5000 || w.FrozenFen != 0 {
		t.Fatalf("wallet after expiry: %+v", w)
	}
	if evs := s.Events(id); len(evs) != 1 || evs[0].Type != cloudpay.EventWithdrawalFailed {
		t.Fatalf("events: %+v", evs)
	}
	s.CheckWallet(alice)
}

// A withdrawal of the whole balance froze the money, then the process died
// before writing the withdrawal: the user's retry with the same key must
// find that freeze, not be refused for lack of balance by it.
func TestWithdrawalRetryAfterACrashFindsItsOwnFreeze(t *testing.T) {
	t.Parallel()
	s := newStack(t, testkit.Channel(wechat.V3))
	ctx := context.Background()
	s.credit(alice, "c-crash", 500)
	id := cloudpay.WithdrawalID(alice, "wd-all")
	now := time.Now().UTC()
	snapshot := cloudpay.Withdrawal{ID: id, OpenID: alice, AmountFen: 500, IdempotencyKey: "wd-all",
		Status: cloudpay.WithdrawalCreated, MchID: wechatsim.DevMchID, CreatedAt: now, UpdatedAt: now}
	if _, _, err := s.Store.AppendWalletEntry(ctx, alice, "freeze:"+id, func(tail cloudpay.WalletEntry, _ bool) (cloudpay.WalletEntry, error) {
		return cloudpay.WalletEntry{Kind: cloudpay.EntryFreeze, AmountFen: 500, WithdrawalID: id, Withdrawal: &snapshot,
			CreditedFen: tail.CreditedFen, AvailableFen: tail.AvailableFen - 500, FrozenFen: 500,
			Day: cloudpay.BeijingDay(now), DayCount: 1, DayFen: 500, CreatedAt: now}, nil
	}); err != nil {
		t.Fatal(err)
	}
	r := s.withdraw(alice, 500, "wd-all")
	if r.status != http.StatusOK || r.body["id"] != id || r.body["status"] != "waiting_user" {
		t.Fatalf("retry after the crash: %d %s", r.status, r.raw)
	}
	if w := s.wallet(alice); w.FrozenFen != 500 || w.AvailableFen != 0 {
		t.Fatalf("wallet: %+v", w)
	}
	if n := len(s.CheckWallet(alice)); n != 2 {
		t.Fatalf("%d ledger entries, want credit and one freeze", n)
	}
}
