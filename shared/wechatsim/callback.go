package wechatsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Delivery triggers.
const (
	TriggerPay        = "pay"         // first delivery after Pay
	TriggerSettle     = "settle"      // first delivery after a refund settled (on its own or by SettleRefund), or a transfer bill did (Config.TransferNoConfirm or SettleTransfer)
	TriggerConfirm    = "confirm"     // first delivery after ConfirmTransfer
	TriggerDecline    = "decline"     // first delivery after DeclineTransfer
	TriggerCancel     = "cancel"      // first delivery after a cancel call's bill became CANCELLED
	TriggerOverdue    = "overdue"     // first delivery after a transfer bill was found past its confirm window
	TriggerRetry      = "retry"       // background redelivery after a failure
	TriggerNotify     = "notify"      // replay requested through Notify, NotifyRefund or NotifyTransfer
	TriggerForge      = "forge"       // forged callback requested through Forge or ForgeV3
	TriggerForgeFault = "forge_fault" // forged callback sent by a pay_callback or v3_notify forge fault
	TriggerResume     = "resume"      // redelivery of an unacknowledged callback right after Open loaded it from Config.StateFile
)

// Delivery kinds: what was sent. They double as the fault api names of the deliveries.
const (
	KindPayCallback    = "pay_callback"    // Cloud Hosting pay callback (camelCase JSON)
	KindRefundCallback = "refund_callback" // Cloud Hosting refund callback (camelCase JSON)
	KindV3Notify       = "v3_notify"       // API v3 notification (signed, encrypted resource)
)

const maxReply = 64 << 10

// Delivery is one attempt to deliver a callback or notification (or, when Dropped, one
// that a drop fault swallowed: it is returned but never logged).
type Delivery struct {
	Kind        string `json:"kind"` // KindPayCallback, KindRefundCallback or KindV3Notify
	OutTradeNo  string `json:"out_trade_no"`
	OutRefundNo string `json:"out_refund_no,omitempty"` // refund callbacks and notifications
	OutBillNo   string `json:"out_bill_no,omitempty"`   // transfer bill notifications
	// EventType is the v3 event_type, or for a Cloud Hosting refund callback the
	// refund state its content claims (SUCCESS, CLOSED, ABNORMAL).
	EventType string          `json:"event_type,omitempty"`
	Trigger   string          `json:"trigger"`
	Attempt   int             `json:"attempt"` // 1 for the first delivery of a callback, 2.. for redeliveries
	URL       string          `json:"url"`
	Body      json.RawMessage `json:"body"`
	Status    int             `json:"status"`
	Reply     string          `json:"reply"`
	OK        bool            `json:"ok"`
	Forged    bool            `json:"forged"`
	ForgeKind string          `json:"forge_kind,omitempty"` // ForgeV3 kinds
	Duplicate bool            `json:"duplicate,omitempty"`
	Dropped   bool            `json:"dropped,omitempty"`
	At        time.Time       `json:"at"`
	Error     string          `json:"error,omitempty"`
	// Headers are the Wechatpay-* headers of a v3 notification, or the X-WX-* headers of
	// a Cloud Hosting callback (see chCallbackHeaders).
	Headers map[string]string `json:"headers,omitempty"`
	// Plaintext is the decrypted resource of a v3 notification.
	Plaintext json.RawMessage `json:"plaintext,omitempty"`
}

