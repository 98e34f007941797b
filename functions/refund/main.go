// Command refund serves refunds: single, batch, user requests with review,
// retries and queries — design.md §3.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"github.com/cloudpay/cloudpay/shared/gateway"
	"github.com/cloudpay/cloudpay/shared/httpapi"
	"github.com/cloudpay/cloudpay/shared/mongostore"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/serve"
)

type config struct {
	Serve   serve.Config
	Store   mongostore.Config
	Channel gateway.Config
	Refund  refund.Config
	Admin   httpapi.AdminConfig
	Users   httpapi.UserConfig
}

func main() {
	if err := realMain(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "refund:", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context) error {
	var cfg config
	if err := serve.Load(ctx, &cfg); err != nil {
		return err
	}
	log := serve.Logger(cfg.Serve, "refund")
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
	svc := refund.New(store, gw, cfg.Refund, refund.WithLogger(log))
	defer svc.Close() // running batches stop between two refunds
	return serve.Run(ctx, cfg.Serve, httpapi.Refund(svc, cfg.Admin, cfg.Users, log), log)
}
