package httpapi

import (
	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/cloudpay/cloudpay/shared/operator"
)

// mountConsole adds the console's page (no token: the page asks for one)
// and its read routes (admin token).
func mountConsole(r *gin.Engine, c Console, g guard) {
	auth := g.console()
	if c.Page != nil {
		page := gin.WrapH(http.StripPrefix("/admin", c.Page))
		// Relative, so it also works behind a prefix (/refund/admin locally).
		// A relative Location, written by hand (http.Redirect would resolve
		// it against the stripped path), so it works behind a prefix too.
		r.GET("/admin", func(ctx *gin.Context) {
			ctx.Header("Location", "admin/")
			ctx.Status(http.StatusMovedPermanently)
		})
		r.GET("/admin/", page)
		r.GET("/admin/:file", page)
	}
	r.GET("/admin/api/me", auth, consoleMe)
	if c.Views != nil {
		h := consoleHandlers{views: c.Views}
		r.GET("/admin/api/orders", auth, h.orders)
		r.GET("/admin/api/orders/:out_trade_no", auth, h.order)
		r.GET("/admin/api/withdrawals", auth, h.withdrawals)
	}
	if c.Recon != nil {
		h := reconHandlers{svc: c.Recon}
		r.GET("/admin/api/reconciliations", auth, h.list)
		r.GET("/admin/api/reconciliations/:date", auth, h.get)
		r.POST("/admin/api/reconciliations/:date", append(g.act(cloudpay.RoleOperator, cloudpay.RoleApprover), h.run)...)
	}
	if c.Shipping != nil {
		mountConsoleShipping(r, c.Shipping, g)
	}
	if c.Audit != nil {
		mountConsoleAudit(r, c.Audit, g)
	}
	if c.Dead != nil {
		h := deadLetterHandlers{dead: c.Dead}
		r.GET("/admin/api/dead-letters", auth, h.list)
		r.POST("/admin/api/dead-letters/:id/redeliver", append(g.act(deciders...), h.redeliver)...)
	}
}

type consoleHandlers struct {
	views *operator.Service
}

var orderParams = []string{"out_trade_no", "openid", "status", "method", "shipping", "from", "to", "cursor", "limit"}

func (h consoleHandlers) orders(c *gin.Context) {
	q, ok := query(c, orderParams)
	if !ok {
		return
	}
	page, err := h.views.Orders(c, operator.OrderQuery{
		OutTradeNo: q.Get("out_trade_no"), OpenID: q.Get("openid"), Status: q.Get("status"), Method: q.Get("method"),
		Shipping: q.Get("shipping"), From: q.Get("from"), To: q.Get("to"), Cursor: q.Get("cursor"), Limit: intParam(c, q.Get("limit")),
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, viewOrdersPage(page))
}

func (h consoleHandlers) order(c *gin.Context) {
	d, err := h.views.Order(c, c.Param("out_trade_no"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, viewOrderDetail(d))
}

func (h consoleHandlers) withdrawals(c *gin.Context) {
	q, ok := query(c, []string{"openid", "status", "limit"})
	if !ok {
		return
	}
	list, err := h.views.Withdrawals(c, q.Get("openid"), q.Get("status"), intParam(c, q.Get("limit")))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, viewWithdrawals(list))
}

// intParam reads an optional integer query parameter; a malformed one is
// passed on as -1, out of every range, so the service names the field.
func intParam(_ *gin.Context, v string) int {
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n == 0 {
		return -1
	}
	return n
}
