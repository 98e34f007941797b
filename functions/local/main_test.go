package main

import (
	"bytes"
	"context"
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
