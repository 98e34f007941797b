// Package mongostore keeps cloudpay's state in MongoDB (or any store that
// speaks its protocol). Correctness rests only on unique indexes: every
// contended decision is an insert that succeeds once (docs/design.md §4).
package mongostore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// Config locates the database.
type Config struct {
	URI      string `env:"MONGODB_URI, required"`
	Database string `env:"MONGODB_DATABASE, default=cloudpay"`
}

// Store is cloudpay's persistence. Build one per process and share it.
type Store struct {
	client *mongo.Client
	db     *mongo.Database
	owned  bool
	hints  ledgerHints
}

// Open connects, checks the server answers and creates the indexes.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	client, err := Connect(ctx, cfg.URI)
	if err != nil {
		return nil, err
	}
	s, err := New(ctx, client, cfg.Database)
	if err != nil {
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	s.owned = true
	return s, nil
}

// Connect opens a client. Without a w= option in the URI, writes wait for a
// majority, so an acknowledged claim survives a primary failover.
func Connect(ctx context.Context, uri string) (*mongo.Client, error) {
	// Defaults first: options given in the URI override them.
	opts := options.Client().
		SetServerSelectionTimeout(5 * time.Second).
		SetConnectTimeout(5 * time.Second).
		ApplyURI(uri)
	if opts.WriteConcern == nil {
		opts.SetWriteConcern(writeconcern.Majority())
	}
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("mongodb uri: %s", redact(err.Error(), uri))
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, fmt.Errorf("connect to mongodb: %s", redact(err.Error(), uri))
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := client.Ping(pingCtx, nil); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, fmt.Errorf("ping mongodb: %s", redact(err.Error(), uri))
	}
	return client, nil
}

// redact removes the URI's password from a message: driver errors may quote
// the URI, and start-up errors end up in logs.
func redact(msg, uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.User == nil {
		// Unparseable: the password cannot be located, so drop the URI's text.
		if uri != "" {
			msg = strings.ReplaceAll(msg, uri, "<MONGODB_URI>")
		}
		return msg
	}
	if pw, ok := u.User.Password(); ok && pw != "" {
		msg = strings.ReplaceAll(msg, pw, "*****")
		msg = strings.ReplaceAll(msg, url.QueryEscape(pw), "*****")
	}
	return msg
}

