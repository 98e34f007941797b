package payment

import (
	"context"
	"fmt"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// Outside names a payment made outside cloudpay, by one of its numbers.
type Outside struct {
	TransactionID string // WeChat's
	OutTradeNo    string // the merchant's, as the other system sent it
	// Payer, when set, is who asks (a user's refund request): another
	// payer's payment is refused before anything is recorded.
	Payer string
}

func (n Outside) validate() error {
	switch {
	case n.TransactionID == "" && n.OutTradeNo == "":
		return cloudpay.FieldError("transaction_id", "transaction_id or out_trade_no is required")
	case n.TransactionID != "" && n.OutTradeNo != "":
		return cloudpay.FieldError("transaction_id", "give transaction_id or out_trade_no, not both")
	case n.TransactionID != "" && !wechat.ValidTransactionID(n.TransactionID):
		return cloudpay.FieldError("transaction_id", "transaction_id must be 1-32 digits")
	case n.OutTradeNo != "" && !cloudpay.ValidOutTradeNo(n.OutTradeNo):
		return cloudpay.FieldError("out_trade_no", "out_trade_no must be 6-32 characters of digits, letters and _-|*")
	}
	return nil
}

// Adopt records a payment made outside cloudpay (another system took it
// under the same merchant) so that it can be refunded here. WeChat is
// asked, and only its answer counts: the order's number, amount, payer and
// payment time are WeChat's. The same payment again returns the same order
// (created false); two adoptions at once make one order, because the order
// and its settlement are each one insert. An order cloudpay created itself
// is returned as it is, once WeChat says it is paid.
func (s *Service) Adopt(ctx context.Context, n Outside) (cloudpay.Order, bool, error) {
	if err := n.validate(); err != nil {
		return cloudpay.Order{}, false, err
	}
	if n.OutTradeNo != "" {
		if o, err := s.store.Order(ctx, n.OutTradeNo); err == nil && o.Status.Settled() == cloudpay.SettledPaid {
			return o, false, nil
		}
	}
	var tx wechat.Transaction
	var err error
	if n.TransactionID != "" {
		tx, err = s.gw.QueryTransaction(ctx, n.TransactionID)
	} else {
		tx, err = s.gw.QueryOrder(ctx, n.OutTradeNo)
		if err == nil && tx.State == wechat.TradeNotExist {
			err = cloudpay.Errorf(cloudpay.CodeTransactionNotFound, "WeChat holds no payment under out_trade_no %s", n.OutTradeNo)
		}
	}
	if err != nil {
		return cloudpay.Order{}, false, fmt.Errorf("adopt: %w", err)
	}
	switch {
	case tx.MchID != "" && tx.MchID != s.gw.MerchantID():
		return cloudpay.Order{}, false, cloudpay.Errorf(cloudpay.CodeOtherMerchant, "the payment belongs to merchant %s, not this one", tx.MchID)
	case n.Payer != "" && tx.OpenID != n.Payer:
		return cloudpay.Order{}, false, cloudpay.Errorf(cloudpay.CodeForbidden, "the payment belongs to another user")
	case !tx.State.Paid():
		return cloudpay.Order{}, false, cloudpay.Errorf(cloudpay.CodeOrderNotPaid, "WeChat says the payment is %s, not paid", tx.State)
	case (n.TransactionID != "" && tx.TransactionID != n.TransactionID) || (n.OutTradeNo != "" && tx.OutTradeNo != n.OutTradeNo):
		return cloudpay.Order{}, false, fmt.Errorf("adopt: WeChat answered for another payment (%s, %s)", tx.TransactionID, tx.OutTradeNo)
	case !cloudpay.ValidOutTradeNo(tx.OutTradeNo) || tx.TotalFen <= 0:
		return cloudpay.Order{}, false, fmt.Errorf("adopt: WeChat's payment %s has an order number or amount cloudpay cannot hold", tx.TransactionID)
	}
	if cloudpay.IsAttemptNo(tx.OutTradeNo) {
		// One of cloudpay's own attempts: its order records it.
		o, err := s.orderOf(ctx, tx.OutTradeNo)
		if err != nil {
			return cloudpay.Order{}, false, fmt.Errorf("adopt: %w", err)
		}
		settled, _, err := s.settlePaid(ctx, o, tx.OutTradeNo, tx, "adopted")
		if err != nil {
			return settled, false, err
		}
		return settled, false, secondPayment(settled, tx)
	}
	now := s.clock()
	paidAt := tx.PaidAt
	if paidAt.IsZero() {
		paidAt = now
	}
	o := cloudpay.Order{
		OutTradeNo: tx.OutTradeNo, OpenID: tx.OpenID, AmountFen: tx.TotalFen,
		Description: "adopted " + tx.TransactionID, Status: cloudpay.OrderPaying,
		CreatedAt: paidAt, ExpiresAt: paidAt, UpdatedAt: now, Adopted: true,
	}
	stored, created, err := s.store.CreateOrder(ctx, o)
	if err != nil {
		return cloudpay.Order{}, false, fmt.Errorf("adopt: %w", err)
	}
	if !created && (stored.AmountFen != tx.TotalFen || (stored.OpenID != "" && tx.OpenID != "" && stored.OpenID != tx.OpenID)) {
		return cloudpay.Order{}, false, cloudpay.Errorf(cloudpay.CodeOrderConflict,
			"order %s exists here with another amount or payer than WeChat's payment", tx.OutTradeNo)
	}
	// The settlement decides, as for a callback: recorded once, whoever adopts.
	settled, won, err := s.settlePaid(ctx, stored, tx.OutTradeNo, tx, "adopted")
	if cloudpay.ErrorCode(err) == codeMismatch {
		return cloudpay.Order{}, false, cloudpay.Errorf(cloudpay.CodeOrderConflict, "order %s exists here and disagrees with WeChat's payment", tx.OutTradeNo)
	}
	if err != nil {
		return cloudpay.Order{}, false, fmt.Errorf("adopt: %w", err)
	}
	if won {
		s.log.InfoContext(ctx, "payment adopted", "out_trade_no", tx.OutTradeNo, "transaction_id", tx.TransactionID, "amount_fen", tx.TotalFen)
	}
	if err := secondPayment(settled, tx); err != nil {
		return cloudpay.Order{}, false, err
	}
	// Created says who inserted the order: of concurrent adoptions, the
	// settlement's winner may be another one.
	return settled, created, nil
}

// secondPayment refuses a payment that is not the one its order was
// settled with: a second payment of a paid order (two attempts paid) is
// not the order's, and a refund booked against the order would refund
// the other one. The payment.duplicate event names it for a person.
func secondPayment(o cloudpay.Order, tx wechat.Transaction) error {
	if tx.TransactionID == "" || o.TransactionID == tx.TransactionID {
		return nil
	}
	return cloudpay.Errorf(cloudpay.CodeOrderConflict,
		"payment %s is a second payment of order %s, which was paid by %s; refund it in the merchant platform",
		tx.TransactionID, o.OutTradeNo, o.TransactionID)
}

// AdoptAttempt records a payment that channel's bill shows under one of
// cloudpay's own numbers (an order's, or one of its attempts') and that
// cloudpay missed: reconciliation's adoption for any channel. The number
// must be one cloudpay used with that channel (the attempt's method says
// which: WeChat or Alipay); the channel is asked, and only its answer is
// recorded, as for a callback — a bill is evidence to look, not proof. A
// number cloudpay never issued is CodeOrderNotFound (a payment made
// elsewhere: Adopt, for WeChat's); one used with another channel or the
// wallet, CodeOrderConflict; a second payment of a paid order is
// CodeOrderConflict, with its payment.duplicate event.
func (s *Service) AdoptAttempt(ctx context.Context, channel, tradeNo string) (cloudpay.Order, error) {
	if !cloudpay.ValidOutTradeNo(tradeNo) {
		return cloudpay.Order{}, cloudpay.FieldError("out_trade_no", "out_trade_no must be 6-32 characters of digits, letters and _-|*")
	}
	o, err := s.orderOf(ctx, tradeNo)
	if err != nil {
		return cloudpay.Order{}, fmt.Errorf("adopt %s: %w", tradeNo, err)
	}
	method := cloudpay.MethodJSAPI // an order prepaid before attempts were stored
	if p, found, err := s.store.Prepay(ctx, tradeNo); err != nil {
		return cloudpay.Order{}, fmt.Errorf("adopt %s: %w", tradeNo, err)
	} else if found {
		method = p.Method
	}
	if method.Provider() != channel {
		return cloudpay.Order{}, cloudpay.Errorf(cloudpay.CodeOrderConflict,
			"cloudpay used %s with %s, not %s: a payment through %s under it is not the order's", tradeNo, usedWith(method), channel, channel)
	}
	tx, err := s.gateway(method).QueryOrder(ctx, tradeNo)
	if err != nil {
		return cloudpay.Order{}, fmt.Errorf("adopt %s: %w", tradeNo, err)
	}
	if !tx.State.Paid() {
		return cloudpay.Order{}, cloudpay.Errorf(cloudpay.CodeOrderNotPaid, "the channel says %s is %s, not paid", tradeNo, tx.State)
	}
	settled, won, err := s.settlePaid(ctx, o, tradeNo, tx, "reconciliation")
	if err != nil {
		return cloudpay.Order{}, fmt.Errorf("adopt %s: %w", tradeNo, err)
	}
	if won {
		s.log.InfoContext(ctx, "payment found by reconciliation", "out_trade_no", o.OutTradeNo, "trade_no", tradeNo,
			"transaction_id", tx.TransactionID, "amount_fen", tx.TotalFen)
	}
	return settled, secondPayment(settled, tx)
}

// usedWith names where an attempt's method takes the money.
func usedWith(m cloudpay.PayMethod) string {
	if p := m.Provider(); p != "" {
		return p
	}
	return "the wallet"
}
