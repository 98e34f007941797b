package wechat

import (
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// RefundState is WeChat's state of a refund (v3 names; v2's are mapped).
type RefundState string

const (
	RefundSuccess    RefundState = "SUCCESS"
	RefundProcessing RefundState = "PROCESSING"
	RefundClosed     RefundState = "CLOSED"
	RefundAbnormal   RefundState = "ABNORMAL"
	// RefundNotExist means WeChat has no refund with that number.
	RefundNotExist RefundState = "NOTEXIST"
)

// Final reports whether WeChat will not change the refund any more.
func (s RefundState) Final() bool {
	return s == RefundSuccess || s == RefundClosed || s == RefundAbnormal
}

// RefundRequest is what a channel needs to ask WeChat for a refund.
type RefundRequest struct {
	OutTradeNo  string
	OutRefundNo string
	TotalFen    cloudpay.Fen // the order's amount
	RefundFen   cloudpay.Fen // this refund
	Reason      string
	EnvID       string // Cloud Hosting environment that receives the refund callback
}

// RefundResult is WeChat's view of one refund.
type RefundResult struct {
	OutRefundNo   string
	OutTradeNo    string
	TransactionID string // the payment refunded, where WeChat says
	RefundID      string // WeChat's refund number
	State         RefundState
	RefundFen     cloudpay.Fen
	TotalFen      cloudpay.Fen
	MchID         string
	Account       string // where the money went (user_received_account)
	SucceededAt   time.Time
}

// RefundHint is what an unsigned refund callback claims; it proves nothing
// and is confirmed by querying WeChat.
type RefundHint struct {
	OutRefundNo string
	OutTradeNo  string
	MchID       string
	State       RefundState // what the callback says; informational only
}
