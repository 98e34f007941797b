package payment

import (
	"context"
	"fmt"
	"strings"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/crashpoint"
	"github.com/cloudpay/cloudpay/shared/effect"
)

// Paying from the balance is a wallet debit and the order's settlement,
// which must happen together exactly once, with no WeChat call:
//
//  1. the balance attempt is opened like any other (attempts.go): every
//     earlier attempt is closed first, so WeChat can no longer take money;
//  2. the debit, one wallet entry under "pay:<attempt>" (the ledger
//     refuses more than the available balance);
//  3. the attempt's end claim "used", which a switch to another method
//     races with its "closed": one insert decides whether this debit may
//     settle the order;
//  4. the settlement claim, which the job's close of an expired order or
//     a WeChat payment may have taken first.
//
// A debit that does not settle the order is given back under
// "unpay:<attempt>". The job's sweep of the wallet ledger runs the same
// steps for a debit a crash left behind (SweepBalance), so one pass
// converges: nothing stays debited without its order paid.

func payRef(tradeNo string) string   { return "pay:" + tradeNo }
func unpayRef(tradeNo string) string { return "unpay:" + tradeNo }

// PayFromBalance pays the caller's own order from their wallet balance.
// More than the balance is INSUFFICIENT_BALANCE and changes nothing; an
// order already paid by any method is ORDER_PAID.
func (s *Service) PayFromBalance(ctx context.Context, openid, outTradeNo string) (cloudpay.Order, error) {
	if s.wallet == nil {
		return cloudpay.Order{}, cloudpay.Errorf(cloudpay.CodeMethodNotSupported, "payments from the balance are not enabled here")
	}
	o, err := s.ownOrder(ctx, openid, outTradeNo)
	if err != nil {
		return cloudpay.Order{}, err
	}
	if o, err = s.payableNow(ctx, o); err != nil {
		return cloudpay.Order{}, err
	}
	// A retry of a payment whose debit is made finishes it: the balance
	// may no longer hold the amount, because it paid it.
	if p, debit, found, err := s.debitMade(ctx, o); err != nil {
		return cloudpay.Order{}, err
	} else if found {
		return s.finishBalance(ctx, o, p, debit)
	}
	// Refuse before anything changes; the debit checks again.
	available, err := s.wallet.Available(ctx, o.OpenID)
	if err != nil {
		return cloudpay.Order{}, fmt.Errorf("pay from balance: %w", err)
	}
	if available < o.AmountFen {
		return cloudpay.Order{}, cloudpay.Errorf(cloudpay.CodeInsufficientBalance,
			"the balance is %d fen; the order is %d fen", available, o.AmountFen)
	}
	p, err := s.open(ctx, o, PayRequest{Method: cloudpay.MethodBalance})
	if err != nil {
		return cloudpay.Order{}, err
	}
	debit, err := s.wallet.Spend(ctx, o.OpenID, payRef(p.TradeNo), o.AmountFen, o.OutTradeNo)
	if err != nil {
		return cloudpay.Order{}, err
	}
	crashpoint.Here("pay.after-debit")
	return s.finishBalance(ctx, o, p, debit)
}

// debitMade finds the debit of the order's newest attempt, if that is a
// balance attempt not closed whose debit is made.
func (s *Service) debitMade(ctx context.Context, o cloudpay.Order) (cloudpay.Prepay, cloudpay.WalletEntry, bool, error) {
	a, err := s.attemptsOf(ctx, o)
	if err != nil {
		return cloudpay.Prepay{}, cloudpay.WalletEntry{}, false, fmt.Errorf("pay from balance: %w", err)
	}
	p, ok := a.latest()
	if !ok || p.Method != cloudpay.MethodBalance || a.ended[p.TradeNo] == cloudpay.PrepayClosed {
		return p, cloudpay.WalletEntry{}, false, nil
	}
	debit, found, err := s.wallet.Entry(ctx, payRef(p.TradeNo))
	if err != nil {
		return p, debit, false, fmt.Errorf("pay from balance: %w", err)
	}
	return p, debit, found, nil
}

