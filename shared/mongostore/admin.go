package mongostore

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/operator"
)

// ListOrders returns a page of orders, newest first.
func (s *Store) ListOrders(ctx context.Context, f operator.OrderFilter, after *cloudpay.Cursor, limit int) ([]cloudpay.Order, string, error) {
	filter := bson.D{}
	if f.OutTradeNo != "" {
		filter = append(filter, bson.E{Key: "_id", Value: f.OutTradeNo})
	}
	if f.OpenID != "" {
		filter = append(filter, bson.E{Key: "openid", Value: f.OpenID})
	}
	if f.Status != "" {
		filter = append(filter, bson.E{Key: "status", Value: f.Status})
	}
	created := bson.D{}
	if !f.From.IsZero() {
		created = append(created, bson.E{Key: "$gte", Value: f.From})
	}
	if !f.To.IsZero() {
		created = append(created, bson.E{Key: "$lt", Value: f.To})
	}
	if len(created) > 0 {
		filter = append(filter, bson.E{Key: "created_at", Value: created})
	}
	return newestFirst(ctx, s.db.Collection(colOrders), filter, after, limit, func(o cloudpay.Order) cloudpay.Cursor {
		return cloudpay.Cursor{CreatedAt: o.CreatedAt, ID: o.OutTradeNo}
	})
}

// ListWithdrawals returns withdrawals, newest first, for the operator.
func (s *Store) ListWithdrawals(ctx context.Context, openid string, status cloudpay.WithdrawalStatus, limit int) ([]cloudpay.Withdrawal, error) {
	filter := bson.D{}
	if openid != "" {
		filter = append(filter, bson.E{Key: "openid", Value: openid})
	}
	if status != "" {
		filter = append(filter, bson.E{Key: "status", Value: status})
	}
	out, _, err := newestFirst(ctx, s.db.Collection(colWithdrawals), filter, nil, limit, func(w cloudpay.Withdrawal) cloudpay.Cursor {
		return cloudpay.Cursor{CreatedAt: w.CreatedAt, ID: w.ID}
	})
	return out, err
}
