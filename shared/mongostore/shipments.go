package mongostore

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/cloudpay/cloudpay/shared/miniapp"
	"github.com/cloudpay/cloudpay/shared/shipping"
)

// InsertShipment records an upload of an order's shipping once per
// order and key; it returns the upload that holds.
func (s *Store) InsertShipment(ctx context.Context, sh shipping.Shipment) (shipping.Shipment, bool, error) {
	return insertOnce(ctx, s.db.Collection(colShipments), sh.ID, sh)
}

// Shipment loads an upload.
func (s *Store) Shipment(ctx context.Context, id string) (shipping.Shipment, bool, error) {
	return findByID[shipping.Shipment](ctx, s.db.Collection(colShipments), id)
}

// SaveShipment replaces an upload's document (a projection of its claims
// and WeChat's answers).
func (s *Store) SaveShipment(ctx context.Context, sh shipping.Shipment) error {
	return replaceByID(ctx, s.db.Collection(colShipments), sh.ID, sh)
}

// ShipmentsDue lists pending uploads whose turn has come, oldest turn first.
func (s *Store) ShipmentsDue(ctx context.Context, now time.Time, limit int) ([]shipping.Shipment, error) {
	cur, err := s.db.Collection(colShipments).Find(ctx,
		bson.D{{Key: "status", Value: shipping.StatusPending}, {Key: "next_at", Value: bson.D{{Key: "$lte", Value: now}}}},
		options.Find().SetSort(bson.D{{Key: "next_at", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("find due shipments: %w", err)
	}
	var out []shipping.Shipment
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("find due shipments: %w", err)
	}
	return out, nil
}

// ProjectOrderShipping shows an order's shipping state on it; a part of a
// split delivery sent late never turns "shipped" back (a projection: the
// guard is a filter, repaired by the next upload's projection where the
// store does not apply it atomically).
func (s *Store) ProjectOrderShipping(ctx context.Context, outTradeNo, state string, now time.Time) error {
	filter := bson.D{{Key: "_id", Value: outTradeNo}}
	if state != "shipped" {
		filter = append(filter, bson.E{Key: "shipping_state", Value: bson.D{{Key: "$ne", Value: "shipped"}}})
	}
	err := retryBusy(ctx, func() error {
		_, err := s.db.Collection(colOrders).UpdateOne(ctx, filter,
			bson.D{{Key: "$set", Value: bson.D{{Key: "shipping_state", Value: state}, {Key: "updated_at", Value: now}}}})
		return err
	})
	if err != nil {
		return fmt.Errorf("project shipping: %w", err)
	}
	return nil
}

// AccessToken loads the cached access token of a mini-program.
func (s *Store) AccessToken(ctx context.Context, appID string) (miniapp.AccessToken, bool, error) {
	return findByID[miniapp.AccessToken](ctx, s.db.Collection(colTokens), appID)
}

// SaveAccessToken keeps a mini-program's access token with its expiry.
func (s *Store) SaveAccessToken(ctx context.Context, t miniapp.AccessToken) error {
	return replaceByID(ctx, s.db.Collection(colTokens), t.AppID, t)
}