// finishBalance settles o with the balance attempt p, whose debit is
// made, or gives the debit back if the order ends otherwise.
func (s *Service) finishBalance(ctx context.Context, o cloudpay.Order, p cloudpay.Prepay, debit cloudpay.WalletEntry) (cloudpay.Order, error) {
	// The money has left the wallet: finish even if the caller goes away.
	ctx, cancel := effect.Detach(ctx)
	defer cancel()
	end, _, err := s.store.ClaimPrepayEnd(ctx, cloudpay.PrepayEnd{TradeNo: p.TradeNo, OutTradeNo: o.OutTradeNo, Outcome: cloudpay.PrepayUsed, CreatedAt: s.clock()})
	if err != nil {
		return o, fmt.Errorf("pay from balance: %w", err)
	}
	if end.Outcome == cloudpay.PrepayClosed {
		// A switch to another method closed the attempt first.
		if err := s.giveBack(ctx, o, p, debit); err != nil {
			return o, err
		}
		return o, cloudpay.Errorf(cloudpay.CodePaymentSwitched, "order %s was switched to another way to pay; the balance was not used", o.OutTradeNo)
	}
	crashpoint.Here("pay.after-balance-claim")
	o, held, _, err := s.settled.End(ctx, o, cloudpay.Settlement{
		OutTradeNo: o.OutTradeNo, Outcome: cloudpay.SettledPaid, AmountFen: debit.AmountFen, OpenID: o.OpenID,
		PaidAt: debit.CreatedAt, Source: "balance", CreatedAt: s.clock(),
		TradeNo: attemptNo(o, p.TradeNo), Method: cloudpay.MethodBalance,
	})
	if err != nil {
		return o, fmt.Errorf("pay from balance: %w", err)
	}
	if held.Outcome == cloudpay.SettledPaid && held.Method == cloudpay.MethodBalance && held.WeChatTradeNo() == p.TradeNo {
		return o, nil
	}
	// Closed as expired, or paid at WeChat first: the debit goes back.
	if err := s.giveBack(ctx, o, p, debit); err != nil {
		return o, err
	}
	if held.Outcome == cloudpay.SettledClosed {
		return o, cloudpay.Errorf(cloudpay.CodeOrderClosed, "order %s is closed; the balance was not used", o.OutTradeNo)
	}
	return o, cloudpay.Errorf(cloudpay.CodeOrderPaid, "order %s is already paid; the balance was not used", o.OutTradeNo)
}

func (s *Service) giveBack(ctx context.Context, o cloudpay.Order, p cloudpay.Prepay, debit cloudpay.WalletEntry) error {
	if _, err := s.wallet.GiveBack(ctx, debit.OpenID, unpayRef(p.TradeNo), cloudpay.EntryReversal, debit.AmountFen, o.OutTradeNo, ""); err != nil {
		return fmt.Errorf("give back the balance payment of %s: %w", o.OutTradeNo, err)
	}
	s.log.InfoContext(ctx, "balance payment given back", "out_trade_no", o.OutTradeNo, "trade_no", p.TradeNo, "amount_fen", debit.AmountFen)
	return nil
}

// resumeBalance finishes a balance attempt whose end says used: its debit
// settles the order, or goes back.
func (s *Service) resumeBalance(ctx context.Context, o cloudpay.Order, p cloudpay.Prepay) (cloudpay.Order, error) {
	if s.wallet == nil {
		return o, fmt.Errorf("order %s has a balance payment but no wallet is configured", o.OutTradeNo)
	}
	debit, found, err := s.wallet.Entry(ctx, payRef(p.TradeNo))
	if err != nil {
		return o, fmt.Errorf("balance payment of %s: %w", o.OutTradeNo, err)
	}
	if !found {
		// "used" is claimed only after the debit: a store that lost it is
		// beyond what the sweep can mend.
		return o, fmt.Errorf("balance attempt %s of %s is used but holds no debit", p.TradeNo, o.OutTradeNo)
	}
	return s.finishBalance(ctx, o, p, debit)
}

// SweepBalance makes one wallet entry's payment true, for the job's sweep
// of the wallet ledger: a debit whose request died settles its order or
// goes back, through the same steps as a live request. It is idempotent,
// and tells whether it repaired anything.
func (s *Service) SweepBalance(ctx context.Context, e cloudpay.WalletEntry) (bool, error) {
	tradeNo, ok := strings.CutPrefix(e.Ref, "pay:")
	if e.Kind != cloudpay.EntryPayment || !ok {
		return false, nil
	}
	o, err := s.store.Order(ctx, e.OutTradeNo)
	if err != nil {
		return false, fmt.Errorf("sweep %s: %w", e.Ref, err)
	}
	st, found, err := s.store.Settlement(ctx, o.OutTradeNo)
	if err != nil {
		return false, fmt.Errorf("sweep %s: %w", e.Ref, err)
	}
	if found && st.Method == cloudpay.MethodBalance && st.WeChatTradeNo() == tradeNo {
		// This debit paid the order: its projection, if a crash cut it short.
		if !o.Status.AwaitingPayment() {
			return false, nil
		}
		_, err := s.settled.Repair(ctx, o, st)
		return err == nil, err
	}
	if _, given, err := s.wallet.Entry(ctx, unpayRef(tradeNo)); err != nil || given {
		return false, err
	}
	p, found, err := s.store.Prepay(ctx, tradeNo)
	if err != nil {
		return false, fmt.Errorf("sweep %s: %w", e.Ref, err)
	}
	if !found {
		return false, cloudpay.Errorf(cloudpay.CodeOrderNotFound, "sweep %s: no payment attempt %s", e.Ref, tradeNo)
	}
	_, err = s.finishBalance(ctx, o, p, e)
	switch cloudpay.ErrorCode(err) {
	case cloudpay.CodeOrderPaid, cloudpay.CodeOrderClosed, cloudpay.CodePaymentSwitched:
		err = nil // given back: converged
	}
	if err == nil {
		s.log.WarnContext(ctx, "balance payment finished by the sweep", "out_trade_no", o.OutTradeNo, "trade_no", tradeNo)
	}
	return err == nil, err
}
