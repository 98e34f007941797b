package refund

import (
	"context"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// Store is what the refund use cases may do to the store. Every money
// decision is an append to the order's refund ledger or a claim (attempt,
// outcome); documents are projections (docs/design.md §4).
type Store interface {
	// Orders and their settlement, read only: what was paid.
	Order(ctx context.Context, outTradeNo string) (cloudpay.Order, error)
	Settlement(ctx context.Context, outTradeNo string) (cloudpay.Settlement, bool, error)

	// The refundable amount of an order: an append-only ledger.
	AppendRefundEntry(ctx context.Context, outTradeNo, ref string, next cloudpay.NextEntry[cloudpay.RefundEntry]) (cloudpay.RefundEntry, bool, error)
	RefundLedgerTail(ctx context.Context, outTradeNo string) (cloudpay.RefundEntry, bool, error)
	RefundLedger(ctx context.Context, outTradeNo string) ([]cloudpay.RefundEntry, error)

	// Claims: one call to WeChat per attempt, one outcome per round.
	ClaimAttempt(ctx context.Context, subject string, n int, now time.Time) (cloudpay.Attempt, bool, error)
	AttemptAt(ctx context.Context, subject string, n int) (cloudpay.Attempt, bool, error)
	ClaimRefundOutcome(ctx context.Context, o Outcome) (Outcome, bool, error)
	RefundOutcomeOf(ctx context.Context, outRefundNo string, round int) (Outcome, bool, error)

	// Projections: refund documents, the order's refund status, batches.
	InsertRefund(ctx context.Context, r cloudpay.Refund) (cloudpay.Refund, bool, error)
	Refund(ctx context.Context, outRefundNo string) (cloudpay.Refund, error)
	SaveRefund(ctx context.Context, r cloudpay.Refund) error
	RefundsDue(ctx context.Context, status cloudpay.RefundStatus, now time.Time, limit int) ([]cloudpay.Refund, error)
	ListRefunds(ctx context.Context, f Filter, after *cloudpay.Cursor, limit int) ([]cloudpay.Refund, string, Totals, error)
	ProjectOrderRefunds(ctx context.Context, outTradeNo string, status cloudpay.OrderStatus, refundedFen cloudpay.Fen, seq int64, now time.Time) error
	InsertBatch(ctx context.Context, b Batch) (Batch, bool, error)
	Batch(ctx context.Context, id string) (Batch, error)
	MarkBatchComplete(ctx context.Context, id string, now time.Time) error

	// ClaimAction spaces the queries that unsigned callbacks cause.
	ClaimAction(ctx context.Context, action, subject, pass string, spacing time.Duration, now time.Time) (bool, error)

	// Business notifications (the outbox).
	EnqueueEvent(ctx context.Context, e cloudpay.Event) error
}
