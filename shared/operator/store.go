package operator

import (
	"context"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/refund"
)

// Store is what the operator's read views may read. It writes nothing.
type Store interface {
	ListOrders(ctx context.Context, f OrderFilter, after *cloudpay.Cursor, limit int) ([]cloudpay.Order, string, error)
	Order(ctx context.Context, outTradeNo string) (cloudpay.Order, error)
	Settlement(ctx context.Context, outTradeNo string) (cloudpay.Settlement, bool, error)
	RefundLedgerTail(ctx context.Context, outTradeNo string) (cloudpay.RefundEntry, bool, error)
	ListRefunds(ctx context.Context, f refund.Filter, after *cloudpay.Cursor, limit int) ([]cloudpay.Refund, string, refund.Totals, error)
	ListWithdrawals(ctx context.Context, openid string, status cloudpay.WithdrawalStatus, limit int) ([]cloudpay.Withdrawal, error)
}
