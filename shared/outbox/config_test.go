package outbox_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/outbox"
	"github.com/cloudpay/cloudpay/shared/storetest"
)

func TestNewChecksConfig(t *testing.T) {
	s := storetest.New(t)
	for _, tc := range []struct {
		name string
		cfg  outbox.Config
		opts []outbox.Option
		want string // in the error; "" for none
	}{
		{"off", outbox.Config{}, nil, ""},
		{"on", outbox.Config{URL: "https://merchant.example/hooks", Secret: secret}, nil, ""},
		{"url without secret", outbox.Config{URL: "https://merchant.example/hooks"}, nil, "BUSINESS_NOTIFY_SECRET"},
		{"relative url", outbox.Config{URL: "/hooks", Secret: secret}, nil, "BUSINESS_NOTIFY_URL"},
		{"not http", outbox.Config{URL: "ftp://merchant.example/hooks", Secret: secret}, nil, "BUSINESS_NOTIFY_URL"},
		{"negative timeout", outbox.Config{URL: "https://merchant.example/hooks", Secret: secret, Timeout: -time.Second}, nil, "BUSINESS_NOTIFY_TIMEOUT"},
		{"negative window", outbox.Config{URL: "https://merchant.example/hooks", Secret: secret, RetryWindow: -time.Hour}, nil, "BUSINESS_NOTIFY_RETRY_WINDOW"},
		{"zero backoff step", outbox.Config{URL: "https://merchant.example/hooks", Secret: secret},
			[]outbox.Option{outbox.WithBackoff([]time.Duration{time.Second, 0})}, "backoff"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := outbox.New(s, tc.cfg, nil, tc.opts...)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("New = %v, want an error naming %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Fatalf("the error shows the secret: %v", err)
			}
		})
	}
}

func TestConfigHidesSecret(t *testing.T) {
	cfg := outbox.Config{URL: "https://hook:url-password@merchant.example/hooks", Secret: secret, Timeout: 5 * time.Second, RetryWindow: 24 * time.Hour}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		out = append(out, fmt.Sprintf(verb, cfg), fmt.Sprintf(verb, &cfg))
	}
	for _, h := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		var b bytes.Buffer
		slog.New(h(&b)).Info("config", "notify", cfg, "ptr", &cfg)
		out = append(out, b.String())
	}
	j, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, string(j))
	for _, o := range out {
		if strings.Contains(o, secret) || strings.Contains(o, "url-password") {
			t.Errorf("secret shown: %s", o)
		}
	}
	if s := cfg.String(); !strings.Contains(s, "[REDACTED]") || !strings.Contains(s, "merchant.example/hooks") {
		t.Errorf("String() = %s, want the URL and a redacted secret", s)
	}
}
