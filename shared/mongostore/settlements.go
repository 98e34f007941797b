package mongostore

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// ClaimSettlement inserts the one settlement an order may ever have. It
// returns the settlement that holds (this one or the one that won earlier)
// and whether this call inserted it.
func (s *Store) ClaimSettlement(ctx context.Context, st cloudpay.Settlement) (cloudpay.Settlement, bool, error) {
	_, err := s.db.Collection(colSettlements).InsertOne(ctx, st)
	if err == nil {
		return st, true, nil
	}
	if !isDuplicate(err) {
		return cloudpay.Settlement{}, false, fmt.Errorf("claim settlement: %w", err)
	}
	held, found, err := s.Settlement(ctx, st.OutTradeNo)
	if err != nil {
		return cloudpay.Settlement{}, false, err
	}
	if !found {
		// A duplicate key on _id means the document exists; a store that says
		// otherwise is broken, and guessing here could pay twice.
		return cloudpay.Settlement{}, false, fmt.Errorf("claim settlement %s: duplicate key but no document", st.OutTradeNo)
	}
	return held, false, nil
}

// Settlement returns an order's settlement, if it has one.
func (s *Store) Settlement(ctx context.Context, outTradeNo string) (cloudpay.Settlement, bool, error) {
	var st cloudpay.Settlement
	err := s.db.Collection(colSettlements).FindOne(ctx, bson.D{{Key: "_id", Value: outTradeNo}}).Decode(&st)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return cloudpay.Settlement{}, false, nil
	}
	if err != nil {
		return cloudpay.Settlement{}, false, fmt.Errorf("find settlement: %w", err)
	}
	return st, true, nil
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
