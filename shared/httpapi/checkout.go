package httpapi

import (
	"bytes"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cloudpay/cloudpay/shared/checkout"
	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/payment"
)

// Checkout is create-payment's hosted checkout page: the signer of its
// links (nil: no page) and how long a link in a pay answer lasts.
type Checkout struct {
	Signer  *checkout.Signer
	LinkTTL time.Duration
}

// registerCheckout adds the hosted checkout page to create-payment: the
// page, the status route it polls, and its script and style. The page and
// its status take only a signed, unexpired link, checked before the order
// is looked up: a bad link and a good link to no order answer the same
// 404, so order numbers cannot be probed.
func registerCheckout(r gin.IRoutes, svc *payment.Service, signer *checkout.Signer, log *slog.Logger) {
	h := checkoutHandlers{svc: svc, signer: signer, log: orDiscard(log), now: time.Now, methods: offered(svc),
		asks: &wechatAsks{every: askWeChatEvery, last: map[string]time.Time{}}}
	r.GET("/checkout/:out_trade_no", h.page)
	r.GET("/checkout/:out_trade_no/status", h.status)
	r.GET(checkout.AssetsPath+":file", gin.WrapH(checkout.Assets()))
}

// checkoutLinker makes the links the pay answer carries (checkout_url: a
// path on create-payment), each valid for ttl from when it is made; nil
// without a signer, for no checkout page.
func checkoutLinker(signer *checkout.Signer, ttl time.Duration) func(outTradeNo string) string {
	if signer == nil {
		return nil
	}
	return func(outTradeNo string) string { return signer.Link(outTradeNo, time.Now().Add(ttl)) }
}

type checkoutHandlers struct {
	svc    *payment.Service
	signer *checkout.Signer
	log    *slog.Logger
	now    func() time.Time
	asks   *wechatAsks
	// methods are the page's ways to pay that this deployment takes:
	// WeChat's Native QR code on API v3, Alipay's when it is configured.
	methods []cloudpay.PayMethod
}

// offered are the page's ways to pay that svc takes.
func offered(svc *payment.Service) []cloudpay.PayMethod {
	var out []cloudpay.PayMethod
	for _, m := range checkout.Methods() {
		if svc.Offers(m) {
			out = append(out, m)
		}
	}
	return out
}

// askWeChatEvery spaces the status route's questions to WeChat about one
// order. The page polls every 2 s, and each open page would otherwise be a
// query to WeChat every 2 s; between questions the store answers, and the
// payment callback keeps it current. A lost callback costs at most this
// much delay.
const askWeChatEvery = 10 * time.Second

// wechatAsks remembers when this instance last asked WeChat about an order.
type wechatAsks struct {
	every time.Duration
	mu    sync.Mutex
	last  map[string]time.Time
}

// due reports whether it is time to ask WeChat about the order, and if so
// counts it as asked. The map is swept of stale entries as it grows, so it
// holds about the orders polled in the last interval.
func (a *wechatAsks) due(no string, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if t, ok := a.last[no]; ok && now.Sub(t) < a.every && !now.Before(t) {
		return false
	}
	if len(a.last) >= 4096 {
		for k, t := range a.last {
			if now.Sub(t) >= a.every {
				delete(a.last, k)
			}
		}
	}
	a.last[no] = now
	return true
}

// linkRefused is the one answer to a link that is not good for an order.
const linkRefused = "no such checkout link, or it has expired"

// page shows the order: the QR code of the method the payer picked while
// it can be paid (asked for again on every load: the same live code comes
// back), else how it ended. Only a load asks for a payment, and a load
// keeps its ?method=, so an open page never switches the order's live
// payment by itself; the status it polls is the order's, paid by whichever
// method.
func (h checkoutHandlers) page(c *gin.Context) {
	checkoutHeaders(c)
	no, err := h.verify(c)
	if err != nil {
		h.refuse(c, err)
		return
	}
	q := c.Request.URL.Query()
	query := checkout.Query(q.Get("exp"), q.Get("sig"))
	method := h.method(c, no, q.Get("method"))
	p, err := h.svc.Pay(c, no, payment.PayRequest{Method: method})
	switch cloudpay.ErrorCode(err) {
	case "":
		h.render(c, http.StatusOK, h.pending(p, query))
	case cloudpay.CodeOrderPaid, cloudpay.CodeOrderClosed, cloudpay.CodeOrderExpired:
		o, err := h.svc.Status(c, no)
		if err != nil {
			h.unavailable(c, err, method, query)
			return
		}
		h.render(c, http.StatusOK, h.ended(o))
	case cloudpay.CodeOrderNotFound:
		h.refuse(c, err)
	default:
		h.unavailable(c, err, method, query)
	}
}

// method is the way to pay the page shows: the one picked (?method=) if
// the page offers it; else the one the order is being paid by, if the page
// offers it (a reload, or a link handed out after asking for it, keeps the
// live QR code); else the first offered. Without any: Native, which fails
// as before there was a choice.
func (h checkoutHandlers) method(c *gin.Context, no, picked string) cloudpay.PayMethod {
	if m := checkout.MethodParam(picked); slices.Contains(h.methods, m) {
		return m
	}
	if len(h.methods) == 0 {
		return cloudpay.MethodNative
	}
	if len(h.methods) > 1 {
		// An error here is Pay's to report.
		if o, err := h.svc.Order(c, no); err == nil && o.Status == cloudpay.OrderPaying && slices.Contains(h.methods, o.Method) {
			return o.Method
		}
	}
	return h.methods[0]
}

