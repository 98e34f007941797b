package alipay

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// Refund is a refund to ask Alipay for. OutRequestNo names it for good:
// Alipay refunds a number once, and a retry — after a timeout, a refusal
// for now — must use the same one (一笔退款失败后重新提交，要采用原来的退款单号:
// https://opendocs.alipay.com/open/02ekfk).
type Refund struct {
	OutTradeNo, OutRequestNo string
	AmountFen                cloudpay.Fen
	Reason                   string
}

// RefundResult is Alipay's answer about a refund.
type RefundResult struct {
	OutTradeNo, OutRequestNo, TradeNo string
	RefundFen                         cloudpay.Fen // this refund's amount
	// Succeeded: the money went back — fund_change Y on the refund's
	// answer, refund_status REFUND_SUCCESS on the query's.
	Succeeded bool
	// NotExist: Alipay holds no refund under the number — never received,
	// or failed (未返回该字段表示退款请求未收到或者退款失败:
	// https://opendocs.alipay.com/open/02ekfl); it may be sent again under
	// the same number.
	NotExist bool
	// RefundedTotalFen is refund_fee on Refund's answer: everything refunded
	// on the trade so far. Zero from QueryRefund.
	RefundedTotalFen cloudpay.Fen
}

// outRequestNoPattern is a refund's number: out_request_no is String(64)
// (https://opendocs.alipay.com/open/02ekfk); cloudpay keeps to the
// characters of its order numbers.
var outRequestNoPattern = regexp.MustCompile(`^[0-9A-Za-z_\-|*]{1,64}$`)

// maxReason is refund_reason's length, String(256).
const maxReason = 256

// Refund asks Alipay to refund part or all of a paid trade
// (alipay.trade.refund, https://opendocs.alipay.com/open/02ekfk). It is
// idempotent on OutRequestNo at Alipay: the same request again refunds
// nothing more and answers fund_change N.
//
// Code 10000 only says the request was taken; fund_change Y says the money
// moved. On N (or no fund_change) Alipay says to confirm with the refund
// query (退款成功判断说明), which Refund does once; if that query fails the
// result is returned unconfirmed (Succeeded false, no error) for the
// caller to query later.
func (c *Client) Refund(ctx context.Context, r Refund) (RefundResult, error) {
	op := "alipay refund " + r.OutRequestNo
	switch {
	case !cloudpay.ValidOutTradeNo(r.OutTradeNo):
		return RefundResult{}, cloudpay.FieldError("out_trade_no", "out_trade_no must be 6 to 32 letters, digits or _-|*")
	case !outRequestNoPattern.MatchString(r.OutRequestNo):
		return RefundResult{}, cloudpay.FieldError("out_request_no", "out_request_no must be 1 to 64 letters, digits or _-|*")
	case r.AmountFen <= 0 || r.AmountFen > cloudpay.MaxFen:
		return RefundResult{}, cloudpay.FieldError("amount_fen", "amount_fen must be between 1 and %d", cloudpay.MaxFen)
	case utf8.RuneCountInString(r.Reason) > maxReason || !cloudpay.Printable(r.Reason):
		return RefundResult{}, cloudpay.FieldError("reason", "reason must be at most %d printable characters", maxReason)
	}
	biz := map[string]any{
		"out_trade_no": r.OutTradeNo, "out_request_no": r.OutRequestNo, "refund_amount": YuanOf(r.AmountFen),
	}
	if strings.TrimSpace(r.Reason) != "" {
		biz["refund_reason"] = r.Reason
	}
	var resp struct {
		result
		TradeNo    string `json:"trade_no"`
		OutTradeNo string `json:"out_trade_no"`
		FundChange string `json:"fund_change"` // 本次退款是否发生了资金变化
		RefundFee  string `json:"refund_fee"`  // 退款总金额: the trade's refunds so far
	}
	if err := c.call(ctx, op, "alipay.trade.refund", biz, false, &resp, &resp.result); err != nil {
		return RefundResult{}, refundError(op, err)
	}
	res := RefundResult{
		OutTradeNo: r.OutTradeNo, OutRequestNo: r.OutRequestNo, TradeNo: resp.TradeNo,
		RefundFen: r.AmountFen, Succeeded: resp.FundChange == "Y",
	}
	if resp.OutTradeNo != "" && resp.OutTradeNo != r.OutTradeNo {
		return RefundResult{}, unreadable(op, fmt.Errorf("answer for another order, %q", resp.OutTradeNo))
	}
	if resp.RefundFee != "" {
		total, err := FenFromYuan(resp.RefundFee)
		if err != nil {
			return RefundResult{}, unreadable(op, fmt.Errorf("refund_fee: %w", err))
		}
		res.RefundedTotalFen = total
	}
	if res.Succeeded {
		return res, nil
	}
	q, err := c.QueryRefund(ctx, r.OutTradeNo, r.OutRequestNo)
	if err != nil || q.NotExist {
		// Taken, not confirmed: the caller queries later.
		return res, nil
	}
	if q.RefundFen != 0 && q.RefundFen != r.AmountFen {
		return RefundResult{}, fmt.Errorf("%s: %w", op, &cloudpay.Error{Code: cloudpay.CodeRefundConflict,
			Message: fmt.Sprintf("Alipay holds refund %s for %s yuan, not %s", r.OutRequestNo, YuanOf(q.RefundFen), YuanOf(r.AmountFen))})
	}
	res.Succeeded = q.Succeeded
	if res.TradeNo == "" {
		res.TradeNo = q.TradeNo
	}
	return res, nil
}

