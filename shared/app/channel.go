package app

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/cloudpay/cloudpay/shared/alipay"
	"github.com/cloudpay/cloudpay/shared/cloudhosting"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/wechatpay"
)

// ChannelConfig chooses the channel that carries payments and refunds
// (PAY_CHANNEL) and holds both channels' settings. Both are loaded with the
// rest of the configuration, so nothing is read later; only the chosen
// channel's must be complete, and that is checked when it is built.
type ChannelConfig struct {
	Channel      string `env:"PAY_CHANNEL, default=cloudhosting"` // wechat.CloudHosting or wechat.V3
	CloudHosting cloudhosting.Config
	// V3 is the channel when PAY_CHANNEL=v3; payment-callback and
	// close-expired also use it for transfers when WECHATPAY_MCH_ID is set,
	// whichever channel carries payments.
	V3 wechatpay.Config
	// Alipay, beside WeChat Pay, when ALIPAY_APP_ID is set.
	Alipay alipay.Config
}

// alipayGateway is the Alipay channel when ALIPAY_APP_ID is set, else nil;
// its other settings are checked before anything connects.
func alipayGateway(cfg ChannelConfig, hc *http.Client) (*alipay.Gateway, error) {
	if !cfg.Alipay.Enabled() {
		return nil, nil
	}
	c, err := alipay.New(cfg.Alipay, hc)
	if err != nil {
		return nil, fmt.Errorf("ALIPAY_APP_ID is set: %w", err)
	}
	return alipay.NewGateway(c), nil
}

// channel builds the chosen channel's client. The API v3 client is returned
// a second time (nil on Cloud Hosting): it also verifies notifications and
// carries transfers. Nothing connects yet.
func channel(ctx context.Context, cfg ChannelConfig, hc *http.Client) (wechat.Channel, *wechatpay.Client, error) {
	switch cfg.Channel {
	case wechat.CloudHosting:
		if err := cfg.CloudHosting.Validate(); err != nil {
			return nil, nil, err
		}
		return cloudhosting.New(cfg.CloudHosting, hc), nil, nil
	case wechat.V3:
		c, err := wechatpay.New(ctx, cfg.V3, hc)
		if err != nil {
			return nil, nil, fmt.Errorf("PAY_CHANNEL=v3: %w", err)
		}
		return c, c, nil
	}
	return nil, nil, fmt.Errorf("PAY_CHANNEL must be %q or %q, not %q", wechat.CloudHosting, wechat.V3, cfg.Channel)
}

// transfers returns the API v3 client that carries transfers (they exist
// only on v3): the channel's own when the channel is v3, else one built
// from the WECHATPAY_* settings if WECHATPAY_MCH_ID is set, else nil.
func transfers(ctx context.Context, cfg ChannelConfig, v3 *wechatpay.Client, hc *http.Client) (*wechatpay.Client, error) {
	if v3 != nil {
		return v3, nil
	}
	if strings.TrimSpace(cfg.V3.MchID) == "" {
		return nil, nil
	}
	c, err := wechatpay.New(ctx, cfg.V3, hc)
	if err != nil {
		return nil, fmt.Errorf("transfers (WECHATPAY_MCH_ID is set): %w", err)
	}
	return c, nil
}
