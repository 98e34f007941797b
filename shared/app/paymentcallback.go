package app

import (
	"context"

	"github.com/cloudpay/cloudpay/shared/httpapi"
	"github.com/cloudpay/cloudpay/shared/mongostore"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/serve"
	"github.com/cloudpay/cloudpay/shared/withdraw"
)

// PaymentCallbackConfig is everything payment-callback reads.
type PaymentCallbackConfig struct {
	Serve    serve.Config
	Store    mongostore.Config
	Channel  ChannelConfig
	Payment  payment.Config
	Refund   refund.Config
	Withdraw withdraw.Config
	Shipping ShippingConfig
}

// PaymentCallbackBinary is payment-callback as its deployable runs it.
func PaymentCallbackBinary() Binary {
	var cfg PaymentCallbackConfig
	return Binary{name: "payment-callback", cfg: &cfg, serve: &cfg.Serve, build: func(ctx context.Context, opts ...Option) (*Function, error) {
		return PaymentCallback(ctx, cfg, opts...)
	}}
}

// PaymentCallback builds payment-callback: what WeChat Pay calls back, for
// payments, refunds and transfers. It verifies API v3 notifications only
// when it has a v3 client (PAY_CHANNEL=v3, or WECHATPAY_MCH_ID set).
func PaymentCallback(ctx context.Context, cfg PaymentCallbackConfig, opts ...Option) (*Function, error) {
	o := collect(opts)
	f := &Function{}
	// The channel first: its settings are checked before anything connects.
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
	if f.Shipping, err = o.shippingService(f, cfg.Channel, cfg.Shipping, gw.MerchantID()); err != nil {
		return nil, err
	}
	f.Payments = payment.New(f.Store, gw, cfg.Payment, append(o.payment(f.Store, ali), payment.WithOnPaid(f.Shipping.AutoVirtual))...)
	f.Refunds = refund.New(f.Store, gw, cfg.Refund, append(o.refund(f.Store, ali), refund.WithAdopter(adopter(f.Payments)))...)
	f.onClose(f.Refunds.Close)
	cb := httpapi.Callbacks{Payments: f.Payments, Refunds: f.Refunds}
	if ali != nil {
		cb.Alipay = ali
	}
	if f.V3 != nil {
		// Every v3 notification (payments, refunds, transfers) is verified
		// with the same merchant's keys.
		f.Withdrawals = withdraw.New(f.Store, f.V3, cfg.Withdraw, o.withdraw()...)
		cb.V3, cb.Withdrawals = f.V3, f.Withdrawals
	}
	f.Handler = httpapi.PaymentCallback(cb, o.log)
	return f, nil
}
