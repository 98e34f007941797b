package alipaysim

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"time"
)

// trade is Alipay's side of a trade.
type trade struct {
	outTradeNo string
	tradeNo    string // once scanned
	method     string // TradeMethodPrecreate or TradeMethodWap
	status     string
	subject    string
	totalFen   int64
	notifyURL  string
	returnURL  string
	qrCode     string // precreate
	buyerID    string // once scanned
	scanned    bool
	createdAt  time.Time // the first precreate or cashier call
	scannedAt  time.Time // gmt_create: when the trade came to exist at Alipay
	paidAt     time.Time
	closedAt   time.Time

	refundedFen int64
	refunds     []*refund

	notifyID    string // of the payment notification; stable across its redeliveries
	notifyAcked bool
}

func (t *trade) paid() bool { return !t.paidAt.IsZero() }

func (t *trade) findRefund(outRequestNo string) *refund {
	i := slices.IndexFunc(t.refunds, func(r *refund) bool { return r.outRequestNo == outRequestNo })
	if i < 0 {
		return nil
	}
	return t.refunds[i]
}

// Trade is Alipay's side of the truth about a trade.
type Trade struct {
	OutTradeNo  string    `json:"out_trade_no"`
	TradeNo     string    `json:"trade_no,omitempty"` // once scanned
	Status      string    `json:"status"`             // Status*; WAIT_BUYER_PAY before the scan too
	TotalFen    int64     `json:"total_fen"`
	RefundedFen int64     `json:"refunded_fen"`
	Subject     string    `json:"subject"`
	NotifyURL   string    `json:"notify_url,omitempty"`
	ReturnURL   string    `json:"return_url,omitempty"`
	BuyerID     string    `json:"buyer_id,omitempty"`
	Method      string    `json:"method"` // TradeMethodPrecreate or TradeMethodWap
	Scanned     bool      `json:"scanned"`
	QRCode      string    `json:"qr_code,omitempty"`
	NotifyID    string    `json:"notify_id,omitempty"`
	NotifyAcked bool      `json:"notify_acked"` // a delivery of the payment notification was answered "success"
	CreatedAt   time.Time `json:"created_at"`
	ScannedAt   time.Time `json:"scanned_at,omitzero"`
	PaidAt      time.Time `json:"paid_at,omitzero"`
	ClosedAt    time.Time `json:"closed_at,omitzero"`
}

func (t *trade) view() Trade {
	return Trade{
		OutTradeNo: t.outTradeNo, TradeNo: t.tradeNo, Status: t.status, TotalFen: t.totalFen,
		RefundedFen: t.refundedFen, Subject: t.subject, NotifyURL: t.notifyURL, ReturnURL: t.returnURL,
		BuyerID: t.buyerID, Method: t.method, Scanned: t.scanned, QRCode: t.qrCode,
		NotifyID: t.notifyID, NotifyAcked: t.notifyAcked, CreatedAt: t.createdAt,
		ScannedAt: t.scannedAt, PaidAt: t.paidAt, ClosedAt: t.closedAt,
	}
}

// Trade returns Alipay's view of a trade, whether or not it exists at Alipay yet.
func (s *Simulator) Trade(outTradeNo string) (Trade, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.trades[outTradeNo]
	if t == nil {
		return Trade{}, false
	}
	return t.view(), true
}

// outTradeNoPattern: "商户订单号。64个字符以内，仅支持字母、数字、下划线" (precreate,
// https://opendocs.alipay.com/open/02ekfg; wap.pay,
// https://opendocs.alipay.com/open/29ae8cb6_alipay.trade.wap.pay).
var outTradeNoPattern = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)

// order is a trade as a precreate or wap.pay request describes it.
type order struct {
	outTradeNo string
	subject    string
	totalFen   int64
}

// readOrder validates the order members of precreate and wap.pay: out_trade_no,
// total_amount ("订单总金额，单位为元，精确到小数点后两位，取值范围为 [0.01,100000000]") and
// subject ("订单标题", 256 characters). A malformed amount is refused 40004
// ACQ.INVALID_PARAMETER (Alipay answers "参数无效:订单总金额格式错误", signed), one out of
// range ACQ.TOTAL_FEE_EXCEED ("订单金额不能小于等于0，且不能大于100000000元").
func readOrder(req *gatewayRequest) (order, *answer) {
	o := order{outTradeNo: req.text("out_trade_no"), subject: req.text("subject")}
	if !outTradeNoPattern.MatchString(o.outTradeNo) {
		a := bizFailure("ACQ.INVALID_PARAMETER", "参数无效:商户订单号须为64个字符以内的字母、数字、下划线")
		return o, &a
	}
	if o.subject == "" || len([]rune(o.subject)) > 256 {
		a := bizFailure("ACQ.INVALID_PARAMETER", "参数无效:订单标题不能为空且不能超过256个字符")
		return o, &a
	}
	raw, ok := req.biz["total_amount"]
	text, isText := amountText(raw)
	if !ok || !isText {
		a := bizFailure("ACQ.INVALID_PARAMETER", "参数无效:订单总金额不能为空")
		return o, &a
	}
	fen, ok := parseYuan(text)
	if !ok {
		a := bizFailure("ACQ.INVALID_PARAMETER", "参数无效:订单总金额格式错误")
		return o, &a
	}
	if fen <= 0 || fen > MaxTotalFen {
		a := bizFailure("ACQ.TOTAL_FEE_EXCEED", "")
		return o, &a
	}
	o.totalFen = fen
	return o, nil
}

