package withdraw_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// How a withdrawal ends is WeChat's word on its bill, however it arrives:
// SUCCESS debits the frozen money, FAIL gives it back (with the day's
// quota); each once, with one event. Alice has 5000 fen and withdraws 2000.
func TestTransferOutcome(t *testing.T) {
	t.Parallel()
	succeeded := outcome{cloudpay.WithdrawalSucceeded, "", 3000, 2000, 1, cloudpay.EventWithdrawalSucceeded, cloudpay.EntryDebit}
	failed := func(reason string) outcome {
		return outcome{cloudpay.WithdrawalFailed, reason, 5000, 0, 0, cloudpay.EventWithdrawalFailed, cloudpay.EntryUnfreeze}
	}
	tests := []struct {
		name string
		// WeChat's side: the user's action or WeChat's own settlement.
		action string
		body   map[string]any
		// lost: WeChat's notification never arrives, and cloudpay learns
		// the outcome by asking: the job's Reconcile, or the user's page.
		lost   bool
		asking string // "job" or "page", when lost
		want   outcome
	}{
		{name: "the user confirms", action: "confirm", want: succeeded},
		{name: "the user declines", action: "decline", want: failed(wechatsim.TransferUserRefused)},
		{name: "WeChat settles SUCCESS, the job asks", action: "settle", body: map[string]any{"state": "SUCCESS"},
			lost: true, asking: "job", want: succeeded},
		{name: "WeChat settles FAIL, the job asks", action: "settle", body: map[string]any{"state": "FAIL", "fail_reason": "ACCOUNT_FROZEN"},
			lost: true, asking: "job", want: failed("ACCOUNT_FROZEN")},
		{name: "the user confirms, the page asks", action: "confirm", lost: true, asking: "page", want: succeeded},
		{name: "the user declines, the page asks", action: "decline", lost: true, asking: "page", want: failed(wechatsim.TransferUserRefused)},
	}
	// Dropping a notification is a fault at WeChat, whichever notification
	// comes next: the cases that lose theirs share a stack of their own.
	for _, lost := range []bool{false, true} {
		t.Run(fmt.Sprintf("notification lost %v", lost), func(t *testing.T) {
			t.Parallel()
			s := newStack(t, roomy)
			for i, tc := range tests {
				if tc.lost != lost {
					continue
				}
				t.Run(tc.name, func(t *testing.T) {
					if !lost {
						// A drop fault is taken by whichever notification comes
						// next: cases that lose theirs run one at a time, or one
						// case's notification would take another's fault.
						t.Parallel()
					}
					alice := fmt.Sprintf("oOutcome%d", i)
					credit(t, s, alice, "c-"+alice, 5000)
					w := withdrawOK(t, s, alice, 2000, "wd-1")
					if w.Status != cloudpay.WithdrawalWaitingUser || w.PackageInfo == "" {
						t.Fatalf("withdrawal %+v, want it waiting for the user with package_info", w)
					}
					if tc.lost {
						s.Fault("v3_notify", "drop", 1, nil)
					}
					r := s.SimPost("/transfers/"+w.ID+"/"+tc.action, tc.body)
					if r.Status != http.StatusOK {
						t.Fatalf("%s at WeChat: %d %s", tc.action, r.Status, r.Raw)
					}
					cb, _ := r.Body["callback"].(map[string]any)
					if (cb["dropped"] == true) != tc.lost || !tc.lost && cb["ok"] != true {
						t.Fatalf("WeChat's notification: %v, lost %v", cb, tc.lost)
					}

					var got cloudpay.Withdrawal
					switch tc.asking {
					case "":
						// Recorded from the notification, without asking WeChat.
						var err error
						if got, err = s.Store.Withdrawal(ctx, w.ID); err != nil {
							t.Fatal(err)
						}
						if n := sent(t, s, "querytransfer", w.ID); n != 0 {
							t.Fatalf("%d queries: the notification was not enough", n)
						}
					case "job":
						if frozen := wallet(t, s, alice); frozen.FrozenFen != 2000 {
							t.Fatalf("before the job asks: %+v", frozen)
						}
						changed, err := s.Withdrawals.Reconcile(ctx, w.ID)
						if err != nil || !changed {
							t.Fatalf("reconcile: changed %v, %v", changed, err)
						}
						if got, err = s.Store.Withdrawal(ctx, w.ID); err != nil {
							t.Fatal(err)
						}
					case "page":
						var err error
						if got, err = s.Withdrawals.Withdrawal(ctx, alice, w.ID); err != nil {
							t.Fatal(err)
						}
					}
					tc.want.check(t, s, alice, got)

					// Told again, by any path: nothing more happens.
					if changed, err := s.Withdrawals.Reconcile(ctx, w.ID); err != nil || changed {
						t.Fatalf("reconcile again: changed %v, %v", changed, err)
					}
					if r := s.SimPost("/transfers/"+w.ID+"/notify", nil); r.Status != http.StatusOK || r.Body["ok"] != true {
						t.Fatalf("the notification again: %d %s", r.Status, r.Raw)
					}
					if again, created, err := s.Withdrawals.Withdraw(ctx, alice, 2000, "wd-1"); err != nil || created || again.Status != tc.want.status {
						t.Fatalf("the same withdrawal again: %+v created %v, %v", again, created, err)
					}
					tc.want.check(t, s, alice, got)
					if n := sent(t, s, "transfer", w.ID); n != 1 {
						t.Fatalf("%d transfer calls", n)
					}
				})
			}
		})
	}
}

