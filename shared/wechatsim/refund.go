package wechatsim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Refund states (API v3 names; the open interface and its callbacks show ABNORMAL as
// CHANGE and CLOSED as REFUNDCLOSE).
const (
	RefundProcessing = "PROCESSING"
	RefundSuccess    = "SUCCESS"
	RefundClosed     = "CLOSED"
	RefundAbnormal   = "ABNORMAL"
)

// Refund sources: who asked for a refund (v2's refund_request_source, facts §2.4).
const (
	RefundSourceAPI            = "API"             // a merchant back end's refund call
	RefundSourceVendorPlatform = "VENDOR_PLATFORM" // made in the merchant platform (OutsideRefund)
)

func (r *refund) sourceName() string {
	if r.source == "" {
		return RefundSourceAPI
	}
	return r.source
}

// Refund rules (facts §1.5, §5.7).
const (
	maxRefundsPerOrder = 50
	refundWindow       = 365 * 24 * time.Hour
)

// Values WeChat reports for a refund to the payer's balance.
const (
	v2RefundRecvAccount = "支付用户的零钱"
	v2RefundAccount     = "REFUND_SOURCE_UNSETTLED_FUNDS"
	v3RefundRecvAccount = "支付用户零钱"
)

type refund struct {
	seq           int
	channel       string // the channel of the create call: ChannelCloudHosting or ChannelV3
	source        string // RefundSourceAPI ("" in old state files) or RefundSourceVendorPlatform
	outRefundNo   string
	refundID      string
	outTradeNo    string
	transactionID string
	subMchID      string
	subAppID      string
	status        string
	refundFee     int64
	totalFee      int64
	reason        string
	createdAt     time.Time
	successTime   time.Time
	closedAt      time.Time
	settledAt     time.Time // when it last left PROCESSING or ABNORMAL: its callback was first due
	requests      int

	// couponRefundFee is the part of refundFee given back as coupon rather than cash
	// (an order paid with a coupon: splitRefundLocked); the user gets refundFee less it.
	couponRefundFee int64

	// Cloud Hosting callback target (callbackType 0: none)
	envID        string
	callbackType int64
	container    Container
	functionName string
	// API v3
	notifyURL    string
	fundsAccount string

	acked     map[string]bool // refund states whose genuine callback was acknowledged
	attempted map[string]bool // refund states whose genuine callback was attempted (or dropped by a fault)
}

// RefundView is WeChat's side of the truth about a refund.
type RefundView struct {
	OutRefundNo   string `json:"out_refund_no"`
	OutTradeNo    string `json:"out_trade_no"`
	TransactionID string `json:"transaction_id"`
	RefundID      string `json:"refund_id"`
	Channel       string `json:"channel"` // ChannelCloudHosting or ChannelV3: how it was created
	Source        string `json:"source"`  // RefundSourceAPI, or RefundSourceVendorPlatform (OutsideRefund)
	Status        string `json:"status"`  // PROCESSING, SUCCESS, CLOSED or ABNORMAL
	RefundFee     int64  `json:"refund_fee"`
	TotalFee      int64  `json:"total_fee"`
	// CashRefundFee is what the user gets back (cash_refund_fee, amount.payer_refund),
	// CouponRefundFee the coupon's part of RefundFee: see PayWithCoupon.
	CashRefundFee   int64      `json:"cash_refund_fee"`
	CouponRefundFee int64      `json:"coupon_refund_fee,omitempty"`
	Reason          string     `json:"reason,omitempty"`
	CreatedAt       time.Time  `json:"created_at"`
	SuccessTime     *time.Time `json:"success_time,omitempty"`
	ClosedAt        *time.Time `json:"closed_at,omitempty"`
	// Requests counts the create calls that named this out_refund_no (the first included).
	Requests     int        `json:"requests"`
	EnvID        string     `json:"env_id,omitempty"`
	Container    *Container `json:"container,omitempty"`
	FunctionName string     `json:"function_name,omitempty"`
	NotifyURL    string     `json:"notify_url,omitempty"`
	FundsAccount string     `json:"funds_account,omitempty"`
	// CallbackAcked reports whether a genuine callback or notification of the current
	// state was acknowledged.
	CallbackAcked bool `json:"callback_acked"`
	// Callback is set only in what SettleRefund returns: the first delivery attempt of the
	// callback or notification the settlement sent.
	Callback *Delivery `json:"callback,omitempty"`
}

func (s *Simulator) refundViewLocked(r *refund) RefundView {
	v := RefundView{
		OutRefundNo: r.outRefundNo, OutTradeNo: r.outTradeNo, TransactionID: r.transactionID,
		RefundID: r.refundID, Channel: r.channel, Source: r.sourceName(), Status: r.status, RefundFee: r.refundFee,
		TotalFee: r.totalFee, CashRefundFee: r.refundFee - r.couponRefundFee, CouponRefundFee: r.couponRefundFee, Reason: r.reason, CreatedAt: r.createdAt.UTC(), Requests: r.requests,
		EnvID: r.envID, FunctionName: r.functionName, NotifyURL: r.notifyURL,
		FundsAccount: r.fundsAccount, CallbackAcked: r.acked[r.status],
	}
	if r.callbackType == 2 {
		c := r.container
		v.Container = &c
	}
	if !r.successTime.IsZero() {
		t := r.successTime.UTC()
		v.SuccessTime = &t
	}
	if !r.closedAt.IsZero() {
		t := r.closedAt.UTC()
		v.ClosedAt = &t
	}
	return v
}

// Refund returns WeChat's view of a refund.
func (s *Simulator) Refund(outRefundNo string) (RefundView, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.refunds[outRefundNo]
	if r == nil {
		return RefundView{}, false
	}
	return s.refundViewLocked(r), true
}

// Refunds returns the refunds of an order ("" for all refunds) in creation order.
func (s *Simulator) Refunds(outTradeNo string) []RefundView {
	s.mu.Lock()
	defer s.mu.Unlock()
	var list []*refund
	if outTradeNo != "" {
		if o := s.orders[outTradeNo]; o != nil {
			list = o.refunds
		}
	} else {
		for _, r := range s.refunds {
			list = append(list, r)
		}
		slices.SortFunc(list, func(a, b *refund) int { return a.seq - b.seq })
	}
	out := make([]RefundView, 0, len(list))
	for _, r := range list {
		out = append(out, s.refundViewLocked(r))
	}
	return out
}

func refundNotFound(outRefundNo string) *Error {
	return &Error{Status: http.StatusNotFound, Code: "REFUND_NOT_FOUND",
		Message: fmt.Sprintf("refund %s does not exist at WeChat", outRefundNo)}
}

func settleState(state string, allowEmpty bool) error {
	switch state {
	case RefundSuccess, RefundClosed, RefundAbnormal:
		return nil
	case "":
		if allowEmpty {
			return nil
		}
	}
	return badField("status", fmt.Sprintf("status %q is not SUCCESS, CLOSED or ABNORMAL", state))
}

// SettleRefund moves a refund to state (SUCCESS, CLOSED or ABNORMAL) and sends its
// callback (Cloud Hosting) or notification (API v3): the first attempt synchronously,
// redeliveries in the background. PROCESSING and ABNORMAL refunds may be settled;
// SUCCESS and CLOSED are final, so changing them is a 409 error. Settling a refund to the
// state it has changes and sends nothing. A SUCCESS refund turns its order's trade_state
// into REFUND.
func (s *Simulator) SettleRefund(ctx context.Context, outRefundNo, state string) (RefundView, error) {
	if err := settleState(state, false); err != nil {
		return RefundView{}, err
	}
	return s.settle(ctx, outRefundNo, state, false)
}

// settle is SettleRefund; auto settles only a refund that is still PROCESSING.
func (s *Simulator) settle(ctx context.Context, outRefundNo, state string, auto bool) (RefundView, error) {
	now := s.now()
	s.mu.Lock()
	r := s.refunds[outRefundNo]
	if r == nil {
		s.mu.Unlock()
		return RefundView{}, refundNotFound(outRefundNo)
	}
	if state == r.status || auto && r.status != RefundProcessing {
		v := s.refundViewLocked(r)
		s.mu.Unlock()
		return v, nil
	}
	if r.status == RefundSuccess || r.status == RefundClosed {
		s.mu.Unlock()
		return RefundView{}, &Error{Status: http.StatusConflict, Code: "REFUND_FINAL",
			Message: fmt.Sprintf("refund %s is %s, which is final", outRefundNo, r.status)}
	}
	r.status, r.settledAt = state, now
	switch state {
	case RefundSuccess:
		r.successTime = now
		if o := s.orders[r.outTradeNo]; o != nil && o.state == stateSuccess {
			o.state = stateRefund
			s.saveOrderLocked(o)
		}
	case RefundClosed:
		r.closedAt = now
	}
	s.saveRefundLocked(r)
	cb := s.refundCallbackLocked(r, state)
	v := s.refundViewLocked(r)
	s.mu.Unlock()

	d := s.deliverGenuine(ctx, cb, TriggerSettle, true)
	v.Callback = &d
	return v, nil
}

// NotifyRefund sends a genuine, correctly signed callback or notification of a refund
// now, without background redelivery. state "" sends its current state (which must not be
// PROCESSING: WeChat only notifies settled refunds); SUCCESS, CLOSED or ABNORMAL sends
// content claiming that state whatever the refund's own, as a late or out-of-order
// delivery would.
func (s *Simulator) NotifyRefund(ctx context.Context, outRefundNo, state string) (Delivery, error) {
	if err := settleState(state, true); err != nil {
		return Delivery{}, err
	}
	s.mu.Lock()
	r := s.refunds[outRefundNo]
	if r == nil {
		s.mu.Unlock()
		return Delivery{}, refundNotFound(outRefundNo)
	}
	if state == "" {
		state = r.status
	}
	if state == RefundProcessing {
		s.mu.Unlock()
		return Delivery{}, &Error{Status: http.StatusConflict, Code: "REFUND_PROCESSING",
			Message: fmt.Sprintf("refund %s is PROCESSING: WeChat only notifies settled refunds", outRefundNo)}
	}
	cb := s.refundCallbackLocked(r, state)
	s.mu.Unlock()
	return s.deliverGenuine(ctx, cb, TriggerNotify, false), nil
}

// refundCallbackLocked builds the genuine callback (Cloud Hosting) or notification (v3)
// of r, claiming state.
func (s *Simulator) refundCallbackLocked(r *refund, state string) callback {
	if r.channel == ChannelV3 {
		return s.refundNotifyLocked(r, state)
	}
	sp := s.refundSplitLocked(r)
	body := refundCallbackBody{
		ReturnCode: "SUCCESS", Appid: SPAppID, MchID: SPMchID, SubAppid: r.subAppID,
		SubMchID: r.subMchID, NonceStr: nonce(), TransactionID: r.transactionID,
		OutTradeNo: r.outTradeNo, RefundID: r.refundID, OutRefundNo: r.outRefundNo,
		TotalFee: r.totalFee, RefundFee: r.refundFee, SettlementTotalFee: sp.settlementTotal,
		SettlementRefundFee: sp.settlementRefund, RefundStatus: v2RefundStatus(state),
		RefundRecvAccout: v2RefundRecvAccount, RefundAccount: v2RefundAccount,
		RefundRequestSource: r.sourceName(),
	}
	if state == RefundSuccess {
		body.SuccessTime = s.v2DateTime(s.successTimeLocked(r))
	}
	raw, err := json.Marshal(body)
	if err != nil { // cannot happen: only strings and integers
		raw = []byte("{}")
	}
	cb := callback{kind: KindRefundCallback, outTradeNo: r.outTradeNo, outRefundNo: r.outRefundNo,
		eventType: state, state: state, envID: r.envID, body: raw}
	switch {
	case r.callbackType == 0 && r.source == RefundSourceVendorPlatform:
		cb.url = s.cfg.OutsideRefundCallbackURL
		if cb.url == "" {
			cb.urlErr = "a refund made in the merchant platform, its order has no known refund callback target and Config.OutsideRefundCallbackURL is empty"
		}
	case r.callbackType == 0:
		cb.urlErr = "the refund request named no callback target and its order has none"
	default:
		cb.url, cb.urlErr = s.targetURL(r.container, r.functionName)
	}
	return cb
}

// successTimeLocked is r's success time, or now for content claiming a success that has
// not happened.
func (s *Simulator) successTimeLocked(r *refund) time.Time {
	if r.successTime.IsZero() {
		return s.now()
	}
	return r.successTime
}

// refundCallbackBody is the Cloud Hosting refund callback (facts §2.4): v2's refund
// notification, decrypted, camel-cased
// (https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_16). It tells no coupon
// detail: a coupon payment shows only in settlementTotalFee and settlementRefundFee,
// which leave out a no-cash coupon ("去掉非充值代金券退款金额后的退款金额").
type refundCallbackBody struct {
	ReturnCode          string `json:"returnCode"`
	Appid               string `json:"appid"`
	MchID               string `json:"mchId"`
	SubAppid            string `json:"subAppid"`
	SubMchID            string `json:"subMchId"`
	NonceStr            string `json:"nonceStr"`
	TransactionID       string `json:"transactionId"`
	OutTradeNo          string `json:"outTradeNo"`
	RefundID            string `json:"refundId"`
	OutRefundNo         string `json:"outRefundNo"`
	TotalFee            int64  `json:"totalFee"`
	RefundFee           int64  `json:"refundFee"`
	SettlementTotalFee  int64  `json:"settlementTotalFee"`
	SettlementRefundFee int64  `json:"settlementRefundFee"`
	RefundStatus        string `json:"refundStatus"`
	SuccessTime         string `json:"successTime,omitempty"`
	RefundRecvAccout    string `json:"refundRecvAccout"`
	RefundAccount       string `json:"refundAccount"`
	RefundRequestSource string `json:"refundRequestSource"`
}

// v2RefundStatus maps a refund state to the v2 / Cloud Hosting name.
func v2RefundStatus(state string) string {
	switch state {
	case RefundAbnormal:
		return "CHANGE"
	case RefundClosed:
		return "REFUNDCLOSE"
	}
	return state
}

// v2DateTime formats t as yyyy-MM-dd HH:mm:ss in Beijing time.
func (s *Simulator) v2DateTime(t time.Time) string { return t.In(s.loc).Format("2006-01-02 15:04:05") }

// refundRequest is a create call of either channel, parsed.
type refundRequest struct {
	channel       string
	source        string // "" (API) or RefundSourceVendorPlatform
	subMchID      string // Cloud Hosting: the order must belong to it
	outTradeNo    string
	transactionID string // takes priority over outTradeNo
	outRefundNo   string
	totalFee      int64
	refundFee     int64
	reason        string
	// Cloud Hosting callback target; callbackType 0: inherit the order's
	envID        string
	callbackType int64
	container    Container
	functionName string
	// API v3; notifyURL "": inherit the order's
	notifyURL    string
	fundsAccount string
}

// Refund rule violations, mapped to each channel's codes.
type ruleKind int

const (
	ruleOrderNotFound ruleKind = iota
	ruleNotPaid
	ruleInvalid
	ruleTooMany
	ruleFrequency
)

type ruleError struct {
	kind ruleKind
	msg  string
}

// refundSplit is how a refund of an order paid with a coupon divides between cash and
// coupon, and what it leaves the merchant to settle.
type refundSplit struct {
	orderCash, orderCoupon            int64  // the order's cash_fee and coupon_fee
	couponType, couponID              string // the order's coupon
	cash, coupon                      int64  // this refund's cash_refund_fee and coupon_refund_fee
	settlementTotal, settlementRefund int64  // settlement_total_fee, settlement_refund_fee
}

// refundSplitLocked is r's split; an order without a coupon refunds only cash.
func (s *Simulator) refundSplitLocked(r *refund) refundSplit {
	sp := refundSplit{orderCash: r.totalFee, cash: r.refundFee - r.couponRefundFee, coupon: r.couponRefundFee,
		settlementTotal: r.totalFee, settlementRefund: r.refundFee}
	if o := s.orders[r.outTradeNo]; o != nil && o.couponFee > 0 {
		sp.orderCash, sp.orderCoupon, sp.couponType, sp.couponID = o.cashFee(), o.couponFee, o.couponType, o.couponID
		sp.settlementTotal = o.settlementTotalFee()
		if o.couponType == CouponNoCash {
			// "退款金额=申请退款金额-非充值代金券退款金额":
			// https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_4 (settlement_refund_fee)
			sp.settlementRefund = r.refundFee - r.couponRefundFee
		}
	}
	return sp
}

// msgRefundTooLow is WeChat's refusal of a partial refund of a coupon payment whose
// cash part rounds to nothing [community]:
// https://developers.weixin.qq.com/community/pay/doc/000042e9b74488cc01e118b4366000
const msgRefundTooLow = "由于你输入的金额较低所以无法退款成功，建议将本订单进行整单退款"

// splitRefundLocked divides a new refund of fee from o between the cash given back to
// the user and the coupon, as WeChat refunds a coupon payment
// (https://pay.weixin.qq.com/docs/merchant/products/refund/introduction.html §3.3,
// 使用了代金券的订单退款规则): a full refund gives back what the user paid ("退给用户金额 = 用户实际
// 支付金额"), a partial one its share of it, rounded half up ("退给用户金额 = 用户申请退款金额 ×
// (用户实际支付金额 ÷ 订单总金额)（四舍五入）"). The refund that brings the refunded total to the
// order's total is taken as the full one and gives back whatever cash is left, and no
// refund gives back more cash or more coupon than is left (choices: the page shows
// single refunds only; these keep the cash refunded at most, and in the end exactly,
// what the user paid). Refunds closed since do not count. ok is false for a partial
// refund whose cash part rounds to 0 (msgRefundTooLow).
func splitRefundLocked(o *order, fee int64) (cash, coupon int64, ok bool) {
	if o.couponFee == 0 {
		return fee, 0, true
	}
	var refunded, cashRefunded int64
	for _, r := range o.refunds {
		if r.status != RefundClosed {
			refunded += r.refundFee
			cashRefunded += r.refundFee - r.couponRefundFee
		}
	}
	cashLeft := o.cashFee() - cashRefunded
	couponLeft := o.couponFee - (refunded - cashRefunded)
	full := refunded+fee == o.totalFee
	if full {
		cash = cashLeft
	} else {
		cash = mulDivRound(fee, o.cashFee(), o.totalFee)
	}
	cash = min(max(cash, fee-couponLeft), cashLeft, fee)
	if cash <= 0 && !full {
		return 0, 0, false
	}
	return cash, fee - cash, true
}

// createRefundLocked applies the refund rules of facts §1.5 and §5.7. It returns the
// refund and whether the call created it (false: an idempotent retry of an existing one).
func (s *Simulator) createRefundLocked(q refundRequest) (*refund, bool, *ruleError) {
	now := s.now()
	o := s.orders[q.outTradeNo]
	if q.transactionID != "" {
		o = s.byTxn[q.transactionID]
	}
	if o == nil || q.subMchID != "" && o.subMchID != q.subMchID {
		return nil, false, &ruleError{ruleOrderNotFound, "order does not exist"}
	}
	if !o.paid() {
		return nil, false, &ruleError{ruleNotPaid, fmt.Sprintf("order is %s, not paid", o.state)}
	}
	if q.totalFee != o.totalFee {
		return nil, false, &ruleError{ruleInvalid, fmt.Sprintf("订单金额不一致: total %d is not the order's total %d", q.totalFee, o.totalFee)}
	}
	if r := s.refunds[q.outRefundNo]; r != nil {
		r.requests++
		s.saveRefundLocked(r)
		switch {
		case r.outTradeNo != o.outTradeNo:
			return nil, false, &ruleError{ruleInvalid, fmt.Sprintf("out_refund_no %s already refunds order %s", r.outRefundNo, r.outTradeNo)}
		case r.refundFee != q.refundFee:
			return nil, false, &ruleError{ruleInvalid, fmt.Sprintf("out_refund_no %s was requested with refund %d, not %d", r.outRefundNo, r.refundFee, q.refundFee)}
		}
		return r, false, nil
	}
	if now.Sub(o.timeEnd) > refundWindow {
		return nil, false, &ruleError{ruleInvalid, "订单已超过退款期限: paid more than 365 days ago"}
	}
	if len(o.refunds) >= maxRefundsPerOrder {
		return nil, false, &ruleError{ruleTooMany, fmt.Sprintf("订单已经退款%d次，不能再退款: at most %d refunds per order", len(o.refunds), maxRefundsPerOrder)}
	}
	var refunded int64
	for _, r := range o.refunds {
		if r.status != RefundClosed {
			refunded += r.refundFee
		}
	}
	if refunded+q.refundFee > o.totalFee {
		return nil, false, &ruleError{ruleInvalid, fmt.Sprintf("退款金额超过订单可退金额: refunding %d after %d of %d", q.refundFee, refunded, o.totalFee)}
	}
	if iv := s.cfg.RefundMinInterval; iv > 0 && len(o.refunds) > 0 {
		if last := o.refunds[len(o.refunds)-1]; now.Sub(last.createdAt) < iv {
			return nil, false, &ruleError{ruleFrequency, "频率限制: refunds of one order must be at least " + iv.String() + " apart"}
		}
	}
	_, couponRefund, ok := splitRefundLocked(o, q.refundFee)
	if !ok {
		return nil, false, &ruleError{ruleInvalid, msgRefundTooLow}
	}
	r := &refund{
		seq: len(s.refunds) + 1, channel: q.channel, source: q.source, outRefundNo: q.outRefundNo,
		refundID: s.newRefundIDLocked(now), outTradeNo: o.outTradeNo, transactionID: o.transactionID,
		subMchID: o.subMchID, subAppID: o.subAppID, status: RefundProcessing, refundFee: q.refundFee,
		totalFee: o.totalFee, couponRefundFee: couponRefund, reason: q.reason, createdAt: now, requests: 1,
		envID: q.envID, callbackType: q.callbackType, container: q.container, functionName: q.functionName,
		notifyURL: q.notifyURL, fundsAccount: q.fundsAccount, acked: map[string]bool{}, attempted: map[string]bool{},
	}
	// A refund made in the merchant platform does not inherit the order's pay callback
	// target: OutsideRefund chooses its target.
	if q.channel == ChannelCloudHosting && r.callbackType == 0 && o.channel == ChannelCloudHosting && q.source == "" {
		r.envID, r.callbackType, r.container, r.functionName = o.envID, o.callbackType, o.container, o.functionName
	}
	// A refund made through the API is notified at the notify_url it names, else at the
	// one configured in the merchant platform (refundNotifyURL), never at its payment's:
	// "回调地址通过【申请退款API】接口中的“notify_url”参数设置"
	// (https://pay.weixin.qq.com/docs/merchant/apis/personal-collections/refund-result.html).
	// One made in the merchant platform keeps its order's, as before.
	if q.channel == ChannelV3 && r.notifyURL == "" && q.source != "" {
		r.notifyURL = o.notifyURL
	}
	o.refunds = append(o.refunds, r)
	s.refunds[r.outRefundNo] = r
	s.refundsByID[r.refundID] = r
	s.saveRefundLocked(r)
	return r, true, nil
}

// newRefundIDLocked returns "50" + 27 digits, unique.
func (s *Simulator) newRefundIDLocked(now time.Time) string {
	for {
		id := "50" + randString(digits, 5) + now.In(s.loc).Format("20060102") + randString(digits, 14)
		if _, used := s.refundsByID[id]; !used {
			return id
		}
	}
}

// settleLater returns the work that settles a new refund on its own, or nil.
func (s *Simulator) settleLater(outRefundNo string) func() {
	delay := s.cfg.RefundSettleDelay
	if delay < 0 {
		return nil
	}
	return func() {
		s.spawn(func() {
			if sleep(s.ctx, delay) {
				_, _ = s.settle(s.ctx, outRefundNo, RefundSuccess, true)
			}
		})
	}
}

func (p params) outRefundNo() (string, error) {
	no, err := p.str("out_refund_no", true, 0)
	if err != nil {
		return "", err
	}
	if !validOutRefundNo(no) {
		return "", invalidParam("out_refund_no", "must be 1 to 64 characters of 0-9 A-Z a-z _ - | * @")
	}
	return no, nil
}

func validOutRefundNo(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' ||
			c == '_' || c == '-' || c == '|' || c == '*' || c == '@'
		if !ok {
			return false
		}
	}
	return true
}

