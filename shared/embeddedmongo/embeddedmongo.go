// Package embeddedmongo runs FerretDB with its SQLite backend inside the
// process: a MongoDB-compatible store for functions/local and for tests.
// The deployable functions must never import it.
package embeddedmongo

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// Server is a running embedded store.
type Server struct {
	uri    string
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
	s := &Server{uri: f.MongoDBURI(), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		_ = f.Run(ctx)
	}()
	return s, nil
}

// URI is the mongodb:// address to connect to.
func (s *Server) URI() string { return s.uri }

// Stop closes the listener and the SQLite files.
func (s *Server) Stop() {
	s.cancel()
	<-s.done
}
