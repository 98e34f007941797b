package mongostore

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// The job's sweeps read the ledgers in the order entries were written
// (created_at, then _id), so that every movement's projection is checked
// once after it, whichever document a crash left behind.

// RefundEntriesBetween lists up to limit refund ledger entries after
// (from, fromID) in (created_at, _id) order — with fromID "", every entry
// at from or later — and created at or before to.
func (s *Store) RefundEntriesBetween(ctx context.Context, from time.Time, fromID string, to time.Time, limit int) ([]cloudpay.RefundEntry, error) {
	return entriesBetween[cloudpay.RefundEntry](ctx, s, colRefundLedger, from, fromID, to, limit)
}

// WalletEntriesBetween lists up to limit wallet ledger entries after
// (from, fromID) in (created_at, _id) order — with fromID "", every entry
// at from or later — and created at or before to.
func (s *Store) WalletEntriesBetween(ctx context.Context, from time.Time, fromID string, to time.Time, limit int) ([]cloudpay.WalletEntry, error) {
	return entriesBetween[cloudpay.WalletEntry](ctx, s, colWalletLedger, from, fromID, to, limit)
}

func entriesBetween[E any](ctx context.Context, s *Store, col string, from time.Time, fromID string, to time.Time, limit int) ([]E, error) {
	filter := bson.D{{Key: "created_at", Value: bson.D{{Key: "$lte", Value: to}}}}
	if !from.IsZero() {
		filter = bson.D{
			{Key: "created_at", Value: bson.D{{Key: "$gte", Value: from}, {Key: "$lte", Value: to}}},
			{Key: "$or", Value: bson.A{
				bson.D{{Key: "created_at", Value: bson.D{{Key: "$gt", Value: from}}}},
				bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: fromID}}}},
			}},
		}
	}
	out := []E{}
	err := retryBusy(ctx, func() error {
		cur, err := s.db.Collection(col).Find(ctx, filter, options.Find().
			SetSort(bson.D{{Key: "created_at", Value: 1}, {Key: "_id", Value: 1}}).
			SetLimit(int64(limit)))
		if err != nil {
			return err
		}
		out = out[:0]
		return cur.All(ctx, &out)
	})
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", col, err)
	}
	return out, nil
}
