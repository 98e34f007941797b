package mongostore_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/cloudpay/cloudpay/shared/mongostore"
	"github.com/cloudpay/cloudpay/shared/storetest"
)

// A cold start against a database whose schema is in place sends two
// commands before it can answer: the ping that proves the store answers,
// and the read of the schema version. Collections and indexes are made
// once per schema version, not on every start.
func TestColdStartSendsTwoCommands(t *testing.T) {
	t.Parallel()
	cfg := storetest.Config(t) // the schema is in place, as after a first deployment
	var mu sync.Mutex
	var commands []string
	monitor := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		mu.Lock()
		defer mu.Unlock()
		commands = append(commands, e.CommandName)
	}}
	ctx := context.Background()
	client, err := mongo.Connect(options.Client().ApplyURI(cfg.URI).SetMonitor(monitor))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(ctx) })
	if err := client.Ping(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := mongostore.New(ctx, client, cfg.Database); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"ping", "find"}; !slices.Equal(commands, want) {
		t.Fatalf("cold start sent %v, want %v", commands, want)
	}
}
