package wechatsim

import (
	"fmt"
	"net/http"
)

// Money that moves outside any merchant back end: a payment another system of the
// merchant's took (or a payment code, a collection QR code...), and a refund an operator
// made in the merchant platform (商户平台). WeChat holds them like any other; no back end
// asked for them.

// DevOpenID is the payer of an outside payment that names none.
const DevOpenID = "oDevOutsidePayer000000000001"

// OutsidePaymentRequest asks for a payment made outside any merchant back end.
type OutsidePaymentRequest struct {
	AmountFen int64 `json:"amount_fen"`
	// OpenID is the payer under the mini program; default DevOpenID.
	OpenID string `json:"openid,omitempty"`
	// Channel is ChannelCloudHosting or ChannelV3: where the payment shows up as the
	// merchant's (see OutsidePayment). Default: ChannelV3 when only
	// Config.OutsideNotifyURL is set, else ChannelCloudHosting.
	Channel string `json:"channel,omitempty"`
	// OutTradeNo is the merchant's order number the other system sent; default one the
	// simulator invents ("OS" + Beijing time + 12 random characters).
	OutTradeNo string `json:"out_trade_no,omitempty"`
}

// OutsidePayment records a payment made outside any merchant back end: an order WeChat
// holds as paid (SUCCESS, a new transaction_id, paid now by Config.Now) that no back end
// created a prepay for, and whose pay callback or notification nobody configured, so none
// is sent (nor replayed: Notify refuses it). It is the merchant's: Config.MchID for
// ChannelV3, Config.SubMchID (or Config.MchID if that is empty) for ChannelCloudHosting;
// both channels' order queries find it by out_trade_no and by transaction_id, and both
// channels' refund calls refund it (Cloud Hosting only for a sub_mch_id of that merchant).
// Its channel also decides how WeChat tells of refunds made in the merchant platform
// (see OutsideRefund).
func (s *Simulator) OutsidePayment(req OutsidePaymentRequest) (OrderView, error) {
	if req.AmountFen <= 0 {
		return OrderView{}, badField("amount_fen", "amount_fen must be an integer greater than 0")
	}
	openID := req.OpenID
	if openID == "" {
		openID = DevOpenID
	}
	if !validOpenID(openID) {
		return OrderView{}, badField("openid", "openid must be 1 to 128 characters of 0-9 A-Z a-z _ -")
	}
	channel := req.Channel
	switch channel {
	case "":
		channel = ChannelCloudHosting
		if s.cfg.OutsideNotifyURL != "" && s.cfg.OutsideRefundCallbackURL == "" {
			channel = ChannelV3
		}
	case ChannelCloudHosting, ChannelV3:
	default:
		return OrderView{}, badField("channel", fmt.Sprintf("channel %q is not %s or %s", req.Channel, ChannelCloudHosting, ChannelV3))
	}
	if req.OutTradeNo != "" && (len(req.OutTradeNo) < 6 || !validOutTradeNo(req.OutTradeNo)) {
		return OrderView{}, badField("out_trade_no", "out_trade_no must be 6 to 32 characters of 0-9 A-Z a-z _ - | *")
	}
	mchID := s.cfg.SubMchID
	if channel == ChannelV3 || mchID == "" {
		mchID = s.cfg.MchID
	}

	now := s.now()
	s.mu.Lock()
	no := req.OutTradeNo
	if no == "" {
		for no == "" || s.orders[no] != nil {
			no = "OS" + s.wechatTime(now) + randString(alnum, 12)
		}
	} else if s.orders[no] != nil {
		s.mu.Unlock()
		return OrderView{}, &Error{Status: http.StatusConflict, Code: "OUT_TRADE_NO_USED",
			Message: fmt.Sprintf("order %s already exists at WeChat", no)}
	}
	o := &order{
		channel: channel, outTradeNo: no, subMchID: mchID, subAppID: s.cfg.AppID,
		body: "outside payment", openID: openID, tradeType: "JSAPI", totalFee: req.AmountFen,
		state: stateSuccess, transactionID: s.newTransactionIDLocked(now), timeEnd: now, createdAt: now,
		outside: true,
	}
	s.orders[no] = o
	s.byTxn[o.transactionID] = o
	s.saveOrderLocked(o)
	s.mu.Unlock()

	if err := s.sync(); err != nil {
		return OrderView{}, notPersisted(err)
	}
	v, _ := s.Order(no)
	return v, nil
}

