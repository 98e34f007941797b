package payment

import (
	"context"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// Store is what the pay use cases may do to the store. Whether an order was
// paid or closed is decided by the settlement claim; the order document
// mirrors it (docs/design.md §4).
type Store interface {
	CreateOrder(ctx context.Context, o cloudpay.Order) (cloudpay.Order, bool, error)
	Order(ctx context.Context, outTradeNo string) (cloudpay.Order, error)
	MarkPaying(ctx context.Context, outTradeNo, prepayID string, method cloudpay.PayMethod, tradeNo string, now time.Time) error

	// An order's payment attempts, each under its own WeChat number, and
	// the claims that end them (shared/payment/attempts.go).
	InsertPrepay(ctx context.Context, p cloudpay.Prepay) (cloudpay.Prepay, bool, error)
	Prepay(ctx context.Context, tradeNo string) (cloudpay.Prepay, bool, error)
	Prepays(ctx context.Context, outTradeNo string) ([]cloudpay.Prepay, error)
	ClaimPrepayEnd(ctx context.Context, e cloudpay.PrepayEnd) (cloudpay.PrepayEnd, bool, error)
	PrepayEnds(ctx context.Context, outTradeNo string) ([]cloudpay.PrepayEnd, error)

	ClaimSettlement(ctx context.Context, st cloudpay.Settlement) (cloudpay.Settlement, bool, error)
	Settlement(ctx context.Context, outTradeNo string) (cloudpay.Settlement, bool, error)
	ProjectSettlement(ctx context.Context, st cloudpay.Settlement, now time.Time) error

	// ClaimAction spaces the queries that unsigned callbacks cause.
	ClaimAction(ctx context.Context, action, subject, pass string, spacing time.Duration, now time.Time) (bool, error)

	// Business notifications (the outbox).
	EnqueueEvent(ctx context.Context, e cloudpay.Event) error
}

// Wallet is the user's balance as a way to pay (shared/withdraw.Balance).
// Each movement is one ledger entry under a unique ref.
type Wallet interface {
	Available(ctx context.Context, openid string) (cloudpay.Fen, error)
	// Spend refuses more than the available balance with
	// CodeInsufficientBalance, changing nothing.
	Spend(ctx context.Context, openid, ref string, amount cloudpay.Fen, outTradeNo string) (cloudpay.WalletEntry, error)
	GiveBack(ctx context.Context, openid, ref string, kind cloudpay.WalletEntryKind, amount cloudpay.Fen, outTradeNo, outRefundNo string) (cloudpay.WalletEntry, error)
	Entry(ctx context.Context, ref string) (cloudpay.WalletEntry, bool, error)
}
