package app

import (
	"context"
	"fmt"

	"github.com/cloudpay/cloudpay/shared/httpapi"
	"github.com/cloudpay/cloudpay/shared/job"
	"github.com/cloudpay/cloudpay/shared/mongostore"
	"github.com/cloudpay/cloudpay/shared/outbox"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/serve"
	"github.com/cloudpay/cloudpay/shared/withdraw"
)

// CloseExpiredConfig is everything close-expired reads.
type CloseExpiredConfig struct {
	Serve    serve.Config
	Store    mongostore.Config
	Channel  ChannelConfig
	Payment  payment.Config
	Refund   refund.Config
	Withdraw withdraw.Config
	Shipping ShippingConfig
	Outbox   outbox.Config
	Job      job.Config
	JobAuth  httpapi.JobConfig
	Admin    httpapi.AdminConfig
	// On Lambda the function answers EventBridge schedule events unless
	// JOB_TRIGGER=http (then it serves /run behind a Function URL).
	Trigger string `env:"JOB_TRIGGER, default=schedule"`
}

// CloseExpiredBinary is close-expired as its deployable runs it.
func CloseExpiredBinary() Binary {
	var cfg CloseExpiredConfig
	return Binary{name: "close-expired", cfg: &cfg, serve: &cfg.Serve, build: func(ctx context.Context, opts ...Option) (*Function, error) {
		return CloseExpired(ctx, cfg, opts...)
	}}
}

// CloseExpired builds close-expired, the scheduled job: expiry, payments
// whose callback never came, refunds and withdrawals left in flight, and
// business notifications. Withdrawals are settled only where transfers are
// configured (PAY_CHANNEL=v3, or WECHATPAY_MCH_ID set).
func CloseExpired(ctx context.Context, cfg CloseExpiredConfig, opts ...Option) (*Function, error) {
	o := collect(opts)
	if err := cfg.Admin.Validate(); err != nil {
		return nil, err
	}
	f := &Function{}
	// Settings first: they are checked before anything connects.
	if cfg.Trigger != "schedule" && cfg.Trigger != "http" {
		return nil, fmt.Errorf("JOB_TRIGGER must be schedule or http, not %q", cfg.Trigger)
	}
	if err := cfg.Outbox.Validate(); err != nil {
		return nil, err
	}
	gw, v3, err := channel(ctx, cfg.Channel, o.hc)
	if err != nil {
		return nil, err
	}
	ali, err := alipayGateway(cfg.Channel, o.hc)
	if err != nil {
		return nil, err
	}
	if f.V3, err = transfers(ctx, cfg.Channel, v3, o.hc); err != nil {
		return nil, err
	}
	if err := o.openStore(ctx, f, cfg.Store); err != nil {
		return nil, err
	}
	if f.Outbox, err = outbox.New(f.Store, cfg.Outbox, o.hc, o.outbox()...); err != nil {
		return f.fail(err)
	}
	if f.Shipping, err = o.shippingService(f, cfg.Channel, cfg.Shipping, gw.MerchantID()); err != nil {
		return nil, err
	}
	f.Payments = payment.New(f.Store, gw, cfg.Payment, append(o.payment(f.Store, ali), payment.WithOnPaid(f.Shipping.AutoVirtual))...)
	f.Refunds = refund.New(f.Store, gw, cfg.Refund, append(o.refund(f.Store, ali), refund.WithAdopter(adopter(f.Payments)))...)
	f.onClose(f.Refunds.Close)
	f.Recon = reconciler(f, gw, ali, o)
	jobOpts := append(o.job(), job.WithOutbox(f.Outbox), job.WithReconciler(f.Recon), job.WithShipping(f.Shipping))
	if f.V3 != nil {
		f.Withdrawals = withdraw.New(f.Store, f.V3, cfg.Withdraw, o.withdraw()...)
		jobOpts = append(jobOpts, job.WithWithdrawals(f.Withdrawals))
	}
	f.Job = job.New(f.Store, f.Payments, f.Refunds, cfg.Job, jobOpts...)
	if cfg.Trigger == "schedule" {
		f.Scheduled = f.Job.Run
	}
	f.Handler = httpapi.CloseExpired(f.Job, f.Outbox, cfg.JobAuth, auditedAdmin(cfg.Admin, f.Store), o.log)
	return f, nil
}
