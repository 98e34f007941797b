// Command payment-callback receives what WeChat Pay calls back and records
// it only after confirming it — design.md §3.
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
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/serve"
	"github.com/cloudpay/cloudpay/shared/withdraw"
)

type config struct {
	Serve    serve.Config
	Store    mongostore.Config
	Channel  gateway.Config
	Payment  payment.Config
	Refund   refund.Config
	Withdraw withdraw.Config
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
	// The channel first: its settings are checked before anything connects.
	gw, v3, err := gateway.Load(ctx, cfg.Channel, &http.Client{})
	if err != nil {
		return err
	}
	transfers, err := gateway.Transfers(ctx, v3, &http.Client{})
	if err != nil {
		return err
	}
	store, err := mongostore.Open(ctx, cfg.Store)
	if err != nil {
		return err
	}
	defer store.Close(context.Background())
	cb := httpapi.Callbacks{
		Payments: payment.New(store, gw, cfg.Payment, payment.WithLogger(log)),
		Refunds:  refund.New(store, gw, cfg.Refund, refund.WithLogger(log)),
	}
	if transfers != nil {
		// Every v3 notification (payments, refunds, transfers) is verified
		// with the same merchant's keys.
		cb.V3 = transfers
		cb.Withdrawals = withdraw.New(store, transfers, cfg.Withdraw, withdraw.WithLogger(log))
	}
	return serve.Run(ctx, cfg.Serve, httpapi.PaymentCallback(cb, log), log)
}
