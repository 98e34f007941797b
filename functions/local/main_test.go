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
// and a refund on the local stack exactly as `make demo` does, on either channel.
func TestDemoWalksAWholePayment(t *testing.T) {
	for _, channel := range []string{"cloudhosting", "v3"} {
		t.Run(channel, func(t *testing.T) {
			var cfg config
			if err := serve.Load(context.Background(), &cfg); err != nil {
				t.Fatal(err)
			}
			cfg.Channel = channel
			var out bytes.Buffer
			if err := demo(context.Background(), cfg, &out); err != nil {
				t.Fatalf("demo: %v\n%s", err, out.String())
			}
			want := []string{`"status": "paid"`, "ORDER_PAID", `"refund_id"`, "REFUND_EXCEEDS_PAID", `"package_info"`, `"debited_fen": 3000`, `"notifications_sent"`, "Demo complete (" + channel}
			if channel == "cloudhosting" {
				want = append(want, `"errmsg\":\"ok\"`)
			}
			for _, w := range want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("demo output lacks %s\n%s", w, out.String())
				}
			}
		})
	}
}

// Start-up prints where everything is and a curl example that works.
func TestUsageNamesEveryRouteAndACurlExample(t *testing.T) {
	var cfg config
	if err := serve.Load(context.Background(), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.DataDir, cfg.SimPort = t.TempDir(), 0
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
	for _, want := range []string{s.base + "/create-payment/", s.base + "/payment-callback/", s.base + "/refund/", s.base + "/withdraw/", s.base + "/close-expired/", s.base + "/sim/", s.simBase + "  (WeChat Pay simulator",
		"curl -s -X POST " + s.base + "/create-payment/orders", "Bearer " + cfg.AdminTokens[0]} {
		if !strings.Contains(usage, want) {
			t.Errorf("usage lacks %q:\n%s", want, usage)
		}
	}
}
