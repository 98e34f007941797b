package recon

import (
	"context"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// Store is what reconciliation may do to the store: read what cloudpay
// recorded on a day, keep each day's report, and raise events.
type Store interface {
	// What cloudpay holds as paid or refunded between two instants.
	SettlementsPaidBetween(ctx context.Context, from, to time.Time) ([]cloudpay.Settlement, error)
	RefundsSucceededBetween(ctx context.Context, from, to time.Time) ([]cloudpay.Refund, error)
	Settlement(ctx context.Context, outTradeNo string) (cloudpay.Settlement, bool, error)
	// Order tells cloudpay's own numbers from others' (CodeOrderNotFound).
	Order(ctx context.Context, outTradeNo string) (cloudpay.Order, error)
	// Prepay finds the order of a payment attempt's WeChat number.
	Prepay(ctx context.Context, tradeNo string) (cloudpay.Prepay, bool, error)
	Refund(ctx context.Context, outRefundNo string) (cloudpay.Refund, error)

	// The channels' bills as downloaded, kept (gzip) beside the reports.
	SaveBill(ctx context.Context, b Bill) error

	// Reports, one per day.
	SaveReport(ctx context.Context, r Report) error
	Report(ctx context.Context, date string) (Report, bool, error)
	Reports(ctx context.Context, limit int) ([]Report, error)

	// ClaimAction keeps two job passes from reconciling the same day at once.
	ClaimAction(ctx context.Context, action, subject, pass string, spacing time.Duration, now time.Time) (bool, error)

	// Business notifications (the outbox).
	EnqueueEvent(ctx context.Context, e cloudpay.Event) error
}
