package app

import (
	"fmt"

	"github.com/cloudpay/cloudpay/shared/miniapp"
	"github.com/cloudpay/cloudpay/shared/shipping"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// ShippingConfig is the mini-program's settings for WeChat's trade
// management and the merchant's shipping choices.
type ShippingConfig struct {
	MiniProgram miniapp.Config
	Shipping    shipping.Config
}

// shippingService builds the shipping uploads of f. On Cloud Hosting the
// open interface needs nothing; elsewhere MINIPROGRAM_APPID and
// MINIPROGRAM_SECRET turn it on (access tokens from stable_token, kept in
// the store). Without either, uploads answer SHIPPING_NOT_CONFIGURED.
func (o options) shippingService(f *Function, ch ChannelConfig, cfg ShippingConfig, mchID string) (*shipping.Service, error) {
	var mp wechat.MiniProgram
	if cfg.MiniProgram.Secret != "" || ch.Channel == wechat.CloudHosting {
		c, err := miniapp.New(cfg.MiniProgram, f.Store, o.hc, o.now)
		if err != nil {
			return nil, fmt.Errorf("shipping: %w", err)
		}
		mp = c
	}
	if mp == nil && cfg.Shipping.AutoVirtual {
		return nil, fmt.Errorf("shipping configuration: SHIPPING_AUTO_VIRTUAL needs MINIPROGRAM_APPID and MINIPROGRAM_SECRET off Cloud Hosting")
	}
	return shipping.New(f.Store, mp, mchID, cfg.Shipping, o.log, o.now), nil
}
