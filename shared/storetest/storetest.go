// Package storetest gives each test its own database: on the embedded store
// by default, or on a real MongoDB when MONGODB_TEST_URI is set.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/cloudpay/cloudpay/shared/embeddedmongo"
	"github.com/cloudpay/cloudpay/shared/mongostore"
)

// shared is one server and client per test binary: starting FerretDB per test
// would dominate the suite's time. Each test still gets a fresh database.
var shared struct {
	once     sync.Once
	uri      string
	client   *mongo.Client
	embedded *embeddedmongo.Server // nil on a real MongoDB
	err      error
}

func client(t testing.TB) (*mongo.Client, string) {
	shared.once.Do(func() {
		shared.uri = os.Getenv("MONGODB_TEST_URI")
		if shared.uri == "" {
			dir, err := os.MkdirTemp("", "cloudpay-store-")
			if err != nil {
				shared.err = err
				return
			}
			var logger *slog.Logger
			if os.Getenv("STORETEST_LOG") != "" {
				logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			}
			srv, err := embeddedmongo.Start(dir, logger)
			if err != nil {
				shared.err = err
				return
			}
			shared.uri, shared.embedded = srv.URI(), srv
		}
		shared.client, shared.err = mongostore.Connect(context.Background(), shared.uri)
	})
	if shared.err != nil {
		t.Fatalf("test store: %v", shared.err)
	}
	return shared.client, shared.uri
}

// New returns a store on a new, empty database that is dropped after the test.
func New(t testing.TB) *mongostore.Store {
	t.Helper()
	c, _ := client(t)
	name := DatabaseName()
	s := open(t, c, name)
	t.Cleanup(func() { _ = c.Database(name).Drop(context.Background()) })
	return s
}

// open creates the store's collections and indexes in database name, as a
// function's start-up does, and on the embedded store indexes _id lookups.
func open(t testing.TB, c *mongo.Client, name string) *mongostore.Store {
	t.Helper()
	s, err := mongostore.New(context.Background(), c, name)
	if err != nil {
		t.Fatalf("open test store: %v", err)
	}
	if shared.embedded != nil {
		if err := shared.embedded.IndexIDs(context.Background(), name); err != nil {
			t.Fatalf("index test store: %v", err)
		}
	}
	return s
}

// Config returns a mongostore.Config for a new database on the test server,
// for tests that open the store the way a function does (e.g. a restart).
func Config(t testing.TB) mongostore.Config {
	t.Helper()
	c, uri := client(t)
	name := DatabaseName()
	open(t, c, name)
	t.Cleanup(func() { _ = c.Database(name).Drop(context.Background()) })
	return mongostore.Config{URI: uri, Database: name}
}

// DatabaseName is a fresh database name.
func DatabaseName() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "t_" + hex.EncodeToString(b)
}
