package wechat

import (
	"context"
	"time"
)

// Shipping information for WeChat's trade management of mini-programs
// (发货信息管理): paid orders must have their shipping uploaded, or the
// funds stay frozen. Fields as upload_shipping_info takes them:
// https://developers.weixin.qq.com/miniprogram/dev/server/API/order_shipping/api_uploadshippinginfo

// LogisticsType is how the goods reach the user.
type LogisticsType int

const (
	LogisticsExpress  LogisticsType = 1 // 实体物流配送 by an express company
	LogisticsSameCity LogisticsType = 2 // 同城配送
	LogisticsVirtual  LogisticsType = 3 // 虚拟商品: nothing travels
	LogisticsPickup   LogisticsType = 4 // 用户自提
)

// DeliveryMode is whether the order ships at once or in parts.
type DeliveryMode int

const (
	DeliveryUnified DeliveryMode = 1 // one shipment
	DeliverySplit   DeliveryMode = 2 // several; IsAllDelivered says when the last is uploaded
)

// ShippingItem is one parcel (express) or one line of goods.
type ShippingItem struct {
	TrackingNo       string // express: required
	ExpressCompany   string // express: the company's code (get_delivery_list)
	ItemDesc         string // what is in it, ≤ 120 characters
	ConsignorContact string // masked phone of the sender (SF Express needs one of the two)
	ReceiverContact  string // masked phone of the receiver
}

// ShippingInfo is one upload for one paid order. The order is named by
// WeChat's transaction_id when known, else by the merchant and the
// out_trade_no WeChat knows the payment by.
type ShippingInfo struct {
	TransactionID  string
	MchID          string
	OutTradeNo     string
	Logistics      LogisticsType
	Mode           DeliveryMode
	IsAllDelivered bool // split mode: the last part
	Items          []ShippingItem
	UploadTime     time.Time
	PayerOpenID    string
}

// MiniProgram is the mini-program platform's side of trade management.
type MiniProgram interface {
	// UploadShipping uploads one order's shipping. WeChat refusing for
	// good (the order cannot ship, its one update is used) is
	// CodeShippingRefused; the order not known yet (uploads right after
	// the payment) is CodeWeChatError, to be tried again later.
	UploadShipping(ctx context.Context, info ShippingInfo) error
	// IsTradeManaged asks whether the mini-program is under trade
	// management, so that shipping must be uploaded.
	IsTradeManaged(ctx context.Context) (bool, error)
}
