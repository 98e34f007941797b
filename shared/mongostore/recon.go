package mongostore

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/recon"
)

// SettlementsPaidBetween lists the payments WeChat made in [from, to), by
// WeChat's payment time. Once a day, for reconciliation: it scans.
func (s *Store) SettlementsPaidBetween(ctx context.Context, from, to time.Time) ([]cloudpay.Settlement, error) {
	return findAll[cloudpay.Settlement](ctx, s, colSettlements, bson.D{
		{Key: "outcome", Value: cloudpay.SettledPaid},
		{Key: "paid_at", Value: bson.D{{Key: "$gte", Value: from}, {Key: "$lt", Value: to}}},
	})
}

// RefundsSucceededBetween lists the refunds that succeeded in [from, to).
// Once a day, for reconciliation: it scans.
func (s *Store) RefundsSucceededBetween(ctx context.Context, from, to time.Time) ([]cloudpay.Refund, error) {
	return findAll[cloudpay.Refund](ctx, s, colRefunds, bson.D{
		{Key: "status", Value: cloudpay.RefundSucceeded},
		{Key: "succeeded_at", Value: bson.D{{Key: "$gte", Value: from}, {Key: "$lt", Value: to}}},
	})
}

func findAll[T any](ctx context.Context, s *Store, col string, filter bson.D) ([]T, error) {
	var out []T
	err := retryBusy(ctx, func() error {
		cur, err := s.db.Collection(col).Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
		if err != nil {
			return err
		}
		out = nil
		return cur.All(ctx, &out)
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", col, err)
	}
	return out, nil
}

// SaveReport stores a day's reconciliation, replacing an earlier run's.
func (s *Store) SaveReport(ctx context.Context, r recon.Report) error {
	return replaceByID(ctx, s.db.Collection(colRecon), r.Date, r)
}

// Report reads a day's reconciliation, if there is one.
func (s *Store) Report(ctx context.Context, date string) (recon.Report, bool, error) {
	return findByID[recon.Report](ctx, s.db.Collection(colRecon), date)
}

// Reports lists the latest reconciliations, newest day first.
func (s *Store) Reports(ctx context.Context, limit int) ([]recon.Report, error) {
	var out []recon.Report
	err := retryBusy(ctx, func() error {
		cur, err := s.db.Collection(colRecon).Find(ctx, bson.D{},
			options.Find().SetSort(bson.D{{Key: "_id", Value: -1}}).SetLimit(int64(limit)))
		if err != nil {
			return err
		}
		out = nil
		return cur.All(ctx, &out)
	})
	if err != nil {
		return nil, fmt.Errorf("read reconciliations: %w", err)
	}
	return out, nil
}

// SaveBill keeps a downloaded bill, replacing an earlier download's.
func (s *Store) SaveBill(ctx context.Context, b recon.Bill) error {
	return replaceByID(ctx, s.db.Collection(colBills), b.ID, b)
}
