package cloudhosting

import (
	"encoding/json"
	"fmt"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
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
func ParsePayCallback(raw []byte) (cloudpay.PayHint, error) {
	var cb payCallback
	if err := json.Unmarshal(raw, &cb); err != nil {
		return cloudpay.PayHint{}, fmt.Errorf("pay callback is not the expected JSON: %w", err)
	}
	if !cloudpay.ValidOutTradeNo(cb.OutTradeNo) {
		return cloudpay.PayHint{}, fmt.Errorf("pay callback has no valid outTradeNo")
	}
	hint := cloudpay.PayHint{
		OutTradeNo: cb.OutTradeNo, TransactionID: cb.TransactionID,
		MchID: cb.SubMchID, OpenID: cb.SubOpenID,
	}
	if cb.TotalFee != nil {
		hint.TotalFen, hint.HasTotal = cloudpay.Fen(*cb.TotalFee), true
	}
	return hint, nil
}
