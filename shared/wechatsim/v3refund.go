package wechatsim

import (
	"net/http"
)

// v3RefundObject is the Refund object of facts §5.7 (create and query replies).
type v3RefundObject struct {
	Amount              v3RefundAmount `json:"amount"`
	Channel             string         `json:"channel"`
	CreateTime          string         `json:"create_time"`
	FundsAccount        string         `json:"funds_account"`
	OutRefundNo         string         `json:"out_refund_no"`
	OutTradeNo          string         `json:"out_trade_no"`
	PromotionDetail     []struct{}     `json:"promotion_detail"`
	RefundID            string         `json:"refund_id"`
	Status              string         `json:"status"`
	SuccessTime         string         `json:"success_time,omitempty"`
	TransactionID       string         `json:"transaction_id"`
	UserReceivedAccount string         `json:"user_received_account"`
}

type v3RefundAmount struct {
	Currency         string     `json:"currency"`
	DiscountRefund   int64      `json:"discount_refund"`
	From             []struct{} `json:"from"`
	PayerRefund      int64      `json:"payer_refund"`
	PayerTotal       int64      `json:"payer_total"`
	Refund           int64      `json:"refund"`
	SettlementRefund int64      `json:"settlement_refund"`
	SettlementTotal  int64      `json:"settlement_total"`
	Total            int64      `json:"total"`
}

func (s *Simulator) refundObjectLocked(r *refund) v3RefundObject {
	funds := r.fundsAccount
	if funds == "" {
		funds = "UNSETTLED"
	}
	obj := v3RefundObject{
		Amount: v3RefundAmount{
			Currency: "CNY", From: []struct{}{}, PayerRefund: r.refundFee, PayerTotal: r.totalFee,
			Refund: r.refundFee, SettlementRefund: r.refundFee, SettlementTotal: r.totalFee, Total: r.totalFee,
		},
		Channel: "ORIGINAL", CreateTime: s.v3Time(r.createdAt), FundsAccount: funds,
		OutRefundNo: r.outRefundNo, OutTradeNo: r.outTradeNo, PromotionDetail: []struct{}{},
		RefundID: r.refundID, Status: r.status, TransactionID: r.transactionID,
		UserReceivedAccount: v3RefundRecvAccount,
	}
	if r.status == RefundSuccess {
		obj.SuccessTime = s.v3Time(r.successTime)
	}
	return obj
}

func (s *Simulator) parseV3Refund(raw []byte) (refundRequest, error) {
	q := refundRequest{channel: ChannelV3}
	p, err := parseParams(raw)
	if err != nil {
		return q, err
	}
	if q.transactionID, err = p.str("transaction_id", false, 32); err != nil {
		return q, err
	}
	if q.outTradeNo, err = p.outTradeNo(q.transactionID == ""); err != nil {
		return q, err
	}
	if q.outRefundNo, err = p.outRefundNo(); err != nil {
		return q, err
	}
	if q.reason, err = p.str("reason", false, 80); err != nil {
		return q, err
	}
	if q.notifyURL, err = p.notifyURL(false); err != nil {
		return q, err
	}
	if q.fundsAccount, err = p.str("funds_account", false, 16); err != nil {
		return q, err
	}
	if q.fundsAccount != "" && q.fundsAccount != "AVAILABLE" && q.fundsAccount != "UNSETTLED" {
		return q, invalidParam("funds_account", "must be AVAILABLE or UNSETTLED")
	}
	if err = p.flatten("amount", true); err != nil {
		return q, err
	}
	if q.refundFee, err = p.integer("amount.refund", true); err != nil {
		return q, err
	}
	if q.refundFee <= 0 {
		return q, invalidParam("amount.refund", "must be an integer greater than 0")
	}
	if q.totalFee, err = p.integer("amount.total", true); err != nil {
		return q, err
	}
	if q.totalFee <= 0 {
		return q, invalidParam("amount.total", "must be an integer greater than 0")
	}
	if _, err = p.str("amount.currency", true, 8); err != nil {
		return q, err
	}
	if err = p.currency("amount.currency"); err != nil {
		return q, err
	}
	return q, nil
}

// v3CreateRefund is POST /v3/refund/domestic/refunds.
func (s *Simulator) v3CreateRefund(_ *http.Request, raw []byte) (v3Reply, func()) {
	q, err := s.parseV3Refund(raw)
	if err != nil {
		return v3ParamError(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, created, rerr := s.createRefundLocked(q)
	if rerr != nil {
		switch rerr.kind {
		case ruleOrderNotFound, ruleNotPaid:
			return v3Err(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "订单不存在: "+rerr.msg).reply(), nil
		case ruleFrequency:
			return v3Err(http.StatusTooManyRequests, "FREQUENCY_LIMITED", rerr.msg).reply(), nil
		}
		return v3Err(http.StatusBadRequest, "INVALID_REQUEST", rerr.msg).reply(), nil
	}
	rep := v3OK(s.refundObjectLocked(r))
	if !created {
		return rep, nil
	}
	return rep, s.settleLater(r.outRefundNo)
}

// v3QueryRefund is GET /v3/refund/domestic/refunds/{out_refund_no}.
func (s *Simulator) v3QueryRefund(r *http.Request, _ []byte) (v3Reply, func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rf := s.refunds[r.PathValue("out_refund_no")]
	if rf == nil {
		return v3Err(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "退款单不存在").reply(), nil
	}
	return v3OK(s.refundObjectLocked(rf)), nil
}
