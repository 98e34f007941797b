package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/cloudpay/cloudpay/shared/cloudhosting"
	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/withdraw"
)

// Callbacks is what the payment-callback function records results with.
type Callbacks struct {
	Payments *payment.Service
	Refunds  *refund.Service
	// Withdrawals records transfer results; nil without v3 credentials.
	Withdrawals *withdraw.Service
	// V3 verifies API v3 notifications; nil when the v3 channel is not
	// configured (then /callbacks/v3 answers 404).
	V3 Notifications
	// Alipay verifies Alipay's notifications; nil when Alipay is not
	// configured (then /callbacks/alipay answers 404).
	Alipay AlipayNotifications
}

// AlipayNotifications verifies an Alipay notification's form (signature,
// app and seller) and reads it as a transaction (shared/alipay.Gateway).
type AlipayNotifications interface {
	ParseNotification(form url.Values) (wechat.Transaction, error)
}

// PaymentCallback is the payment-callback function's handler: what WeChat
// Pay calls back. Cloud Hosting callbacks are unsigned hints; API v3
// notifications are verified before anything is read from them.
func PaymentCallback(cb Callbacks, log *slog.Logger) http.Handler {
	log = orDiscard(log)
	r := newEngine("payment-callback", log)
	h := callbackHandlers{cb: cb, log: log}
	r.POST("/callbacks/pay", h.pay)
	r.POST("/callbacks/refund", h.refund)
	r.POST("/callbacks/v3", h.v3)
	r.POST("/callbacks/alipay", h.alipay)
	return r
}

type callbackHandlers struct {
	cb  Callbacks
	log *slog.Logger
}

// verdict is what came of one callback: wechat.Verdict or wechat.Verdict.
type verdict interface {
	~string
	Acknowledge() bool
}

// cloudHosting runs a Cloud Hosting callback: parse the hint, confirm and
// record it, and acknowledge only once the outcome is stored (or proven
// irrelevant).
func cloudHosting[H any, V verdict](c *gin.Context, log *slog.Logger, kind string, parse func([]byte) (H, error), confirm func(context.Context, H) (V, error)) {
	raw, err := readBody(c.Writer, c.Request)
	if err != nil {
		_ = c.Error(err)
		c.JSON(http.StatusBadRequest, cloudHostingReply{ErrCode: 1, ErrMsg: "unreadable body"})
		return
	}
	hint, err := parse(raw)
	if err != nil {
		_ = c.Error(err)
		c.JSON(http.StatusBadRequest, cloudHostingReply{ErrCode: 1, ErrMsg: "malformed callback"})
		return
	}
	v, err := confirm(c, hint)
	if err != nil {
		// Nothing decided: WeChat must come back. 200 with a non-zero errcode
		// is the protocol's way to ask for that.
		log.ErrorContext(c, kind+" callback not recorded; WeChat will retry", "request_id", c.GetString(requestIDHeader), "err", err)
		c.JSON(http.StatusOK, cloudHostingReply{ErrCode: 1, ErrMsg: "temporarily unable to record; retry"})
		return
	}
	// WeChat reads the body; the header tells people (and tests) what became
	// of this copy of the callback, e.g. which of many copies recorded it.
	c.Header(verdictHeader, string(v))
	if !v.Acknowledge() {
		c.JSON(http.StatusOK, cloudHostingReply{ErrCode: 1, ErrMsg: string(v)})
		return
	}
	c.JSON(http.StatusOK, cloudHostingReply{ErrCode: 0, ErrMsg: "ok"})
}

func (h callbackHandlers) pay(c *gin.Context) {
	cloudHosting(c, h.log, "pay", cloudhosting.ParsePayCallback, h.cb.Payments.Confirm)
}

func (h callbackHandlers) refund(c *gin.Context) {
	if h.cb.Refunds == nil {
		fail(c, cloudpay.Errorf(cloudpay.CodeNotFound, "refunds are not configured"))
		return
	}
	cloudHosting(c, h.log, "refund", cloudhosting.ParseRefundCallback, h.cb.Refunds.Confirm)
}

// alipay records an Alipay notification (异步通知, form-encoded, RSA2):
// verified, checked against the order (app, seller, out_trade_no, amount),
// recorded once, and answered with the exact body "success" only once the
// outcome is stored; anything else is "fail", and Alipay sends it again
// (https://opendocs.alipay.com/open/203/105286: "程序执行完后必须打印输出
// “success”…如果商户反馈给支付宝的字符不是 success 这7个字符，支付宝服务器会不断重发通知").
func (h callbackHandlers) alipay(c *gin.Context) {
	if h.cb.Alipay == nil {
		fail(c, cloudpay.Errorf(cloudpay.CodeNotFound, "Alipay is not configured"))
		return
	}
	reply := func(v, body string) {
		if v != "" {
			c.Header(verdictHeader, v)
		}
		c.String(http.StatusOK, body)
	}
	raw, err := readBody(c.Writer, c.Request)
	if err != nil {
		_ = c.Error(err)
		reply("", "fail")
		return
	}
	form, err := url.ParseQuery(string(raw))
	if err != nil {
		_ = c.Error(cloudpay.Errorf(cloudpay.CodeBadSignature, "the notification is not a form"))
		reply("", "fail")
		return
	}
	tx, err := h.cb.Alipay.ParseNotification(form)
	if err != nil {
		// Unverifiable or not ours: nothing is read from it.
		h.log.WarnContext(c, "Alipay notification refused", "request_id", c.GetString(requestIDHeader), "err", err)
		reply("", "fail")
		return
	}
	v, err := h.cb.Payments.Record(c, tx)
	if err != nil {
		h.log.ErrorContext(c, "Alipay notification not recorded; Alipay will retry", "request_id", c.GetString(requestIDHeader), "err", err)
		reply("", "fail")
		return
	}
	switch v {
	case wechat.Recorded, wechat.AlreadyRecorded, wechat.NotPaid:
		// Stored, or Alipay's own word that there is nothing to record
		// (a trade waiting for payment, or closed unpaid).
		reply(string(v), "success")
	default:
		// Another order's number, amount or merchant: mismatching, changes nothing.
		reply(string(v), "fail")
	}
}

// verdictHeader carries the callback's verdict on replies.
const verdictHeader = "X-Cloudpay-Verdict"
