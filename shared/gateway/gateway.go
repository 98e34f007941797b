// Package gateway picks the WeChat Pay channel that carries payments and
// refunds, from configuration (PAY_CHANNEL): the Cloud Hosting open
// interface or API v3. The use cases see one interface and do not know
// which channel is behind it.
package gateway

import (
	"context"
	"fmt"
	"net/http"

	"github.com/cloudpay/cloudpay/shared/cloudhosting"
	"github.com/cloudpay/cloudpay/shared/serve"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/wechatpay"
)

// Channel names (PAY_CHANNEL).
const (
	CloudHosting = "cloudhosting"
	V3           = "v3"
)

// Config chooses the channel.
type Config struct {
	Channel string `env:"PAY_CHANNEL, default=cloudhosting"`
}

// Gateway is WeChat Pay through one channel.
type Gateway interface {
	MerchantID() string
	Prepay(ctx context.Context, req wechat.PrepayRequest) (string, wechat.PaymentParams, error)
	QueryOrder(ctx context.Context, outTradeNo string) (wechat.Transaction, error)
	CloseOrder(ctx context.Context, outTradeNo string) error
	Refund(ctx context.Context, req wechat.RefundRequest) (wechat.RefundResult, error)
	QueryRefund(ctx context.Context, outRefundNo string) (wechat.RefundResult, error)
}

var (
	_ Gateway = (*cloudhosting.Client)(nil)
	_ Gateway = (*wechatpay.Client)(nil)
)

// Load reads the chosen channel's settings from the environment and builds
// its client. The v3 client is returned separately too (nil on Cloud
// Hosting): it also verifies notifications.
func Load(ctx context.Context, cfg Config, hc *http.Client) (Gateway, *wechatpay.Client, error) {
	switch cfg.Channel {
	case CloudHosting:
		var ch cloudhosting.Config
		if err := serve.Load(ctx, &ch); err != nil {
			return nil, nil, err
		}
		return cloudhosting.New(ch, hc), nil, nil
	case V3:
		var v3 wechatpay.Config
		if err := serve.Load(ctx, &v3); err != nil {
			return nil, nil, err
		}
		c, err := wechatpay.New(ctx, v3, hc)
		if err != nil {
			return nil, nil, err
		}
		return c, c, nil
	}
	return nil, nil, fmt.Errorf("PAY_CHANNEL must be %q or %q, not %q", CloudHosting, V3, cfg.Channel)
}

// Transfers returns the API v3 client that carries transfers (withdrawals
// exist only on v3): the channel's own client when the channel is v3, else
// one built from the WECHATPAY_* settings if they are given, else nil.
func Transfers(ctx context.Context, channel *wechatpay.Client, hc *http.Client) (*wechatpay.Client, error) {
	if channel != nil {
		return channel, nil
	}
	var probe struct {
		MchID string `env:"WECHATPAY_MCH_ID"`
	}
	if err := serve.Load(ctx, &probe); err != nil || probe.MchID == "" {
		return nil, err
	}
	var cfg wechatpay.Config
	if err := serve.Load(ctx, &cfg); err != nil {
		return nil, err
	}
	return wechatpay.New(ctx, cfg, hc)
}