// refundError gives a refund's refusals their meaning: a trade that is not
// at Alipay or not paid cannot be refunded (CodeOrderNotPaid); a finished
// one no more (CodeRefundTooLate, 交易已完结).
func refundError(op string, err error) error {
	switch {
	case refusedWith(err, "ACQ.TRADE_NOT_EXIST", "ACQ.TRADE_STATUS_ERROR"):
		e := err.(*Error)
		return fmt.Errorf("%s: %w", op, &cloudpay.Error{Code: cloudpay.CodeOrderNotPaid,
			Message: "Alipay holds no paid trade to refund: " + e.SubCode + " " + e.SubMsg, Err: e})
	case refusedWith(err, "ACQ.TRADE_HAS_FINISHED"):
		e := err.(*Error)
		return fmt.Errorf("%s: %w", op, &cloudpay.Error{Code: cloudpay.CodeRefundTooLate,
			Message: "Alipay no longer refunds the trade: " + e.SubCode + " " + e.SubMsg, Err: e})
	}
	return domain(op, err)
}

// refundSuccess is refund_status once the money went back.
const refundSuccess = "REFUND_SUCCESS"

// QueryRefund asks Alipay about one refund (alipay.trade.fastpay.refund.query,
// https://opendocs.alipay.com/open/02ekfl). A refund Alipay does not know —
// an answer without refund_status, or a trade it does not hold — comes
// back with NotExist, not as an error.
func (c *Client) QueryRefund(ctx context.Context, outTradeNo, outRequestNo string) (RefundResult, error) {
	op := "alipay query refund " + outRequestNo
	switch {
	case !cloudpay.ValidOutTradeNo(outTradeNo):
		return RefundResult{}, cloudpay.FieldError("out_trade_no", "out_trade_no must be 6 to 32 letters, digits or _-|*")
	case !outRequestNoPattern.MatchString(outRequestNo):
		return RefundResult{}, cloudpay.FieldError("out_request_no", "out_request_no must be 1 to 64 letters, digits or _-|*")
	}
	var resp struct {
		result
		TradeNo      string `json:"trade_no"`
		OutTradeNo   string `json:"out_trade_no"`
		OutRequestNo string `json:"out_request_no"`
		RefundAmount string `json:"refund_amount"` // 本次退款请求，对应的退款金额
		RefundStatus string `json:"refund_status"`
	}
	biz := map[string]any{"out_trade_no": outTradeNo, "out_request_no": outRequestNo}
	err := c.call(ctx, op, "alipay.trade.fastpay.refund.query", biz, false, &resp, &resp.result)
	none := RefundResult{OutTradeNo: outTradeNo, OutRequestNo: outRequestNo, NotExist: true}
	if refusedWith(err, "ACQ.TRADE_NOT_EXIST") {
		return none, nil
	}
	if err != nil {
		return RefundResult{}, domain(op, err)
	}
	if resp.RefundStatus == "" {
		return none, nil
	}
	res := RefundResult{
		OutTradeNo: outTradeNo, OutRequestNo: outRequestNo, TradeNo: resp.TradeNo,
		Succeeded: resp.RefundStatus == refundSuccess,
	}
	switch {
	case resp.OutRequestNo != "" && resp.OutRequestNo != outRequestNo:
		return RefundResult{}, unreadable(op, fmt.Errorf("answer for another refund, %q", resp.OutRequestNo))
	case resp.OutTradeNo != "" && resp.OutTradeNo != outTradeNo:
		return RefundResult{}, unreadable(op, fmt.Errorf("answer for another order, %q", resp.OutTradeNo))
	}
	if resp.RefundAmount != "" {
		if res.RefundFen, err = FenFromYuan(resp.RefundAmount); err != nil {
			return RefundResult{}, unreadable(op, fmt.Errorf("refund_amount: %w", err))
		}
	}
	return res, nil
}
