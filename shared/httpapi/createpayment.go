package httpapi

import (
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/shipping"
)

// CreatePayment is the create-payment function's handler: orders from the
// merchant's back end (bearer) and payments for the mini-program (openid).
func CreatePayment(svc *payment.Service, ship *shipping.Service, admin AdminConfig, users UserConfig, co Checkout, log *slog.Logger) http.Handler {
	log = orDiscard(log)
	r := newEngine("create-payment", log)
	h := createPaymentHandlers{svc: svc, checkoutLink: checkoutLinker(co.Signer, co.LinkTTL)}
	g := newGuard("create-payment", admin)
	r.POST("/orders", append(g.act(backEnd...), h.createOrder)...)
	r.POST("/orders/adopt", append(g.act(movers...), h.adoptOrder)...)
	r.GET("/orders/:out_trade_no", g.read(), h.getOrder)
	r.POST("/orders/:out_trade_no/pay", append(g.act(backEnd...), h.pay)...)
	r.GET("/orders/:out_trade_no/payment", g.read(), h.orderStatus)
	r.POST("/payments", openID(users), h.createPayment)
	r.GET("/payments/:out_trade_no", openID(users), h.paymentStatus)
	if co.Signer != nil {
		registerCheckout(r, svc, co.Signer, log)
	}
	if ship != nil {
		registerShipping(r, ship, g)
	}
	return r
}

type createPaymentHandlers struct {
	svc *payment.Service
	// checkoutLink signs the hosted checkout page's link to an order (nil:
	// no checkout page).
	checkoutLink func(outTradeNo string) string
}

type createOrderRequest struct {
	OutTradeNo    string `json:"out_trade_no"`
	OpenID        string `json:"openid"`
	AmountFen     int64  `json:"amount_fen"`
	Description   string `json:"description"`
	Attach        string `json:"attach"`
	ExpireMinutes int    `json:"expire_minutes"`
}

func (h createPaymentHandlers) createOrder(c *gin.Context) {
	var req createOrderRequest
	if !bind(c, &req) {
		return
	}
	o, created, err := h.svc.CreateOrder(c, payment.NewOrder{
		OutTradeNo: req.OutTradeNo, OpenID: req.OpenID, AmountFen: cloudpay.Fen(req.AmountFen),
		Description: req.Description, Attach: req.Attach, ExpireMinutes: req.ExpireMinutes,
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(orExisting(created, http.StatusCreated), viewOrder(o))
}

type adoptOrderRequest struct {
	TransactionID string `json:"transaction_id"`
	OutTradeNo    string `json:"out_trade_no"`
}

// adoptOrder records a payment made outside cloudpay, from WeChat's answer.
func (h createPaymentHandlers) adoptOrder(c *gin.Context) {
	var req adoptOrderRequest
	if !bind(c, &req) {
		return
	}
	o, created, err := h.svc.Adopt(c, payment.Outside{TransactionID: req.TransactionID, OutTradeNo: req.OutTradeNo})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(orExisting(created, http.StatusCreated), viewOrder(o))
}

func (h createPaymentHandlers) getOrder(c *gin.Context) {
	o, err := h.svc.Order(c, c.Param("out_trade_no"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, viewOrder(o))
}

type createPaymentRequest struct {
	OutTradeNo string             `json:"out_trade_no"`
	Method     cloudpay.PayMethod `json:"method"` // jsapi (the default) or balance
}

type payRequest struct {
	Method    cloudpay.PayMethod `json:"method"`
	ClientIP  string             `json:"client_ip"`
	H5Type    string             `json:"h5_type"`
	ReturnURL string             `json:"return_url"`
}

// pay prepares a Native or H5 payment of an order for the merchant's web
// page: a QR code's content or a URL, and for Native the hosted checkout
// page's signed link.
func (h createPaymentHandlers) pay(c *gin.Context) {
	var req payRequest
	if !bind(c, &req) {
		return
	}
	if req.Method == "" {
		fail(c, cloudpay.FieldError("method", "method is required: native, h5, alipay_qr or alipay_wap"))
		return
	}
	p, err := h.svc.Pay(c, c.Param("out_trade_no"), payment.PayRequest{Method: req.Method, ClientIP: req.ClientIP, H5Type: req.H5Type, ReturnURL: req.ReturnURL})
	if err != nil {
		fail(c, err)
		return
	}
	v := viewPrepared(p)
	if p.Method == cloudpay.MethodNative && h.checkoutLink != nil {
		v.CheckoutURL = h.checkoutLink(p.Order.OutTradeNo)
	}
	c.JSON(http.StatusOK, v)
}

// orderStatus is GET /payments/{out_trade_no} for the merchant's back end:
// an order awaiting payment is checked at WeChat once.
func (h createPaymentHandlers) orderStatus(c *gin.Context) {
	o, err := h.svc.Status(c, c.Param("out_trade_no"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, viewOrder(o))
}

func (h createPaymentHandlers) createPayment(c *gin.Context) {
	var req createPaymentRequest
	if !bind(c, &req) {
		return
	}
	if req.OutTradeNo == "" {
		fail(c, cloudpay.FieldError("out_trade_no", "out_trade_no is required"))
		return
	}
	switch req.Method {
	case "", cloudpay.MethodJSAPI:
	case cloudpay.MethodBalance:
		o, err := h.svc.PayFromBalance(c, c.GetString(openIDKey), req.OutTradeNo)
		if err != nil {
			fail(c, err)
			return
		}
		c.JSON(http.StatusOK, viewBalancePayment(o))
		return
	case cloudpay.MethodNative, cloudpay.MethodH5, cloudpay.MethodAlipayQR, cloudpay.MethodAlipayWap:
		fail(c, cloudpay.FieldError("method", "%s payments are asked for by the merchant's back end: POST /orders/{out_trade_no}/pay", req.Method))
		return
	default:
		fail(c, cloudpay.FieldError("method", "method must be jsapi or balance"))
		return
	}
	p, err := h.svc.CreatePayment(c, c.GetString(openIDKey), req.OutTradeNo, clientIP(c), c.GetHeader("X-WX-ENV"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, viewPayment(p))
}

func (h createPaymentHandlers) paymentStatus(c *gin.Context) {
	o, err := h.svc.PaymentStatus(c, c.GetString(openIDKey), c.Param("out_trade_no"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, viewOrder(o))
}
