// Package serve runs a function's handler: as an HTTP server (Cloud Hosting,
// containers, local) or, inside AWS Lambda, behind a Function URL.
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/lambdaurl"
	"github.com/sethvargo/go-envconfig"
)

// Config is how a function is served and how it logs.
type Config struct {
	Port            int           `env:"PORT, default=80"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT, default=10s"`
	LogLevel        string        `env:"LOG_LEVEL, default=info"`
}

// Load fills cfg (a pointer to the function's config struct) from the
// environment; a missing required setting is an error naming it. A variable
// set to the empty string counts as unset: consoles and config files often
// list every name with an empty value, and an empty merchant id or token
// must stop start-up, not slip through.
func Load(ctx context.Context, cfg any) error {
	nonEmpty := envconfig.LookuperFunc(func(key string) (string, bool) {
		v, ok := os.LookupEnv(key)
		return v, ok && strings.TrimSpace(v) != ""
	})
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: cfg, Lookuper: nonEmpty}); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	return nil
}

// Logger is the JSON logger on stdout every function uses; every line
// names the function (none when function is empty, for a host of several).
func Logger(cfg Config, function string) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.ToUpper(cfg.LogLevel))); err != nil {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: level}))
	if function != "" {
		log = log.With("function", function)
	}
	return log
}

// OnLambda reports whether the process runs inside AWS Lambda.
func OnLambda() bool { return os.Getenv("AWS_LAMBDA_RUNTIME_API") != "" }

// Run serves h until ctx ends (or SIGTERM/SIGINT), then shuts down
// gracefully: in-flight requests, such as a callback being recorded, finish.
// Inside Lambda it hands h to lambdaurl and never returns.
func Run(ctx context.Context, cfg Config, h http.Handler, log *slog.Logger) error {
	if OnLambda() {
		lambdaurl.Start(h)
		return nil
	}
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(cfg.Port))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	return Serve(ctx, cfg, ln, h, log)
}

// Serve is Run on a listener the caller opened.
func Serve(ctx context.Context, cfg Config, ln net.Listener, h http.Handler, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	timeout := cfg.ShutdownTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	log.Info("shutting down")
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