// payCallback is the Cloud Hosting pay callback body: the keys of the example of
// https://developers.weixin.qq.com/miniprogram/dev/wxcloudservice/wxcloudrun/src/development/pay/callback/index.md
// (facts §2.3), which says the body is v2's pay notification
// (https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_7) with its keys
// camel-cased ("部分字段名称有转译，部分字段缺失，请以上述例子的 key 值为准"). A coupon payment adds
// v2's coupon fields, camel-cased the same way: couponFee and couponCount, and the
// indexed coupon_type_$n, coupon_id_$n, coupon_fee_$n as couponType0, couponId0,
// couponFee0 (how the open interface names those is not documented; this is the plain
// camel-casing of the v2 key), and settlementTotalFee for a no-cash coupon.
type payCallback struct {
	ReturnCode     string `json:"returnCode"`
	Appid          string `json:"appid"`
	MchID          string `json:"mchId"`
	SubAppid       string `json:"subAppid"`
	SubMchID       string `json:"subMchId"`
	NonceStr       string `json:"nonceStr"`
	ResultCode     string `json:"resultCode"`
	Openid         string `json:"openid"`
	IsSubscribe    string `json:"isSubscribe"`
	SubOpenid      string `json:"subOpenid"`
	SubIsSubscribe string `json:"subIsSubscribe"`
	TradeType      string `json:"tradeType"`
	BankType       string `json:"bankType"`
	TotalFee       int64  `json:"totalFee"`
	FeeType        string `json:"feeType"`
	CashFee        int64  `json:"cashFee"`
	TransactionID  string `json:"transactionId"`
	OutTradeNo     string `json:"outTradeNo"`
	TimeEnd        string `json:"timeEnd"`
	Attach         string `json:"attach,omitempty"`
	// Only for a payment that used a coupon.
	SettlementTotalFee int64  `json:"settlementTotalFee,omitempty"`
	CouponFee          int64  `json:"couponFee,omitempty"`
	CouponCount        int64  `json:"couponCount,omitempty"`
	CouponType0        string `json:"couponType0,omitempty"`
	CouponID0          string `json:"couponId0,omitempty"`
	CouponFee0         int64  `json:"couponFee0,omitempty"`
}

// callback is a callback or notification ready to send.
type callback struct {
	kind        string
	outTradeNo  string
	outRefundNo string
	outBillNo   string
	eventType   string
	state       string // refund kinds: the refund state the content claims; transfers: the bill's state
	url         string
	urlErr      string
	envID       string // Cloud Hosting callbacks: the environment delivered to (X-WX-ENV)
	body        []byte
	plaintext   []byte      // v3 notifications
	headers     http.Header // fixed headers of a forged v3 notification; nil: signed per attempt
	forged      bool
	forgeKind   string
}

// PayResult is what Pay and PayWithCoupon return.
type PayResult struct {
	OutTradeNo    string `json:"out_trade_no"`
	TransactionID string `json:"transaction_id"`
	TradeState    string `json:"trade_state"`
	// CashFee is what the user paid in cash (cash_fee, amount.payer_total): the total
	// less CouponFee.
	CashFee    int64    `json:"cash_fee"`
	CouponFee  int64    `json:"coupon_fee,omitempty"`
	CouponType string   `json:"coupon_type,omitempty"`
	CouponID   string   `json:"coupon_id,omitempty"`
	Callback   Delivery `json:"callback"`
}

// ForgeRequest asks for a forged SUCCESS pay callback. For an unknown order Service and
// Path are required; for a known one they override its container.
type ForgeRequest struct {
	OutTradeNo string `json:"out_trade_no"`
	TotalFee   *int64 `json:"total_fee,omitempty"`
	SubMchID   string `json:"sub_mch_id,omitempty"`
	Service    string `json:"service,omitempty"`
	Path       string `json:"path,omitempty"`
}

// Pay acts as the user paying a NOTPAY order of either channel, then delivers the Cloud
// Hosting pay callback (or, for an API v3 order, the TRANSACTION.SUCCESS notification):
// the first attempt synchronously, redeliveries (after a failure) in the background.
func (s *Simulator) Pay(ctx context.Context, outTradeNo string) (PayResult, error) {
	return s.PayWithCoupon(ctx, outTradeNo, Coupon{})
}

