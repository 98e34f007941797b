package withdraw

import (
	"context"
	"fmt"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/crashpoint"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// Withdraw freezes amount in the user's wallet and asks WeChat to transfer
// it to their WeChat balance. The idempotency key fixes the withdrawal (and
// its out_bill_no): the same key again returns it (created false), with
// another amount it is a conflict. When WeChat waits for the user, the
// withdrawal carries package_info for wx.requestMerchantTransfer.
func (s *Service) Withdraw(ctx context.Context, openid string, amount cloudpay.Fen, key string) (cloudpay.Withdrawal, bool, error) {
	if err := validAmount(amount); err != nil {
		return cloudpay.Withdrawal{}, false, err
	}
	if err := validText("idempotency_key", key, 1, maxKey); err != nil {
		return cloudpay.Withdrawal{}, false, err
	}
	id := cloudpay.WithdrawalID(openid, key)
	held, err := s.store.Withdrawal(ctx, id)
	if err == nil {
		if held.AmountFen != amount {
			return cloudpay.Withdrawal{}, false, conflict(held)
		}
		held, err = s.resume(ctx, held)
		return held, false, err
	}
	if cloudpay.ErrorCode(err) != cloudpay.CodeWithdrawalNotFound {
		return cloudpay.Withdrawal{}, false, fmt.Errorf("withdraw: %w", err)
	}
	if err := s.checkLimits(ctx, openid, amount); err != nil {
		return cloudpay.Withdrawal{}, false, err
	}
	now := s.clock()
	w := cloudpay.Withdrawal{
		ID: id, OpenID: openid, AmountFen: amount, IdempotencyKey: key, Status: cloudpay.WithdrawalCreated,
		MchID: s.gw.MerchantID(), CreatedAt: now, UpdatedAt: now,
	}
	day := cloudpay.BeijingDay(now)
	e, appended, err := s.store.AppendWalletEntry(ctx, openid, "freeze:"+id,
		func(tail cloudpay.WalletEntry, found bool) (cloudpay.WalletEntry, error) {
			e := next(tail, cloudpay.EntryFreeze, amount, now)
			if e.Day != day {
				e.Day, e.DayCount, e.DayFen = day, 0, 0
			}
			switch {
			case amount > e.AvailableFen:
				return e, cloudpay.Errorf(cloudpay.CodeInsufficientBalance,
					"withdrawal of %d fen exceeds the available balance (%d fen)", amount, e.AvailableFen)
			case e.DayCount+1 > s.cfg.DailyCount:
				return e, cloudpay.Errorf(cloudpay.CodeDailyCountExceeded, "at most %d withdrawals a day", s.cfg.DailyCount)
			case int64(e.DayFen+amount) > s.cfg.DailyFen:
				return e, cloudpay.Errorf(cloudpay.CodeDailyAmountExceeded,
					"at most %d fen a day; %d fen withdrawn today", s.cfg.DailyFen, e.DayFen)
			}
			e.WithdrawalID = id
			e.AvailableFen -= amount
			e.FrozenFen += amount
			e.DayCount++
			e.DayFen += amount
			snapshot := w
			e.Withdrawal = &snapshot
			return e, nil
		})
	if err != nil {
		return cloudpay.Withdrawal{}, false, err
	}
	crashpoint.Here("withdraw.after-freeze")
	// The entry holds the withdrawal as frozen: ours, or a concurrent twin's.
	if e.Withdrawal == nil || e.Withdrawal.AmountFen != amount || e.OpenID != openid {
		return cloudpay.Withdrawal{}, false, cloudpay.Errorf(cloudpay.CodeWithdrawalConflict, "withdrawal %s exists with another amount", id)
	}
	w, _, err = s.store.InsertWithdrawal(ctx, *e.Withdrawal)
	if err != nil {
		return cloudpay.Withdrawal{}, false, fmt.Errorf("withdraw: %w", err)
	}
	w, err = s.resume(ctx, w)
	return w, appended, err
}

func conflict(held cloudpay.Withdrawal) error {
	return cloudpay.Errorf(cloudpay.CodeWithdrawalConflict,
		"idempotency key already used for withdrawal %s of %d fen", held.ID, held.AmountFen)
}

// checkLimits refuses what no balance makes acceptable. Limits that depend
// on the wallet (balance, daily totals) are checked in the ledger append.
func (s *Service) checkLimits(ctx context.Context, openid string, amount cloudpay.Fen) error {
	switch {
	case int64(amount) < s.cfg.MinFen:
		return cloudpay.Errorf(cloudpay.CodeBelowMinimum, "the smallest withdrawal is %d fen", s.cfg.MinFen)
	case s.cfg.MaxFen > 0 && int64(amount) > s.cfg.MaxFen:
		return cloudpay.Errorf(cloudpay.CodeAboveMaximum, "the largest withdrawal is %d fen", s.cfg.MaxFen)
	case amount >= RealNameFen:
		p, err := s.store.Profile(ctx, openid)
		if err != nil {
			return err
		}
		if p.RealName == "" {
			return cloudpay.Errorf(cloudpay.CodeRealNameRequired,
				"WeChat requires the payee's real name for withdrawals of %d fen and more; none is on file", RealNameFen)
		}
	}
	return nil
}

// resume sends a withdrawal that was frozen but never sent.
func (s *Service) resume(ctx context.Context, w cloudpay.Withdrawal) (cloudpay.Withdrawal, error) {
	w, err := s.current(ctx, w)
	if err != nil || w.Status != cloudpay.WithdrawalCreated {
		return w, err
	}
	return s.send(ctx, w)
}

// attemptLease is how long an attempt's claim keeps others from calling
// WeChat for the same withdrawal; after it, that call's result is unknown
// and a new call with the same out_bill_no is safe.
const attemptLease = 2 * time.Minute

// settleTimeout bounds the writes that record WeChat's answer, detached
// from the caller: once WeChat has answered, the answer must be kept.
const settleTimeout = 15 * time.Second

// send creates the transfer bill under an attempt claim, after recording
// that the withdrawal is processing.
func (s *Service) send(ctx context.Context, w cloudpay.Withdrawal) (cloudpay.Withdrawal, error) {
	now := s.clock()
	if w.Status != cloudpay.WithdrawalCreated && w.Attempts > 0 {
		// The last call may still be on its way to WeChat: not again
		// within its lease.
		a, found, err := s.store.AttemptAt(ctx, w.ID, w.Attempts)
		if err != nil {
			return w, fmt.Errorf("send withdrawal %s: %w", w.ID, err)
		}
		if found && now.Sub(a.StartedAt) < attemptLease {
			return w, nil
		}
	}
	n := w.Attempts + 1
	for {
		a, won, err := s.store.ClaimAttempt(ctx, w.ID, n, now)
		if err != nil {
			return w, fmt.Errorf("send withdrawal %s: %w", w.ID, err)
		}
		if won {
			break
		}
		if now.Sub(a.StartedAt) < attemptLease {
			held, err := s.store.Withdrawal(ctx, w.ID)
			if err != nil {
				return w, err
			}
			return s.current(ctx, held)
		}
		n++
	}
	crashpoint.Here("withdraw.after-attempt-claim")
	w.Attempts, w.Status, w.UpdatedAt = n, cloudpay.WithdrawalProcessing, now
	w, err := s.saveProgress(ctx, w)
	if err != nil || w.Status != cloudpay.WithdrawalProcessing {
		return w, err
	}
	req := wechat.TransferRequest{OutBillNo: w.ID, OpenID: w.OpenID, AmountFen: w.AmountFen, Remark: s.cfg.Remark}
	if w.AmountFen >= RealNameFen {
		p, err := s.store.Profile(ctx, w.OpenID)
		if err != nil {
			return w, err
		}
		req.UserName = p.RealName
	}
	res, callErr := s.gw.CreateTransfer(ctx, req)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	if callErr != nil {
		return s.failed(ctx, w, callErr)
	}
	crashpoint.Here("withdraw.after-bill-created")
	return s.apply(ctx, w, res)
}

// failed records a call that created no bill that we know of.
func (s *Service) failed(ctx context.Context, w cloudpay.Withdrawal, callErr error) (cloudpay.Withdrawal, error) {
	w.LastError, w.UpdatedAt = wechat.FailureOf(callErr), s.clock()
	if cloudpay.ErrorCode(callErr) == cloudpay.CodeInvalidField && w.Attempts == 1 {
		// Refused here before anything was ever sent (a setting such as
		// WITHDRAW_REMARK that WeChat would refuse): nothing exists at
		// WeChat. After an earlier attempt, WeChat must say so first.
		s.log.ErrorContext(ctx, "transfer not sent: refused before calling WeChat", "withdrawal_id", w.ID, "error", callErr)
		return s.end(ctx, w, cloudpay.EntryUnfreeze, cloudpay.WithdrawalFailed, wechat.TransferResult{FailReason: string(cloudpay.CodeInvalidField)})
	}
	if wechat.Classify(callErr) != wechat.Final && cloudpay.ErrorCode(callErr) != cloudpay.CodeInvalidField {
		// Unknown, or "not now": the money stays frozen under the same
		// out_bill_no until WeChat gives a final answer.
		s.log.WarnContext(ctx, "transfer not confirmed; money stays frozen", "withdrawal_id", w.ID, "error", callErr)
		return s.saveProgress(ctx, w)
	}
	// Refused for good, but only WeChat saying it holds no bill under this
	// number releases the money (an earlier attempt may have reached it).
	res, err := s.gw.QueryTransfer(ctx, w.ID)
	if err != nil {
		s.log.WarnContext(ctx, "transfer refused but unconfirmed; money stays frozen", "withdrawal_id", w.ID, "error", callErr, "query_error", err)
		return s.saveProgress(ctx, w)
	}
	if res.State != wechat.TransferNotExist {
		return s.apply(ctx, w, res)
	}
	return s.end(ctx, w, cloudpay.EntryUnfreeze, cloudpay.WithdrawalFailed, wechat.TransferResult{FailReason: w.LastError.Code})
}

// errMismatch marks an answer from WeChat that does not fit our withdrawal.
var errMismatch = cloudpay.Errorf("TRANSFER_MISMATCH", "WeChat's transfer does not match our withdrawal")

// apply records WeChat's word on a withdrawal's bill.
func (s *Service) apply(ctx context.Context, w cloudpay.Withdrawal, res wechat.TransferResult) (cloudpay.Withdrawal, error) {
	if res.State == wechat.TransferNotExist || w.Status.Final() {
		return w, nil
	}
	if (res.AmountFen != 0 && res.AmountFen != w.AmountFen) || (res.OpenID != "" && res.OpenID != w.OpenID) ||
		(res.OutBillNo != "" && res.OutBillNo != w.ID) {
		s.log.ErrorContext(ctx, "WeChat's transfer disagrees with the withdrawal; not recorded", "withdrawal_id", w.ID,
			"wechat_fen", res.AmountFen, "our_fen", w.AmountFen)
		return w, errMismatch
	}
	if res.TransferBillNo != "" {
		w.TransferBillNo = res.TransferBillNo
	}
	switch res.State {
	case wechat.TransferSuccess:
		return s.end(ctx, w, cloudpay.EntryDebit, cloudpay.WithdrawalSucceeded, res)
	case wechat.TransferFail:
		return s.end(ctx, w, cloudpay.EntryUnfreeze, cloudpay.WithdrawalFailed, res)
	case wechat.TransferCancelled:
		return s.end(ctx, w, cloudpay.EntryUnfreeze, cloudpay.WithdrawalCancelled, res)
	case wechat.TransferWaitUserConfirm:
		w.Status = cloudpay.WithdrawalWaitingUser
		if res.PackageInfo != "" {
			w.PackageInfo = res.PackageInfo
		}
	case wechat.TransferAccepted, wechat.TransferProcessing, wechat.TransferTransfering, wechat.TransferCanceling:
		w.Status = cloudpay.WithdrawalProcessing
	default:
		return w, fmt.Errorf("withdrawal %s: unknown transfer state %q", w.ID, res.State)
	}
	w.LastError, w.UpdatedAt = nil, s.clock()
	return s.saveProgress(ctx, w)
}

// end decides how a withdrawal ends — debited or unfrozen — with one
// outcome claim; the first claim decides. The ledger, the outbox and the
// projection follow, and are repaired from the claim by later writers.
func (s *Service) end(ctx context.Context, w cloudpay.Withdrawal, kind cloudpay.WalletEntryKind, outcome cloudpay.WithdrawalStatus, res wechat.TransferResult) (cloudpay.Withdrawal, error) {
	held, _, err := s.store.ClaimWithdrawalOutcome(ctx, Outcome{
		ID: w.ID, Kind: kind, Outcome: outcome, TransferBillNo: w.TransferBillNo, FailReason: res.FailReason, CreatedAt: s.clock(),
	})
	if err != nil {
		return w, fmt.Errorf("settle withdrawal %s: %w", w.ID, err)
	}
	crashpoint.Here("withdraw.after-outcome-claim")
	return s.finish(ctx, w, held)
}

// finish mirrors an outcome claim onto the wallet (one entry, by ref), the
// outbox and the withdrawal. It is idempotent.
func (s *Service) finish(ctx context.Context, w cloudpay.Withdrawal, o Outcome) (cloudpay.Withdrawal, error) {
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

// saveProgress stores a non-final status unless the withdrawal has ended;
// the check after the write closes the race with a concurrent end.
func (s *Service) saveProgress(ctx context.Context, w cloudpay.Withdrawal) (cloudpay.Withdrawal, error) {
	for i := range 2 {
		o, ended, err := s.store.WithdrawalOutcomeOf(ctx, w.ID)
		if err != nil {
			return w, err
		}
		if ended {
			return s.finish(ctx, w, o)
		}
		if i == 0 {
			if err := s.store.SaveWithdrawal(ctx, w); err != nil {
				return w, err
			}
		}
	}
	return w, nil
}

// current is w with its outcome, if the projection has not caught up with
// the claim: readers never see a withdrawal go back from a final status.
func (s *Service) current(ctx context.Context, w cloudpay.Withdrawal) (cloudpay.Withdrawal, error) {
	if w.Status.Final() {
		return w, nil
	}
	o, ended, err := s.store.WithdrawalOutcomeOf(ctx, w.ID)
	if err != nil || !ended {
		return w, err
	}
	return s.finish(ctx, w, o)
}
