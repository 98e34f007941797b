package payment

import (
	"context"
	"fmt"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/crashpoint"
	"github.com/cloudpay/cloudpay/shared/effect"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// Reconciled is what the scheduled job did to an order.
type Reconciled string

const (
	ReconciledNothing  Reconciled = ""         // still waiting for payment (or too young to close)
	ReconciledPaid     Reconciled = "paid"     // WeChat had taken the money: recorded now
	ReconciledClosed   Reconciled = "closed"   // expired and unpaid: closed at WeChat and here
	ReconciledRepaired Reconciled = "repaired" // settled before; its projection caught up
)

// MinCloseAge is WeChat's rule: an order may not be closed sooner than 5
// minutes after it was created.
const MinCloseAge = 5 * time.Minute

// Reconcile settles an order that still waits for payment, for the job:
// WeChat is always asked first. Paid there means the callback was lost, so
// the payment is recorded; an expired order WeChat did not take money for
// is closed at WeChat (once old enough) and then here, with order.closed.
func (s *Service) Reconcile(ctx context.Context, outTradeNo string) (Reconciled, error) {
	o, err := s.store.Order(ctx, outTradeNo)
	if err != nil {
		return ReconciledNothing, err
	}
	if !o.Status.AwaitingPayment() {
		return ReconciledNothing, nil
	}
	if st, found, err := s.store.Settlement(ctx, o.OutTradeNo); err != nil {
		return ReconciledNothing, fmt.Errorf("reconcile: %w", err)
	} else if found {
		_, err := s.settled.Repair(ctx, o, st)
		return ReconciledRepaired, err
	}
	tx, err := s.gw.QueryOrder(ctx, o.OutTradeNo)
	if err != nil {
		return ReconciledNothing, fmt.Errorf("reconcile: %w", err)
	}
	if tx.State.Paid() {
		if _, _, err := s.settlePaid(ctx, o, tx, "job"); err != nil {
			return ReconciledNothing, fmt.Errorf("reconcile: %w", err)
		}
		return ReconciledPaid, nil
	}
	now := s.clock()
	if !o.Expired(now) || now.Sub(o.CreatedAt) < MinCloseAge {
		return ReconciledNothing, nil
	}
	if tx.State != wechat.TradeNotExist {
		// Closing at WeChat first is what makes "closed" safe: after it,
		// nobody can pay the order any more.
		err := s.gw.CloseOrder(ctx, o.OutTradeNo)
		if cloudpay.ErrorCode(err) == cloudpay.CodeOrderPaid {
			// Paid in the last moment: WeChat's record decides.
			return s.reconcilePaid(ctx, o)
		}
		if err != nil {
			return ReconciledNothing, fmt.Errorf("reconcile: %w", err)
		}
		crashpoint.Here("job.after-wechat-close")
	}
	ctx, cancel := effect.Detach(ctx)
	defer cancel()
	_, held, _, err := s.settled.End(ctx, o, cloudpay.Settlement{
		OutTradeNo: o.OutTradeNo, Outcome: cloudpay.SettledClosed, AmountFen: o.AmountFen, Source: "job", CreatedAt: now,
	})
	if err != nil {
		return ReconciledNothing, fmt.Errorf("reconcile: %w", err)
	}
	if held.Outcome == cloudpay.SettledPaid {
		return ReconciledPaid, nil
	}
	s.log.InfoContext(ctx, "expired order closed", "out_trade_no", o.OutTradeNo)
	return ReconciledClosed, nil
}

func (s *Service) reconcilePaid(ctx context.Context, o cloudpay.Order) (Reconciled, error) {
	tx, err := s.gw.QueryOrder(ctx, o.OutTradeNo)
	if err != nil {
		return ReconciledNothing, fmt.Errorf("reconcile: %w", err)
	}
	if !tx.State.Paid() {
		return ReconciledNothing, fmt.Errorf("reconcile %s: WeChat refused to close it as paid but reports %s", o.OutTradeNo, tx.State)
	}
	if _, _, err := s.settlePaid(ctx, o, tx, "job"); err != nil {
		return ReconciledNothing, fmt.Errorf("reconcile: %w", err)
	}
	return ReconciledPaid, nil
}
