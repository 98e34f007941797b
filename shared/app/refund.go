package app

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
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
	// Shipping lets the console enter shipping and tell whether the
	// mini-program is under WeChat's trade management.
	Shipping ShippingConfig
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
	if err := cfg.Admin.Validate(); err != nil {
		return nil, err
	}
	f := &Function{}
	// Settings first: they are checked before anything connects.
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
	f.V3 = v3
	if err := o.openStore(ctx, f, cfg.Store); err != nil {
		return nil, err
	}
	if f.Shipping, err = o.shippingService(f, cfg.Channel, cfg.Shipping, gw.MerchantID()); err != nil {
		return nil, err
	}
	// Adopts payments refunded by transaction_id.
	f.Payments = payment.New(f.Store, gw, payment.Config{}, append(o.payment(f.Store, ali), payment.WithOnPaid(f.Shipping.AutoVirtual))...)
	f.Refunds = refund.New(f.Store, gw, cfg.Refund, append(o.refund(f.Store, ali), refund.WithAdopter(adopter(f.Payments)))...)
	f.onClose(f.Refunds.Close) // running batches stop between two refunds
	if f.Outbox, err = outbox.New(f.Store, cfg.Outbox, o.hc, o.outbox()...); err != nil {
		return f.fail(err)
	}
	f.Recon = reconciler(f, gw, ali, o)
	ops := httpapi.Console{Views: operator.New(f.Store), Dead: f.Outbox, Recon: f.Recon, Shipping: f.Shipping, Page: console.Handler(), Audit: f.Store}
	f.Handler = httpapi.Refund(f.Refunds, ops, auditedAdmin(cfg.Admin, f.Store), cfg.Users, o.log)
	checkTradeManaged(ctx, f, o.log)
	return f, nil
}

// tradeManagedCheck bounds the start-up check: WeChat's answer is a log
// line, not worth holding anything up for.
const tradeManagedCheck = 15 * time.Second

// checkTradeManaged asks WeChat, in the background, whether the
// mini-program is under trade management, so the console's function says
// at start-up whether paid orders need their shipping uploaded. It never
// blocks or fails the start; Close stops it. Without a logger nobody would
// hear the answer, so nothing is asked (tests, tools).
func checkTradeManaged(ctx context.Context, f *Function, log *slog.Logger) {
	if !log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tradeManagedCheck)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cancel()
		// The service logs the answer itself.
		_, err := f.Shipping.TradeManaged(ctx)
		switch code := cloudpay.ErrorCode(err); {
		case err == nil:
		case errors.Is(ctx.Err(), context.Canceled):
			// Closed before WeChat answered.
		case code == cloudpay.CodeShippingOff:
			log.InfoContext(ctx, "trade management not checked: no mini-program configured, shipping uploads are off")
		default:
			log.WarnContext(ctx, "could not ask WeChat whether the mini-program is under trade management", "err", err)
		}
	}()
	f.onClose(func() { cancel(); <-done })
}
