package app

import (
	"context"
	"fmt"

	"github.com/cloudpay/cloudpay/shared/httpapi"
	"github.com/cloudpay/cloudpay/shared/mongostore"
	"github.com/cloudpay/cloudpay/shared/serve"
	"github.com/cloudpay/cloudpay/shared/wechatpay"
	"github.com/cloudpay/cloudpay/shared/withdraw"
)

// WithdrawConfig is everything withdraw reads. Transfers exist only on
// API v3, so its settings are needed whatever PAY_CHANNEL says (withdraw
// does not read PAY_CHANNEL).
type WithdrawConfig struct {
	Serve    serve.Config
	Store    mongostore.Config
	V3       wechatpay.Config
	Withdraw withdraw.Config
	Admin    httpapi.AdminConfig
	Users    httpapi.UserConfig
}

// WithdrawBinary is withdraw as its deployable runs it.
func WithdrawBinary() Binary {
	var cfg WithdrawConfig
	return Binary{name: "withdraw", cfg: &cfg, serve: &cfg.Serve, build: func(ctx context.Context, opts ...Option) (*Function, error) {
		return Withdraw(ctx, cfg, opts...)
	}}
}

// Withdraw builds withdraw: wallet credits, balances and withdrawals to the
// user's WeChat balance through transfer bills.
func Withdraw(ctx context.Context, cfg WithdrawConfig, opts ...Option) (*Function, error) {
	o := collect(opts)
	if err := cfg.Admin.Validate(); err != nil {
		return nil, err
	}
	f := &Function{}
	var err error
	// The client first: its settings are checked before anything connects.
	if f.V3, err = wechatpay.New(ctx, cfg.V3, o.hc); err != nil {
		return nil, fmt.Errorf("transfers need API v3: %w", err)
	}
	if err := o.openStore(ctx, f, cfg.Store); err != nil {
		return nil, err
	}
	f.Withdrawals = withdraw.New(f.Store, f.V3, cfg.Withdraw, o.withdraw()...)
	f.Handler = httpapi.Withdraw(f.Withdrawals, auditedAdmin(cfg.Admin, f.Store), cfg.Users, o.log)
	return f, nil
}
