package mongostore

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// The scheduled job's scans. On MongoDB they use the (status, …) indexes;
// the embedded store scans, which is fine at the sizes it serves.

// OrdersToReconcile lists orders still waiting for payment that have
// expired, or whose prepay is older than lateBefore (a callback may be
// lost), soonest expiry first.
func (s *Store) OrdersToReconcile(ctx context.Context, now, lateBefore time.Time, limit int) ([]string, error) {
	filter := bson.D{
		{Key: "status", Value: bson.D{{Key: "$in", Value: bson.A{cloudpay.OrderUnpaid, cloudpay.OrderPaying}}}},
		{Key: "$or", Value: bson.A{
			bson.D{{Key: "expires_at", Value: bson.D{{Key: "$lte", Value: now}}}},
			bson.D{{Key: "status", Value: cloudpay.OrderPaying}, {Key: "updated_at", Value: bson.D{{Key: "$lte", Value: lateBefore}}}},
		}},
	}
	return s.ids(ctx, colOrders, filter, bson.D{{Key: "expires_at", Value: 1}}, limit)
}

// RefundsInFlight lists refunds the job must look after: queued, sent
// without a final answer, abnormal, or failed for now.
func (s *Store) RefundsInFlight(ctx context.Context, limit int) ([]string, error) {
	filter := bson.D{{Key: "$or", Value: bson.A{
		bson.D{{Key: "status", Value: bson.D{{Key: "$in", Value: bson.A{
			cloudpay.RefundApproved, cloudpay.RefundProcessing, cloudpay.RefundAbnormal}}}}},
		bson.D{{Key: "status", Value: cloudpay.RefundFailed}, {Key: "retryable", Value: true}},
	}}}
	return s.ids(ctx, colRefunds, filter, bson.D{{Key: "updated_at", Value: 1}}, limit)
}

// WithdrawalsInFlight lists withdrawals WeChat has not finished.
func (s *Store) WithdrawalsInFlight(ctx context.Context, limit int) ([]string, error) {
	filter := bson.D{{Key: "status", Value: bson.D{{Key: "$in", Value: bson.A{
		cloudpay.WithdrawalCreated, cloudpay.WithdrawalProcessing, cloudpay.WithdrawalWaitingUser}}}}}
	return s.ids(ctx, colWithdrawals, filter, bson.D{{Key: "updated_at", Value: 1}}, limit)
}

// BatchesSince lists the batches created since t.
func (s *Store) BatchesSince(ctx context.Context, t time.Time, limit int) ([]string, error) {
	return s.ids(ctx, colBatches, bson.D{{Key: "created_at", Value: bson.D{{Key: "$gte", Value: t}}}}, bson.D{{Key: "created_at", Value: 1}}, limit)
}

func (s *Store) ids(ctx context.Context, col string, filter, sort bson.D, limit int) ([]string, error) {
	cur, err := s.db.Collection(col).Find(ctx, filter, options.Find().SetSort(sort).SetLimit(int64(limit)))
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
