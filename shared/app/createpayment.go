package app

import (
	"context"
	"fmt"
	"strings"

	"github.com/cloudpay/cloudpay/shared/checkout"
	"github.com/cloudpay/cloudpay/shared/httpapi"
	"github.com/cloudpay/cloudpay/shared/mongostore"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/serve"
)

// CreatePaymentConfig is everything create-payment reads.
type CreatePaymentConfig struct {
	Serve    serve.Config
	Store    mongostore.Config
	Channel  ChannelConfig
	Payment  payment.Config
	Admin    httpapi.AdminConfig
	Users    httpapi.UserConfig
	Shipping ShippingConfig
	// Checkout signs the hosted checkout page's links (CHECKOUT_KEY; by
	// default a key derived from the first admin token).
	Checkout checkout.Config
}

// CreatePaymentBinary is create-payment as its deployable runs it.
func CreatePaymentBinary() Binary {
	var cfg CreatePaymentConfig
	return Binary{name: "create-payment", cfg: &cfg, serve: &cfg.Serve, build: func(ctx context.Context, opts ...Option) (*Function, error) {
		return CreatePayment(ctx, cfg, opts...)
	}}
}

// CreatePayment builds create-payment: orders for the merchant's back end,
// payments for the mini-program.
func CreatePayment(ctx context.Context, cfg CreatePaymentConfig, opts ...Option) (*Function, error) {
	o := collect(opts)
	if err := cfg.Admin.Validate(); err != nil {
		return nil, err
	}
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
	f.V3 = v3
	if err := o.openStore(ctx, f, cfg.Store); err != nil {
		return nil, err
	}
	if f.Shipping, err = o.shippingService(f, cfg.Channel, cfg.Shipping, gw.MerchantID()); err != nil {
		return nil, err
	}
	f.Payments = payment.New(f.Store, gw, cfg.Payment, append(o.payment(f.Store, ali), payment.WithOnPaid(f.Shipping.AutoVirtual))...)
	if cfg.Checkout.Key == "" && firstToken(cfg.Admin.Tokens) == "" {
		// Without either, each instance would sign checkout links with a key
		// of its own, and a link made by one would not open on another.
		return nil, fmt.Errorf("configuration: CHECKOUT_KEY is required when ADMIN_TOKENS is not set (checkout links are signed with it)")
	}
	co := httpapi.Checkout{Signer: checkout.NewSigner(cfg.Checkout.Key, firstToken(cfg.Admin.Tokens)), LinkTTL: cfg.Checkout.LinkTTL()}
	f.Handler = httpapi.CreatePayment(f.Payments, f.Shipping, auditedAdmin(cfg.Admin, f.Store), cfg.Users, co, o.log)
	return f, nil
}

// firstToken is the first admin token: it keys checkout links when
// CHECKOUT_KEY is unset, so every instance signs alike.
func firstToken(tokens []string) string {
	for _, t := range tokens {
		if t = strings.TrimSpace(t); t != "" {
			return t
		}
	}
	return ""
}
