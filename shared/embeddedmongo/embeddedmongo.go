// Package embeddedmongo runs FerretDB with its SQLite backend inside the
// process: a MongoDB-compatible store for functions/local and for tests.
// The deployable functions must never import it.
package embeddedmongo

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/FerretDB/FerretDB/ferretdb"
	_ "modernc.org/sqlite" // FerretDB's SQLite driver, for IndexIDs
)

// Server is a running embedded store.
type Server struct {
	uri    string
	dir    string
	cancel context.CancelFunc
	done   chan struct{}
}

// Start serves the databases kept under dir on a free loopback port.
// Logs go to logger (nil discards them: FerretDB is chatty).
func Start(dir string, logger *slog.Logger) (*Server, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("embedded store dir: %w", err)
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("embedded store dir: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + abs + "/",
	})
	if err != nil {
		return nil, fmt.Errorf("start embedded store: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{uri: f.MongoDBURI(), dir: abs, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		_ = f.Run(ctx)
	}()
	return s, nil
}

// URI is the mongodb:// address to connect to.
func (s *Server) URI() string { return s.uri + sep(s.uri) + "maxPoolSize=4" }

func sep(uri string) string {
	if strings.Contains(uri, "?") {
		return "&"
	}
	return "?"
}

// IndexIDs makes _id lookups in every existing collection of database use
// an index. FerretDB 1.24 indexes _id as _ferretdb_sjson->"_id" but filters
// on _ferretdb_sjson->'$._id'; SQLite uses an expression index only for the
// identical expression, so without this every _id lookup and update scans
// the collection (at 4000 documents, 10.8 ms per find+update instead of
// 0.6 ms). The extra index changes no result: FerretDB's own unique index
// still enforces uniqueness. Call it after the collections exist.
func (s *Server) IndexIDs(ctx context.Context, database string) error {
	path := filepath.Join(s.dir, database+".sqlite")
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("index _id: database %q: %w", database, err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("index _id: %w", err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT table_name FROM _ferretdb_collections`)
	if err != nil {
		return fmt.Errorf("index _id: list collections: %w", err)
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return fmt.Errorf("index _id: %w", err)
		}
		tables = append(tables, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("index _id: %w", err)
	}
	for _, t := range tables {
		q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON %q (_ferretdb_sjson->'$._id')`, t+idIndexSuffix, t)
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("index _id on %s: %w", t, err)
		}
	}
	return nil
}

// idIndexSuffix names the indexes IndexIDs adds.
const idIndexSuffix = "_cloudpay_id"

// Stop closes the listener and the SQLite files.
func (s *Server) Stop() {
	s.cancel()
	<-s.done
}
