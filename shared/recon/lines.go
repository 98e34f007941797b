package recon

import (
	"fmt"
	"strings"
	"time"

	"github.com/cloudpay/cloudpay/shared/bill"
	"github.com/cloudpay/cloudpay/shared/cloudpay"
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

// AlipayLines reads Alipay's trade bill (the ZIP as downloaded) into
// reconciliation lines: a payment line per 交易 row, a refund line per
// 退款 row, under the refund's out_request_no — cloudpay's refund number.
// Every row of the bill is a completed payment or refund (SUCCESS); a
// refund row's amounts are negative in the bill and positive here. The
// fee is 服务费 charged, less fees returned.
//
// The link to the bill is not signed, so the bill must say it is the day's
// and, when pid (the merchant's Alipay PID, ALIPAY_SELLER_ID) is known,
// the merchant's: its 账号 is the PID followed by four digits.
func AlipayLines(pid string) AlipayParser {
	return func(day time.Time, raw []byte) ([]Line, error) {
		// Row by row: a busy day's bill is tens of megabytes of text, more
		// than a function's memory holds several times over.
		var lines []Line
		t, err := bill.ScanAlipayTradeZip(raw, func(r bill.AlipayRow) error {
			l := Line{TransactionID: r.TradeNo, OutTradeNo: r.OutTradeNo, State: "SUCCESS",
				AmountFen: r.TotalFen, FeeUnits: -int64(bill.FeeOf(r.ServiceFeeFen))}
			if r.Type == bill.AlipayRefund {
				l.Refund, l.OutRefundNo, l.AmountFen = true, r.OutRequestNo, -r.TotalFen
			}
			lines = append(lines, l)
			return nil
		})
		if err != nil {
			return nil, err // the rows seen before it are dropped with it
		}
		switch {
		case !t.Day.Equal(day):
			return nil, fmt.Errorf("the bill is of %s, not of %s", t.Day.In(cloudpay.Beijing).Format(time.DateOnly), day.Format(time.DateOnly))
		case pid != "" && !strings.HasPrefix(t.Account, pid):
			return nil, fmt.Errorf("the bill is of account %s, not of the merchant %s", t.Account, pid)
		}
		return lines, nil
	}
}