// outcome is what a user sees once a withdrawal of 2000 fen from 5000 has
// ended.
type outcome struct {
	status     cloudpay.WithdrawalStatus
	failReason string
	available  cloudpay.Fen
	debited    cloudpay.Fen
	today      int // withdrawals counted against the day's quota
	event      cloudpay.EventType
	last       cloudpay.WalletEntryKind
}

func (o outcome) check(t *testing.T, s *testkit.Stack, openid string, w cloudpay.Withdrawal) {
	t.Helper()
	if w.Status != o.status || w.FailReason != o.failReason || w.FinishedAt == nil || w.PackageInfo != "" {
		t.Fatalf("withdrawal %+v, want %s (%q), finished, without package_info", w, o.status, o.failReason)
	}
	if stored, err := s.Store.Withdrawal(ctx, w.ID); err != nil || stored.Status != o.status {
		t.Fatalf("stored withdrawal %+v, %v; want %s", stored, err, o.status)
	}
	bal := wallet(t, s, openid)
	if bal.AvailableFen != o.available || bal.FrozenFen != 0 || bal.DebitedFen != o.debited || bal.CreditedFen != 5000 ||
		bal.WithdrawalsToday != o.today || bal.WithdrawnTodayFen != 2000*cloudpay.Fen(o.today) {
		t.Fatalf("wallet %+v, want %d available, %d debited, %d withdrawal today", bal, o.available, o.debited, o.today)
	}
	want := []cloudpay.WalletEntryKind{cloudpay.EntryCredit, cloudpay.EntryFreeze, o.last}
	if got := kinds(t, s, openid); !slices.Equal(got, want) {
		t.Fatalf("ledger %v, want %v", got, want)
	}
	if evs := s.Events(w.ID); len(evs) != 1 || evs[0].Type != o.event || evs[0].Data["amount_fen"] != int64(2000) {
		t.Fatalf("events %+v, want one %s", evs, o.event)
	}
}