// OutsideRefundRequest asks for a refund made in the merchant platform.
type OutsideRefundRequest struct {
	// OutTradeNo or TransactionID names the order (TransactionID wins if both are given).
	OutTradeNo    string `json:"out_trade_no,omitempty"`
	TransactionID string `json:"transaction_id,omitempty"`
	AmountFen     int64  `json:"amount_fen"`
	// OutRefundNo is the refund's number; default one the simulator invents ("MP" +
	// Beijing time + 12 random digits).
	OutRefundNo string `json:"out_refund_no,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

// OutsideRefund makes a refund in the merchant platform, of any paid order (one a back
// end created or an outside payment). The refund rules are those of the refund calls (in
// total at most the paid amount, 50 refunds, a year, Config.RefundMinInterval; the same
// out_refund_no and amount again is the same refund). It is PROCESSING, then SUCCESS
// after Config.RefundSettleDelay (or as a test settles it), like any refund, and WeChat
// tells of it on its order's channel with source VENDOR_PLATFORM:
//
//   - Cloud Hosting: the refund callback (refundRequestSource VENDOR_PLATFORM) goes to
//     the refund callback target of the order's latest refund that named one, else to
//     Config.OutsideRefundCallbackURL. (The order's own container is its pay callback
//     target, never used for refunds made in the merchant platform.)
//   - API v3: the REFUND.* notification goes to the order's notify_url, else (an outside
//     payment) to Config.OutsideNotifyURL.
//
// Without a target the delivery is logged with an error, as for any refund.
func (s *Simulator) OutsideRefund(req OutsideRefundRequest) (RefundView, error) {
	v, after, err := s.outsideRefund(req)
	if after != nil {
		after()
	}
	return v, err
}

// outsideRefund is OutsideRefund, returning the settlement to start instead of starting
// it, so that the HTTP route can start it after its reply.
func (s *Simulator) outsideRefund(req OutsideRefundRequest) (RefundView, func(), error) {
	switch {
	case req.OutTradeNo == "" && req.TransactionID == "":
		return RefundView{}, nil, badField("out_trade_no", "out_trade_no or transaction_id is required")
	case req.TransactionID != "" && (len(req.TransactionID) > 32 || !allDigits(req.TransactionID)):
		return RefundView{}, nil, badField("transaction_id", "transaction_id must be 1 to 32 digits")
	case req.TransactionID == "" && !validOutTradeNo(req.OutTradeNo):
		return RefundView{}, nil, badField("out_trade_no", "out_trade_no must be 1 to 32 characters of 0-9 A-Z a-z _ - | *")
	case req.AmountFen <= 0:
		return RefundView{}, nil, badField("amount_fen", "amount_fen must be an integer greater than 0")
	case req.OutRefundNo != "" && !validOutRefundNo(req.OutRefundNo):
		return RefundView{}, nil, badField("out_refund_no", "out_refund_no must be 1 to 64 characters of 0-9 A-Z a-z _ - | * @")
	case len(req.Reason) > 80:
		return RefundView{}, nil, badField("reason", "reason is longer than 80 bytes")
	}

	now := s.now()
	s.mu.Lock()
	o := s.orders[req.OutTradeNo]
	if req.TransactionID != "" {
		o = s.byTxn[req.TransactionID]
	}
	if o == nil {
		s.mu.Unlock()
		name := req.OutTradeNo
		if req.TransactionID != "" {
			name = "with transaction_id " + req.TransactionID
		}
		return RefundView{}, nil, orderNotFound(name)
	}
	q := refundRequest{
		channel: o.channel, source: RefundSourceVendorPlatform, outTradeNo: o.outTradeNo,
		outRefundNo: req.OutRefundNo, totalFee: o.totalFee, refundFee: req.AmountFen, reason: req.Reason,
	}
	for q.outRefundNo == "" {
		no := "MP" + s.wechatTime(now) + randString(digits, 12)
		if s.refunds[no] == nil {
			q.outRefundNo = no
		}
	}
	if o.channel == ChannelCloudHosting {
		for i := len(o.refunds) - 1; i >= 0; i-- {
			if r := o.refunds[i]; r.callbackType != 0 {
				q.envID, q.callbackType, q.container, q.functionName = r.envID, r.callbackType, r.container, r.functionName
				break
			}
		}
	}
	r, created, rerr := s.createRefundLocked(q)
	if rerr != nil {
		s.mu.Unlock()
		e := &Error{Status: http.StatusConflict, Code: "INVALID_REQUEST", Message: rerr.msg}
		switch rerr.kind {
		case ruleOrderNotFound:
			e.Status, e.Code = http.StatusNotFound, "ORDER_NOT_FOUND"
		case ruleNotPaid:
			e.Code = "ORDER_NOT_PAID"
		case ruleTooMany:
			e.Code = "INVALID_REQ_TOO_MUCH"
		case ruleFrequency:
			e.Status, e.Code = http.StatusTooManyRequests, "FREQUENCY_LIMITED"
		}
		return RefundView{}, nil, e
	}
	v := s.refundViewLocked(r)
	s.mu.Unlock()

	if err := s.sync(); err != nil {
		return RefundView{}, nil, notPersisted(err)
	}
	if !created {
		return v, nil, nil
	}
	return v, s.settleLater(r.outRefundNo), nil
}

func (s *Simulator) handleOutsidePayment(w http.ResponseWriter, r *http.Request) {
	var req OutsidePaymentRequest
	if err := decodeControl(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	v, err := s.OutsidePayment(req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Simulator) handleOutsideRefund(w http.ResponseWriter, r *http.Request) {
	var req OutsideRefundRequest
	if err := decodeControl(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	v, after, err := s.outsideRefund(req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
	if after != nil {
		// As for the refund calls: the settlement starts once the caller could read the reply.
		_ = http.NewResponseController(w).Flush()
		after()
	}
}

func notPersisted(err error) *Error {
	return &Error{Status: http.StatusInternalServerError, Code: "STATE_NOT_PERSISTED",
		Message: "WeChat's state could not be persisted: " + err.Error()}
}

func validOpenID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
