package withdraw

import (
	"context"
	"fmt"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/crashpoint"
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
	w = *e.Withdrawal
	w.FreezeSeq = e.Seq
	w, inserted, err := s.store.InsertWithdrawal(ctx, w)
	if err != nil {
		return cloudpay.Withdrawal{}, false, fmt.Errorf("withdraw: %w", err)
	}
	if inserted {
		// Nobody has sent it yet: a twin request that did meanwhile holds
		// the first attempt's claim, and Send finds it.
		w, err = s.send(ctx, w)
	} else {
		w, err = s.resume(ctx, w)
	}
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
	w, err := s.chain.Current(ctx, w)
	if err != nil || w.Status != cloudpay.WithdrawalCreated {
		return w, err
	}
	return s.send(ctx, w)
}

// send creates the transfer bill under a new attempt claim (the effect
// engine's Send) and records WeChat's answer.
func (s *Service) send(ctx context.Context, w cloudpay.Withdrawal) (cloudpay.Withdrawal, error) {
	w, _, err := s.chain.Send(ctx, w)
	return w, err
}
