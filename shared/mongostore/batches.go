package mongostore

import (
	"context"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/refund"
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
