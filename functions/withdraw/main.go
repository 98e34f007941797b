// Command withdraw serves wallets (credits from the merchant's back end,
// the user's balance) and withdrawals to the user's WeChat balance through
// WeChat Pay's transfer bills — design.md §3.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"github.com/cloudpay/cloudpay/shared/httpapi"
	"github.com/cloudpay/cloudpay/shared/mongostore"
	"github.com/cloudpay/cloudpay/shared/serve"
	"github.com/cloudpay/cloudpay/shared/wechatpay"
	"github.com/cloudpay/cloudpay/shared/withdraw"
)

type config struct {
	Serve    serve.Config
	Store    mongostore.Config
	WeChat   wechatpay.Config // transfers exist only on API v3
	Withdraw withdraw.Config
	Admin    httpapi.AdminConfig
	Users    httpapi.UserConfig
}

func main() {
	if err := realMain(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "withdraw:", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context) error {
	var cfg config
	if err := serve.Load(ctx, &cfg); err != nil {
		return err
	}
	log := serve.Logger(cfg.Serve, "withdraw")
	gw, err := wechatpay.New(ctx, cfg.WeChat, &http.Client{})
	if err != nil {
		return err
	}
	store, err := mongostore.Open(ctx, cfg.Store)
	if err != nil {
		return err
	}
	defer store.Close(context.Background())
	svc := withdraw.New(store, gw, cfg.Withdraw, withdraw.WithLogger(log))
	return serve.Run(ctx, cfg.Serve, httpapi.Withdraw(svc, cfg.Admin, cfg.Users, log), log)
}