// PayWithCoupon is Pay with part of the order paid by a coupon (none when coupon.Fen
// is 0): the order's total stays the merchant's, the user pays the rest in cash, and
// every answer and notification tells both, as WeChat does — the open interface's
// cash_fee, coupon_fee, coupon_count and coupon fields, API v3's amount.payer_total
// and promotion_detail. Refunds of the order are then split between cash and coupon
// (see splitRefundLocked). coupon.Fen must be at least 0 and less than the order's
// total: the user pays at least 1 fen in cash (a choice; docs/simulator-fidelity-ch.md).
func (s *Simulator) PayWithCoupon(ctx context.Context, outTradeNo string, coupon Coupon) (PayResult, error) {
	switch coupon.Type {
	case "":
		coupon.Type = CouponCash
	case CouponCash, CouponNoCash:
	default:
		return PayResult{}, badField("coupon_type", fmt.Sprintf("coupon_type %q is not %s or %s", coupon.Type, CouponCash, CouponNoCash))
	}
	if coupon.Fen < 0 {
		return PayResult{}, badField("coupon_fen", "coupon_fen must be a whole number of fen, at least 0")
	}
	now := s.now()
	s.mu.Lock()
	o := s.orders[outTradeNo]
	if o == nil {
		s.mu.Unlock()
		return PayResult{}, orderNotFound(outTradeNo)
	}
	if o.state != stateNotPay {
		s.mu.Unlock()
		return PayResult{}, &Error{Status: http.StatusConflict, Code: "ORDER_NOT_PAYABLE",
			Message: fmt.Sprintf("order %s is %s", outTradeNo, o.state)}
	}
	if !o.timeExpire.IsZero() && !now.Before(o.timeExpire) {
		s.mu.Unlock()
		return PayResult{}, &Error{Status: http.StatusConflict, Code: "ORDER_EXPIRED",
			Message: fmt.Sprintf("expired: order %s expired at %s", outTradeNo, s.wechatTime(o.timeExpire))}
	}
	if coupon.Fen >= o.totalFee {
		s.mu.Unlock()
		return PayResult{}, badField("coupon_fen", fmt.Sprintf("coupon_fen %d must be less than the order's total %d: the user pays at least 1 fen", coupon.Fen, o.totalFee))
	}
	o.state = stateSuccess
	if o.openID == "" { // Native and H5 orders learn their payer when the user pays
		o.openID = DevPayerOpenID
	}
	o.transactionID = s.newTransactionIDLocked(now)
	o.timeEnd = now
	if coupon.Fen > 0 {
		o.couponFee, o.couponType, o.couponID = coupon.Fen, coupon.Type, s.newCouponID()
	}
	s.byTxn[o.transactionID] = o
	s.saveOrderLocked(o)
	cb := s.payCallbackLocked(o)
	res := PayResult{OutTradeNo: o.outTradeNo, TransactionID: o.transactionID, TradeState: o.state,
		CashFee: o.cashFee(), CouponFee: o.couponFee, CouponID: o.couponID}
	if o.couponFee > 0 {
		res.CouponType = o.couponType
	}
	s.mu.Unlock()

	res.Callback = s.deliverGenuine(ctx, cb, TriggerPay, true)
	return res, nil
}

// Notify delivers the genuine pay callback (or v3 TRANSACTION.SUCCESS notification) of a
// paid order again, now, without background redelivery.
func (s *Simulator) Notify(ctx context.Context, outTradeNo string) (Delivery, error) {
	s.mu.Lock()
	o := s.orders[outTradeNo]
	if o == nil {
		s.mu.Unlock()
		return Delivery{}, orderNotFound(outTradeNo)
	}
	if !o.paid() {
		s.mu.Unlock()
		return Delivery{}, &Error{Status: http.StatusConflict, Code: "ORDER_NOT_PAID",
			Message: fmt.Sprintf("order %s is %s: WeChat only calls back paid orders", outTradeNo, o.state)}
	}
	if o.outside {
		s.mu.Unlock()
		return Delivery{}, &Error{Status: http.StatusConflict, Code: "ORDER_OUTSIDE",
			Message: fmt.Sprintf("order %s was paid outside any merchant back end: no pay callback target was ever given", outTradeNo)}
	}
	cb := s.payCallbackLocked(o)
	s.mu.Unlock()
	return s.deliverGenuine(ctx, cb, TriggerNotify, false), nil
}

