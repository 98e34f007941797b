package app

import (
	"context"

	"github.com/cloudpay/cloudpay/shared/console"
	"github.com/cloudpay/cloudpay/shared/httpapi"
	"github.com/cloudpay/cloudpay/shared/mongostore"
	"github.com/cloudpay/cloudpay/shared/operator"
	"github.com/cloudpay/cloudpay/shared/outbox"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/serve"
)

// RefundConfig is everything refund reads.
type RefundConfig struct {
	Serve   serve.Config
	Store   mongostore.Config
	Channel ChannelConfig
	Refund  refund.Config
	Outbox  outbox.Config // for the console's dead letters
	Admin   httpapi.AdminConfig
	Users   httpapi.UserConfig
}

// RefundBinary is refund as its deployable runs it.
func RefundBinary() Binary {
	var cfg RefundConfig
	return Binary{name: "refund", cfg: &cfg, serve: &cfg.Serve, build: func(ctx context.Context, opts ...Option) (*Function, error) {
		return Refund(ctx, cfg, opts...)
	}}
}

// Refund builds refund: refunds, batches, user requests with review, and
// the operator's console.
func Refund(ctx context.Context, cfg RefundConfig, opts ...Option) (*Function, error) {
	o := collect(opts)
	f := &Function{}
	// Settings first: they are checked before anything connects.
	if err := cfg.Outbox.Validate(); err != nil {
		return nil, err
	}
	gw, v3, err := channel(ctx, cfg.Channel, o.hc)
	if err != nil {
		return nil, err
	}
	f.V3 = v3
	if err := o.openStore(ctx, f, cfg.Store); err != nil {
		return nil, err
	}
	f.Payments = payment.New(f.Store, gw, payment.Config{}, o.payment(f.Store)...) // adopts payments refunded by transaction_id
	f.Refunds = refund.New(f.Store, gw, cfg.Refund, append(o.refund(f.Store), refund.WithAdopter(adopter(f.Payments)))...)
	f.onClose(f.Refunds.Close) // running batches stop between two refunds
	if f.Outbox, err = outbox.New(f.Store, cfg.Outbox, o.hc, o.outbox()...); err != nil {
		return f.fail(err)
	}
	f.Recon = reconciler(f, gw, o)
	ops := httpapi.Console{Views: operator.New(f.Store), Dead: f.Outbox, Recon: f.Recon, Page: console.Handler()}
	f.Handler = httpapi.Refund(f.Refunds, ops, cfg.Admin, cfg.Users, o.log)
	return f, nil
}
