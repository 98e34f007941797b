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
	a, err := s.attemptsOf(ctx, o)
	if err != nil {
		return ReconciledNothing, fmt.Errorf("reconcile: %w", err)
	}
	// Every number WeChat may hold a payment under is asked: a callback
	// can be lost for any attempt.
	live := a.outside(o)
	states := make(map[string]wechat.TradeState, len(live))
	for _, p := range live {
		tx, err := s.gateway(p.Method).QueryOrder(ctx, p.TradeNo)
		if err != nil {
			return ReconciledNothing, fmt.Errorf("reconcile: %w", err)
		}
		if tx.State.Paid() {
			if _, _, err := s.settlePaid(ctx, o, p.TradeNo, tx, "job"); err != nil {
				return ReconciledNothing, fmt.Errorf("reconcile: %w", err)
			}
			return ReconciledPaid, nil
		}
		states[p.TradeNo] = tx.State
	}
	for _, p := range a.list {
		if p.Method == cloudpay.MethodBalance && a.ended[p.TradeNo] == cloudpay.PrepayUsed {
			// A balance payment a crash cut short (the sweep finishes it too).
			if _, err := s.resumeBalance(ctx, o, p); err == nil {
				return ReconciledPaid, nil
			} else if code := cloudpay.ErrorCode(err); code != cloudpay.CodeOrderPaid && code != cloudpay.CodeOrderClosed {
				return ReconciledNothing, fmt.Errorf("reconcile: %w", err)
			}
		}
	}
	now := s.clock()
	if !o.Expired(now) || now.Sub(o.CreatedAt) < MinCloseAge {
		return ReconciledNothing, nil
	}
	// Closing at the provider first is what makes "closed" safe: after it,
	// nobody can pay the order any more. (An Alipay QR code not scanned yet
	// does not exist at Alipay: NOTEXIST above, yet it is closed all the
	// same, since a scan could create it; Alipay answers its close with
	// NOTEXIST, which counts as closed.)
	for _, p := range live {
		if states[p.TradeNo] == wechat.TradeNotExist && p.Method.Provider() == cloudpay.ProviderWeChat {
			continue
		}
		err := s.gateway(p.Method).CloseOrder(ctx, p.TradeNo)
		if cloudpay.ErrorCode(err) == cloudpay.CodeOrderPaid {
			// Paid in the last moment: the provider's record decides.
			return s.reconcilePaid(ctx, o, p)
		}
		if notAtWeChat(err) {
			if now.Before(alipayPayableUntil(p)) {
				// An Alipay code nobody used yet may still be: the order
				// is closed once it has lapsed (a later pass).
				return ReconciledNothing, nil
			}
			err = nil
		}
		if err != nil {
			return ReconciledNothing, fmt.Errorf("reconcile: %w", err)
		}
		crashpoint.Here("job.after-wechat-close")
		if !p.Implicit {
			if _, _, err := s.store.ClaimPrepayEnd(ctx, cloudpay.PrepayEnd{TradeNo: p.TradeNo, OutTradeNo: o.OutTradeNo, Outcome: cloudpay.PrepayClosed, CreatedAt: now}); err != nil {
				return ReconciledNothing, fmt.Errorf("reconcile: %w", err)
			}
		}
	}
	for _, p := range a.list {
		if p.Method == cloudpay.MethodBalance && a.ended[p.TradeNo] == "" {
			if err := s.closeAttempt(ctx, o, p); cloudpay.ErrorCode(err) == cloudpay.CodeOrderPaid {
				return ReconciledPaid, nil
			} else if err != nil {
				return ReconciledNothing, fmt.Errorf("reconcile: %w", err)
			}
		}
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
	// A request that passed its payable check before the order expired
	// may have stored an attempt after the look above: it is closed here
	// (or by that request, which looks at the settlement after its
	// prepay). One of the two sees the other.
	if err := s.closeLate(ctx, o, a.list); err != nil {
		return ReconciledClosed, fmt.Errorf("reconcile: %w", err)
	}
	s.log.InfoContext(ctx, "expired order closed", "out_trade_no", o.OutTradeNo)
	return ReconciledClosed, nil
}

func (s *Service) reconcilePaid(ctx context.Context, o cloudpay.Order, p cloudpay.Prepay) (Reconciled, error) {
	tradeNo := p.TradeNo
	tx, err := s.gateway(p.Method).QueryOrder(ctx, tradeNo)
	if err != nil {
		return ReconciledNothing, fmt.Errorf("reconcile: %w", err)
	}
	if !tx.State.Paid() {
		return ReconciledNothing, fmt.Errorf("reconcile %s: WeChat refused to close it as paid but reports %s", o.OutTradeNo, tx.State)
	}
	if _, _, err := s.settlePaid(ctx, o, tradeNo, tx, "job"); err != nil {
		return ReconciledNothing, fmt.Errorf("reconcile: %w", err)
	}
	return ReconciledPaid, nil
}

// outside lists the attempts a provider may hold a payment under: those
// not closed, or the order's own number at WeChat when it has no attempt (a
// payment made under it elsewhere is found too).
func (a attempts) outside(o cloudpay.Order) []cloudpay.Prepay {
	var live []cloudpay.Prepay
	for _, p := range a.list {
		if p.Method.Outside() && a.ended[p.TradeNo] == "" {
			live = append(live, p)
		}
	}
	if len(a.list) == 0 {
		live = append(live, cloudpay.Prepay{TradeNo: o.OutTradeNo, OutTradeNo: o.OutTradeNo, N: 1, Method: cloudpay.MethodJSAPI, Implicit: true})
	}
	return live
}

// closeLate closes at WeChat the attempts of a closed order that appeared
// after seen was read.
func (s *Service) closeLate(ctx context.Context, o cloudpay.Order, seen []cloudpay.Prepay) error {
	list, err := s.store.Prepays(ctx, o.OutTradeNo)
	if err != nil {
		return err
	}
	known := make(map[string]bool, len(seen))
	for _, p := range seen {
		known[p.TradeNo] = true
	}
	for _, p := range list {
		if known[p.TradeNo] {
			continue
		}
		if p.Method.Outside() {
			if err := s.gateway(p.Method).CloseOrder(ctx, p.TradeNo); err != nil && !notAtWeChat(err) {
				return fmt.Errorf("close late attempt %s: %w", p.TradeNo, err)
			}
		}
		if _, _, err := s.store.ClaimPrepayEnd(ctx, cloudpay.PrepayEnd{TradeNo: p.TradeNo, OutTradeNo: o.OutTradeNo, Outcome: cloudpay.PrepayClosed, CreatedAt: s.clock()}); err != nil {
			return err
		}
	}
	return nil
}