// Forge sends a forged SUCCESS pay callback now, whatever the order's real state; the
// order does not change. Faults do not apply to forged callbacks.
func (s *Simulator) Forge(ctx context.Context, req ForgeRequest) (Delivery, error) {
	if req.OutTradeNo == "" {
		return Delivery{}, badField("out_trade_no", "out_trade_no is required")
	}
	s.mu.Lock()
	o := s.orders[req.OutTradeNo]
	if o == nil {
		if req.Service == "" {
			s.mu.Unlock()
			return Delivery{}, badField("service", "service is required for an order the simulator does not know")
		}
		if req.Path == "" {
			s.mu.Unlock()
			return Delivery{}, badField("path", "path is required for an order the simulator does not know")
		}
		o = &order{
			outTradeNo: req.OutTradeNo, subMchID: s.cfg.SubMchID, subAppID: s.cfg.AppID,
			openID: "oForged" + randString(alnum, 21), tradeType: "JSAPI", totalFee: 1,
			callbackType: 2, state: stateNotPay,
		}
	}
	cb := s.callbackLocked(o, true, req)
	s.mu.Unlock()
	return s.deliver(ctx, cb, TriggerForge, 1, false), nil
}

// newCouponID returns a coupon_id shaped like real ones (v2 coupon_id_$n, v3
// promotion_detail.coupon_id): 11 digits, the first not 0.
func (s *Simulator) newCouponID() string {
	return randString("123456789", 1) + randString(digits, 10)
}

// payCallbackLocked builds the genuine payment callback of o for its channel.
func (s *Simulator) payCallbackLocked(o *order) callback {
	if o.channel == ChannelV3 {
		return s.transactionNotifyLocked(o)
	}
	return s.callbackLocked(o, false, ForgeRequest{})
}

// forgeFromFault sends the forged callback a forge fault asked for, if the order is
// still unpaid.
func (s *Simulator) forgeFromFault(outTradeNo string) {
	s.mu.Lock()
	o := s.orders[outTradeNo]
	if o == nil || o.state != stateNotPay {
		s.mu.Unlock()
		return
	}
	cb := s.callbackLocked(o, true, ForgeRequest{})
	s.mu.Unlock()
	s.deliver(s.ctx, cb, TriggerForgeFault, 1, false)
}

func orderNotFound(outTradeNo string) *Error {
	return &Error{Status: http.StatusNotFound, Code: "ORDER_NOT_FOUND",
		Message: fmt.Sprintf("order %s does not exist at WeChat", outTradeNo)}
}