func (h checkoutHandlers) pending(p payment.Prepared, query string) checkout.Page {
	end := p.ExpiresAt
	if end.IsZero() || end.After(p.Order.ExpiresAt) {
		end = p.Order.ExpiresAt
	}
	return checkout.Page{
		State: checkout.Pending, OutTradeNo: p.Order.OutTradeNo, Description: p.Order.Description,
		AmountFen: p.Order.AmountFen, CodeURL: p.CodeURL, ExpiresAt: end, Now: h.now(), StatusQuery: query,
		Method: p.Method, Methods: h.methods,
	}
}

// ended shows an order that can no longer be paid: paid (whatever its
// refunds since), under the name of the method that paid it, or expired
// or closed.
func (h checkoutHandlers) ended(o cloudpay.Order) checkout.Page {
	page := checkout.Page{State: checkout.Expired, OutTradeNo: o.OutTradeNo, Description: o.Description,
		AmountFen: o.AmountFen, Now: h.now(), Methods: h.methods}
	if o.Status.Settled() == cloudpay.SettledPaid {
		page.State, page.Method = checkout.Paid, o.Method
	}
	return page
}

// status is what the page polls: the order as stored and, now and then,
// as WeChat or Alipay says (whichever holds its live attempts), which
// records a payment whose notification has not come. It never asks for a
// payment, so polling cannot switch the order's method.
func (h checkoutHandlers) status(c *gin.Context) {
	checkoutHeaders(c)
	no, err := h.verify(c)
	if err != nil {
		fail(c, &cloudpay.Error{Code: cloudpay.CodeNotFound, Message: linkRefused, Err: err})
		return
	}
	look := h.svc.Order
	if h.asks.due(no, h.now()) {
		look = h.svc.Status
	}
	o, err := look(c, no)
	if cloudpay.ErrorCode(err) == cloudpay.CodeOrderNotFound {
		fail(c, &cloudpay.Error{Code: cloudpay.CodeNotFound, Message: linkRefused, Err: err})
		return
	}
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, viewCheckoutStatus(o, h.now()))
}

// verify returns the order number of a good link.
func (h checkoutHandlers) verify(c *gin.Context) (string, error) {
	no := c.Param("out_trade_no")
	if !cloudpay.ValidOutTradeNo(no) {
		return "", checkout.ErrBadLink
	}
	q := c.Request.URL.Query()
	return no, h.signer.Verify(no, q.Get("exp"), q.Get("sig"), h.now())
}

// refuse answers a link that is no good with the page that says so, the
// same whatever the reason; the reason goes to the access log.
func (h checkoutHandlers) refuse(c *gin.Context, err error) {
	_ = c.Error(err)
	h.render(c, http.StatusNotFound, checkout.Page{State: checkout.Invalid, Methods: h.methods})
}

// unavailable answers a payment by method that cannot be prepared now
// (WeChat or Alipay failing, a channel without Native) with the error's
// status and a page that asks the payer to try again, or to pick another
// method; the cause goes to the access log.
func (h checkoutHandlers) unavailable(c *gin.Context, err error, method cloudpay.PayMethod, query string) {
	_ = c.Error(err)
	status := Status(cloudpay.ErrorCode(err))
	if status == http.StatusServiceUnavailable {
		c.Header("Retry-After", "1")
	}
	h.render(c, status, checkout.Page{State: checkout.Unavailable, Now: h.now(), Method: method, Methods: h.methods, StatusQuery: query})
}

func (h checkoutHandlers) render(c *gin.Context, status int, p checkout.Page) {
	var b bytes.Buffer
	if err := p.Render(&b); err != nil {
		h.log.ErrorContext(c, "checkout page", "request_id", c.GetString(requestIDHeader), "err", err)
		_ = c.Error(err)
		c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("500 internal error"))
		return
	}
	c.Data(status, "text/html; charset=utf-8", b.Bytes())
}

// checkoutHeaders keep the page and its status to themselves: its own
// script and style only, never framed, cached or sent on as a referrer
// (the link's signature is in the URL).
func checkoutHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", checkout.CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
}

// checkoutStatusView is the checkout page's poll answer: enough to turn
// the page, nothing about the payer.
type checkoutStatusView struct {
	Status    cloudpay.OrderStatus `json:"status"`
	Paid      bool                 `json:"paid"`
	Expired   bool                 `json:"expired"`
	ExpiresAt time.Time            `json:"expires_at"`
	AmountFen int64                `json:"amount_fen"`
}

// viewCheckoutStatus: a paid order is paid whatever its refunds since; an
// unpaid one is expired once closed or past its expiry.
func viewCheckoutStatus(o cloudpay.Order, now time.Time) checkoutStatusView {
	paid := o.Status.Settled() == cloudpay.SettledPaid
	return checkoutStatusView{
		Status: o.Status, Paid: paid, Expired: !paid && (o.Status == cloudpay.OrderClosed || o.Expired(now)),
		ExpiresAt: o.ExpiresAt, AmountFen: int64(o.AmountFen),
	}
}
