package wechat

import (
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// TradeState is WeChat Pay's state of an order, in v2/v3 names.
type TradeState string

const (
	TradeSuccess    TradeState = "SUCCESS"
	TradeRefund     TradeState = "REFUND"
	TradeNotPay     TradeState = "NOTPAY"
	TradeClosed     TradeState = "CLOSED"
	TradeRevoked    TradeState = "REVOKED"
	TradeUserPaying TradeState = "USERPAYING"
	TradePayError   TradeState = "PAYERROR"
	// TradeNotExist means WeChat has no such order: nobody paid it.
	TradeNotExist TradeState = "NOTEXIST"
)

// Paid reports whether money was taken for the order (a refunded order was paid first).
func (s TradeState) Paid() bool { return s == TradeSuccess || s == TradeRefund }

// Transaction is WeChat's answer to "what happened to this order".
type Transaction struct {
	OutTradeNo    string
	TransactionID string
	State         TradeState
	TotalFen      cloudpay.Fen
	MchID         string // the merchant the order belongs to (sub_mch_id on Cloud Hosting)
	OpenID        string // the payer's openid under the mini-program
	PaidAt        time.Time
	TradeType     string // JSAPI, NATIVE, MWEB (H5), ...: how the user paid
}

// PaymentParams is the object wx.requestPayment takes, passed through as-is.
type PaymentParams struct {
	AppID     string `json:"appId"`
	TimeStamp string `json:"timeStamp"`
	NonceStr  string `json:"nonceStr"`
	Package   string `json:"package"`
	SignType  string `json:"signType"`
	PaySign   string `json:"paySign"`
}

// PrepayRequest is what a channel needs to create WeChat's side of an order.
type PrepayRequest struct {
	Order    cloudpay.Order
	ClientIP string
	EnvID    string // Cloud Hosting environment that receives the callback
}

// PayHint is what an unsigned pay callback claims. It proves nothing: the
// payment service confirms it with WeChat before anything changes.
type PayHint struct {
	OutTradeNo    string
	TransactionID string
	TotalFen      cloudpay.Fen
	MchID         string
	OpenID        string
	// HasTotal is false when the callback carried no amount; WeChat's answer
	// to the query is then the only amount checked.
	HasTotal bool
}