// callbackLocked builds the callback for o. A forged one applies the overrides in f and
// invents a transaction id when the order has none.
func (s *Simulator) callbackLocked(o *order, forged bool, f ForgeRequest) callback {
	now := s.now()
	body := payCallback{
		ReturnCode: "SUCCESS", Appid: SPAppID, MchID: SPMchID, SubAppid: o.subAppID,
		SubMchID: o.subMchID, NonceStr: nonce(), ResultCode: "SUCCESS",
		Openid: spOpenID(o.openID), IsSubscribe: "N", SubOpenid: o.openID, SubIsSubscribe: "N",
		TradeType: o.tradeType, BankType: "OTHERS", TotalFee: o.totalFee, FeeType: "CNY",
		CashFee: o.cashFee(), TransactionID: o.transactionID, OutTradeNo: o.outTradeNo,
		TimeEnd: s.wechatTime(o.timeEnd), Attach: o.attach,
	}
	if o.couponFee > 0 {
		body.CouponFee, body.CouponCount = o.couponFee, 1
		body.CouponType0, body.CouponID0, body.CouponFee0 = o.couponType, o.couponID, o.couponFee
		if o.couponType == CouponNoCash {
			body.SettlementTotalFee = o.settlementTotalFee()
		}
	}
	if forged {
		if body.TransactionID == "" {
			body.TransactionID = s.newTransactionIDLocked(now)
			body.TimeEnd = s.wechatTime(now)
		}
		if f.TotalFee != nil {
			body.TotalFee, body.CashFee = *f.TotalFee, *f.TotalFee
			if o.couponFee > 0 && o.couponFee < *f.TotalFee {
				body.CashFee = *f.TotalFee - o.couponFee
			}
		}
		if f.SubMchID != "" {
			body.SubMchID = f.SubMchID
		}
	}
	raw, err := json.Marshal(body)
	if err != nil { // cannot happen: only strings and integers
		raw = []byte("{}")
	}
	cb := callback{kind: KindPayCallback, outTradeNo: o.outTradeNo, envID: o.envID, body: raw, forged: forged}

	container, function := o.container, o.functionName
	if f.Service != "" || f.Path != "" {
		function = ""
		if f.Service != "" {
			container.Service = f.Service
		}
		if f.Path != "" {
			container.Path = f.Path
		}
	}
	cb.url, cb.urlErr = s.targetURL(container, function)
	return cb
}

// targetURL maps a Cloud Hosting callback target (a cloud function, or else a container)
// to a URL through Config.Services.
func (s *Simulator) targetURL(container Container, function string) (url, urlErr string) {
	if function != "" {
		if base, ok := s.cfg.Services[function]; ok {
			return base, ""
		}
		return "", fmt.Sprintf("unknown cloud function %q (not in Config.Services)", function)
	}
	if base, ok := s.cfg.Services[container.Service]; ok {
		return joinURL(base, container.Path), ""
	}
	return "", fmt.Sprintf("unknown container service %q (not in Config.Services)", container.Service)
}

func joinURL(base, path string) string {
	if path == "" {
		return base
	}
	return strings.TrimSuffix(base, "/") + "/" + strings.TrimPrefix(path, "/")
}

// deliverGenuine delivers a genuine callback, applying the faults of its kind, and, when
// retry is set and the attempt failed, schedules redeliveries.
func (s *Simulator) deliverGenuine(ctx context.Context, cb callback, trigger string, retry bool) Delivery {
	if s.consumeFault(cb.kind, ModeDrop) != nil {
		s.mu.Lock()
		s.markAttemptedLocked(cb)
		s.mu.Unlock()
		_ = s.sync() // what the callback would have told is durable all the same
		d := s.newDelivery(cb, trigger, 1, false)
		d.Dropped = true
		d.Error = "dropped by a " + cb.kind + " drop fault"
		return d
	}
	d := s.attempt(ctx, cb, trigger, 1)
	if !d.OK && retry {
		s.spawn(func() { s.redeliver(cb) })
	}
	return d
}

func (s *Simulator) redeliver(cb callback) {
	for i, delay := range s.cfg.RetryDelays {
		if !sleep(s.ctx, delay) {
			return
		}
		s.mu.Lock()
		acked := s.ackedLocked(cb)
		s.mu.Unlock()
		if acked {
			return
		}
		if s.attempt(s.ctx, cb, TriggerRetry, i+2).OK {
			return
		}
	}
}

// attempt makes one delivery attempt of a genuine callback, sent twice concurrently
// when a duplicate fault applies; it reports success if any copy was acknowledged.
func (s *Simulator) attempt(ctx context.Context, cb callback, trigger string, n int) Delivery {
	if s.consumeFault(cb.kind, ModeDuplicate) == nil {
		return s.deliver(ctx, cb, trigger, n, false)
	}
	var wg sync.WaitGroup
	var ds [2]Delivery
	for i := range ds {
		wg.Go(func() { ds[i] = s.deliver(ctx, cb, trigger, n, true) })
	}
	wg.Wait()
	if !ds[0].OK && ds[1].OK {
		return ds[1]
	}
	return ds[0]
}

