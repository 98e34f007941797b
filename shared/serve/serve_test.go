package serve_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/serve"
)

// Shutdown lets a request in flight (a callback being recorded) finish.
func TestServeFinishesInFlightRequestsOnShutdown(t *testing.T) {
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		_, _ = io.WriteString(w, "recorded")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve.Serve(ctx, serve.Config{ShutdownTimeout: 5 * time.Second}, ln, h, slog.New(slog.DiscardHandler))
	}()

	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- string(b)
	}()
	<-started
	cancel()
	if body := <-got; body != "recorded" {
		t.Fatalf("in-flight request got %q, want it to finish", body)
	}
	if err := <-done; err != nil {
		t.Fatalf("serve returned %v", err)
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), 200*time.Millisecond); err == nil {
		t.Fatal("still accepting connections after shutdown")
	}
}

func TestLoadNamesMissingSetting(t *testing.T) {
	var cfg struct {
		Port  int    `env:"PORT, default=80"`
		Token string `env:"SOME_REQUIRED_TOKEN, required"`
	}
	t.Setenv("SOME_REQUIRED_TOKEN", "  ")
	err := serve.Load(context.Background(), &cfg)
	if err == nil || !strings.Contains(err.Error(), "SOME_REQUIRED_TOKEN") {
		t.Fatalf("err = %v", err)
	}
}
