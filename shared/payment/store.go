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
	MarkPaying(ctx context.Context, outTradeNo, prepayID string, now time.Time) error

	ClaimSettlement(ctx context.Context, st cloudpay.Settlement) (cloudpay.Settlement, bool, error)
	Settlement(ctx context.Context, outTradeNo string) (cloudpay.Settlement, bool, error)
	ProjectSettlement(ctx context.Context, st cloudpay.Settlement, now time.Time) error

	// ClaimAction spaces the queries that unsigned callbacks cause.
	ClaimAction(ctx context.Context, action, subject, pass string, spacing time.Duration, now time.Time) (bool, error)

	// Business notifications (the outbox).
	EnqueueEvent(ctx context.Context, e cloudpay.Event) error
}
