// Command create-payment serves orders (the merchant's back end) and
// payments (the mini-program) — design.md §3.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"github.com/cloudpay/cloudpay/shared/gateway"
	"github.com/cloudpay/cloudpay/shared/httpapi"
	"github.com/cloudpay/cloudpay/shared/mongostore"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/serve"
)

type config struct {
	Serve   serve.Config
	Store   mongostore.Config
	Channel gateway.Config
	Payment payment.Config
	Admin   httpapi.AdminConfig
	Users   httpapi.UserConfig
}

func main() {
	if err := realMain(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "create-payment:", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context) error {
	var cfg config
	if err := serve.Load(ctx, &cfg); err != nil {
		return err
	}
	log := serve.Logger(cfg.Serve, "create-payment")
	// The channel first: its settings are checked before anything connects.
	gw, _, err := gateway.Load(ctx, cfg.Channel, &http.Client{})
	if err != nil {
		return err
	}
	store, err := mongostore.Open(ctx, cfg.Store)
	if err != nil {
		return err
	}
	defer store.Close(context.Background())
	svc := payment.New(store, gw, cfg.Payment, payment.WithLogger(log))
	return serve.Run(ctx, cfg.Serve, httpapi.CreatePayment(svc, cfg.Admin, cfg.Users, log), log)
}
