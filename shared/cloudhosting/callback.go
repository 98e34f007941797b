package cloudhosting

import (
	"encoding/json"
	"fmt"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// payCallback is the camelCase body Cloud Hosting POSTs to the container.
// Only the fields cloudpay reads are declared; others are ignored, since
// WeChat adds fields without notice.
type payCallback struct {
	SubMchID      string `json:"subMchId"`
	SubOpenID     string `json:"subOpenid"`
	TotalFee      *fen   `json:"totalFee"`
	TransactionID string `json:"transactionId"`
	OutTradeNo    string `json:"outTradeNo"`
}

// ParsePayCallback reads a pay callback into a hint. It never panics; a body
// that names no valid order is an error.
func ParsePayCallback(raw []byte) (wechat.PayHint, error) {
	var cb payCallback
	if err := json.Unmarshal(raw, &cb); err != nil {
		return wechat.PayHint{}, fmt.Errorf("pay callback is not the expected JSON: %w", err)
	}
	if !cloudpay.ValidOutTradeNo(cb.OutTradeNo) {
		return wechat.PayHint{}, fmt.Errorf("pay callback has no valid outTradeNo")
	}
	hint := wechat.PayHint{
		OutTradeNo: cb.OutTradeNo, TransactionID: cb.TransactionID,
		MchID: cb.SubMchID, OpenID: cb.SubOpenID,
	}
	if cb.TotalFee != nil {
		hint.TotalFen, hint.HasTotal = cloudpay.Fen(*cb.TotalFee), true
	}
	return hint, nil
}

// refundCallback is the camelCase refund result Cloud Hosting POSTs to the
// container: v2's refund notification, already decrypted.
type refundCallback struct {
	OutRefundNo  string `json:"outRefundNo"`
	OutTradeNo   string `json:"outTradeNo"`
	SubMchID     string `json:"subMchId"`
	RefundStatus string `json:"refundStatus"`
}

// ParseRefundCallback reads a refund callback into a hint. It never panics;
// a body that names no valid refund is an error. A status it does not know
// is left empty: the hint only says which refund to query.
func ParseRefundCallback(raw []byte) (wechat.RefundHint, error) {
	var cb refundCallback
	if err := json.Unmarshal(raw, &cb); err != nil {
		return wechat.RefundHint{}, fmt.Errorf("refund callback is not the expected JSON: %w", err)
	}
	if !cloudpay.ValidOutRefundNo(cb.OutRefundNo) {
		return wechat.RefundHint{}, fmt.Errorf("refund callback has no valid outRefundNo")
	}
	if cb.OutTradeNo != "" && !cloudpay.ValidOutTradeNo(cb.OutTradeNo) {
		return wechat.RefundHint{}, fmt.Errorf("refund callback has an invalid outTradeNo")
	}
	return wechat.RefundHint{
		OutRefundNo: cb.OutRefundNo, OutTradeNo: cb.OutTradeNo, MchID: cb.SubMchID,
		State: refundStates[cb.RefundStatus],
	}, nil
}
