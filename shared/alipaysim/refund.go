package alipaysim

import (
	"time"
)

// refund is one refund request number of a trade (退款请求号, out_request_no).
type refund struct {
	outRequestNo string
	fen          int64
	reason       string
	requests     int
	at           time.Time
}

// Refund is Alipay's side of a refund.
type Refund struct {
	OutTradeNo   string    `json:"out_trade_no"`
	TradeNo      string    `json:"trade_no"`
	OutRequestNo string    `json:"out_request_no"`
	RefundFen    int64     `json:"refund_fen"`
	Reason       string    `json:"reason,omitempty"`
	Requests     int       `json:"requests"` // refund calls naming it, the first included
	At           time.Time `json:"at"`
}

// Refunds returns the refunds of a trade in the order they were made.
func (s *Simulator) Refunds(outTradeNo string) []Refund {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Refund{}
	t := s.trades[outTradeNo]
	if t == nil {
		return out
	}
	for _, r := range t.refunds {
		out = append(out, Refund{OutTradeNo: t.outTradeNo, TradeNo: t.tradeNo, OutRequestNo: r.outRequestNo,
			RefundFen: r.fen, Reason: r.reason, Requests: r.requests, At: r.at})
	}
	return out
}

// createRefund is alipay.trade.refund (统一收单交易退款, https://opendocs.alipay.com/open/02ekfk).
// Refunds settle at once (the simulator has no asynchronous refund):
//
//   - "同一笔交易累计提交的退款金额不能超过原始交易总金额": an amount past what is left answers
//     ACQ.REFUND_AMT_NOT_EQUAL_TOTAL ("退款金额超限: 请求的退款金额不能大于交易总金额");
//   - out_request_no "标识一次退款请求，需要保证在交易号下唯一，如需部分退款，则此参数必传"; without
//     it the request number is the out_trade_no (refund query: "如果在退款请求时未传入，则该值为
//     创建交易时的商户订单号") and only a full refund is taken, else
//     ACQ.REFUND_AMT_NOT_EQUAL_TOTAL with "撤销或退款金额与订单金额不一致";
//   - "一笔退款失败后重新提交，要保证重试时退款请求号不能变更": the same out_request_no and amount
//     again is the same refund, answered again with fund_change N ("退款成功判断说明：接口返回
//     fund_change=Y为退款成功，fund_change=N或无此字段值返回时需通过退款查询接口进一步确认"),
//     money moving once; another amount under it answers ACQ.DISCORDANT_REPEAT_REQUEST
//     ("退款请求号对应的退款已经执行成功，且本次请求的退款金额与之前请求的金额不一致");
//   - a trade not at Alipay answers ACQ.TRADE_NOT_EXIST, one never paid
//     ACQ.TRADE_STATUS_ERROR ("交易状态不合法");
//   - refund_fee is the trade's refunded total ("退款总金额"); after a full refund the trade
//     is TRADE_CLOSED ("未付款交易超时关闭，或支付完成后全额退款").
//
// Refusals carry out_trade_no, refund_fee and send_back_fee 0.00, as Alipay's do.
func (s *Simulator) createRefund(req *gatewayRequest) answer {
	raw, present := req.biz["refund_amount"]
	text, isText := amountText(raw)
	if !present || !isText {
		return bizFailure("ACQ.INVALID_PARAMETER", "参数无效:退款金额不能为空")
	}
	fen, ok := parseYuan(text)
	if !ok || fen <= 0 {
		return bizFailure("ACQ.INVALID_PARAMETER", "参数无效:退款金额格式错误")
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	t, bad := s.lookupLocked(req)
	if bad != nil {
		return *bad
	}
	refused := func(subCode, msg string) answer {
		no := req.text("out_trade_no")
		if t != nil {
			no = t.outTradeNo
		}
		return bizFailure(subCode, msg, field{"out_trade_no", no}, field{"refund_fee", "0.00"}, field{"send_back_fee", "0.00"})
	}
	if t == nil {
		return refused("ACQ.TRADE_NOT_EXIST", "")
	}
	if !t.paid() {
		return refused("ACQ.TRADE_STATUS_ERROR", "")
	}
	requestNo := req.text("out_request_no")
	named := requestNo != ""
	if !named {
		requestNo = t.outTradeNo
	}
	r := t.findRefund(requestNo)
	switch {
	case r != nil && r.fen != fen:
		return refused("ACQ.DISCORDANT_REPEAT_REQUEST", "")
	case r != nil:
		r.requests++
		return s.refundAnswerLocked(t, r, "N")
	case !named && fen != t.totalFen:
		return refused("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "撤销或退款金额与订单金额不一致")
	case t.refundedFen+fen > t.totalFen:
		return refused("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "")
	}
	r = &refund{outRequestNo: requestNo, fen: fen, reason: req.text("refund_reason"), requests: 1, at: now}
	t.refunds = append(t.refunds, r)
	t.refundedFen += fen
	if t.refundedFen == t.totalFen {
		t.status, t.closedAt = StatusClosed, now
	}
	return s.refundAnswerLocked(t, r, "Y")
}

func (s *Simulator) refundAnswerLocked(t *trade, r *refund, fundChange string) answer {
	return success(
		field{"trade_no", t.tradeNo}, field{"out_trade_no", t.outTradeNo}, field{"buyer_logon_id", buyerLogonID},
		field{"buyer_user_id", t.buyerID}, field{"fund_change", fundChange},
		field{"refund_fee", formatFen(t.refundedFen)}, field{"gmt_refund_pay", s.alipayTime(r.at)},
	)
}

// refundQuery is alipay.trade.fastpay.refund.query (统一收单交易退款查询,
// https://opendocs.alipay.com/open/02ekfl): "该接口的返回码10000，仅代表本次查询操作成功，不代表
// 退款成功。如果该接口返回了查询数据，且refund_status为空或为REFUND_SUCCESS，则代表退款成功，如果没有
// 查询到则代表未退款成功". A refund request number the trade does not know is answered 10000
// with no refund members at all; a trade not at Alipay ACQ.TRADE_NOT_EXIST.
func (s *Simulator) refundQuery(req *gatewayRequest) answer {
	requestNo := req.text("out_request_no")
	if requestNo == "" {
		return bizFailure("ACQ.INVALID_PARAMETER", "参数无效:退款请求号不能为空")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, bad := s.lookupLocked(req)
	if bad != nil {
		return *bad
	}
	if t == nil {
		return bizFailure("ACQ.TRADE_NOT_EXIST", "")
	}
	r := t.findRefund(requestNo)
	if r == nil {
		return success()
	}
	return success(
		field{"trade_no", t.tradeNo}, field{"out_trade_no", t.outTradeNo}, field{"out_request_no", r.outRequestNo},
		field{"total_amount", formatFen(t.totalFen)}, field{"refund_amount", formatFen(r.fen)},
		field{"refund_status", "REFUND_SUCCESS"}, field{"gmt_refund_pay", s.alipayTime(r.at)},
		field{"send_back_fee", formatFen(r.fen)},
	)
}
