package wechatpay

import (
	"context"
	"net"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/h5"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/native"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// H5 scene types for PrepayH5 (scene_info.h5_info.type; docs/native-h5.md §4).
const (
	H5TypeIOS     = wechat.H5TypeIOS
	H5TypeAndroid = wechat.H5TypeAndroid
	H5TypeWap     = wechat.H5TypeWap
)

// PrepayNative creates WeChat's side of the order as a Native (QR code)
// payment and returns its code_url (weixin://wxpay/bizpayurl?pr=…), to be
// shown as a QR code. The amount is the stored order's. Asked again with the
// same order, WeChat answers the order's current code_url; an out_trade_no
// already used for another trade type, or closed, is refused (a
// *wechat.Error with OUT_TRADE_NO_USED, ORDER_CLOSED or INVALID_REQUEST).
// req.ClientIP, when set, is sent as scene_info.payer_client_ip.
func (c *Client) PrepayNative(ctx context.Context, req wechat.PrepayRequest) (string, error) {
	o := req.Order
	body := native.PrepayRequest{
		Appid: core.String(c.appID), Mchid: core.String(c.mchID),
		Description: core.String(o.Description), OutTradeNo: core.String(o.OutTradeNo),
		NotifyUrl: core.String(c.notifyURL),
		Amount:    &native.Amount{Total: core.Int64(int64(o.AmountFen)), Currency: core.String("CNY")},
	}
	if !o.ExpiresAt.IsZero() {
		body.TimeExpire = core.Time(o.ExpiresAt.In(cloudpay.Beijing))
	}
	if o.Attach != "" {
		body.Attach = core.String(o.Attach)
	}
	if req.ClientIP != "" {
		if net.ParseIP(req.ClientIP) == nil {
			return "", cloudpay.FieldError("client_ip", "client_ip %q is not an IP address", req.ClientIP)
		}
		body.SceneInfo = &native.SceneInfo{PayerClientIp: core.String(req.ClientIP)}
	}
	ctx, cancel := c.begin(ctx)
	defer cancel()
	resp, result, err := (&native.NativeApiService{Client: c.core}).Prepay(ctx, body)
	if err != nil {
		return "", c.fail(ctx, "native prepay "+o.OutTradeNo, result, err)
	}
	if resp.CodeUrl == nil || *resp.CodeUrl == "" {
		return "", cloudpay.Errorf(cloudpay.CodeWeChatError, "native prepay %s: WeChat returned no code_url", o.OutTradeNo)
	}
	return *resp.CodeUrl, nil
}

// PrepayH5 creates WeChat's side of the order as an H5 payment (a mobile
// browser outside WeChat) and returns its h5_url, valid for 5 minutes (ask
// again with the same order for a fresh one). WeChat requires the payer's
// real IP (req.ClientIP, scene_info.payer_client_ip) and the scene type
// (h5Type: H5TypeIOS, H5TypeAndroid or H5TypeWap). The amount is the stored
// order's. Errors are those of PrepayNative.
func (c *Client) PrepayH5(ctx context.Context, req wechat.PrepayRequest, h5Type string) (string, error) {
	o := req.Order
	if net.ParseIP(req.ClientIP) == nil {
		return "", cloudpay.FieldError("client_ip", "H5 payments need the payer's IP address, not %q", req.ClientIP)
	}
	switch h5Type {
	case H5TypeIOS, H5TypeAndroid, H5TypeWap:
	default:
		return "", cloudpay.FieldError("h5_type", "h5_type %q is not iOS, Android or Wap", h5Type)
	}
	body := h5.PrepayRequest{
		Appid: core.String(c.appID), Mchid: core.String(c.mchID),
		Description: core.String(o.Description), OutTradeNo: core.String(o.OutTradeNo),
		NotifyUrl: core.String(c.notifyURL),
		Amount:    &h5.Amount{Total: core.Int64(int64(o.AmountFen)), Currency: core.String("CNY")},
		SceneInfo: &h5.SceneInfo{
			PayerClientIp: core.String(req.ClientIP),
			H5Info:        &h5.H5Info{Type: core.String(h5Type)},
		},
	}
	if !o.ExpiresAt.IsZero() {
		body.TimeExpire = core.Time(o.ExpiresAt.In(cloudpay.Beijing))
	}
	if o.Attach != "" {
		body.Attach = core.String(o.Attach)
	}
	ctx, cancel := c.begin(ctx)
	defer cancel()
	resp, result, err := (&h5.H5ApiService{Client: c.core}).Prepay(ctx, body)
	if err != nil {
		return "", c.fail(ctx, "h5 prepay "+o.OutTradeNo, result, err)
	}
	if resp.H5Url == nil || *resp.H5Url == "" {
		return "", cloudpay.Errorf(cloudpay.CodeWeChatError, "h5 prepay %s: WeChat returned no h5_url", o.OutTradeNo)
	}
	return *resp.H5Url, nil
}
