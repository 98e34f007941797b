package payment

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// PayRequest is the business back end asking for a payment of an order by
// a method WeChat serves on the web (Native, H5).
type PayRequest struct {
	Method   cloudpay.PayMethod
	ClientIP string // the payer's IP: required for H5
	H5Type   string // H5 scene: iOS, Android or Wap (default Wap)
	// ReturnURL is where Alipay's mobile-web cashier sends the payer back
	// (alipay_wap; optional): a page, never proof of payment.
	ReturnURL string
}

// Prepared is a payment ready for the user: a QR code's content (Native,
// Alipay QR) or a URL to open (H5, Alipay's mobile-web cashier), usable
// until ExpiresAt.
type Prepared struct {
	Order     cloudpay.Order
	Method    cloudpay.PayMethod
	CodeURL   string
	H5URL     string
	ExpiresAt time.Time
}

// How long WeChat's payment URLs can be used (docs/native-h5.md §2, §4).
const (
	codeURLLife = 2 * time.Hour
	h5URLLife   = 5 * time.Minute
)

// channelHint says where Native and H5 can be had. WeChat documents only
// the mini-program's payment object as the Cloud Hosting open interface's
// answer (trade_type JSAPI), no code_url or h5_url:
// https://developers.weixin.qq.com/minigame/dev/wxcloudrun/src/development/pay/order/unified.html
// (docs/native-h5.md §1).
const channelHint = "Native and H5 payments need the API v3 channel: set PAY_CHANNEL=v3 with WECHATPAY_MCH_ID, WECHATPAY_APPID, " +
	"WECHATPAY_MCH_SERIAL, WECHATPAY_PRIVATE_KEY, WECHATPAY_APIV3_KEY, WECHATPAY_PUBLIC_KEY, WECHATPAY_PUBLIC_KEY_ID and WECHATPAY_NOTIFY_URL " +
	"(the Cloud Hosting open interface documents JSAPI only)"

func (r *PayRequest) validate() error {
	switch r.Method {
	case cloudpay.MethodNative, cloudpay.MethodH5, cloudpay.MethodAlipayQR, cloudpay.MethodAlipayWap:
	case cloudpay.MethodJSAPI, cloudpay.MethodBalance:
		return cloudpay.FieldError("method", "method %s is the mini-program user's: POST /payments with X-WX-OPENID", r.Method)
	default:
		return cloudpay.FieldError("method", "method must be native, h5, alipay_qr or alipay_wap")
	}
	if r.ReturnURL != "" {
		u, err := url.Parse(r.ReturnURL)
		switch {
		case r.Method != cloudpay.MethodAlipayWap:
			return cloudpay.FieldError("return_url", "return_url is for alipay_wap payments only")
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(r.ReturnURL) > 256:
			return cloudpay.FieldError("return_url", "return_url must be an absolute http(s) URL of at most 256 characters")
		}
	}
	if r.Method.Provider() == cloudpay.ProviderAlipay {
		if r.ClientIP != "" || r.H5Type != "" {
			return cloudpay.FieldError("client_ip", "client_ip and h5_type are for WeChat's h5 payments only")
		}
		return nil
	}
	if r.ClientIP != "" && net.ParseIP(r.ClientIP) == nil {
		return cloudpay.FieldError("client_ip", "client_ip %q is not an IP address", r.ClientIP)
	}
	if r.Method == cloudpay.MethodH5 {
		if r.ClientIP == "" {
			return cloudpay.FieldError("client_ip", "h5 payments need the payer's IP address (WeChat checks it)")
		}
		switch r.H5Type {
		case "":
			r.H5Type = wechat.H5TypeWap
		case wechat.H5TypeIOS, wechat.H5TypeAndroid, wechat.H5TypeWap:
		default:
			return cloudpay.FieldError("h5_type", "h5_type must be iOS, Android or Wap")
		}
	} else if r.H5Type != "" {
		return cloudpay.FieldError("h5_type", "h5_type is for h5 payments only")
	}
	return nil
}

