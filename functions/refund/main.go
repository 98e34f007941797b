// Command refund serves refunds: single, batch, user requests with review,
// retries and queries — design.md §3.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"github.com/cloudpay/cloudpay/shared/console"
	"github.com/cloudpay/cloudpay/shared/gateway"
	"github.com/cloudpay/cloudpay/shared/httpapi"
	"github.com/cloudpay/cloudpay/shared/mongostore"
	"github.com/cloudpay/cloudpay/shared/operator"
	"github.com/cloudpay/cloudpay/shared/outbox"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/serve"
)

type config struct {
	Serve   serve.Config
	Store   mongostore.Config
	Channel gateway.Config
	Refund  refund.Config
	Outbox  outbox.Config // for the console's dead letters
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
	// Settings first: they are checked before anything connects.
	if err := cfg.Outbox.Validate(); err != nil {
		return err
	}
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
	deliverer, err := outbox.New(store, cfg.Outbox, &http.Client{}, outbox.WithLogger(log))
	if err != nil {
		return err
	}
	ops := httpapi.Console{Views: operator.New(store), Dead: deliverer, Page: console.Handler()}
	return serve.Run(ctx, cfg.Serve, httpapi.Refund(svc, ops, cfg.Admin, cfg.Users, log), log)
}
