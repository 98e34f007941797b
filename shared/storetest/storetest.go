// Package storetest gives each test its own database: on the embedded store
// by default, or on a real MongoDB when MONGODB_TEST_URI is set.
//
// The embedded store runs in a process of its own (storeserver, built
// without the race detector): in the test's process, under -race,
// FerretDB and its pure-Go SQLite took about ten times the CPU of the code
// under test. If that process cannot be built or started, the store runs
// in the test's process as before.
package storetest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/cloudpay/cloudpay/shared/embeddedmongo"
	"github.com/cloudpay/cloudpay/shared/mongostore"
)

// shared is one server and client per test binary: starting a store per
// test would dominate the suite's time. Each test still gets a fresh
// database.
var shared struct {
	once   sync.Once
	uri    string
	client *mongo.Client
	index  func(ctx context.Context, database string) error // nil on a real MongoDB
	err    error
}

func client(t testing.TB) (*mongo.Client, string) {
	shared.once.Do(func() {
		shared.uri = os.Getenv("MONGODB_TEST_URI")
		if shared.uri == "" {
			shared.err = startEmbedded()
			if shared.err != nil {
				return
			}
		}
		shared.client, shared.err = mongostore.Connect(context.Background(), shared.uri)
	})
	if shared.err != nil {
		t.Fatalf("test store: %v", shared.err)
	}
	return shared.client, shared.uri
}

// startEmbedded starts the embedded store, in its own process if it can.
func startEmbedded() error {
	dir, err := os.MkdirTemp("", "cloudpay-store-")
	if err != nil {
		return err
	}
	if os.Getenv("STORETEST_IN_PROCESS") == "" {
		srv, err := startServer(dir)
		if err == nil {
			shared.uri, shared.index = srv.uri, srv.indexIDs
			return nil
		}
		fmt.Fprintf(os.Stderr, "storetest: store in this process (%v)\n", err)
	}
	var logger *slog.Logger
	if os.Getenv("STORETEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	srv, err := embeddedmongo.Start(dir, logger)
	if err != nil {
		return err
	}
	shared.uri, shared.index = srv.URI(), srv.IndexIDs
	return nil
}

// server is a running storeserver process.
type server struct {
	uri string
	mu  sync.Mutex // one command at a time
	in  io.Writer
	out *bufio.Reader
}

// startServer builds storeserver (the build cache makes this a link) and
// starts it on dir. It dies with the test binary: its stdin closes, and on
// Linux the kernel kills it too.
func startServer(dir string) (*server, error) {
	bin := filepath.Join(dir, "storeserver")
	build := exec.Command(goTool(), "build", "-o", bin, "github.com/cloudpay/cloudpay/shared/storetest/storeserver")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build storeserver: %v: %s", err, out)
	}
	cmd := exec.Command(bin, filepath.Join(dir, "data"))
	cmd.Stderr = os.Stderr
	setParentDeathSignal(cmd)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start storeserver: %w", err)
	}
	s := &server{in: in, out: bufio.NewReader(stdout)}
	line, err := s.readLine(time.Minute)
	if err != nil || !strings.HasPrefix(line, "mongodb://") {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("storeserver did not start: %q %v", line, err)
	}
	s.uri = line
	return s, nil
}

// indexIDs has the server index _id lookups in database (see
// embeddedmongo.Server.IndexIDs).
func (s *server) indexIDs(_ context.Context, database string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := fmt.Fprintf(s.in, "index %s\n", database); err != nil {
		return fmt.Errorf("storeserver: %w", err)
	}
	line, err := s.readLine(2 * time.Minute)
	if err != nil {
		return fmt.Errorf("storeserver: %w", err)
	}
	if line != "ok" {
		return errors.New("storeserver: " + line)
	}
	return nil
}

// readLine reads the server's next line, waiting at most d (a deadline
// sized for a loaded machine: it only bounds a hung server).
func (s *server) readLine(d time.Duration) (string, error) {
	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		line, err := s.out.ReadString('\n')
		ch <- result{strings.TrimSpace(line), err}
	}()
	select {
	case r := <-ch:
		return r.line, r.err
	case <-time.After(d):
		return "", errors.New("no answer")
	}
}

// goTool is the go command: the one on PATH, else $GOROOT's.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if root := os.Getenv("GOROOT"); root != "" {
		return filepath.Join(root, "bin", "go")
	}
	return "go"
}

// setParentDeathSignal asks Linux to kill the server if the test binary
// dies without closing its stdin (a timeout's panic, a kill).
func setParentDeathSignal(cmd *exec.Cmd) {
	if runtime.GOOS == "linux" {
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	}
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
	if shared.index != nil {
		if err := shared.index(context.Background(), name); err != nil {
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
