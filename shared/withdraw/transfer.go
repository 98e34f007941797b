package withdraw

import (
	"context"
	"fmt"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/crashpoint"
	"github.com/cloudpay/cloudpay/shared/effect"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// transfers is the withdrawal's side of the effect engine (shared/effect):
// a withdrawal is a transfer bill under out_bill_no = its ID, and it ends
// with its frozen money debited (paid out) or unfrozen, never both.
type transfers struct{ s *Service }

var _ effect.Movement[cloudpay.Withdrawal, wechat.TransferResult, Outcome] = transfers{}

type transferStep = effect.Step[cloudpay.Withdrawal, Outcome]

func (transfers) Subject(w cloudpay.Withdrawal) string { return w.ID }

func (transfers) Final(w cloudpay.Withdrawal) bool { return w.Status.Final() }

func (transfers) Attempts(w cloudpay.Withdrawal) (int, bool) {
	return w.Attempts, w.Status != cloudpay.WithdrawalCreated
}

func (transfers) Sending(w cloudpay.Withdrawal, n int, now time.Time) cloudpay.Withdrawal {
	w.Attempts, w.Status, w.UpdatedAt = n, cloudpay.WithdrawalProcessing, now
	return w
}

func (t transfers) Call(ctx context.Context, w cloudpay.Withdrawal) (wechat.TransferResult, error) {
	req := wechat.TransferRequest{OutBillNo: w.ID, OpenID: w.OpenID, AmountFen: w.AmountFen, Remark: t.s.cfg.Remark}
	if w.AmountFen >= RealNameFen {
		p, err := t.s.store.Profile(ctx, w.OpenID)
		if err != nil {
			return wechat.TransferResult{}, err
		}
		req.UserName = p.RealName
	}
	return t.s.gw.CreateTransfer(ctx, req)
}

func (t transfers) Query(ctx context.Context, w cloudpay.Withdrawal) (wechat.TransferResult, error) {
	return t.s.gw.QueryTransfer(ctx, w.ID)
}

// errMismatch marks an answer from WeChat that does not fit our withdrawal.
var errMismatch = cloudpay.Errorf("TRANSFER_MISMATCH", "WeChat's transfer does not match our withdrawal")

func (t transfers) Judge(w cloudpay.Withdrawal, res wechat.TransferResult, now time.Time) (transferStep, error) {
	if res.State == wechat.TransferNotExist {
		return transferStep{Absent: true}, nil
	}
	if (res.AmountFen != 0 && res.AmountFen != w.AmountFen) || (res.OpenID != "" && res.OpenID != w.OpenID) ||
		(res.OutBillNo != "" && res.OutBillNo != w.ID) {
		t.s.log.Error("WeChat's transfer disagrees with the withdrawal; not recorded", "withdrawal_id", w.ID,
			"wechat_fen", res.AmountFen, "our_fen", w.AmountFen)
		return transferStep{}, errMismatch
	}
	if res.TransferBillNo != "" {
		w.TransferBillNo = res.TransferBillNo
	}
	end := func(kind cloudpay.WalletEntryKind, outcome cloudpay.WithdrawalStatus) (transferStep, error) {
		return transferStep{End: &Outcome{ID: w.ID, Kind: kind, Outcome: outcome,
			TransferBillNo: w.TransferBillNo, FailReason: res.FailReason, CreatedAt: now}}, nil
	}
	switch res.State {
	case wechat.TransferSuccess:
		return end(cloudpay.EntryDebit, cloudpay.WithdrawalSucceeded)
	case wechat.TransferFail:
		return end(cloudpay.EntryUnfreeze, cloudpay.WithdrawalFailed)
	case wechat.TransferCancelled:
		return end(cloudpay.EntryUnfreeze, cloudpay.WithdrawalCancelled)
	case wechat.TransferWaitUserConfirm:
		w.Status = cloudpay.WithdrawalWaitingUser
		if res.PackageInfo != "" {
			w.PackageInfo = res.PackageInfo
		}
	case wechat.TransferAccepted, wechat.TransferProcessing, wechat.TransferTransfering, wechat.TransferCanceling:
		w.Status = cloudpay.WithdrawalProcessing
	default:
		return transferStep{}, fmt.Errorf("withdrawal %s: unknown transfer state %q", w.ID, res.State)
	}
	w.LastError, w.UpdatedAt = nil, now
	return transferStep{Next: &w}, nil
}

// Unsettled keeps the money frozen under the same out_bill_no, whatever
// the failure, until WeChat gives a final answer: the job queries it.
func (transfers) Unsettled(w cloudpay.Withdrawal, _ wechat.CallFailure, f *cloudpay.Failure, now time.Time) cloudpay.Withdrawal {
	w.LastError, w.UpdatedAt = f, now
	return w
}

func (transfers) Released(w cloudpay.Withdrawal, f *cloudpay.Failure, now time.Time) (cloudpay.Withdrawal, Outcome) {
	w.LastError, w.UpdatedAt = f, now
	return w, Outcome{ID: w.ID, Kind: cloudpay.EntryUnfreeze, Outcome: cloudpay.WithdrawalFailed,
		TransferBillNo: w.TransferBillNo, FailReason: f.Code, CreatedAt: now}
}

func (t transfers) Claim(ctx context.Context, o Outcome) (Outcome, bool, error) {
	return t.s.store.ClaimWithdrawalOutcome(ctx, o)
}

func (t transfers) Outcome(ctx context.Context, w cloudpay.Withdrawal) (Outcome, bool, error) {
	return t.s.store.WithdrawalOutcomeOf(ctx, w.ID)
}

func (t transfers) Save(ctx context.Context, w cloudpay.Withdrawal) error {
	return t.s.store.SaveWithdrawal(ctx, w)
}

func (t transfers) Load(ctx context.Context, w cloudpay.Withdrawal) (cloudpay.Withdrawal, error) {
	return t.s.store.Withdrawal(ctx, w.ID)
}

func (transfers) Reached(p effect.Point) {
	switch p {
	case effect.AfterAttemptClaim:
		crashpoint.Here("withdraw.after-attempt-claim")
	case effect.AfterCall:
		crashpoint.Here("withdraw.after-call")
	case effect.AfterOutcomeClaim:
		crashpoint.Here("withdraw.after-outcome-claim")
	}
}

// Project mirrors an outcome onto the wallet (one entry, by ref), the
// outbox and the withdrawal. It is idempotent.
func (t transfers) Project(ctx context.Context, w cloudpay.Withdrawal, o Outcome) (cloudpay.Withdrawal, error) {
	s := t.s
	frozenDay := cloudpay.BeijingDay(w.CreatedAt)
	_, _, err := s.store.AppendWalletEntry(ctx, w.OpenID, "end:"+w.ID,
		func(tail cloudpay.WalletEntry, found bool) (cloudpay.WalletEntry, error) {
			if !found {
				return cloudpay.WalletEntry{}, fmt.Errorf("withdrawal %s: nothing frozen in the wallet", w.ID)
			}
			e := next(tail, o.Kind, w.AmountFen, o.CreatedAt)
			e.WithdrawalID = w.ID
			e.FrozenFen -= w.AmountFen
			if o.Kind == cloudpay.EntryDebit {
				e.DebitedFen += w.AmountFen
			} else {
				e.AvailableFen += w.AmountFen
				if e.Day == frozenDay { // a failed withdrawal gives its day's quota back
					e.DayCount--
					e.DayFen -= w.AmountFen
				}
			}
			return e, nil
		})
	if err != nil {
		return w, fmt.Errorf("settle withdrawal %s: %w", w.ID, err)
	}
	w.Status, w.UpdatedAt, w.PackageInfo = o.Outcome, s.clock(), ""
	if o.TransferBillNo != "" {
		w.TransferBillNo = o.TransferBillNo
	}
	w.FailReason = o.FailReason
	at := o.CreatedAt
	w.FinishedAt = &at
	typ := cloudpay.EventWithdrawalSucceeded
	if o.Kind != cloudpay.EntryDebit {
		typ = cloudpay.EventWithdrawalFailed
	}
	data := map[string]any{"withdrawal_id": w.ID, "openid": w.OpenID, "amount_fen": int64(w.AmountFen),
		"status": string(w.Status), "transfer_bill_no": w.TransferBillNo, "fail_reason": w.FailReason}
	if err := s.store.EnqueueEvent(ctx, cloudpay.NewEvent(typ, w.ID, data, o.CreatedAt)); err != nil {
		return w, err
	}
	return w, s.store.SaveWithdrawal(ctx, w)
}
