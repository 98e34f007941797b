// Command close-expired is the scheduled job — design.md §3: one pass
// closes expired orders, records payments whose callback never came,
// settles refunds and withdrawals left in flight and delivers business
// notifications. Triggered by POST /run (scheduler's token) or, on AWS
// Lambda, by an EventBridge schedule.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"github.com/cloudpay/cloudpay/shared/gateway"
	"github.com/cloudpay/cloudpay/shared/httpapi"
	"github.com/cloudpay/cloudpay/shared/job"
	"github.com/cloudpay/cloudpay/shared/mongostore"
	"github.com/cloudpay/cloudpay/shared/outbox"
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
	Outbox   outbox.Config
	Job      job.Config
	JobAuth  httpapi.JobConfig
	Admin    httpapi.AdminConfig
	// On Lambda the function answers EventBridge schedule events unless
	// JOB_TRIGGER=http (then it serves /run behind a Function URL).
	Trigger string `env:"JOB_TRIGGER, default=schedule"`
}

func main() {
	if err := realMain(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "close-expired:", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context) error {
	var cfg config
	if err := serve.Load(ctx, &cfg); err != nil {
		return err
	}
	if cfg.Trigger != "schedule" && cfg.Trigger != "http" {
		return fmt.Errorf("JOB_TRIGGER must be schedule or http, not %q", cfg.Trigger)
	}
	log := serve.Logger(cfg.Serve, "close-expired")
	// Settings first: they are checked before anything connects.
	if err := cfg.Outbox.Validate(); err != nil {
		return err
	}
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
	deliverer, err := outbox.New(store, cfg.Outbox, &http.Client{}, outbox.WithLogger(log))
	if err != nil {
		return err
	}
	refunds := refund.New(store, gw, cfg.Refund, refund.WithLogger(log))
	defer refunds.Close()
	opts := []job.Option{job.WithLogger(log), job.WithOutbox(deliverer)}
	if transfers != nil {
		opts = append(opts, job.WithWithdrawals(withdraw.New(store, transfers, cfg.Withdraw, withdraw.WithLogger(log))))
	}
	j := job.New(store, payment.New(store, gw, cfg.Payment, payment.WithLogger(log)), refunds, cfg.Job, opts...)
	if serve.OnLambda() && cfg.Trigger == "schedule" {
		serve.RunScheduled(serve.Scheduled(j.Run, log))
		return nil
	}
	return serve.Run(ctx, cfg.Serve, httpapi.CloseExpired(j, deliverer, cfg.JobAuth, cfg.Admin, log), log)
}
