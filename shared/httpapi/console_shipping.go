package httpapi

import (
	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/gin-gonic/gin"

	"github.com/cloudpay/cloudpay/shared/shipping"
)

// mountConsoleShipping adds the console's shipping routes (admin token):
// an operator enters an order's shipping, with the body and answers of
// create-payment's POST /orders/{out_trade_no}/shipping, and asks whether
// the mini-program is under WeChat's trade management.
func mountConsoleShipping(r gin.IRoutes, svc *shipping.Service, g guard) {
	h := shippingHandlers{svc: svc}
	r.POST("/admin/api/orders/:out_trade_no/shipping", append(g.act(cloudpay.RoleOperator), h.ship)...)
	r.GET("/admin/api/shipping/trade-managed", g.console(), h.tradeManaged)
}
