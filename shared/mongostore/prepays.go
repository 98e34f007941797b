package mongostore

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// InsertPrepay records an attempt to pay an order under its own WeChat
// number before WeChat hears of it. The unique _id (the number, derived
// from the order and the attempt's turn) decides between two requests
// starting the same turn; it returns the attempt that holds.
func (s *Store) InsertPrepay(ctx context.Context, p cloudpay.Prepay) (cloudpay.Prepay, bool, error) {
	return insertOnce(ctx, s.db.Collection(colPrepays), p.TradeNo, p)
}

// Prepay loads an attempt by its WeChat number.
func (s *Store) Prepay(ctx context.Context, tradeNo string) (cloudpay.Prepay, bool, error) {
	return findByID[cloudpay.Prepay](ctx, s.db.Collection(colPrepays), tradeNo)
}

// Prepays lists an order's attempts, first to newest.
func (s *Store) Prepays(ctx context.Context, outTradeNo string) ([]cloudpay.Prepay, error) {
	return listOf[cloudpay.Prepay](ctx, s.db.Collection(colPrepays), outTradeNo, "n")
}

// ClaimPrepayEnd inserts the one end an attempt may have (closed, or a
// balance attempt used) and returns the end that holds.
func (s *Store) ClaimPrepayEnd(ctx context.Context, e cloudpay.PrepayEnd) (cloudpay.PrepayEnd, bool, error) {
	return insertOnce(ctx, s.db.Collection(colPrepayEnds), e.TradeNo, e)
}

// PrepayEnds lists the ends of an order's attempts.
func (s *Store) PrepayEnds(ctx context.Context, outTradeNo string) ([]cloudpay.PrepayEnd, error) {
	return listOf[cloudpay.PrepayEnd](ctx, s.db.Collection(colPrepayEnds), outTradeNo, "_id")
}

// listOf reads an order's documents from c, sorted by sortKey.
func listOf[T any](ctx context.Context, c *mongo.Collection, outTradeNo, sortKey string) ([]T, error) {
	cur, err := c.Find(ctx, bson.D{{Key: "out_trade_no", Value: outTradeNo}}, options.Find().SetSort(bson.D{{Key: sortKey, Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("list %s of %s: %w", c.Name(), outTradeNo, err)
	}
	var out []T
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("list %s of %s: %w", c.Name(), outTradeNo, err)
	}
	return out, nil
}