// A withdrawal the user has not confirmed can be cancelled by its owner:
// WeChat cancels the bill and the money comes back. One that is not
// waiting for the user, or another user's, cannot, and WeChat is not
// asked.
func TestCancelUnconfirmedWithdrawal(t *testing.T) {
	t.Parallel()
	s := newStack(t, roomy)
	tests := []struct {
		name   string
		before string // what happens at WeChat first: "confirm", "decline" or "cancel"
		by     string // who cancels: "owner" or "other"
		want   cloudpay.Code
		status cloudpay.WithdrawalStatus // after it all
		frozen cloudpay.Fen
	}{
		{"waiting for the user", "", "owner", "", cloudpay.WithdrawalCancelled, 0},
		{"by another user", "", "other", cloudpay.CodeForbidden, cloudpay.WithdrawalWaitingUser, 2000},
		{"already paid", "confirm", "owner", cloudpay.CodeWithdrawalState, cloudpay.WithdrawalSucceeded, 0},
		{"already declined", "decline", "owner", cloudpay.CodeWithdrawalState, cloudpay.WithdrawalFailed, 0},
		{"already cancelled", "cancel", "owner", cloudpay.CodeWithdrawalState, cloudpay.WithdrawalCancelled, 0},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			owner := fmt.Sprintf("oCancel%d", i)
			credit(t, s, owner, "c-"+owner, 5000)
			w := withdrawOK(t, s, owner, 2000, "wd-1")
			calls := 0 // cancel calls WeChat has had
			switch tc.before {
			case "confirm", "decline":
				if r := s.SimPost("/transfers/"+w.ID+"/"+tc.before, nil); r.Status != http.StatusOK {
					t.Fatalf("%s: %d %s", tc.before, r.Status, r.Raw)
				}
			case "cancel":
				if _, err := s.Withdrawals.Cancel(ctx, owner, w.ID); err != nil {
					t.Fatal(err)
				}
				calls++
				waitFor(t, s, owner, w.ID, cloudpay.WithdrawalCancelled)
			}
			before := kinds(t, s, owner)

			by := owner
			if tc.by == "other" {
				by = "oCancelOther"
			}
			got, err := s.Withdrawals.Cancel(ctx, by, w.ID)
			if cloudpay.ErrorCode(err) != tc.want {
				t.Fatalf("cancel: %+v, %v; want %q", got, err, tc.want)
			}
			if tc.want == "" {
				calls++
				// WeChat answers CANCELING, then cancels and notifies: by the
				// answer, the notification may have been recorded already.
				if got.Status != cloudpay.WithdrawalProcessing && got.Status != cloudpay.WithdrawalCancelled {
					t.Fatalf("cancel answered %+v, want it being cancelled or cancelled", got)
				}
				waitFor(t, s, owner, w.ID, cloudpay.WithdrawalCancelled)
				if evs := s.Events(w.ID); len(evs) != 1 || evs[0].Type != cloudpay.EventWithdrawalFailed {
					t.Fatalf("events %+v", evs)
				}
				if bill, _ := s.Sim.Transfer(w.ID); bill.State != wechatsim.TransferCancelled {
					t.Fatalf("WeChat's bill is %s", bill.State)
				}
			} else if after := kinds(t, s, owner); !slices.Equal(after, before) {
				t.Fatalf("a refused cancel changed the ledger from %v to %v", before, after)
			}
			if n := sent(t, s, "canceltransfer", w.ID); n != calls {
				t.Fatalf("WeChat received %d cancel calls, want %d", n, calls)
			}
			stored, err := s.Store.Withdrawal(ctx, w.ID)
			if err != nil || stored.Status != tc.status {
				t.Fatalf("withdrawal %+v, %v; want %s", stored, err, tc.status)
			}
			if bal := wallet(t, s, owner); bal.FrozenFen != tc.frozen || bal.AvailableFen+bal.DebitedFen != 5000-tc.frozen {
				t.Fatalf("wallet %+v, want %d frozen", bal, tc.frozen)
			}
		})
	}
}

// waitFor waits until the owner sees the withdrawal in status: WeChat
// finishes a cancellation after answering the call.
func waitFor(t *testing.T, s *testkit.Stack, openid, id string, status cloudpay.WithdrawalStatus) {
	t.Helper()
	testkit.Eventually(t, func() error {
		w, err := s.Store.Withdrawal(ctx, id)
		if err != nil {
			return err
		}
		if w.Status != status {
			return fmt.Errorf("withdrawal %s is %s, want %s", id, w.Status, status)
		}
		return nil
	})
}

// A verified notification records only a final state that fits the
// withdrawal; anything else changes nothing.
func TestTransferNotificationRecordsWhatFits(t *testing.T) {
	t.Parallel()
	s := newStack(t, roomy)
	tests := []struct {
		name   string
		change func(r *wechat.TransferResult)
		want   wechat.Verdict
	}{
		{"as WeChat has the bill", func(*wechat.TransferResult) {}, wechat.Recorded},
		{"another amount", func(r *wechat.TransferResult) { r.AmountFen++ }, wechat.Mismatch},
		{"another payee", func(r *wechat.TransferResult) { r.OpenID = testkit.Bob }, wechat.Mismatch},
		{"another merchant", func(r *wechat.TransferResult) { r.MchID = "1999999999" }, wechat.OtherMerchant},
		{"an unknown bill", func(r *wechat.TransferResult) { r.OutBillNo = "WD0000000000000000000000000000" }, wechat.UnknownWithdrawal},
		{"not final", func(r *wechat.TransferResult) { r.State = wechat.TransferTransfering }, wechat.NotFinal},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			alice := fmt.Sprintf("oNotified%d", i)
			credit(t, s, alice, "c-"+alice, 5000)
			w := withdrawOK(t, s, alice, 2000, "wd-1")
			// The user confirms; WeChat's own notification is lost, and
			// this one stands for it, verified but perhaps not as WeChat
			// sent it.
			s.Fault("v3_notify", "drop", 1, nil)
			if r := s.SimPost("/transfers/"+w.ID+"/confirm", nil); r.Status != http.StatusOK {
				t.Fatalf("confirm: %d %s", r.Status, r.Raw)
			}
			bill, _ := s.Sim.Transfer(w.ID)
			res := wechat.TransferResult{OutBillNo: bill.OutBillNo, TransferBillNo: bill.TransferBillNo,
				State: wechat.TransferState(bill.State), AmountFen: cloudpay.Fen(bill.AmountFen), OpenID: bill.OpenID,
				MchID: wechatsim.DevMchID}
			tc.change(&res)
			before := kinds(t, s, alice)
			v, err := s.Withdrawals.Record(ctx, res)
			if err != nil || v != tc.want {
				t.Fatalf("record: %s, %v; want %s", v, err, tc.want)
			}
			if tc.want == wechat.Recorded {
				if v, err := s.Withdrawals.Record(ctx, res); err != nil || v != wechat.AlreadyRecorded {
					t.Fatalf("record again: %s, %v", v, err)
				}
				if bal := wallet(t, s, alice); bal.DebitedFen != 2000 || bal.FrozenFen != 0 {
					t.Fatalf("wallet %+v", bal)
				}
				if got := kinds(t, s, alice); len(got) != 3 || got[2] != cloudpay.EntryDebit {
					t.Fatalf("ledger %v", got)
				}
				return
			}
			if after := kinds(t, s, alice); !slices.Equal(after, before) {
				t.Fatalf("the ledger went from %v to %v", before, after)
			}
			if stored, _ := s.Store.Withdrawal(ctx, w.ID); stored.Status != cloudpay.WithdrawalWaitingUser {
				t.Fatalf("withdrawal %+v", stored)
			}
			if bal := wallet(t, s, alice); bal.FrozenFen != 2000 || bal.DebitedFen != 0 {
				t.Fatalf("wallet %+v", bal)
			}
			if evs := s.Events(w.ID); len(evs) != 0 {
				t.Fatalf("events %+v", evs)
			}
		})
	}
}

