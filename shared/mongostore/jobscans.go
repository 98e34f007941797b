package mongostore

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// The scheduled job's scans. Each lists the items due now, in _id order,
// starting after the _id where the step's previous pass stopped and
// wrapping around: however many items fail or wait, every due item is
// reached within ⌈due/limit⌉ passes (docs/design.md §4). On MongoDB they
// use the (status, …) indexes; the embedded store scans, which is fine at
// the sizes it serves.

// OrdersToReconcile lists orders still waiting for payment that have
// expired, or whose prepay is older than lateBefore (a callback may be
// lost).
func (s *Store) OrdersToReconcile(ctx context.Context, now, lateBefore time.Time, after string, limit int) ([]string, error) {
	filter := bson.D{
		{Key: "status", Value: bson.D{{Key: "$in", Value: bson.A{cloudpay.OrderUnpaid, cloudpay.OrderPaying}}}},
		{Key: "$or", Value: bson.A{
			bson.D{{Key: "expires_at", Value: bson.D{{Key: "$lte", Value: now}}}},
			bson.D{{Key: "status", Value: cloudpay.OrderPaying}, {Key: "updated_at", Value: bson.D{{Key: "$lte", Value: lateBefore}}}},
		}},
	}
	return s.scan(ctx, colOrders, filter, after, limit)
}

// RefundsInFlight lists refunds the job must look after now: sent without
// a final answer; queued, abnormal or failed for now whose next turn
// (not_before) has come. A refund waiting for its turn is not listed, so
// an idle refund costs a pass nothing.
func (s *Store) RefundsInFlight(ctx context.Context, now time.Time, after string, limit int) ([]string, error) {
	due := bson.D{{Key: "not_before", Value: bson.D{{Key: "$lte", Value: now}}}}
	unset := bson.D{{Key: "not_before", Value: bson.D{{Key: "$exists", Value: false}}}}
	filter := bson.D{{Key: "$or", Value: bson.A{
		bson.D{{Key: "status", Value: cloudpay.RefundProcessing}},
		bson.D{{Key: "status", Value: bson.D{{Key: "$in", Value: bson.A{cloudpay.RefundApproved, cloudpay.RefundAbnormal}}}},
			{Key: "$or", Value: bson.A{due, unset}}},
		bson.D{{Key: "status", Value: cloudpay.RefundFailed}, {Key: "retryable", Value: true}, {Key: "$or", Value: bson.A{due, unset}}},
	}}}
	return s.scan(ctx, colRefunds, filter, after, limit)
}

// WithdrawalsInFlight lists withdrawals WeChat has not finished.
func (s *Store) WithdrawalsInFlight(ctx context.Context, after string, limit int) ([]string, error) {
	filter := bson.D{{Key: "status", Value: bson.D{{Key: "$in", Value: bson.A{
		cloudpay.WithdrawalCreated, cloudpay.WithdrawalProcessing, cloudpay.WithdrawalWaitingUser}}}}}
	return s.scan(ctx, colWithdrawals, filter, after, limit)
}

// BatchesSince lists the batches created since t that are not complete.
func (s *Store) BatchesSince(ctx context.Context, t time.Time, after string, limit int) ([]string, error) {
	return s.scan(ctx, colBatches, bson.D{
		{Key: "created_at", Value: bson.D{{Key: "$gte", Value: t}}},
		{Key: "completed_at", Value: bson.D{{Key: "$exists", Value: false}}},
	}, after, limit)
}

// scan lists up to limit _ids matching filter in _id order, those after
// the given _id first, then from the start.
func (s *Store) scan(ctx context.Context, col string, filter bson.D, after string, limit int) ([]string, error) {
	out, err := s.ids(ctx, col, append(filter[:len(filter):len(filter)], bson.E{Key: "_id", Value: bson.D{{Key: "$gt", Value: after}}}), limit)
	if err != nil || after == "" || len(out) >= limit {
		return out, err
	}
	rest, err := s.ids(ctx, col, append(filter[:len(filter):len(filter)], bson.E{Key: "_id", Value: bson.D{{Key: "$lte", Value: after}}}), limit-len(out))
	return append(out, rest...), err
}

func (s *Store) ids(ctx context.Context, col string, filter bson.D, limit int) ([]string, error) {
	cur, err := s.db.Collection(col).Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", col, err)
	}
	var docs []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("scan %s: %w", col, err)
	}
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = d.ID
	}
	return out, nil
}

// jobCursor is where a step of the job stopped: the last _id it reached.
// It is a hint for fairness, never a decision: concurrent passes may
// overwrite each other's, and an old one only means starting elsewhere.
type jobCursor struct {
	Step  string    `bson:"_id"`
	After string    `bson:"after"`
	At    time.Time `bson:"at"`
}

// JobCursor reads where the step's last pass stopped ("" for the start).
func (s *Store) JobCursor(ctx context.Context, step string) (string, error) {
	c, _, err := findByID[jobCursor](ctx, s.db.Collection(colCursors), step)
	return c.After, err
}

// SaveJobCursor records where the step stopped.
func (s *Store) SaveJobCursor(ctx context.Context, step, after string, now time.Time) error {
	return replaceByID(ctx, s.db.Collection(colCursors), step, jobCursor{Step: step, After: after, At: now})
}
