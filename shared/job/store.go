package job

import (
	"context"
	"time"
)

// Store is what the scheduled job may do to the store: find the work, and
// claim each action once (a job_actions entry) so concurrent passes split
// it instead of doing it twice.
type Store interface {
	OrdersToReconcile(ctx context.Context, now, lateBefore time.Time, limit int) ([]string, error)
	RefundsInFlight(ctx context.Context, limit int) ([]string, error)
	WithdrawalsInFlight(ctx context.Context, limit int) ([]string, error)
	BatchesSince(ctx context.Context, t time.Time, limit int) ([]string, error)
	ClaimAction(ctx context.Context, action, subject, pass string, spacing time.Duration, now time.Time) (bool, error)
}
