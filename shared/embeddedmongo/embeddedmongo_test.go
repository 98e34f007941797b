package embeddedmongo

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// After IndexIDs, SQLite answers FerretDB's _id filter from an index, and
// FerretDB behaves as before: same documents, same uniqueness.
func TestIndexIDsMakesIDLookupsIndexed(t *testing.T) {
	dir := t.TempDir()
	srv, err := Start(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	ctx := context.Background()
	client, err := mongo.Connect(options.Client().ApplyURI(srv.URI()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(ctx) })
	col := client.Database("d").Collection("orders")
	for i := range 50 {
		if _, err := col.InsertOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("K%03d", i)}, {Key: "n", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	if plan := idPlan(t, dir, "d", "orders"); !strings.Contains(plan, "SCAN") {
		t.Fatalf("before IndexIDs the plan is %q; if FerretDB now uses an index, IndexIDs is obsolete", plan)
	}

	for range 2 { // idempotent
		if err := srv.IndexIDs(ctx, "d"); err != nil {
			t.Fatal(err)
		}
	}
	if plan := idPlan(t, dir, "d", "orders"); !strings.Contains(plan, "USING INDEX") || !strings.Contains(plan, idIndexSuffix) {
		t.Fatalf("after IndexIDs the plan is %q, want the _id index", plan)
	}

	var got struct{ N int }
	if err := col.FindOne(ctx, bson.D{{Key: "_id", Value: "K042"}}).Decode(&got); err != nil || got.N != 42 {
		t.Fatalf("find after indexing: %+v %v", got, err)
	}
	if _, err := col.UpdateOne(ctx, bson.D{{Key: "_id", Value: "K042"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: 420}}}}); err != nil {
		t.Fatal(err)
	}
	if err := col.FindOne(ctx, bson.D{{Key: "_id", Value: "K042"}}).Decode(&got); err != nil || got.N != 420 {
		t.Fatalf("update after indexing: %+v %v", got, err)
	}
	if _, err := col.InsertOne(ctx, bson.D{{Key: "_id", Value: "K001"}}); !mongo.IsDuplicateKeyError(err) {
		t.Fatalf("duplicate _id after indexing: %v, want a duplicate key error", err)
	}
	if err := srv.IndexIDs(ctx, "missing"); err == nil {
		t.Fatal("IndexIDs on a database that does not exist succeeded")
	}
}

// idPlan is SQLite's plan for the query FerretDB runs for an _id filter.
func idPlan(t *testing.T, dir, database, collection string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, database+".sqlite")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var table string
	if err := db.QueryRow(`SELECT table_name FROM _ferretdb_collections WHERE name = ?`, collection).Scan(&table); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(fmt.Sprintf(`EXPLAIN QUERY PLAN SELECT _ferretdb_sjson FROM %q WHERE _ferretdb_sjson->'$._id' = ?`, table), `"K1"`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	return strings.Join(plan, "; ")
}
