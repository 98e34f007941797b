package mongostore

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/outbox"
)

// DueEvents lists pending events whose next attempt is due, the longest
// waiting first.
func (s *Store) DueEvents(ctx context.Context, now time.Time, limit int) ([]cloudpay.Event, error) {
	cur, err := s.db.Collection(colEvents).Find(ctx,
		bson.D{{Key: "status", Value: cloudpay.EventPending}, {Key: "next_attempt_at", Value: bson.D{{Key: "$lte", Value: now}}}},
		options.Find().SetSort(bson.D{{Key: "next_attempt_at", Value: 1}, {Key: "_id", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("find due events: %w", err)
	}
	var out []cloudpay.Event
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("find due events: %w", err)
	}
	return out, nil
}

// OutboxEvent reads one event with its delivery bookkeeping.
func (s *Store) OutboxEvent(ctx context.Context, id string) (outbox.Record, bool, error) {
	return findByID[outbox.Record](ctx, s.db.Collection(colEvents), id)
}

// DeadEvents lists the events whose delivery was given up, newest first.
func (s *Store) DeadEvents(ctx context.Context, limit int) ([]outbox.Record, error) {
	cur, err := s.db.Collection(colEvents).Find(ctx, bson.D{{Key: "status", Value: cloudpay.EventDead}},
		options.Find().SetSort(bson.D{{Key: "created_at", Value: -1}, {Key: "_id", Value: -1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("find dead events: %w", err)
	}
	out := []outbox.Record{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("find dead events: %w", err)
	}
	return out, nil
}

// RecordDeliveryAttempt stores how a delivery of event id went. Only the
// holder of the attempt's action claim calls it, so a plain $set by _id is
// enough: no concurrent writer touches these fields.
func (s *Store) RecordDeliveryAttempt(ctx context.Context, id string, a outbox.Delivery) error {
	set := bson.D{
		{Key: "status", Value: a.Status},
		{Key: "attempts", Value: a.Attempts},
		{Key: "last_attempt_at", Value: a.At},
		{Key: "last_error", Value: a.Error},
	}
	switch a.Status {
	case cloudpay.EventDelivered:
		set = append(set, bson.E{Key: "delivered_at", Value: a.At})
	case cloudpay.EventPending:
		set = append(set, bson.E{Key: "next_attempt_at", Value: a.NextAttemptAt})
	}
	res, err := s.db.Collection(colEvents).UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: set}})
	if err != nil {
		return fmt.Errorf("record delivery of event %s: %w", id, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("record delivery of event %s: no such event", id)
	}
	return nil
}

// EnqueueEvent records a business notification in the outbox. The event's
// ID is derived from what happened, so recording it again is a no-op.
func (s *Store) EnqueueEvent(ctx context.Context, e cloudpay.Event) error {
	err := retryBusy(ctx, func() error { _, err := s.db.Collection(colEvents).InsertOne(ctx, e); return err })
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
