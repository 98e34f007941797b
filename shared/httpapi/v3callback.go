package httpapi

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechatpay"
)

// Notifications verifies and decrypts API v3 notifications.
type Notifications interface {
	ParseNotification(r *http.Request) (wechatpay.Notification, error)
}

// v3 records a signed notification. WeChat judges the reply by its HTTP
// status: 204 stops redelivery, 4xx/5xx asks for it.
func (h callbackHandlers) v3(c *gin.Context) {
	if h.cb.V3 == nil {
		c.JSON(http.StatusNotFound, v3Reply{Code: "FAIL", Message: "the API v3 channel is not configured"})
		return
	}
	n, err := h.cb.V3.ParseNotification(c.Request)
	if err != nil {
		_ = c.Error(err)
		// The one table decides: 401 for a bad signature, 400 for a body
		// that cannot be read, 500 for anything else.
		code := cloudpay.ErrorCode(err)
		c.JSON(Status(code), v3Reply{Code: "FAIL", Message: "notification refused: " + string(code)})
		return
	}
	var v string
	var ack bool
	switch {
	case strings.HasPrefix(n.EventType, "TRANSACTION.") && n.Transaction != nil:
		pv, e := h.cb.Payments.Record(c, *n.Transaction)
		v, ack, err = string(pv), pv.Acknowledge(), e
	case strings.HasPrefix(n.EventType, "REFUND.") && n.Refund != nil && h.cb.Refunds != nil:
		rv, e := h.cb.Refunds.Record(c, *n.Refund)
		v, ack, err = string(rv), rv.Acknowledge(), e
	case strings.HasPrefix(n.EventType, "MCHTRANSFER.BILL.") && n.Transfer != nil && h.cb.Withdrawals != nil:
		wv, e := h.cb.Withdrawals.Record(c, *n.Transfer)
		v, ack, err = string(wv), wv.Acknowledge(), e
	default:
		// Not something cloudpay acts on: acknowledged, so WeChat stops.
		v, ack = "ignored", true
	}
	if err != nil {
		h.log.ErrorContext(c, "v3 notification not recorded; WeChat will retry", "request_id", c.GetString(requestIDHeader),
			"event_type", n.EventType, "notification_id", n.ID, "err", err)
		c.JSON(http.StatusInternalServerError, v3Reply{Code: "FAIL", Message: "temporarily unable to record; retry"})
		return
	}
	c.Header(verdictHeader, v)
	if !ack {
		c.JSON(http.StatusInternalServerError, v3Reply{Code: "FAIL", Message: v})
		return
	}
	c.Status(http.StatusNoContent)
}
