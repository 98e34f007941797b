package main

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/cloudpay/cloudpay/shared/serve"
)

// The demo is the newcomer's first contact: it must walk the whole payment
// on the local stack exactly as `make demo` does.
func TestDemoWalksAWholePayment(t *testing.T) {
	var cfg config
	if err := serve.Load(context.Background(), &cfg); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := demo(context.Background(), cfg, &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{`"status": "paid"`, `"errmsg\":\"ok\"`, "ORDER_PAID", "Demo complete"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %s", want)
		}
	}
}

// Start-up prints where everything is and a curl example that works.
func TestUsageNamesEveryRouteAndACurlExample(t *testing.T) {
	var cfg config
	if err := serve.Load(context.Background(), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s, err := build(context.Background(), cfg, ln, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	usage := s.usage(cfg)
	for _, want := range []string{s.base + "/create-payment/", s.base + "/payment-callback/", s.base + "/sim/",
		"curl -s -X POST " + s.base + "/create-payment/orders", "Bearer " + cfg.AdminTokens[0]} {
		if !strings.Contains(usage, want) {
			t.Errorf("usage lacks %q:\n%s", want, usage)
		}
	}
}