func (s *Simulator) newDelivery(cb callback, trigger string, n int, dup bool) Delivery {
	d := Delivery{Kind: cb.kind, OutTradeNo: cb.outTradeNo, OutRefundNo: cb.outRefundNo, OutBillNo: cb.outBillNo,
		EventType: cb.eventType, Trigger: trigger, Attempt: n, URL: cb.url,
		Body: json.RawMessage(cb.body), Forged: cb.forged, ForgeKind: cb.forgeKind, Duplicate: dup, At: s.now()}
	if len(cb.plaintext) > 0 {
		d.Plaintext = json.RawMessage(cb.plaintext)
	}
	return d
}

// deliver POSTs cb once, judges the reply and logs the attempt. It never holds the mutex
// during HTTP. A genuine v3 notification is signed afresh for each attempt. With
// Config.StateFile, what the callback tells is made durable before it is sent, and its
// acknowledgement right after.
func (s *Simulator) deliver(ctx context.Context, cb callback, trigger string, n int, dup bool) Delivery {
	d := s.newDelivery(cb, trigger, n, dup)
	if err := s.sync(); err != nil {
		d.Error = "not sent: " + err.Error()
		s.mu.Lock()
		s.deliveries = append(s.deliveries, d)
		s.mu.Unlock()
		return d
	}
	headers := cb.headers
	switch {
	case cb.kind == KindV3Notify && headers == nil:
		headers = s.v3SignedHeaders(cb.body)
	case cb.kind == KindPayCallback || cb.kind == KindRefundCallback:
		headers = chCallbackHeaders(cb.envID)
	}
	if len(headers) > 0 {
		d.Headers = map[string]string{}
		for k := range headers {
			d.Headers[k] = headers.Get(k)
		}
	}
	if cb.urlErr != "" {
		d.Error = cb.urlErr
	} else {
		d.Status, d.Reply, d.Error = s.post(ctx, cb.url, cb.body, headers)
		if d.Error == "" {
			if cb.kind == KindV3Notify {
				d.OK, d.Error = judgeV3Reply(d.Status)
			} else {
				d.OK, d.Error = judgeReply(d.Status, []byte(d.Reply))
			}
		}
	}
	s.mu.Lock()
	s.deliveries = append(s.deliveries, d)
	if !d.Forged {
		s.markAttemptedLocked(cb)
		if d.OK {
			s.markAckedLocked(cb)
		}
	}
	s.mu.Unlock()
	if !d.Forged {
		_ = s.sync()
	}
	return d
}

// ackedLocked reports whether a genuine delivery of what cb carries was acknowledged.
func (s *Simulator) ackedLocked(cb callback) bool {
	if cb.outBillNo != "" {
		t := s.transfers[cb.outBillNo]
		return t != nil && t.acked
	}
	if cb.outRefundNo != "" {
		r := s.refunds[cb.outRefundNo]
		return r != nil && r.acked[cb.state]
	}
	o := s.orders[cb.outTradeNo]
	return o != nil && o.acked
}

// markAttemptedLocked records that a genuine delivery of what cb carries was attempted.
// Only a simulator with a state file needs to know (see resume).
func (s *Simulator) markAttemptedLocked(cb callback) {
	if s.j == nil || cb.forged {
		return
	}
	switch {
	case cb.outBillNo != "":
		if t := s.transfers[cb.outBillNo]; t != nil && t.state == cb.state && !t.attempted {
			t.attempted = true
			s.saveTransferLocked(t)
		}
	case cb.outRefundNo != "":
		if r := s.refunds[cb.outRefundNo]; r != nil && !r.attempted[cb.state] {
			r.attempted[cb.state] = true
			s.saveRefundLocked(r)
		}
	default:
		if o := s.orders[cb.outTradeNo]; o != nil && !o.attempted {
			o.attempted = true
			s.saveOrderLocked(o)
		}
	}
}

