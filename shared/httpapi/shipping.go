package httpapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/shipping"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

type shippingHandlers struct{ svc *shipping.Service }

// registerShipping adds the shipping routes to create-payment (bearer).
func registerShipping(r gin.IRoutes, svc *shipping.Service, g guard) {
	h := shippingHandlers{svc: svc}
	r.POST("/orders/:out_trade_no/shipping", append(g.act(shippers...), h.ship)...)
	r.GET("/orders/:out_trade_no/shipping/:key", g.read(), h.get)
	r.GET("/shipping/trade-managed", g.read(), h.tradeManaged)
}

type shippingItemRequest struct {
	TrackingNo       string `json:"tracking_no"`
	ExpressCompany   string `json:"express_company"`
	ItemDesc         string `json:"item_desc"`
	ConsignorContact string `json:"consignor_contact"`
	ReceiverContact  string `json:"receiver_contact"`
}

type shipRequest struct {
	IdempotencyKey string                `json:"idempotency_key"`
	LogisticsType  string                `json:"logistics_type"`
	DeliveryMode   string                `json:"delivery_mode"`
	IsAllDelivered bool                  `json:"is_all_delivered"`
	ShippingList   []shippingItemRequest `json:"shipping_list"`
}

var logisticsTypes = map[string]wechat.LogisticsType{
	"express": wechat.LogisticsExpress, "same_city": wechat.LogisticsSameCity,
	"virtual": wechat.LogisticsVirtual, "pickup": wechat.LogisticsPickup,
}

var deliveryModes = map[string]wechat.DeliveryMode{"unified": wechat.DeliveryUnified, "split": wechat.DeliverySplit}

func (h shippingHandlers) ship(c *gin.Context) {
	var req shipRequest
	if !bind(c, &req) {
		return
	}
	n := shipping.NewShipment{Key: req.IdempotencyKey, Logistics: logisticsTypes[req.LogisticsType],
		Mode: deliveryModes[req.DeliveryMode], IsAllDelivered: req.IsAllDelivered}
	if req.LogisticsType != "" && n.Logistics == 0 {
		fail(c, cloudpay.FieldError("logistics_type", "logistics_type must be express, same_city, virtual or pickup"))
		return
	}
	if req.DeliveryMode == "" {
		n.Mode = wechat.DeliveryUnified
	} else if n.Mode == 0 {
		fail(c, cloudpay.FieldError("delivery_mode", "delivery_mode must be unified or split"))
		return
	}
	for _, it := range req.ShippingList {
		n.Items = append(n.Items, wechat.ShippingItem(it))
	}
	sh, created, err := h.svc.Ship(c, c.Param("out_trade_no"), n)
	if err != nil {
		fail(c, err)
		return
	}
	status := orExisting(created, http.StatusCreated)
	if sh.Status == shipping.StatusPending {
		status = http.StatusAccepted // WeChat could not take it yet: close-expired sends it again
	}
	c.JSON(status, viewShipment(sh))
}

func (h shippingHandlers) get(c *gin.Context) {
	sh, err := h.svc.Get(c, c.Param("out_trade_no"), c.Param("key"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, viewShipment(sh))
}

func (h shippingHandlers) tradeManaged(c *gin.Context) {
	managed, err := h.svc.TradeManaged(c)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"is_trade_managed": managed})
}

type shipmentView struct {
	OutTradeNo     string                `json:"out_trade_no"`
	IdempotencyKey string                `json:"idempotency_key"`
	LogisticsType  string                `json:"logistics_type"`
	DeliveryMode   string                `json:"delivery_mode"`
	IsAllDelivered bool                  `json:"is_all_delivered,omitempty"`
	ShippingList   []shippingItemRequest `json:"shipping_list"`
	Status         string                `json:"status"`
	Attempts       int                   `json:"attempts"`
	LastError      string                `json:"last_error,omitempty"`
	CreatedAt      time.Time             `json:"created_at"`
	UploadedAt     *time.Time            `json:"uploaded_at,omitempty"`
	Auto           bool                  `json:"auto,omitempty"`
}

func viewShipment(sh shipping.Shipment) shipmentView {
	v := shipmentView{OutTradeNo: sh.OutTradeNo, IdempotencyKey: sh.Key, IsAllDelivered: sh.IsAllDelivered,
		Status: string(sh.Status), Attempts: sh.Attempts, LastError: sh.LastError, CreatedAt: sh.CreatedAt.UTC(),
		UploadedAt: utc(sh.UploadedAt), Auto: sh.Auto, ShippingList: []shippingItemRequest{}}
	for name, t := range logisticsTypes {
		if t == sh.Logistics {
			v.LogisticsType = name
		}
	}
	for name, m := range deliveryModes {
		if m == sh.Mode {
			v.DeliveryMode = name
		}
	}
	for _, it := range sh.Items {
		v.ShippingList = append(v.ShippingList, shippingItemRequest(it))
	}
	return v
}
