package mongostore

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// AppendAudit appends an admin call to the audit log.
func (s *Store) AppendAudit(ctx context.Context, e cloudpay.AuditEntry) error {
	err := retryBusy(ctx, func() error { _, err := s.db.Collection(colAudit).InsertOne(ctx, e); return err })
	if err != nil && !isDuplicate(err) {
		return fmt.Errorf("append audit entry: %w", err)
	}
	return nil
}

// AuditQuery narrows the audit log; empty fields match everything.
type AuditQuery struct {
	Actor, Subject string
	From, To       time.Time // [From, To)
	Before         string    // paging: entries older than the one with this id
	Limit          int
}

// Audit lists audit entries, newest first.
func (s *Store) Audit(ctx context.Context, q AuditQuery) ([]cloudpay.AuditEntry, error) {
	filter := bson.D{}
	if q.Actor != "" {
		filter = append(filter, bson.E{Key: "actor", Value: q.Actor})
	}
	if q.Subject != "" {
		filter = append(filter, bson.E{Key: "subject", Value: q.Subject})
	}
	at := bson.D{}
	if !q.From.IsZero() {
		at = append(at, bson.E{Key: "$gte", Value: q.From})
	}
	if !q.To.IsZero() {
		at = append(at, bson.E{Key: "$lt", Value: q.To})
	}
	if len(at) > 0 {
		filter = append(filter, bson.E{Key: "at", Value: at})
	}
	if q.Before != "" {
		filter = append(filter, bson.E{Key: "_id", Value: bson.D{{Key: "$lt", Value: q.Before}}})
	}
	limit := q.Limit
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	cur, err := s.db.Collection(colAudit).Find(ctx, filter,
		options.Find().SetSort(bson.D{{Key: "_id", Value: -1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("find audit entries: %w", err)
	}
	out := []cloudpay.AuditEntry{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("read audit entries: %w", err)
	}
	return out, nil
}
