package mongostore

import (
	"context"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

func (s *Store) refundLedger() ledger[cloudpay.RefundEntry, *cloudpay.RefundEntry] {
	return ledger[cloudpay.RefundEntry, *cloudpay.RefundEntry]{s: s, col: colRefundLedger}
}

// AppendRefundEntry appends the entry next builds to an order's refund
// ledger under ref; an existing entry with ref is returned instead, with
// appended false.
func (s *Store) AppendRefundEntry(ctx context.Context, outTradeNo, ref string, next cloudpay.NextEntry[cloudpay.RefundEntry]) (cloudpay.RefundEntry, bool, error) {
	return s.refundLedger().append(ctx, outTradeNo, ref, next)
}

// RefundLedgerTail returns the newest entry of an order's refund ledger.
func (s *Store) RefundLedgerTail(ctx context.Context, outTradeNo string) (cloudpay.RefundEntry, bool, error) {
	return s.refundLedger().tail(ctx, outTradeNo)
}

// RefundLedger returns all entries of an order, oldest first.
func (s *Store) RefundLedger(ctx context.Context, outTradeNo string) ([]cloudpay.RefundEntry, error) {
	return s.refundLedger().all(ctx, outTradeNo)
}