// placeLocked records a precreate or wap.pay of o, or finds the trade the same
// out_trade_no already names. The same order again is the same trade (precreate answers
// the same qr_code); an out_trade_no already paid answers ACQ.TRADE_HAS_SUCCESS, one
// closed ACQ.TRADE_HAS_CLOSE, and one whose key information differs ACQ.CONTEXT_INCONSISTENT
// ("商户订单号已经创建交易成功，且本次请求的交易关键信息（如订单金额、订单标题等）与已存交易的信息不一致";
// https://opendocs.alipay.com/open/02ekfg error codes). A different product under the same
// number (precreate then wap) is taken as inconsistent too (a choice).
func (s *Simulator) placeLocked(req *gatewayRequest, o order, method string) (*trade, *answer) {
	if t := s.trades[o.outTradeNo]; t != nil {
		var a answer
		switch {
		case t.status == StatusSuccess || t.status == StatusFinished:
			a = bizFailure("ACQ.TRADE_HAS_SUCCESS", "")
		case t.status == StatusClosed:
			a = bizFailure("ACQ.TRADE_HAS_CLOSE", "")
		case t.method != method || t.totalFen != o.totalFen || t.subject != o.subject:
			a = bizFailure("ACQ.CONTEXT_INCONSISTENT", "")
		default:
			return t, nil
		}
		return nil, &a
	}
	t := &trade{
		outTradeNo: o.outTradeNo, method: method, status: StatusWaitBuyerPay, subject: o.subject,
		totalFen: o.totalFen, notifyURL: req.notifyURL, returnURL: req.returnURL, createdAt: s.now(),
	}
	if method == TradeMethodPrecreate {
		t.qrCode = newQRCode()
	}
	s.trades[t.outTradeNo] = t
	return t, nil
}

// precreate is alipay.trade.precreate (统一收单线下交易预创建,
// https://opendocs.alipay.com/open/02ekfg): it answers out_trade_no and qr_code. The
// trade does not exist at Alipay until the user scans the code ("统一收单线下交易预创建（扫码
// 支付）：生成二维码使用支付宝钱包扫码唤起收银台后订单创建", Alipay's answer to
// ACQ.TRADE_NOT_EXIST).
func (s *Simulator) precreate(req *gatewayRequest) answer {
	o, bad := readOrder(req)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	t, bad := s.placeLocked(req, o, TradeMethodPrecreate)
	if bad != nil {
		s.mu.Unlock()
		return *bad
	}
	qr := t.qrCode
	s.mu.Unlock()
	s.forgeAfterCreate(o.outTradeNo)
	return success(field{"out_trade_no", o.outTradeNo}, field{"qr_code", qr})
}

// lookupLocked finds the trade a query, close or refund names: by trade_no when given
// ("如果同时传了 out_trade_no 和 trade_no，则以 trade_no 为准", https://opendocs.alipay.com/open/02o6e7),
// else by out_trade_no. A trade not yet scanned does not exist at Alipay. It answers
// ACQ.INVALID_PARAMETER when both are empty.
func (s *Simulator) lookupLocked(req *gatewayRequest) (*trade, *answer) {
	if no := req.text("trade_no"); no != "" {
		return s.byTradeNo[no], nil
	}
	no := req.text("out_trade_no")
	if no == "" {
		a := bizFailure("ACQ.INVALID_PARAMETER", "参数无效:商户订单号和支付宝交易号不能同时为空")
		return nil, &a
	}
	t := s.trades[no]
	if t == nil || !t.scanned {
		return nil, nil
	}
	return t, nil
}

// paidAmounts are the money members of a query answer: what the buyer paid, what the
// merchant received and what can be invoiced, 0.00 until paid ("receipt_amount 实收金额"),
// as Alipay answers a scanned, unpaid trade.
func paidAmounts(t *trade) []field {
	paid := "0.00"
	if t != nil && t.paid() {
		paid = formatFen(t.totalFen)
	}
	return []field{{"buyer_pay_amount", paid}, {"point_amount", "0.00"}, {"invoice_amount", paid}, {"receipt_amount", paid}}
}

// buyerLogonID is DevBuyerID's masked logon id (buyer_logon_id "买家支付宝账号", masked
// as Alipay masks it).
const buyerLogonID = "dev***@example.com"

