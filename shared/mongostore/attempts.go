package mongostore

import (
	"context"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// ClaimAttempt inserts the claim for attempt n on subject; false means
// another caller holds it (and the held claim is returned).
func (s *Store) ClaimAttempt(ctx context.Context, subject string, n int, now time.Time) (cloudpay.Attempt, bool, error) {
	a := cloudpay.Attempt{ID: cloudpay.AttemptID(subject, n), Subject: subject, N: n, StartedAt: now}
	return insertOnce(ctx, s.db.Collection(colAttempts), a.ID, a)
}

// AttemptAt reads the claim of attempt n on subject, if any.
func (s *Store) AttemptAt(ctx context.Context, subject string, n int) (cloudpay.Attempt, bool, error) {
	return findByID[cloudpay.Attempt](ctx, s.db.Collection(colAttempts), cloudpay.AttemptID(subject, n))
}
