package mongostore

import (
	"context"
	"fmt"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/refund"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// InsertBatch stores a batch unless one with its ID exists; it returns the
// stored batch and whether this call inserted it.
func (s *Store) InsertBatch(ctx context.Context, b refund.Batch) (refund.Batch, bool, error) {
	return insertOnce(ctx, s.db.Collection(colBatches), b.ID, b)
}

// Batch loads a batch.
func (s *Store) Batch(ctx context.Context, id string) (refund.Batch, error) {
	b, found, err := findByID[refund.Batch](ctx, s.db.Collection(colBatches), id)
	if err == nil && !found {
		err = cloudpay.Errorf(cloudpay.CodeBatchNotFound, "batch %s not found", id)
	}
	return b, err
}

// MarkBatchComplete records that every item of the batch has its refund.
func (s *Store) MarkBatchComplete(ctx context.Context, id string, now time.Time) error {
	_, err := s.db.Collection(colBatches).UpdateOne(ctx, bson.D{{Key: "_id", Value: id}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "completed_at", Value: now}}}})
	if err != nil {
		return fmt.Errorf("mark batch %s complete: %w", id, err)
	}
	return nil
}
