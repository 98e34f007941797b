package alipay

import (
	"context"
	"net/url"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// Notification is a verified trade notification (异步通知,
// https://opendocs.alipay.com/open/203/105286), for this application and
// merchant.
type Notification struct {
	NotifyID, OutTradeNo, TradeNo, AppID, SellerID string
	Status                                         TradeStatus
	TotalFen                                       cloudpay.Fen
	BuyerID                                        string    // buyer_id (2088…), or buyer_open_id
	PaidAt                                         time.Time // gmt_payment, UTC; zero when absent
}

// notifyType is the only notification the trade APIs send.
const notifyType = "trade_status_sync"

// ParseNotification verifies a notification's form — parse it from the raw
// body (application/x-www-form-urlencoded) — and reads it. Alipay signs
// the form RSA2 over its parameters sorted by name, without sign and
// sign_type (异步通知验签, https://opendocs.alipay.com/open/203/105286); the
// SDK checks that with the configured key. Alipay signs every merchant's
// notifications with the same key, so Alipay's own checks follow
// (验证 app_id 是否为该商家本身, 校验通知中的 seller_id): a notification must
// name this application and this merchant.
//
// Every failure is a *cloudpay.Error and an empty Notification, so nothing
// unverified is ever read:
//   - not signed by Alipay — forged, tampered, unsigned, another signature
//     type, a parameter given twice: CodeBadSignature;
//   - signed, but for another application or merchant: CodeOtherMerchant;
//   - signed and ours, but not a trade notification this code can read (a
//     status or amount it does not know): CodeInvalidField, naming it.
//
// Only the trade's facts are returned; matching them against the order
// (out_trade_no, total_amount) is the caller's.
func (c *Client) ParseNotification(form url.Values) (Notification, error) {
	bad := func(format string, args ...any) (Notification, error) {
		return Notification{}, cloudpay.Errorf(cloudpay.CodeBadSignature, format, args...)
	}
	if form.Get("sign") == "" {
		return bad("the notification is not signed")
	}
	if t := form.Get("sign_type"); t != "RSA2" {
		return bad("the notification is signed %q, not RSA2", t)
	}
	values := url.Values{}
	for k, vs := range form {
		if len(vs) != 1 {
			return bad("the notification carries %s %d times", k, len(vs))
		}
		// The configured key verifies, never one the form names: in the
		// certificate mode the SDK would otherwise go and download the
		// certificate of any serial number a stranger writes.
		if k != "alipay_cert_sn" {
			values[k] = vs
		}
	}
	n, err := c.sdk.DecodeNotification(context.Background(), values)
	if err != nil || n == nil {
		return Notification{}, &cloudpay.Error{Code: cloudpay.CodeBadSignature,
			Message: "the notification failed signature verification", Err: err}
	}
	if n.AppId != c.appID || n.SellerId != c.sellerID {
		return Notification{}, cloudpay.Errorf(cloudpay.CodeOtherMerchant,
			"the notification is for application %s of merchant %s, not %s of %s", n.AppId, n.SellerId, c.appID, c.sellerID)
	}
	invalid := func(field, format string, args ...any) (Notification, error) {
		return Notification{}, cloudpay.FieldError(field, format, args...)
	}
	if n.NotifyType != notifyType {
		return invalid("notify_type", "notify_type %q is not %s", n.NotifyType, notifyType)
	}
	out := Notification{
		NotifyID: n.NotifyId, OutTradeNo: n.OutTradeNo, TradeNo: n.TradeNo, AppID: n.AppId, SellerID: n.SellerId,
		Status: TradeStatus(n.TradeStatus), BuyerID: firstOf(n.BuyerId, n.BuyerOpenId),
	}
	switch {
	case out.NotifyID == "":
		return invalid("notify_id", "notify_id is missing")
	case out.OutTradeNo == "":
		return invalid("out_trade_no", "out_trade_no is missing")
	case !knownStatus(out.Status):
		return invalid("trade_status", "trade_status %q is unknown", n.TradeStatus)
	}
	if out.TotalFen, err = FenFromYuan(n.TotalAmount); err != nil {
		return invalid("total_amount", "total_amount: %v", err)
	}
	if n.GmtPayment != "" {
		if out.PaidAt, err = beijing(n.GmtPayment); err != nil {
			return invalid("gmt_payment", "gmt_payment: %v", err)
		}
	}
	return out, nil
}
