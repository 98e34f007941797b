package mongostore

import (
	"context"
	"errors"
	"fmt"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// insertOnce inserts doc unless a document with its _id (id) exists: the
// unique _id decides between concurrent writers. It returns the document
// that holds (doc, or the one that won earlier) and whether this call
// inserted it.
func insertOnce[T any](ctx context.Context, c *mongo.Collection, id string, doc T) (T, bool, error) {
	err := retryBusy(ctx, func() error { _, err := c.InsertOne(ctx, doc); return err })
	if err == nil {
		return doc, true, nil
	}
	var zero T
	if !isDuplicate(err) {
		return zero, false, fmt.Errorf("insert into %s: %w", c.Name(), err)
	}
	held, found, err := findByID[T](ctx, c, id)
	if err == nil && !found {
		// A duplicate key on _id means the document exists; a store that says
		// otherwise is broken, and guessing here could pay twice.
		err = fmt.Errorf("insert into %s: duplicate key %s but no document", c.Name(), id)
	}
	return held, false, err
}

// findByID reads the document with _id id, if any.
func findByID[T any](ctx context.Context, c *mongo.Collection, id string) (T, bool, error) {
	var doc T
	err := retryBusy(ctx, func() error { return c.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&doc) })
	if errors.Is(err, mongo.ErrNoDocuments) {
		return doc, false, nil
	}
	if err != nil {
		return doc, false, fmt.Errorf("read %s: %w", c.Name(), err)
	}
	return doc, true, nil
}

// replaceByID overwrites (or creates) the document with _id id. Only
// projections are written this way: their writers derive every field from
// claims and ledgers, so a lost race is repaired by the next writer.
func replaceByID(ctx context.Context, c *mongo.Collection, id string, doc any) error {
	err := retryBusy(ctx, func() error {
		_, err := c.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}}, doc, options.Replace().SetUpsert(true))
		return err
	})
	if err != nil && !isDuplicate(err) { // two upserts of a new document: one wins, same content
		return fmt.Errorf("save %s: %w", c.Name(), err)
	}
	return nil
}

// newestFirst reads one page of documents matching filter, newest first,
// after the cursor, and returns the next page's cursor ("" at the end).
func newestFirst[T any](ctx context.Context, col *mongo.Collection, filter bson.D, after *cloudpay.Cursor, limit int, cursorOf func(T) cloudpay.Cursor) ([]T, string, error) {
	page := filter
	if after != nil {
		page = append(bson.D{}, filter...)
		page = append(page, bson.E{Key: "$or", Value: bson.A{
			bson.D{{Key: "created_at", Value: bson.D{{Key: "$lt", Value: after.CreatedAt}}}},
			bson.D{{Key: "created_at", Value: after.CreatedAt}, {Key: "_id", Value: bson.D{{Key: "$lt", Value: after.ID}}}},
		}})
	}
	cur, err := col.Find(ctx, page, options.Find().
		SetSort(bson.D{{Key: "created_at", Value: -1}, {Key: "_id", Value: -1}}).
		SetLimit(int64(limit)+1))
	if err != nil {
		return nil, "", fmt.Errorf("list %s: %w", col.Name(), err)
	}
	out := []T{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, "", fmt.Errorf("list %s: %w", col.Name(), err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = cursorOf(out[len(out)-1]).Encode()
	}
	return out, next, nil
}