// Pay prepares a payment of an existing unpaid order by req.Method for the
// business back end: a QR code's content (Native) or a URL (H5). The
// amount is the stored order's. The order has one live prepay: a payment
// by another method is closed at WeChat first, and asking again for the
// same method returns the live one.
func (s *Service) Pay(ctx context.Context, outTradeNo string, req PayRequest) (Prepared, error) {
	if err := req.validate(); err != nil {
		return Prepared{}, err
	}
	if !cloudpay.ValidOutTradeNo(outTradeNo) {
		return Prepared{}, cloudpay.FieldError("out_trade_no", "out_trade_no must be 6-32 characters of digits, letters and _-|*")
	}
	web, ok := s.gw.(wechat.WebPayments)
	switch {
	case req.Method.Provider() == cloudpay.ProviderAlipay:
		if s.ali == nil {
			return Prepared{}, errNoAlipay
		}
	case !ok:
		return Prepared{}, cloudpay.Errorf(cloudpay.CodeMethodNotSupported, "%s", channelHint)
	}
	o, err := s.store.Order(ctx, outTradeNo)
	if err != nil {
		return Prepared{}, err
	}
	if o, err = s.payableNow(ctx, o); err != nil {
		return Prepared{}, err
	}
	p, err := s.open(ctx, o, req)
	if err != nil {
		return Prepared{}, fmt.Errorf("pay: %w", err)
	}
	out := Prepared{Method: p.Method, ExpiresAt: p.ExpiresAt}
	wreq := wechat.PrepayRequest{Order: wechatView(o, p), ClientIP: p.ClientIP}
	life := codeURLLife
	switch p.Method {
	case cloudpay.MethodNative:
		out.CodeURL, err = web.PrepayNative(ctx, wreq)
	case cloudpay.MethodH5:
		out.H5URL, err = web.PrepayH5(ctx, wreq, p.H5Type)
		life = h5URLLife
	case cloudpay.MethodAlipayQR:
		// Valid until the attempt's time_expire, which Alipay enforces.
		out.CodeURL, err = s.ali.PrepayQR(ctx, wreq)
	case cloudpay.MethodAlipayWap:
		out.H5URL, err = s.ali.PrepayWap(ctx, wreq, req.ReturnURL)
	}
	if err != nil {
		return Prepared{}, s.prepayFailed(ctx, o, err)
	}
	if err := s.stillNewest(ctx, o, p); err != nil {
		return Prepared{}, err
	}
	if err := s.markPaying(ctx, o, "", p); err != nil {
		return Prepared{}, fmt.Errorf("pay: %w", err)
	}
	if end := s.clock().Add(life); end.Before(out.ExpiresAt) {
		out.ExpiresAt = end
	}
	o.Status, o.Method, o.TradeNo, o.PrepayID = cloudpay.OrderPaying, p.Method, attemptNo(o, p.TradeNo), ""
	out.Order = o
	return out, nil
}

// Status returns any order as WeChat and the store say it is, for the
// business back end's polling: an order awaiting payment is checked at
// WeChat once, like the mini-program's GET /payments/{out_trade_no}.
func (s *Service) Status(ctx context.Context, outTradeNo string) (cloudpay.Order, error) {
	o, err := s.Order(ctx, outTradeNo)
	if err != nil {
		return o, err
	}
	return s.synced(ctx, o), nil
}

// synced is o after asking WeChat, if it still awaits payment. A WeChat
// failure is not the caller's problem: the stored state is returned.
func (s *Service) synced(ctx context.Context, o cloudpay.Order) cloudpay.Order {
	if !o.Status.AwaitingPayment() {
		return o
	}
	after, err := s.sync(ctx, o)
	if err != nil {
		s.log.WarnContext(ctx, "payment status: WeChat query failed", "out_trade_no", o.OutTradeNo, "err", err)
		return o
	}
	return after
}