// WeChat refusing to create the bill: for good, the money comes back once
// WeChat confirms it holds nothing under the number; for now, it stays
// frozen under the same number.
func TestTransferRefusedWhenSent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		code    string
		status  cloudpay.WithdrawalStatus
		frozen  cloudpay.Fen
		queries int
	}{
		{"for good", "INVALID_REQUEST", cloudpay.WithdrawalFailed, 0, 1},
		{"for now", "FREQUENCY_LIMITED", cloudpay.WithdrawalProcessing, 2000, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStack(t, roomy) // a stack of its own: the fault is the next transfer call's
			credit(t, s, testkit.Alice, "c-1", 5000)
			s.Fault("transfer", "fail", 1, map[string]any{"code": tc.code})
			w, created, err := s.Withdrawals.Withdraw(ctx, testkit.Alice, 2000, "wd-1")
			if err != nil || !created || w.Status != tc.status {
				t.Fatalf("withdraw: %+v created %v, %v; want %s", w, created, err, tc.status)
			}
			if w.LastError == nil || w.LastError.Code != tc.code {
				t.Fatalf("last error %+v, want WeChat's %s", w.LastError, tc.code)
			}
			bal := wallet(t, s, testkit.Alice)
			if bal.FrozenFen != tc.frozen || bal.AvailableFen != 5000-tc.frozen || bal.WithdrawnTodayFen != tc.frozen {
				t.Fatalf("wallet %+v, want %d frozen and counted today", bal, tc.frozen)
			}
			if n := sent(t, s, "querytransfer", w.ID); n != tc.queries {
				t.Fatalf("%d queries, want %d", n, tc.queries)
			}
			s.CheckWallet(testkit.Alice)
			if tc.status.Final() {
				if evs := s.Events(w.ID); len(evs) != 1 || evs[0].Type != cloudpay.EventWithdrawalFailed {
					t.Fatalf("events %+v", evs)
				}
				return
			}
			// The job leaves it alone while the call's claim lasts, then
			// sends it again with the same out_bill_no; WeChat has the bill.
			if changed, err := s.Withdrawals.Reconcile(ctx, w.ID); err != nil || changed {
				t.Fatalf("reconcile within the lease: changed %v, %v", changed, err)
			}
			if n := sent(t, s, "transfer", w.ID); n != 1 {
				t.Fatalf("%d transfer calls within the lease", n)
			}
			s.Advance(3 * time.Minute)
			if changed, err := s.Withdrawals.Reconcile(ctx, w.ID); err != nil || !changed {
				t.Fatalf("reconcile: changed %v, %v", changed, err)
			}
			if n := sent(t, s, "transfer", w.ID); n != 2 {
				t.Fatalf("%d transfer calls, want the same out_bill_no twice", n)
			}
			if got, _ := s.Store.Withdrawal(ctx, w.ID); got.Status != cloudpay.WithdrawalWaitingUser || got.ID != w.ID {
				t.Fatalf("withdrawal after the retry: %+v", got)
			}
		})
	}
}
