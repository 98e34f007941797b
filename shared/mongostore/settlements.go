package mongostore

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// ClaimSettlement inserts the one settlement an order may ever have. It
// returns the settlement that holds (this one or the one that won earlier)
// and whether this call inserted it.
func (s *Store) ClaimSettlement(ctx context.Context, st cloudpay.Settlement) (cloudpay.Settlement, bool, error) {
	return insertOnce(ctx, s.db.Collection(colSettlements), st.OutTradeNo, st)
}

// Settlement returns an order's settlement, if it has one.
func (s *Store) Settlement(ctx context.Context, outTradeNo string) (cloudpay.Settlement, bool, error) {
	return findByID[cloudpay.Settlement](ctx, s.db.Collection(colSettlements), outTradeNo)
}

// EnqueueEvent records a business notification in the outbox. The event's
// ID is derived from what happened, so recording it again is a no-op.
func (s *Store) EnqueueEvent(ctx context.Context, e cloudpay.Event) error {
	_, err := s.db.Collection(colEvents).InsertOne(ctx, e)
	if err != nil && !isDuplicate(err) {
		return fmt.Errorf("enqueue event: %w", err)
	}
	return nil
}

// Events lists outbox events about one subject, oldest first.
func (s *Store) Events(ctx context.Context, subject string) ([]cloudpay.Event, error) {
	cur, err := s.db.Collection(colEvents).Find(ctx, bson.D{{Key: "subject", Value: subject}})
	if err != nil {
		return nil, fmt.Errorf("find events: %w", err)
	}
	var out []cloudpay.Event
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return out, nil
}