// query is alipay.trade.query (统一收单交易查询, https://opendocs.alipay.com/open/02ekfh). An
// unknown or unscanned trade answers ACQ.TRADE_NOT_EXIST with the zero amounts Alipay
// adds ({"code":"40004",…,"sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在",
// "buyer_pay_amount":"0.00","invoice_amount":"0.00","out_trade_no":…,"point_amount":"0.00",
// "receipt_amount":"0.00"}, as merchants have logged it).
func (s *Simulator) query(req *gatewayRequest) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, bad := s.lookupLocked(req)
	if bad != nil {
		return *bad
	}
	if t == nil {
		f := paidAmounts(nil)
		if no := req.text("out_trade_no"); no != "" {
			f = append(f, field{"out_trade_no", no})
		}
		return bizFailure("ACQ.TRADE_NOT_EXIST", "", f...)
	}
	f := []field{
		{"trade_no", t.tradeNo}, {"out_trade_no", t.outTradeNo}, {"buyer_logon_id", buyerLogonID},
		{"trade_status", t.status}, {"total_amount", formatFen(t.totalFen)},
	}
	f = append(f, paidAmounts(t)...)
	if t.paid() {
		f = append(f, field{"send_pay_date", s.alipayTime(t.paidAt)})
	}
	f = append(f, field{"buyer_user_id", t.buyerID}, field{"subject", t.subject})
	return success(f...)
}

// closeTrade is alipay.trade.close (统一收单交易关闭, https://opendocs.alipay.com/open/02o6e7):
// "用于交易创建后，用户在一定时间内未进行支付，可调用该接口直接将未付款的交易进行关闭". A trade not
// created at Alipay yet answers ACQ.TRADE_NOT_EXIST; one not waiting for the buyer
// ACQ.TRADE_STATUS_ERROR ("交易状态不合法: 检查当前交易的状态是不是等待买家付款，只有等待买家付款状态
// 下才能发起交易关闭"). No notification is sent: TRADE_CLOSED does not trigger one by default
// (https://opendocs.alipay.com/open/270/105902).
func (s *Simulator) closeTrade(req *gatewayRequest) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, bad := s.lookupLocked(req)
	if bad != nil {
		return *bad
	}
	if t == nil {
		return bizFailure("ACQ.TRADE_NOT_EXIST", "")
	}
	if t.status != StatusWaitBuyerPay {
		return bizFailure("ACQ.TRADE_STATUS_ERROR", "")
	}
	t.status, t.closedAt = StatusClosed, s.now()
	return success(field{"trade_no", t.tradeNo}, field{"out_trade_no", t.outTradeNo})
}

// Scan acts as DevBuyerID scanning a precreated trade's code (or logging in to a WAP
// trade's cashier): the trade comes to exist at Alipay, WAIT_BUYER_PAY with a trade_no,
// so query and close find it. Scanning again (or after the payment) changes nothing.
func (s *Simulator) Scan(outTradeNo string) (Trade, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.trades[outTradeNo]
	if t == nil {
		return Trade{}, notFound("trade", outTradeNo)
	}
	s.scanLocked(t, s.now())
	return t.view(), nil
}

func (s *Simulator) scanLocked(t *trade, now time.Time) {
	if t.scanned {
		return
	}
	t.scanned, t.scannedAt, t.buyerID = true, now, DevBuyerID
	t.tradeNo = s.newTradeNoLocked(now)
	s.byTradeNo[t.tradeNo] = t
}

// Pay acts as DevBuyerID scanning (if not yet) and paying a trade waiting for the buyer:
// it becomes TRADE_SUCCESS and its asynchronous notification goes to its notify_url, the
// first attempt synchronously (under ctx), redeliveries in the background on
// Config.RetryDelays until a reply is "success". A trade without notify_url is paid
// without notification (Alipay would notify the application's gateway address; none is
// simulated).
func (s *Simulator) Pay(ctx context.Context, outTradeNo string) (Trade, error) {
	now := s.now()
	s.mu.Lock()
	t := s.trades[outTradeNo]
	if t == nil {
		s.mu.Unlock()
		return Trade{}, notFound("trade", outTradeNo)
	}
	if t.status != StatusWaitBuyerPay {
		s.mu.Unlock()
		return Trade{}, &Error{Status: http.StatusConflict, Code: "TRADE_NOT_PAYABLE",
			Message: fmt.Sprintf("trade %s is %s", outTradeNo, t.status)}
	}
	s.scanLocked(t, now)
	t.status, t.paidAt, t.notifyID = StatusSuccess, now, newNotifyID()
	n := s.paymentNotificationLocked(t)
	s.mu.Unlock()

	if n != nil {
		s.deliverGenuine(ctx, n, TriggerPay, true)
	}
	v, _ := s.Trade(outTradeNo)
	return v, nil
}
