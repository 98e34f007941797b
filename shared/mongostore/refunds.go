package mongostore

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/refund"
)

// InsertRefund stores a refund document unless one with its number exists;
// it returns the stored document and whether this call inserted it.
func (s *Store) InsertRefund(ctx context.Context, r cloudpay.Refund) (cloudpay.Refund, bool, error) {
	return insertOnce(ctx, s.db.Collection(colRefunds), r.OutRefundNo, r)
}

// Refund loads a refund by its number.
func (s *Store) Refund(ctx context.Context, outRefundNo string) (cloudpay.Refund, error) {
	r, found, err := findByID[cloudpay.Refund](ctx, s.db.Collection(colRefunds), outRefundNo)
	if err == nil && !found {
		err = cloudpay.Errorf(cloudpay.CodeRefundNotFound, "refund %s not found", outRefundNo)
	}
	if err == nil && r.ReserveSeq > 0 {
		// Its round ends after its reservation: a process that has not
		// seen this order's ledger (a callback's) starts there.
		s.setLedgerHint(colRefundLedger, r.OutTradeNo, r.ReserveSeq)
	}
	return r, err
}

// SaveRefund overwrites a refund's projection. Callers derive every field
// from the ledger and the claims, so a lost race writes a state that the
// next reader repairs, never a money decision.
func (s *Store) SaveRefund(ctx context.Context, r cloudpay.Refund) error {
	return replaceByID(ctx, s.db.Collection(colRefunds), r.OutRefundNo, r)
}

// refundFilter selects what f selects.
func refundFilter(f refund.Filter) bson.D {
	d := bson.D{}
	add := func(k, v string) {
		if v != "" {
			d = append(d, bson.E{Key: k, Value: v})
		}
	}
	add("out_trade_no", f.OutTradeNo)
	add("status", string(f.Status))
	add("openid", f.OpenID)
	add("batch_id", f.BatchID)
	add("label", f.Label)
	return d
}

// ListRefunds returns up to limit refunds after the cursor, newest first,
// the cursor of the next page ("" at the end) and the filter's totals.
func (s *Store) ListRefunds(ctx context.Context, f refund.Filter, after *cloudpay.Cursor, limit int) ([]cloudpay.Refund, string, refund.Totals, error) {
	col := s.db.Collection(colRefunds)
	filter := refundFilter(f)
	// Summed here rather than with $group: the embedded store's $sum
	// misreads int64 fields, and both scan the same documents.
	var totals refund.Totals
	cur, err := col.Find(ctx, filter, options.Find().SetProjection(bson.D{{Key: "amount_fen", Value: 1}}))
	if err != nil {
		return nil, "", totals, fmt.Errorf("total refunds: %w", err)
	}
	for cur.Next(ctx) {
		var r struct {
			AmountFen cloudpay.Fen `bson:"amount_fen"`
		}
		if err := cur.Decode(&r); err != nil {
			_ = cur.Close(ctx)
			return nil, "", totals, fmt.Errorf("total refunds: %w", err)
		}
		totals.Count++
		totals.AmountFen += r.AmountFen
	}
	if err := cur.Close(ctx); err != nil {
		return nil, "", totals, fmt.Errorf("total refunds: %w", err)
	}
	out, next, err := newestFirst(ctx, col, filter, after, limit, func(r cloudpay.Refund) cloudpay.Cursor {
		return cloudpay.Cursor{CreatedAt: r.CreatedAt, ID: r.OutRefundNo}
	})
	return out, next, totals, err
}

// RefundsDue lists refunds in the given status whose turn has come, oldest
// turn first.
func (s *Store) RefundsDue(ctx context.Context, status cloudpay.RefundStatus, now time.Time, limit int) ([]cloudpay.Refund, error) {
	cur, err := s.db.Collection(colRefunds).Find(ctx,
		bson.D{{Key: "status", Value: status}, {Key: "not_before", Value: bson.D{{Key: "$lte", Value: now}}}},
		options.Find().SetSort(bson.D{{Key: "not_before", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("find due refunds: %w", err)
	}
	var out []cloudpay.Refund
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("find due refunds: %w", err)
	}
	return out, nil
}

// ProjectOrderRefunds mirrors an order's refund totals onto it. Writers
// pass the ledger seq they derived the status from; an older one is
// ignored where the store can tell (and repaired by the next writer where
// it cannot: the guard is not atomic on every store).
func (s *Store) ProjectOrderRefunds(ctx context.Context, outTradeNo string, status cloudpay.OrderStatus, refundedFen cloudpay.Fen, seq int64, now time.Time) error {
	o, err := s.Order(ctx, outTradeNo)
	if err != nil {
		return err
	}
	if o.RefundSeq >= seq {
		return nil
	}
	err = retryBusy(ctx, func() error {
		_, err := s.db.Collection(colOrders).UpdateOne(ctx, bson.D{{Key: "_id", Value: outTradeNo}},
			bson.D{{Key: "$set", Value: bson.D{
				{Key: "status", Value: status},
				{Key: "refunded_fen", Value: refundedFen},
				{Key: "refund_seq", Value: seq},
				{Key: "updated_at", Value: now},
			}}})
		return err
	})
	if err != nil {
		return fmt.Errorf("project order refunds: %w", err)
	}
	return nil
}

// ClaimRefundOutcome inserts o unless the round has an outcome; it returns
// the outcome that holds and whether this call inserted it.
func (s *Store) ClaimRefundOutcome(ctx context.Context, o refund.Outcome) (refund.Outcome, bool, error) {
	return insertOnce(ctx, s.db.Collection(colOutcomes), o.ID, o)
}

// RefundOutcomeOf reads the outcome of a refund's round, if it has one.
func (s *Store) RefundOutcomeOf(ctx context.Context, outRefundNo string, round int) (refund.Outcome, bool, error) {
	return findByID[refund.Outcome](ctx, s.db.Collection(colOutcomes), refund.OutcomeID(outRefundNo, round))
}
