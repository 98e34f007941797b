package job

import (
	"context"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// Store is what the scheduled job may do to the store: find the work, and
// claim each action once (a job_actions entry) so concurrent passes split
// it instead of doing it twice. Each scan lists the items due now in _id
// order, starting after the given _id and wrapping around; the cursor
// records where a step stopped, so the next pass goes on from there.
type Store interface {
	OrdersToReconcile(ctx context.Context, now, lateBefore time.Time, after string, limit int) ([]string, error)
	RefundsInFlight(ctx context.Context, now time.Time, after string, limit int) ([]string, error)
	WithdrawalsInFlight(ctx context.Context, after string, limit int) ([]string, error)
	BatchesSince(ctx context.Context, t time.Time, after string, limit int) ([]string, error)
	ClaimAction(ctx context.Context, action, subject, pass string, spacing time.Duration, now time.Time) (bool, error)

	JobCursor(ctx context.Context, step string) (string, error)
	SaveJobCursor(ctx context.Context, step, after string, now time.Time) error

	// The sweep reads the ledgers in the order they were written: entries
	// after (from, fromID) in (created_at, _id) order — with fromID "",
	// every entry at from or later — created at or before to.
	RefundEntriesBetween(ctx context.Context, from time.Time, fromID string, to time.Time, limit int) ([]cloudpay.RefundEntry, error)
	WalletEntriesBetween(ctx context.Context, from time.Time, fromID string, to time.Time, limit int) ([]cloudpay.WalletEntry, error)
}