// New uses an existing client (tests share one across databases).
func New(ctx context.Context, client *mongo.Client, database string) (*Store, error) {
	s := &Store{client: client, db: client.Database(database)}
	if err := s.ensureSchema(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Close disconnects the client if Open created it.
func (s *Store) Close(ctx context.Context) error {
	if !s.owned {
		return nil
	}
	return s.client.Disconnect(ctx)
}

// Database exposes the handle for tests and maintenance tools.
func (s *Store) Database() *mongo.Database { return s.db }

const (
	colOrders       = "orders"
	colSettlements  = "settlements"
	colEvents       = "events"
	colRefunds      = "refunds"
	colRefundLedger = "refund_ledger"
	colAttempts     = "attempts"
	colBatches      = "refund_batches"
	colOutcomes     = "refund_outcomes"
	colWallets      = "wallets"
	colWalletLedger = "wallet_ledger"
	colWithdrawals  = "withdrawals"
	colWdOutcomes   = "withdrawal_outcomes"
	colActions      = "job_actions"
	colCursors      = "job_cursors"
	colSchema       = "schema"
	colRecon        = "reconciliations"
	colBills        = "bills"
	colPrepays      = "prepays"
	colPrepayEnds   = "prepay_ends"
	colShipments    = "shipments"
	colTokens       = "access_tokens"
	colAudit        = "audit"
)

// collections lists every collection the store uses; start-up creates them
// all, so they exist before anything (such as the embedded store's _id
// indexing) looks for them.
var collections = []string{colOrders, colSettlements, colEvents, colRefunds, colRefundLedger, colAttempts, colBatches, colOutcomes,
	colWallets, colWalletLedger, colWithdrawals, colWdOutcomes, colActions, colCursors, colSchema, colRecon, colBills,
	colPrepays, colPrepayEnds, colShipments, colTokens, colAudit}

// index is one secondary index of a collection.
type index struct {
	col    string
	keys   bson.D
	unique bool
}

// indexes are the secondary indexes. Hot lookups use _id (the business
// number); these serve the job's scans and the listings, and the unique
// ones guard movements.
var indexes = []index{
	{colAudit, bson.D{{Key: "at", Value: -1}}, false},
	{colAudit, bson.D{{Key: "actor", Value: 1}, {Key: "at", Value: -1}}, false},
	{colAudit, bson.D{{Key: "subject", Value: 1}, {Key: "at", Value: -1}}, false},
	{colOrders, bson.D{{Key: "status", Value: 1}, {Key: "expires_at", Value: 1}}, false},
	{colOrders, bson.D{{Key: "openid", Value: 1}, {Key: "created_at", Value: -1}}, false},
	{colOrders, bson.D{{Key: "method", Value: 1}, {Key: "created_at", Value: -1}}, false},
	// An order's payment attempts and their ends.
	{colPrepays, bson.D{{Key: "out_trade_no", Value: 1}}, false},
	{colPrepayEnds, bson.D{{Key: "out_trade_no", Value: 1}}, false},
	// The job's retry of shipping uploads.
	{colShipments, bson.D{{Key: "status", Value: 1}, {Key: "next_at", Value: 1}}, false},
	{colEvents, bson.D{{Key: "status", Value: 1}, {Key: "next_attempt_at", Value: 1}}, false},
	// One entry per movement: the guard that no refund is reserved,
	// settled or released twice.
	{colRefundLedger, bson.D{{Key: "ref", Value: 1}}, true},
	// One entry per movement: no credit applies twice and no withdrawal
	// freezes, debits or unfreezes twice.
	{colWalletLedger, bson.D{{Key: "ref", Value: 1}}, true},
	// The job's sweep reads each ledger in the order it was written.
	{colRefundLedger, bson.D{{Key: "created_at", Value: 1}, {Key: "_id", Value: 1}}, false},
	{colWalletLedger, bson.D{{Key: "created_at", Value: 1}, {Key: "_id", Value: 1}}, false},
	{colWithdrawals, bson.D{{Key: "openid", Value: 1}, {Key: "created_at", Value: -1}}, false},
	{colWithdrawals, bson.D{{Key: "status", Value: 1}, {Key: "updated_at", Value: 1}}, false},
	{colRefunds, bson.D{{Key: "status", Value: 1}, {Key: "not_before", Value: 1}}, false},
	{colRefunds, bson.D{{Key: "out_trade_no", Value: 1}}, false},
	{colRefunds, bson.D{{Key: "batch_id", Value: 1}}, false},
	{colRefunds, bson.D{{Key: "created_at", Value: -1}, {Key: "_id", Value: -1}}, false},
}

// schemaVersion names the collections and indexes above: a digest, so that
// changing them changes it.
var schemaVersion = func() string {
	sum := sha256.Sum256([]byte(fmt.Sprint(collections, indexes)))
	return hex.EncodeToString(sum[:8])
}()

// schemaDoc records, in the database, the schema version whose collections
// and indexes exist.
type schemaDoc struct {
	ID        string    `bson:"_id"`
	Version   string    `bson:"version"`
	UpdatedAt time.Time `bson:"updated_at"`
}

// ensureSchema creates the collections and indexes once per schema
// version: a cold start costs one read, not a dozen commands (each tens of
// milliseconds against a managed MongoDB).
func (s *Store) ensureSchema(ctx context.Context) error {
	held, found, err := findByID[schemaDoc](ctx, s.db.Collection(colSchema), "schema")
	if err != nil {
		return err
	}
	if found && held.Version == schemaVersion {
		return nil
	}
	if err := s.ensureIndexes(ctx); err != nil {
		return err
	}
	return replaceByID(ctx, s.db.Collection(colSchema), "schema", schemaDoc{ID: "schema", Version: schemaVersion, UpdatedAt: time.Now().UTC()})
}

// ensureIndexes is idempotent: creating an index that exists is a no-op.
func (s *Store) ensureIndexes(ctx context.Context) error {
	existing, err := s.db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return fmt.Errorf("list collections: %w", err)
	}
	for _, name := range collections {
		if slices.Contains(existing, name) {
			continue
		}
		var ce mongo.CommandError
		if err := s.db.CreateCollection(ctx, name); err != nil && !(errors.As(err, &ce) && ce.Code == 48) { // 48: NamespaceExists (a concurrent start-up)
			return fmt.Errorf("create collection %s: %w", name, err)
		}
	}
	// One index per command: FerretDB 1.24 drops the connection when a
	// single createIndexes re-creates several existing indexes.
	for _, ix := range indexes {
		m := mongo.IndexModel{Keys: ix.keys}
		if ix.unique {
			m.Options = options.Index().SetUnique(true)
		}
		if _, err := s.db.Collection(ix.col).Indexes().CreateOne(ctx, m); err != nil {
			return fmt.Errorf("create index on %s: %w", ix.col, err)
		}
	}
	return nil
}

func isDuplicate(err error) bool { return mongo.IsDuplicateKeyError(err) }
