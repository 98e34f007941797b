package payment

import (
	"context"
	"fmt"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/effect"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// confirmSpacing is the least time between two queries that unsigned
// callbacks make WeChat answer about one order: on API v3 deployments the
// callback route is public, and a flood of forged callbacks must not become
// a flood of queries. The window is a claim in the store, not an in-memory
// limiter, because instances are many (docs/design.md §2).
const confirmSpacing = 10 * time.Second

// Confirm handles an unsigned pay callback: the hint is checked against
// our order, confirmed by querying WeChat, and only then recorded. An
// error means nothing could be decided (store or WeChat failing): retry.
func (s *Service) Confirm(ctx context.Context, hint wechat.PayHint) (wechat.Verdict, error) {
	if hint.MchID != "" && hint.MchID != s.gw.MerchantID() {
		s.log.WarnContext(ctx, "pay callback for another merchant ignored", "out_trade_no", hint.OutTradeNo, "mch_id", hint.MchID)
		return wechat.OtherMerchant, nil
	}
	o, err := s.orderOf(ctx, hint.OutTradeNo)
	if cloudpay.ErrorCode(err) == cloudpay.CodeOrderNotFound {
		s.log.WarnContext(ctx, "pay callback for an unknown order ignored", "out_trade_no", hint.OutTradeNo)
		return wechat.UnknownOrder, nil
	}
	if err != nil {
		return "", fmt.Errorf("confirm payment: %w", err)
	}
	amountDiffers := hint.HasTotal && hint.TotalFen != o.AmountFen
	if o.Status.Settled() == cloudpay.SettledPaid && hint.OutTradeNo == o.WeChatTradeNo() {
		// The order shows its payment, so its settlement and event are
		// stored (they are written before the status): a read-only answer.
		if amountDiffers {
			// The payment is recorded from WeChat's own answer: a callback
			// that disagrees now is forged or garbled, and anyone can send one.
			s.log.WarnContext(ctx, "pay callback amount differs from a paid order", "out_trade_no", o.OutTradeNo,
				"callback_fen", hint.TotalFen, "order_fen", o.AmountFen)
			return wechat.Mismatch, nil
		}
		return wechat.AlreadyRecorded, nil
	}
	// Awaiting payment, closed, or a callback for another attempt of a
	// paid order (a second payment): only WeChat's answer counts. A
	// settlement whose projection a crash interrupted is found by the
	// claim below, or by the wait for the window's holder, and projected.
	if amountDiffers {
		s.log.ErrorContext(ctx, "pay callback amount differs from the order", "out_trade_no", o.OutTradeNo,
			"callback_fen", hint.TotalFen, "order_fen", o.AmountFen)
		return wechat.Mismatch, nil
	}
	if ok, err := s.store.ClaimAction(ctx, "confirm-payment", o.OutTradeNo, cloudpay.Nonce(), confirmSpacing, s.clock()); err != nil {
		return "", fmt.Errorf("confirm payment: %w", err)
	} else if !ok {
		// Another callback asked WeChat moments ago: its answer, if it
		// was "paid", is recorded within the window; a forged flood waits
		// here on store reads, never on WeChat.
		if st, ok := s.awaitSettlement(ctx, o.OutTradeNo); ok && st.WeChatTradeNo() == hint.OutTradeNo {
			// Acknowledged means stored: the projection too.
			if _, err := s.settled.Repair(ctx, o, st); err != nil {
				return "", err
			}
			return wechat.AlreadyRecorded, nil
		}
		s.log.InfoContext(ctx, "pay callback not confirmed: WeChat was asked moments ago", "out_trade_no", o.OutTradeNo)
		return wechat.Throttled, nil
	}
	tx, err := s.gw.QueryOrder(ctx, hint.OutTradeNo)
	if err != nil {
		return "", fmt.Errorf("confirm payment: %w", err)
	}
	return s.record(ctx, o, hint.OutTradeNo, tx, "callback")
}

// settlementWait bounds how long a callback that finds the window taken
// waits for the holder's outcome: about as long as the holder's query to
// WeChat may take (WECHAT_TIMEOUT, 5 s by default). It is wall-clock time,
// spent on a few store reads, never on WeChat.
const settlementWait = 5 * time.Second

// awaitSettlement waits, at most settlementWait, for the order to be
// recorded as paid by whoever holds the confirmation window.
func (s *Service) awaitSettlement(ctx context.Context, outTradeNo string) (cloudpay.Settlement, bool) {
	deadline := time.Now().Add(settlementWait)
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		st, found, err := s.store.Settlement(ctx, outTradeNo)
		if err == nil && found && st.Outcome == cloudpay.SettledPaid {
			return st, true
		}
		if time.Now().Add(wait).After(deadline) || !sleep(ctx, wait) {
			return cloudpay.Settlement{}, false
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Record records a payment notification whose signature was verified
// (API v3): it is WeChat's own word, so no query is needed.
func (s *Service) Record(ctx context.Context, tx wechat.Transaction) (wechat.Verdict, error) {
	if tx.MchID != "" && tx.MchID != s.merchantOf(tx) {
		return wechat.OtherMerchant, nil
	}
	o, err := s.orderOf(ctx, tx.OutTradeNo)
	if cloudpay.ErrorCode(err) == cloudpay.CodeOrderNotFound {
		s.log.WarnContext(ctx, "payment notification for an unknown order ignored", "out_trade_no", tx.OutTradeNo)
		return wechat.UnknownOrder, nil
	}
	if err != nil {
		return "", fmt.Errorf("payment notification: %w", err)
	}
	return s.record(ctx, o, tx.OutTradeNo, tx, "notification")
}

// record settles o as paid under its attempt tradeNo if WeChat's
// transaction says so.
func (s *Service) record(ctx context.Context, o cloudpay.Order, tradeNo string, tx wechat.Transaction, source string) (wechat.Verdict, error) {
	if !tx.State.Paid() {
		s.log.WarnContext(ctx, "WeChat says the order is not paid", "out_trade_no", o.OutTradeNo, "trade_state", tx.State, "source", source)
		return wechat.NotPaid, nil
	}
	_, won, err := s.settlePaid(ctx, o, tradeNo, tx, source)
	if cloudpay.ErrorCode(err) == codeMismatch {
		return wechat.Mismatch, nil
	}
	if err != nil {
		return "", fmt.Errorf("record payment: %w", err)
	}
	if !won {
		return wechat.AlreadyRecorded, nil
	}
	return wechat.Recorded, nil
}

// codeMismatch marks WeChat's word disagreeing with our order; internal only.
const codeMismatch cloudpay.Code = "PAYMENT_MISMATCH"

// settlePaid records that WeChat took the money for o under its attempt
// tradeNo: the settlement claim decides (one insert wins), and the order
// and its event follow (shared/effect). It returns the order as settled
// and whether this call recorded the payment.
func (s *Service) settlePaid(ctx context.Context, o cloudpay.Order, tradeNo string, tx wechat.Transaction, source string) (cloudpay.Order, bool, error) {
	if err := matches(o, tradeNo, tx, s.merchantOf(tx)); err != nil {
		s.log.ErrorContext(ctx, "WeChat's payment disagrees with the order; not recorded", "out_trade_no", o.OutTradeNo, "err", err)
		return o, false, err
	}
	method := cloudpay.MethodOfTradeType(tx.TradeType)
	if method.Provider() == cloudpay.ProviderAlipay {
		// Alipay's answers do not tell its QR code from its cashier: the
		// attempt does.
		if p, found, err := s.store.Prepay(ctx, tradeNo); err != nil {
			return o, false, err
		} else if found {
			method = p.Method
		}
	}
	// WeChat has confirmed the payment: record it even if the caller (WeChat's
	// callback connection, a polling page) goes away meanwhile.
	ctx, cancel := effect.Detach(ctx)
	defer cancel()
	o, held, won, err := s.settled.End(ctx, o, cloudpay.Settlement{
		OutTradeNo: o.OutTradeNo, Outcome: cloudpay.SettledPaid, TransactionID: tx.TransactionID,
		AmountFen: tx.TotalFen, OpenID: tx.OpenID, PaidAt: tx.PaidAt, Source: source, CreatedAt: s.clock(),
		TradeNo: attemptNo(o, tradeNo), Method: method,
	})
	if err != nil {
		return o, false, err
	}
	if held.Outcome != cloudpay.SettledPaid {
		// WeChat took money for an order we settled as closed: a person must
		// act, told by the same event as a second payment (once per payment).
		if err := s.paidTwice(ctx, o, tradeNo, tx); err != nil {
			return o, false, err
		}
		return o, false, fmt.Errorf("order %s was settled %s but WeChat reports it paid", o.OutTradeNo, held.Outcome)
	}
	if !won && tx.TransactionID != "" && held.TransactionID != tx.TransactionID {
		// Two attempts paid (a switch raced a payment, rule 3 of
		// attempts.go): one settles the order, the other is money the
		// merchant must give back. The event is what says so.
		if err := s.paidTwice(ctx, o, tradeNo, tx); err != nil {
			return o, false, err
		}
	}
	if won {
		s.log.InfoContext(ctx, "payment recorded", "out_trade_no", o.OutTradeNo, "amount_fen", held.AmountFen, "source", source)
	}
	return o, won, nil
}

// attemptNo is what a settlement keeps of the attempt paid: its number
// when it is not the order's own.
func attemptNo(o cloudpay.Order, tradeNo string) string {
	if tradeNo == o.OutTradeNo {
		return ""
	}
	return tradeNo
}

// paidTwice records a second payment of a paid order, or a payment of an
// order settled as closed, for a person to refund: an error log and a
// payment.duplicate event, once per payment.
func (s *Service) paidTwice(ctx context.Context, o cloudpay.Order, tradeNo string, tx wechat.Transaction) error {
	s.log.ErrorContext(ctx, "order paid twice: refund the second payment", "out_trade_no", o.OutTradeNo,
		"trade_no", tradeNo, "transaction_id", tx.TransactionID, "amount_fen", tx.TotalFen)
	return s.store.EnqueueEvent(ctx, cloudpay.NewEvent(cloudpay.EventPaymentDuplicate, tx.TransactionID, map[string]any{
		"out_trade_no": o.OutTradeNo, "trade_no": tradeNo, "transaction_id": tx.TransactionID,
		"amount_fen": int64(tx.TotalFen), "openid": tx.OpenID, "method": string(cloudpay.MethodOfTradeType(tx.TradeType)),
	}, s.clock()))
}

// matches checks WeChat's transaction for the attempt tradeNo against our
// order before it counts. A QR code or an H5 link may be paid by anyone,
// so only a JSAPI payment (made out to the order's user) checks the payer.
func matches(o cloudpay.Order, tradeNo string, tx wechat.Transaction, mchID string) error {
	switch {
	case tx.OutTradeNo != tradeNo:
		return cloudpay.Errorf(codeMismatch, "WeChat answered for order %q", tx.OutTradeNo)
	case tx.TotalFen != o.AmountFen:
		return cloudpay.Errorf(codeMismatch, "WeChat paid amount %d fen, order is %d fen", tx.TotalFen, o.AmountFen)
	case tx.MchID != "" && tx.MchID != mchID:
		return cloudpay.Errorf(codeMismatch, "WeChat answered for merchant %q", tx.MchID)
	case tx.OpenID != "" && tx.OpenID != o.OpenID && cloudpay.MethodOfTradeType(tx.TradeType) == cloudpay.MethodJSAPI:
		return cloudpay.Errorf(codeMismatch, "WeChat payer differs from the order's user")
	}
	return nil
}
