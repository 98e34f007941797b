package recon

import (
	"fmt"

	"github.com/cloudpay/cloudpay/shared/bill"
)

// TradeLines reads WeChat's trade bill (ALL) into reconciliation lines: a
// payment row (交易状态 SUCCESS, or REVOKED) per payment of the day, a
// refund row (REFUND) per refund WeChat accepted that day.
func TradeLines(raw []byte) ([]Line, error) {
	t, err := bill.ParseTrade(raw)
	if err != nil {
		return nil, err
	}
	lines := make([]Line, 0, len(t.Rows))
	for _, r := range t.Rows {
		l := Line{TransactionID: r.TransactionID, OutTradeNo: r.OutTradeNo, FeeUnits: int64(r.Fee)}
		switch r.TradeState {
		case "REFUND":
			l.Refund, l.RefundID, l.OutRefundNo, l.State, l.AmountFen = true, r.RefundID, r.OutRefundNo, r.RefundStatus, r.RefundFen
			if l.OutRefundNo == "" {
				return nil, fmt.Errorf("refund row of %s without a merchant refund number", r.OutTradeNo)
			}
		default:
			l.State, l.AmountFen = r.TradeState, r.TotalFen
			if l.AmountFen == 0 {
				l.AmountFen = r.SettlementFen
			}
		}
		lines = append(lines, l)
	}
	return lines, nil
}
