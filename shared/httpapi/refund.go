package httpapi

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/operator"
	"github.com/cloudpay/cloudpay/shared/recon"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/shipping"
)

// Console is the operator's console the refund function serves: its read
// views, dead letters and the page itself. Zero fields leave their routes out.
type Console struct {
	Views    *operator.Service
	Dead     DeadLetters
	Recon    *recon.Service    // 对账: daily reconciliation reports
	Shipping *shipping.Service // 发货: shipping entered from the order page
	Page     http.Handler      // the single-page app, served at /admin/
	Audit    AuditReader       // 操作日志: the audit log
}

// Refund is the refund function's handler: refunds, batches and reviews
// for the merchant's back end (bearer), refund requests for users (openid),
// and the operator's console.
func Refund(svc *refund.Service, console Console, admin AdminConfig, users UserConfig, log *slog.Logger) http.Handler {
	log = orDiscard(log)
	r := newEngine("refund", log)
	h := refundHandlers{svc: svc}
	g := newGuard("refund", admin)
	mountConsole(r, console, g)
	r.POST("/refunds", append(g.act(movers...), h.create)...)
	r.GET("/refunds", g.read(), h.list)
	r.POST("/refunds/batch", append(g.act(movers...), h.createBatch)...)
	r.GET("/refunds/batches/:batch_id", g.read(), h.batch)
	r.GET("/refunds/:out_refund_no", g.read(), h.detail)
	r.POST("/refunds/:out_refund_no/retry", append(g.act(deciders...), h.retry)...)
	r.POST("/refunds/:out_refund_no/approve", append(g.act(deciders...), h.approve)...)
	r.POST("/refunds/:out_refund_no/reject", append(g.act(deciders...), h.reject)...)
	r.POST("/refund-requests", openID(users), h.request)
	return r
}

type refundHandlers struct {
	svc *refund.Service
}

type createRefundRequest struct {
	OutTradeNo     string `json:"out_trade_no"`
	TransactionID  string `json:"transaction_id"` // instead of out_trade_no: a payment made outside cloudpay
	AmountFen      int64  `json:"amount_fen"`
	Reason         string `json:"reason"`
	IdempotencyKey string `json:"idempotency_key"`
}

func (h refundHandlers) create(c *gin.Context) {
	var req createRefundRequest
	if !bind(c, &req) {
		return
	}
	r, created, err := h.svc.Create(c, refund.NewRefund{
		OutTradeNo: req.OutTradeNo, TransactionID: req.TransactionID, AmountFen: cloudpay.Fen(req.AmountFen),
		Reason: req.Reason, IdempotencyKey: req.IdempotencyKey, CreatedBy: caller(c).Name,
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(orExisting(created, http.StatusAccepted), viewRefund(r))
}

type batchRequest struct {
	IdempotencyKey string             `json:"idempotency_key"`
	Label          string             `json:"label"`
	Items          []batchItemRequest `json:"items"`
}

type batchItemRequest struct {
	OutTradeNo    string            `json:"out_trade_no"`
	TransactionID string            `json:"transaction_id"`
	AmountFen     int64             `json:"amount_fen"`
	Reason        string            `json:"reason"`
	Key           string            `json:"key"`
	Extra         map[string]string `json:"extra"` // the caller's own columns, kept and shown
}

// maxBatchBody fits 1000 items with long reasons; other routes keep 64 KiB.
const maxBatchBody = 512 << 10

func (h refundHandlers) createBatch(c *gin.Context) {
	var req batchRequest
	if !bindLimit(c, &req, maxBatchBody) {
		return
	}
	items := make([]refund.BatchItem, len(req.Items))
	for i, it := range req.Items {
		items[i] = refund.BatchItem{OutTradeNo: it.OutTradeNo, TransactionID: it.TransactionID, Extra: it.Extra,
			AmountFen: cloudpay.Fen(it.AmountFen), Reason: it.Reason, Key: it.Key}
	}
	id, created, err := h.svc.CreateBatch(c, refund.NewBatch{IdempotencyKey: req.IdempotencyKey, Label: req.Label, Items: items, CreatedBy: caller(c).Name})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(orExisting(created, http.StatusAccepted), batchCreatedView{BatchID: id, Created: created})
}

func (h refundHandlers) batch(c *gin.Context) {
	p, err := h.svc.BatchProgress(c, c.Param("batch_id"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, viewBatchProgress(p))
}

var listParams = []string{"out_trade_no", "status", "openid", "batch_id", "label", "cursor", "limit"}

func (h refundHandlers) list(c *gin.Context) {
	q, ok := query(c, listParams)
	if !ok {
		return
	}
	page, err := h.svc.List(c, refund.Filter{
		OutTradeNo: q.Get("out_trade_no"), Status: cloudpay.RefundStatus(q.Get("status")), OpenID: q.Get("openid"),
		BatchID: q.Get("batch_id"), Label: q.Get("label"),
	}, q.Get("cursor"), intParam(c, q.Get("limit")))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, viewRefundPage(page))
}

func (h refundHandlers) detail(c *gin.Context) {
	r, live, err := h.svc.Detail(c, c.Param("out_refund_no"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, viewRefundDetail(r, live))
}

func (h refundHandlers) retry(c *gin.Context) {
	var none struct{}
	if !bindOptional(c, &none) {
		return
	}
	r, err := h.svc.Retry(c, c.Param("out_refund_no"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, viewRefund(r))
}

type reviewRequest struct {
	Note string `json:"note"`
}

func (h refundHandlers) approve(c *gin.Context) { h.review(c, h.svc.ApproveAs) }
func (h refundHandlers) reject(c *gin.Context)  { h.review(c, h.svc.RejectAs) }

func (h refundHandlers) review(c *gin.Context, decide func(ctx context.Context, no, note, by string) (cloudpay.Refund, error)) {
	var req reviewRequest
	if !bindOptional(c, &req) {
		return
	}
	r, err := decide(c, c.Param("out_refund_no"), req.Note, caller(c).Name)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, viewRefund(r))
}

type refundRequestRequest struct {
	OutTradeNo     string `json:"out_trade_no"`
	TransactionID  string `json:"transaction_id"` // instead of out_trade_no: a payment made outside cloudpay
	AmountFen      int64  `json:"amount_fen"`
	Reason         string `json:"reason"`
	IdempotencyKey string `json:"idempotency_key"` // optional
}

func (h refundHandlers) request(c *gin.Context) {
	var req refundRequestRequest
	if !bind(c, &req) {
		return
	}
	no := req.OutTradeNo
	if req.TransactionID != "" {
		var err error
		if no, err = h.svc.OrderOfPayer(c, c.GetString(openIDKey), req.OutTradeNo, req.TransactionID); err != nil {
			fail(c, err)
			return
		}
	}
	r, created, err := h.svc.Request(c, c.GetString(openIDKey), no, cloudpay.Fen(req.AmountFen), req.Reason, req.IdempotencyKey)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(orExisting(created, http.StatusCreated), viewRefund(r))
}
