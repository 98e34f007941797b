package httpapi

import (
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/cloudpay/cloudpay/shared/cloudhosting"
	"github.com/cloudpay/cloudpay/shared/payment"
)

// PaymentCallback is the payment-callback function's handler: what WeChat
// Pay calls back. Cloud Hosting callbacks are unsigned hints.
func PaymentCallback(svc *payment.Service, log *slog.Logger) http.Handler {
	log = orDiscard(log)
	r := newEngine("payment-callback", log)
	h := callbackHandlers{svc: svc, log: log}
	r.POST("/callbacks/pay", h.pay)
	return r
}

type callbackHandlers struct {
	svc *payment.Service
	log *slog.Logger
}

// cloudHostingReply is what Cloud Hosting expects: errcode 0 stops retries,
// anything else makes WeChat deliver the callback again later.
type cloudHostingReply struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// pay acknowledges only once the outcome is stored (or proven irrelevant).
func (h callbackHandlers) pay(c *gin.Context) {
	raw, err := readBody(c.Writer, c.Request)
	if err != nil {
		_ = c.Error(err)
		c.JSON(http.StatusBadRequest, cloudHostingReply{ErrCode: 1, ErrMsg: "unreadable body"})
		return
	}
	hint, err := cloudhosting.ParsePayCallback(raw)
	if err != nil {
		_ = c.Error(err)
		c.JSON(http.StatusBadRequest, cloudHostingReply{ErrCode: 1, ErrMsg: "malformed callback"})
		return
	}
	verdict, err := h.svc.ConfirmPayment(c, hint)
	if err != nil {
		// Nothing decided: WeChat must come back. 200 with a non-zero errcode
		// is the protocol's way to ask for that.
		h.log.ErrorContext(c, "pay callback not recorded; WeChat will retry", "request_id", c.GetString(requestIDHeader),
			"out_trade_no", hint.OutTradeNo, "err", err)
		c.JSON(http.StatusOK, cloudHostingReply{ErrCode: 1, ErrMsg: "temporarily unable to record; retry"})
		return
	}
	// WeChat reads the body; the header tells people (and tests) what became
	// of this copy of the callback, e.g. which of many copies recorded it.
	c.Header(verdictHeader, string(verdict))
	if !verdict.Acknowledge() {
		c.JSON(http.StatusOK, cloudHostingReply{ErrCode: 1, ErrMsg: string(verdict)})
		return
	}
	c.JSON(http.StatusOK, cloudHostingReply{ErrCode: 0, ErrMsg: "ok"})
}

// verdictHeader carries payment.Verdict on callback replies.
const verdictHeader = "X-Cloudpay-Verdict"
