package wechatsim

import (
	"net/http"
)

// v3RefundObject is the Refund object of facts §5.7 (create and query replies).
type v3RefundObject struct {
	Amount              v3RefundAmount      `json:"amount"`
	Channel             string              `json:"channel"`
	CreateTime          string              `json:"create_time"`
	FundsAccount        string              `json:"funds_account"`
	OutRefundNo         string              `json:"out_refund_no"`
	OutTradeNo          string              `json:"out_trade_no"`
	PromotionDetail     []v3RefundPromotion `json:"promotion_detail"`
	RefundID            string              `json:"refund_id"`
	Status              string              `json:"status"`
	SuccessTime         string              `json:"success_time,omitempty"`
	TransactionID       string              `json:"transaction_id"`
	UserReceivedAccount string              `json:"user_received_account"`
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

// v3RefundPromotion is a refund's promotion_detail entry (refunddomestic.Promotion of
// wechatpay-go; https://pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter3_5_9.shtml): the
// coupon's type COUPON (充值型, v2 CASH) or DISCOUNT (免充值型, v2 NO_CASH), its amount and
// the part of it this refund gives back, refund_amount.
type v3RefundPromotion struct {
	PromotionID  string `json:"promotion_id"`
	Scope        string `json:"scope"`
	Type         string `json:"type"`
	Amount       int64  `json:"amount"`
	RefundAmount int64  `json:"refund_amount"`
}

func (s *Simulator) refundObjectLocked(r *refund) v3RefundObject {
	funds := r.fundsAccount
	if funds == "" {
		funds = "UNSETTLED"
	}
	// A refund of a coupon payment (chapter3_5_9 above): payer_total is what the user
	// paid, payer_refund what the user gets back, discount_refund the coupon's part of
	// refund, settlement_* leave out a no-cash coupon (see splitRefundLocked).
	sp := s.refundSplitLocked(r)
	promotions := []v3RefundPromotion{}
	if sp.orderCoupon > 0 {
		typ := "COUPON"
		if sp.couponType == CouponNoCash {
			typ = "DISCOUNT"
		}
		promotions = append(promotions, v3RefundPromotion{PromotionID: sp.couponID, Scope: "GLOBAL", Type: typ,
			Amount: sp.orderCoupon, RefundAmount: sp.coupon})
	}
	obj := v3RefundObject{
		Amount: v3RefundAmount{
			Currency: "CNY", From: []struct{}{}, PayerRefund: sp.cash, PayerTotal: sp.orderCash, DiscountRefund: sp.coupon,
			Refund: r.refundFee, SettlementRefund: sp.settlementRefund, SettlementTotal: sp.settlementTotal, Total: r.totalFee,
		},
		Channel: "ORIGINAL", CreateTime: s.v3Time(r.createdAt), FundsAccount: funds,
		OutRefundNo: r.outRefundNo, OutTradeNo: r.outTradeNo, PromotionDetail: promotions,
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

// v3CreateRefund is POST /v3/refund/domestic/refunds (退款申请,
// https://pay.weixin.qq.com/doc/v3/merchant/4012556457). Its business error table:
//   - 404 RESOURCE_NOT_EXISTS "订单不存在" (the table's remedy: "请检查订单号是否正确且是否已支付"):
//     an unknown order, and an order not paid (unpaid or closed). The message is WeChat's
//     exact words, seen for both (https://developers.weixin.qq.com/community/develop/doc/0000e244be4c200823db3791e56000,
//     https://developers.weixin.qq.com/community/pay/doc/00000e6ef342708bab42ccbeb66c00).
//   - 400 INVALID_REQUEST ("请求参数符合参数格式，但不符合业务规则"): the refunds would exceed the
//     order's amount, amount.total is not the order's, the same out_refund_no with another
//     amount or order, paid over a year ago, more than 50 refunds (refund.go's rules, facts
//     §5.7); the message says which.
//   - 429 FREQUENCY_LIMITED: Config.RefundMinInterval.
//   - 403 NOT_ENOUGH, 403 USER_ACCOUNT_ABNORMAL, 403 NO_AUTH, 500 SYSTEM_ERROR: only as
//     faults (api refund, mode fail, code NOT_ENOUGH etc.; v3FaultError gives the statuses).
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
			return v3Err(http.StatusNotFound, "RESOURCE_NOT_EXISTS", msgOrderNotExist).reply(), nil
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

// msgRefundNotExist is the message of RESOURCE_NOT_EXISTS on a refund query.
const msgRefundNotExist = "退款单不存在"

// v3QueryRefund is GET /v3/refund/domestic/refunds/{out_refund_no} (查询单笔退款（通过商户退款单号）,
// https://pay.weixin.qq.com/doc/v3/merchant/4012556562).
// An unknown refund is 404 RESOURCE_NOT_EXISTS "退款单不存在", the row "404
// RESOURCE_NOT_EXISTS 退款单不存在 请检查退款单号是否有误" of its error table, and the message
// seen (https://developers.weixin.qq.com/community/personal/oCJUsw0htFGFwUE9sk5DbfgVUvrU/answer).
func (s *Simulator) v3QueryRefund(r *http.Request, _ []byte) (v3Reply, func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rf := s.refunds[r.PathValue("out_refund_no")]
	if rf == nil {
		return v3Err(http.StatusNotFound, "RESOURCE_NOT_EXISTS", msgRefundNotExist).reply(), nil
	}
	return v3OK(s.refundObjectLocked(rf)), nil
}
