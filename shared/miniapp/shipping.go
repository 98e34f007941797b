package miniapp

import (
	"context"
	"errors"
	"fmt"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

type orderKey struct {
	OrderNumberType int    `json:"order_number_type"` // 1: mchid + out_trade_no, 2: transaction_id
	TransactionID   string `json:"transaction_id,omitempty"`
	MchID           string `json:"mchid,omitempty"`
	OutTradeNo      string `json:"out_trade_no,omitempty"`
}

type contact struct {
	ConsignorContact string `json:"consignor_contact,omitempty"`
	ReceiverContact  string `json:"receiver_contact,omitempty"`
}

type shippingItem struct {
	TrackingNo     string   `json:"tracking_no,omitempty"`
	ExpressCompany string   `json:"express_company,omitempty"`
	ItemDesc       string   `json:"item_desc"`
	Contact        *contact `json:"contact,omitempty"`
}

type uploadRequest struct {
	OrderKey       orderKey       `json:"order_key"`
	LogisticsType  int            `json:"logistics_type"`
	DeliveryMode   int            `json:"delivery_mode"`
	IsAllDelivered *bool          `json:"is_all_delivered,omitempty"`
	ShippingList   []shippingItem `json:"shipping_list"`
	UploadTime     string         `json:"upload_time"`
	Payer          struct {
		OpenID string `json:"openid"`
	} `json:"payer"`
}

// UploadShipping sends one order's shipping to upload_shipping_info
// (fields and codes: the page cited in the package comment).
func (c *Client) UploadShipping(ctx context.Context, info wechat.ShippingInfo) error {
	req := uploadRequest{LogisticsType: int(info.Logistics), DeliveryMode: int(info.Mode),
		UploadTime: info.UploadTime.In(cloudpay.Beijing).Format("2006-01-02T15:04:05.000-07:00")}
	if info.TransactionID != "" {
		req.OrderKey = orderKey{OrderNumberType: 2, TransactionID: info.TransactionID}
	} else {
		req.OrderKey = orderKey{OrderNumberType: 1, MchID: info.MchID, OutTradeNo: info.OutTradeNo}
	}
	if info.Mode == wechat.DeliverySplit {
		all := info.IsAllDelivered
		req.IsAllDelivered = &all
	}
	for _, it := range info.Items {
		item := shippingItem{TrackingNo: it.TrackingNo, ExpressCompany: it.ExpressCompany, ItemDesc: it.ItemDesc}
		if it.ConsignorContact != "" || it.ReceiverContact != "" {
			item.Contact = &contact{ConsignorContact: it.ConsignorContact, ReceiverContact: it.ReceiverContact}
		}
		req.ShippingList = append(req.ShippingList, item)
	}
	req.Payer.OpenID = info.PayerOpenID
	return shippingError(c.call(ctx, "/wxa/sec/order/upload_shipping_info", req, nil))
}

// IsTradeManaged asks is_trade_managed about the configured mini-program.
// https://developers.weixin.qq.com/miniprogram/dev/server/API/order_shipping/api_istrademanaged
func (c *Client) IsTradeManaged(ctx context.Context) (bool, error) {
	var out struct {
		IsTradeManaged bool `json:"is_trade_managed"`
	}
	if err := c.call(ctx, "/wxa/sec/order/is_trade_managed", map[string]string{"appid": c.cfg.AppID}, &out); err != nil {
		return false, shippingError(err)
	}
	return out.IsTradeManaged, nil
}

// shippingError maps the platform's codes (the error table of the page
// cited in the package comment): a busy platform (-1, 10060012,
// 10060019) and an order not known yet (10060001: "支付后订单需要入库",
// seconds to a minute after the payment, as WeChat staff answer in the
// developer community) are tried again; 10060023 ("发货信息未更新": WeChat
// holds exactly this upload already, as after a retry whose answer was
// lost) is success; everything else WeChat says will not change, and is
// CodeShippingRefused with WeChat's words.
func shippingError(err error) error {
	var ae *apiError
	if !errors.As(err, &ae) {
		return err
	}
	switch ae.Code {
	case 10060023:
		return nil
	case 10060001:
		return &cloudpay.Error{Code: cloudpay.CodeWeChatError, Message: "WeChat does not know the payment yet (10060001); it is tried again", Err: ae}
	case -1, 10060012, 10060019:
		return &cloudpay.Error{Code: cloudpay.CodeWeChatError, Message: fmt.Sprintf("the mini-program platform is busy (%d); it is tried again", ae.Code), Err: ae}
	}
	what := "WeChat refuses the shipping"
	switch ae.Code {
	case 10060003:
		what = "the order's one update is used"
	case 10060004:
		what = "the order cannot ship (refunded, or shipped and confirmed)"
	case 47001:
		what = "WeChat cannot read the request"
	case 40001, 40014, 41001, 42001:
		what = "the mini-program credentials are not accepted (MINIPROGRAM_APPID, MINIPROGRAM_SECRET)"
	}
	return &cloudpay.Error{Code: cloudpay.CodeShippingRefused, Message: fmt.Sprintf("%s (%d %s)", what, ae.Code, ae.Message), Err: ae}
}
