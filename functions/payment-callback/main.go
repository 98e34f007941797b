// Command payment-callback receives what WeChat Pay calls back and records
// it only after confirming it — design.md §3.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"github.com/cloudpay/cloudpay/shared/cloudhosting"
	"github.com/cloudpay/cloudpay/shared/httpapi"
	"github.com/cloudpay/cloudpay/shared/mongostore"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/serve"
)

type config struct {
	Serve   serve.Config
	Store   mongostore.Config
	WeChat  cloudhosting.Config
	Payment payment.Config
}

func main() {
	if err := realMain(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "payment-callback:", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context) error {
	var cfg config
	if err := serve.Load(ctx, &cfg); err != nil {
		return err
	}
	log := serve.Logger(cfg.Serve, "payment-callback")
	store, err := mongostore.Open(ctx, cfg.Store)
	if err != nil {
		return err
	}
	defer store.Close(context.Background())
	gw := cloudhosting.New(cfg.WeChat, &http.Client{})
	svc := payment.New(store, gw, cfg.Payment, payment.WithLogger(log))
	return serve.Run(ctx, cfg.Serve, httpapi.PaymentCallback(svc, log), log)
}