func (s *Simulator) markAckedLocked(cb callback) {
	if cb.outBillNo != "" {
		if t := s.transfers[cb.outBillNo]; t != nil && t.state == cb.state {
			t.acked = true
			s.saveTransferLocked(t)
		}
		return
	}
	if cb.outRefundNo != "" {
		if r := s.refunds[cb.outRefundNo]; r != nil {
			r.acked[cb.state] = true
			s.saveRefundLocked(r)
		}
		return
	}
	if o := s.orders[cb.outTradeNo]; o != nil {
		o.acked = true
		s.saveOrderLocked(o)
	}
}

func (s *Simulator) post(ctx context.Context, url string, body []byte, headers http.Header) (status int, reply, errText string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", "build request: " + err.Error()
	}
	for k, vs := range headers {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		return 0, "", err.Error()
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	if err != nil {
		return resp.StatusCode, string(raw), "read reply: " + err.Error()
	}
	return resp.StatusCode, string(raw), ""
}

// CallbackSource is the X-WX-SOURCE of the Cloud Hosting callbacks the simulator
// delivers. Cloud Hosting documents the header on every request that reaches a
// container through WeChat ("X-WX-SOURCE 调用来源（本次运行是被什么触发）"; "如需保证调用来源是微信生态端
// … 请判断 X-WX-SOURCE 头部是否存在":
// https://developers.weixin.qq.com/miniprogram/dev/wxcloudservice/wxcloudrun/src/development/weixin/index.md),
// but not its value on a pay or refund callback. The value is a choice: of the
// documented sources (wx_devtools, wx_client, wx_http, wx_unknown, scf:
// https://developers.weixin.qq.com/miniprogram/dev/wxcloud/reference-server-api/utils/getWXContext.html)
// a payment result is none of the IDE, the client or the HTTP API, so 微信未知来源调用.
const CallbackSource = "wx_unknown"

// chCallbackHeaders are the headers of a Cloud Hosting pay or refund callback besides
// Content-Type (application/json: the body is JSON, as every example handler reads
// it). X-WX-SOURCE says WeChat sent it (see CallbackSource); X-WX-ENV is the
// environment it is delivered in ("X-WX-ENV 所在云环境 ID", same page), the env_id of the
// request that named the callback, absent when none is known (a refund made in the
// merchant platform, delivered to Config.OutsideRefundCallbackURL). No user headers
// (X-WX-OPENID, X-WX-APPID …): no user made the call.
func chCallbackHeaders(envID string) http.Header {
	h := http.Header{}
	h.Set("X-WX-SOURCE", CallbackSource)
	if envID != "" {
		h.Set("X-WX-ENV", envID)
	}
	return h
}

// judgeV3Reply accepts HTTP 200 or 204, whatever the body (facts §5.6).
func judgeV3Reply(status int) (ok bool, why string) {
	if status == http.StatusOK || status == http.StatusNoContent {
		return true, ""
	}
	return false, "reply status " + strconv.Itoa(status) + ", want 200 or 204"
}

// judgeReply accepts only HTTP 200 with a JSON object whose errcode is the number 0.
func judgeReply(status int, reply []byte) (ok bool, why string) {
	if status != http.StatusOK {
		return false, "reply status " + strconv.Itoa(status) + ", want 200"
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(reply, &m); err != nil || m == nil {
		return false, "reply is not a JSON object"
	}
	raw, found := m["errcode"]
	if !found {
		return false, "reply has no errcode"
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		return false, "reply errcode is not a number"
	}
	if f != 0 {
		return false, "reply errcode is " + string(raw)
	}
	return true, ""
}