func (s *Simulator) parseCHRefund(p params) (refundRequest, error) {
	q := refundRequest{channel: ChannelCloudHosting}
	var err error
	if q.subMchID, err = p.str("sub_mch_id", true, 32); err != nil {
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
	if q.totalFee, err = p.integer("total_fee", true); err != nil {
		return q, err
	}
	if q.totalFee <= 0 {
		return q, invalidParam("total_fee", "must be an integer greater than 0")
	}
	if q.refundFee, err = p.integer("refund_fee", true); err != nil {
		return q, err
	}
	if q.refundFee <= 0 {
		return q, invalidParam("refund_fee", "must be an integer greater than 0")
	}
	if q.reason, err = p.str("refund_desc", false, 80); err != nil {
		return q, err
	}
	if q.envID, err = p.str("env_id", false, 64); err != nil {
		return q, err
	}
	feeType, err := p.str("refund_fee_type", false, 8)
	if err != nil {
		return q, err
	}
	if feeType != "" && feeType != "CNY" {
		return q, invalidParam("refund_fee_type", "only CNY is supported")
	}
	account, err := p.str("refund_account", false, 32)
	if err != nil {
		return q, err
	}
	if account != "" && account != "REFUND_SOURCE_UNSETTLED_FUNDS" && account != "REFUND_SOURCE_RECHARGE_FUNDS" {
		return q, invalidParam("refund_account", "must be REFUND_SOURCE_UNSETTLED_FUNDS or REFUND_SOURCE_RECHARGE_FUNDS")
	}
	// The callback target is optional: without one, the order's is used.
	if _, given := p.raw("callback_type"); given {
		if q.callbackType, err = p.integer("callback_type", true); err != nil {
			return q, err
		}
		switch q.callbackType {
		case 1:
			if q.functionName, err = p.str("function_name", true, 128); err != nil {
				return q, err
			}
		case 2:
			if q.container, err = p.container(); err != nil {
				return q, err
			}
		default:
			return q, invalidParam("callback_type", "must be 1 (cloud function) or 2 (container)")
		}
	} else if _, given := p.raw("container"); given {
		q.callbackType = 2
		if q.container, err = p.container(); err != nil {
			return q, err
		}
	}
	return q, nil
}

// chRefund is POST /_/pay/refund.
func (s *Simulator) chRefund(p params) (map[string]any, func()) {
	q, err := s.parseCHRefund(p)
	if err != nil {
		sub, _ := p.str("sub_mch_id", false, 0)
		return failResp(s.base(sub, s.cfg.AppID), "PARAM_ERROR", err.Error()), nil
	}
	resp := s.base(q.subMchID, s.cfg.AppID)
	if !s.merchantOK(q.subMchID) {
		return unbound(), nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, created, rerr := s.createRefundLocked(q)
	if rerr != nil {
		code := "INVALID_REQUEST"
		switch rerr.kind {
		case ruleOrderNotFound:
			code = "ORDERNOTEXIST"
		case ruleNotPaid:
			code = "TRADE_STATE_ERROR"
		case ruleTooMany:
			code = "INVALID_REQ_TOO_MUCH"
		case ruleFrequency:
			code = "FREQUENCY_LIMITED"
		}
		return failResp(resp, code, rerr.msg), nil
	}
	resp["sub_appid"] = r.subAppID
	resp["transaction_id"] = r.transactionID
	resp["out_trade_no"] = r.outTradeNo
	resp["out_refund_no"] = r.outRefundNo
	resp["refund_id"] = r.refundID
	// v2's refund answer (https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_4):
	// refund_fee is what was asked, cash_refund_fee what the user gets back,
	// coupon_refund_fee the coupon's part; the open interface's example answer adds the
	// arrays coupon_type_list, coupon_refund_id_list and coupon_refund_fee_list for v2's
	// coupon_type_$n, coupon_refund_id_$n, coupon_refund_fee_$n
	// (https://developers.weixin.qq.com/minigame/dev/wxcloudrun/src/development/pay/order/refund.md,
	// facts §1.5), answered here as both.
	sp := s.refundSplitLocked(r)
	resp["refund_fee"] = r.refundFee
	resp["settlement_refund_fee"] = sp.settlementRefund
	resp["total_fee"] = r.totalFee
	resp["settlement_total_fee"] = sp.settlementTotal
	resp["fee_type"] = "CNY"
	resp["cash_fee"] = sp.orderCash
	resp["cash_fee_type"] = "CNY"
	resp["cash_refund_fee"] = sp.cash
	resp["coupon_refund_fee"] = sp.coupon
	types, ids, fees := []string{}, []string{}, []int64{}
	if sp.coupon > 0 {
		resp["coupon_refund_count"] = 1
		resp["coupon_type_0"] = sp.couponType
		resp["coupon_refund_id_0"] = sp.couponID
		resp["coupon_refund_fee_0"] = sp.coupon
		types, ids, fees = []string{sp.couponType}, []string{sp.couponID}, []int64{sp.coupon}
	} else {
		resp["coupon_refund_count"] = 0
	}
	resp["coupon_type_list"], resp["coupon_refund_id_list"], resp["coupon_refund_fee_list"] = types, ids, fees
	resp["refund_channel"] = "ORIGINAL"
	if !created {
		return resp, nil
	}
	return resp, s.settleLater(r.outRefundNo)
}

// chQueryRefund is POST /_/pay/queryrefund.
func (s *Simulator) chQueryRefund(p params) (map[string]any, func()) {
	sub, err := p.str("sub_mch_id", true, 32)
	if err != nil {
		return failResp(s.base(sub, s.cfg.AppID), "PARAM_ERROR", err.Error()), nil
	}
	var keys [4]string
	for i, name := range []string{"refund_id", "out_refund_no", "transaction_id", "out_trade_no"} {
		if keys[i], err = p.str(name, false, 64); err != nil {
			return failResp(s.base(sub, s.cfg.AppID), "PARAM_ERROR", err.Error()), nil
		}
	}
	refundID, outRefundNo, txn, outTradeNo := keys[0], keys[1], keys[2], keys[3]
	if refundID == "" && outRefundNo == "" && txn == "" && outTradeNo == "" {
		return failResp(s.base(sub, s.cfg.AppID), "PARAM_ERROR",
			"missing refund_id, out_refund_no, transaction_id or out_trade_no"), nil
	}
	if !s.merchantOK(sub) {
		return unbound(), nil
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var list []*refund
	switch {
	case refundID != "":
		if r := s.refundsByID[refundID]; r != nil {
			list = []*refund{r}
		}
	case outRefundNo != "":
		if r := s.refunds[outRefundNo]; r != nil {
			list = []*refund{r}
		}
	case txn != "":
		if o := s.byTxn[txn]; o != nil {
			list = o.refunds
		}
	default:
		if o := s.orders[outTradeNo]; o != nil {
			list = o.refunds
		}
	}
	if len(list) == 0 || list[0].subMchID != sub {
		return failResp(s.base(sub, s.cfg.AppID), "REFUNDNOTEXIST", "退款订单查询失败: refund does not exist"), nil
	}
	// v2's refund query answer (https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_5):
	// the order's total_fee, cash_fee (and settlement_total_fee after a no-cash coupon),
	// refund_count, then per refund $n out_refund_no_$n, refund_id_$n, refund_channel_$n,
	// refund_fee_$n, settlement_refund_fee_$n, refund_status_$n, refund_account_$n,
	// refund_recv_accout_$n, refund_success_time_$n (when SUCCESS) and, for a coupon
	// refund, coupon_refund_fee_$n, coupon_refund_count_$n, coupon_type_$n_$m,
	// coupon_refund_id_$n_$m, coupon_refund_fee_$n_$m.
	//
	// The open interface's example answer
	// (https://developers.weixin.qq.com/minigame/dev/wxcloudrun/src/development/pay/order/queryrefund.html)
	// shows no indexed field but arrays in their place (out_refund_no_list,
	// refund_id_list, refund_channel, refund_fee_list, settlement_refund_fee_list,
	// coupon_type_array, coupon_refund_fee_list, coupon_refund_count_list,
	// coupon_refund_id_array, coupon_refund_fee_array, refund_status_list,
	// refund_account_list, refund_recv_accout_list, refund_success_time_list), all empty
	// although refund_count is 1; developers report the same empty arrays on the
	// cloud-function twin [community]
	// (https://developers.weixin.qq.com/community/develop/doc/000484fe0ec200394c409a2a466800,
	// https://developers.weixin.qq.com/community/pay/doc/000c00444d406072e81fbcc1556800,
	// where an answer says the indexed fields do come back). So the simulator answers
	// those arrays empty, as documented and observed, and the indexed fields, as the
	// page's field table and v2 document them (docs/simulator-fidelity-ch.md).
	first := list[0]
	o := s.orders[first.outTradeNo]
	resp := s.base(sub, first.subAppID)
	resp["out_trade_no"] = first.outTradeNo
	resp["transaction_id"] = first.transactionID
	resp["total_fee"] = first.totalFee
	resp["fee_type"] = "CNY"
	resp["cash_fee"] = first.totalFee
	if o != nil {
		resp["cash_fee"] = o.cashFee()
		if o.couponType == CouponNoCash && o.couponFee > 0 {
			resp["settlement_total_fee"] = o.settlementTotalFee()
		}
	}
	resp["refund_count"] = len(list)
	if o != nil {
		resp["total_refund_count"] = len(o.refunds)
	}
	for _, k := range []string{"out_refund_no_list", "refund_id_list", "refund_channel", "refund_fee_list",
		"settlement_refund_fee_list", "coupon_type_array", "coupon_refund_fee_list", "coupon_refund_count_list",
		"coupon_refund_id_array", "coupon_refund_fee_array", "refund_status_list", "refund_account_list",
		"refund_recv_accout_list", "refund_success_time_list"} {
		resp[k] = []any{}
	}
	var sum int64
	for i, r := range list {
		n := "_" + strconv.Itoa(i)
		sum += r.refundFee
		sp := s.refundSplitLocked(r)
		resp["out_refund_no"+n] = r.outRefundNo
		resp["refund_id"+n] = r.refundID
		resp["refund_channel"+n] = "ORIGINAL"
		resp["refund_fee"+n] = r.refundFee
		resp["settlement_refund_fee"+n] = sp.settlementRefund
		if sp.coupon > 0 {
			resp["coupon_refund_fee"+n] = sp.coupon
			resp["coupon_refund_count"+n] = 1
			resp["coupon_type"+n+"_0"] = sp.couponType
			resp["coupon_refund_id"+n+"_0"] = sp.couponID
			resp["coupon_refund_fee"+n+"_0"] = sp.coupon
		}
		resp["refund_status"+n] = v2RefundStatus(r.status)
		resp["refund_account"+n] = v2RefundAccount
		resp["refund_recv_accout"+n] = v2RefundRecvAccount
		if r.status == RefundSuccess {
			resp["refund_success_time"+n] = s.v2DateTime(r.successTime)
		}
	}
	resp["refund_fee"] = sum
	return resp, nil
}
