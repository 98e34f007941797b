package outbox

import (
	"context"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// Store is what delivering business notifications may do to the store.
// Each delivery attempt is claimed first (ClaimAction), so only the holder
// writes its outcome.
type Store interface {
	DueEvents(ctx context.Context, now time.Time, limit int) ([]cloudpay.Event, error)
	OutboxEvent(ctx context.Context, id string) (Record, bool, error)
	DeadEvents(ctx context.Context, limit int) ([]Record, error)
	ClaimAction(ctx context.Context, action, subject, pass string, spacing time.Duration, now time.Time) (bool, error)
	RecordDeliveryAttempt(ctx context.Context, id string, a Delivery) error
}
