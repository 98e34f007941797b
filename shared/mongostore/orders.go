package mongostore

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/operator"
)

// CreateOrder inserts o unless an order with its number exists; it returns
// the stored order and whether this call created it. The unique _id decides
// between concurrent creators.
func (s *Store) CreateOrder(ctx context.Context, o cloudpay.Order) (cloudpay.Order, bool, error) {
	return insertOnce(ctx, s.db.Collection(colOrders), o.OutTradeNo, o)
}

// Order loads an order by its number.
func (s *Store) Order(ctx context.Context, outTradeNo string) (cloudpay.Order, error) {
	o, found, err := findByID[cloudpay.Order](ctx, s.db.Collection(colOrders), outTradeNo)
	if err == nil && !found {
		err = cloudpay.Errorf(cloudpay.CodeOrderNotFound, "order %s not found", outTradeNo)
	}
	return o, err
}

// MarkPaying records that WeChat holds a prepay for an unpaid order. It is a
// projection update only: no money decision reads it. The status guard keeps
// a prepay racing a callback from turning "paid" back into "paying" (atomic
// on MongoDB; on the embedded store it costs a scan, once per prepay, and a
// lost race is repaired by the next reader from the settlement).
func (s *Store) MarkPaying(ctx context.Context, outTradeNo, prepayID string, method cloudpay.PayMethod, tradeNo string, now time.Time) error {
	if tradeNo == outTradeNo {
		tradeNo = ""
	}
	err := retryBusy(ctx, func() error {
		_, err := s.db.Collection(colOrders).UpdateOne(ctx,
			bson.D{{Key: "_id", Value: outTradeNo}, {Key: "status", Value: bson.D{{Key: "$in", Value: bson.A{cloudpay.OrderUnpaid, cloudpay.OrderPaying}}}}},
			bson.D{{Key: "$set", Value: bson.D{
				{Key: "status", Value: cloudpay.OrderPaying},
				{Key: "prepay_id", Value: prepayID},
				{Key: "method", Value: method},
				{Key: "trade_no", Value: tradeNo},
				{Key: "updated_at", Value: now},
			}}})
		return err
	})
	if err != nil {
		return fmt.Errorf("mark order paying: %w", err)
	}
	return nil
}

// ProjectSettlement mirrors a settlement onto its order. The settlement is
// unique per order and nothing but refunds moves an order after it, so
// every writer writes the same values. The filter is the
// bare _id on purpose: it is the only filter the embedded store answers
// without scanning the collection.
func (s *Store) ProjectSettlement(ctx context.Context, st cloudpay.Settlement, now time.Time) error {
	set := bson.D{{Key: "updated_at", Value: now}}
	switch st.Outcome {
	case cloudpay.SettledPaid:
		set = append(set,
			bson.E{Key: "transaction_id", Value: st.TransactionID},
			bson.E{Key: "paid_at", Value: st.PaidAt},
			bson.E{Key: "method", Value: st.PaidMethod()},
			bson.E{Key: "trade_no", Value: st.TradeNo})
		// Refunds move a paid order on; their projection owns the status
		// from then (a late duplicate pay callback must not undo it).
		o, err := s.Order(ctx, st.OutTradeNo)
		if err != nil {
			return fmt.Errorf("project settlement: %w", err)
		}
		if o.RefundSeq == 0 {
			set = append(set, bson.E{Key: "status", Value: cloudpay.OrderPaid})
		}
	case cloudpay.SettledClosed:
		set = append(set, bson.E{Key: "status", Value: cloudpay.OrderClosed})
	default:
		return fmt.Errorf("project settlement: unknown outcome %q", st.Outcome)
	}
	err := retryBusy(ctx, func() error {
		_, err := s.db.Collection(colOrders).UpdateOne(ctx, bson.D{{Key: "_id", Value: st.OutTradeNo}}, bson.D{{Key: "$set", Value: set}})
		return err
	})
	if err != nil {
		return fmt.Errorf("project settlement: %w", err)
	}
	return nil
}

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
	if f.Method != "" {
		filter = append(filter, bson.E{Key: "method", Value: f.Method})
	}
	switch f.Shipping {
	case "":
	case operator.ShippingNone:
		filter = append(filter, bson.E{Key: "shipping_state", Value: bson.D{{Key: "$exists", Value: false}}})
	default:
		filter = append(filter, bson.E{Key: "shipping_state", Value: f.Shipping})
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
