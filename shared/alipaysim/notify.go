package alipaysim

import (
	"context"
	"crypto/rsa"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Delivery triggers.
const (
	TriggerPay        = "pay"         // first delivery after Pay
	TriggerRetry      = "retry"       // background redelivery after a failed attempt
	TriggerNotify     = "notify"      // sent again through Notify
	TriggerForge      = "forge"       // forged through Forge
	TriggerForgeFault = "forge_fault" // forged by a notify forge fault
)

// Forge kinds: what is wrong with a forged notification. Only bad_signature fails the
// SDK's verification; the others are signed with the Alipay key and must be refused by
// the checks Alipay asks merchants to make after it ("验签通过后，核对以下字段：app_id 与本
// 应用一致；out_trade_no 存在于本地订单库；total_amount 与本地订单金额一致；seller_id 为本商户账号",
// https://opendocs.alipay.com/open/270/105902).
const (
	ForgeBadSignature = "bad_signature" // signed with a key that is not Alipay's
	ForgeWrongApp     = "wrong_app"     // app_id and auth_app_id ForgedAppID
	ForgeWrongSeller  = "wrong_seller"  // seller_id ForgedSellerID
	ForgeWrongAmount  = "wrong_amount"  // total_amount (and the paid amounts) 1.00 more than the trade's
	ForgeUnknownTrade = "unknown_trade" // an out_trade_no nobody created
)

var forgeKinds = []string{ForgeBadSignature, ForgeWrongApp, ForgeWrongSeller, ForgeWrongAmount, ForgeUnknownTrade}

// Identities forged notifications use.
const (
	ForgedAppID    = "2021000000009999"
	ForgedSellerID = "2088000000009999"
)

const maxReply = 64 << 10

// Delivery is one attempt to deliver an asynchronous notification (or, when Dropped, one
// that a drop fault swallowed: nothing was sent).
type Delivery struct {
	OutTradeNo string `json:"out_trade_no"` // the trade it concerns (unknown_trade: the trade the forge named)
	NotifyID   string `json:"notify_id"`
	Trigger    string `json:"trigger"`
	Attempt    int    `json:"attempt"` // 1 for the first delivery, 2.. for redeliveries
	URL        string `json:"url"`
	Body       string `json:"body"` // the application/x-www-form-urlencoded body, as sent
	Status     int    `json:"status"`
	Reply      string `json:"reply"`
	// OK reports Alipay's acknowledgement: HTTP 200 and a reply of exactly "success".
	OK        bool      `json:"ok"`
	Forged    bool      `json:"forged"`
	ForgeKind string    `json:"forge_kind,omitempty"`
	Duplicate bool      `json:"duplicate,omitempty"`
	Dropped   bool      `json:"dropped,omitempty"`
	Error     string    `json:"error,omitempty"`
	At        time.Time `json:"at"`
}

// Form decodes Body.
func (d Delivery) Form() url.Values {
	v, _ := url.ParseQuery(d.Body)
	return v
}

// Deliveries returns every logged notification attempt concerning outTradeNo ("" for
// all), in the order the attempts finished.
func (s *Simulator) Deliveries(outTradeNo string) []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Delivery{}
	for _, d := range s.deliveries {
		if outTradeNo == "" || d.OutTradeNo == outTradeNo {
			out = append(out, d)
		}
	}
	return out
}

// notification is a notification ready to send; notify_time and sign are set per attempt.
type notification struct {
	outTradeNo string
	url        string
	values     url.Values
	key        *rsa.PrivateKey
	forged     bool
	forgeKind  string
}

// notifyFacts are what a trade_status_sync notification tells.
type notifyFacts struct {
	appID, sellerID, outTradeNo, tradeNo, subject, buyerID, notifyID string
	totalFen                                                         int64
	gmtCreate, gmtPayment                                            time.Time
}

// notifyValues is a payment notification (异步通知, https://opendocs.alipay.com/open/203/105286):
// form-encoded, POSTed to notify_url, with the public members notify_time, notify_type
// trade_status_sync, notify_id, charset, version, sign_type, sign and auth_app_id (the
// app_id in direct mode), and the business members of a paid trade. fund_bill_list is
// the whole amount from the balance (ALIPAYACCOUNT): the simulator has no coupons.
func (s *Simulator) notifyValues(f notifyFacts) url.Values {
	total := formatFen(f.totalFen)
	v := url.Values{}
	v.Set("notify_type", "trade_status_sync")
	v.Set("notify_id", f.notifyID)
	v.Set("charset", "utf-8")
	v.Set("version", "1.0")
	v.Set("sign_type", "RSA2")
	v.Set("app_id", f.appID)
	v.Set("auth_app_id", f.appID)
	v.Set("trade_no", f.tradeNo)
	v.Set("out_trade_no", f.outTradeNo)
	v.Set("seller_id", f.sellerID)
	v.Set("buyer_id", f.buyerID)
	v.Set("trade_status", StatusSuccess)
	v.Set("total_amount", total)
	v.Set("receipt_amount", total)
	v.Set("invoice_amount", total)
	v.Set("buyer_pay_amount", total)
	v.Set("point_amount", "0.00")
	v.Set("subject", f.subject)
	v.Set("gmt_create", s.alipayTime(f.gmtCreate))
	v.Set("gmt_payment", s.alipayTime(f.gmtPayment))
	v.Set("fund_bill_list", `[{"amount":"`+total+`","fundChannel":"ALIPAYACCOUNT"}]`)
	return v
}

// paymentNotificationLocked builds the genuine notification of a paid trade, or nil when
// the trade has no notify_url.
func (s *Simulator) paymentNotificationLocked(t *trade) *notification {
	if t.notifyURL == "" {
		return nil
	}
	v := s.notifyValues(notifyFacts{
		appID: s.cfg.AppID, sellerID: s.cfg.SellerID, outTradeNo: t.outTradeNo, tradeNo: t.tradeNo,
		subject: t.subject, buyerID: t.buyerID, notifyID: t.notifyID, totalFen: t.totalFen,
		gmtCreate: t.scannedAt, gmtPayment: t.paidAt,
	})
	return &notification{outTradeNo: t.outTradeNo, url: t.notifyURL, values: v, key: s.cfg.AlipayKey}
}

// signedBody stamps notify_time ("通知的发送时间") and signs, for one attempt. notify_id
// stays: "在支付宝发送同一条异步通知时（包含商户并未成功打印出 success 导致支付宝重发数次通知），服务器
// 异步通知参数 notify_id 是不变的".
func (s *Simulator) signedBody(n *notification) string {
	v := maps.Clone(n.values)
	v.Set("notify_time", s.alipayTime(s.now()))
	v.Set("sign", signRSA2(n.key, []byte(notifySignContent(v))))
	return v.Encode()
}

// Notify delivers the payment notification of a paid trade again, now, once (the same
// notify_id), without background redelivery. Notify faults apply.
func (s *Simulator) Notify(ctx context.Context, outTradeNo string) (Delivery, error) {
	s.mu.Lock()
	t := s.trades[outTradeNo]
	if t == nil {
		s.mu.Unlock()
		return Delivery{}, notFound("trade", outTradeNo)
	}
	if !t.paid() {
		s.mu.Unlock()
		return Delivery{}, &Error{Status: http.StatusConflict, Code: "TRADE_NOT_PAID",
			Message: fmt.Sprintf("trade %s is %s: Alipay notifies paid trades", outTradeNo, t.status)}
	}
	n := s.paymentNotificationLocked(t)
	s.mu.Unlock()
	if n == nil {
		return Delivery{}, &Error{Status: http.StatusConflict, Code: "NO_NOTIFY_URL",
			Message: fmt.Sprintf("trade %s has no notify_url", outTradeNo)}
	}
	return s.deliverGenuine(ctx, n, TriggerNotify, false), nil
}

// ForgeRequest asks for a forged TRADE_SUCCESS notification. OutTradeNo names the trade
// whose facts it tells (required except for unknown_trade); URL defaults to that trade's
// notify_url. A trade the simulator does not know (or one not yet scanned) gets invented
// facts: a trade_no, 0.01 yuan when unknown.
type ForgeRequest struct {
	Kind       string `json:"kind"`
	OutTradeNo string `json:"out_trade_no"`
	URL        string `json:"url,omitempty"`
}

// Forge sends a forged notification now, once, whatever the trade's real state; the
// trade does not change and faults do not apply.
func (s *Simulator) Forge(ctx context.Context, req ForgeRequest) (Delivery, error) {
	s.mu.Lock()
	n, err := s.forgedLocked(req)
	s.mu.Unlock()
	if err != nil {
		return Delivery{}, err
	}
	return s.deliver(ctx, n, TriggerForge, 1, false), nil
}

func (s *Simulator) forgedLocked(req ForgeRequest) (*notification, error) {
	switch {
	case !slices.Contains(forgeKinds, req.Kind):
		return nil, badField("kind", fmt.Sprintf("kind %q is not one of %v", req.Kind, forgeKinds))
	case req.OutTradeNo == "" && req.Kind != ForgeUnknownTrade:
		return nil, badField("out_trade_no", "out_trade_no is required for kind "+req.Kind)
	}
	now := s.now()
	t := s.trades[req.OutTradeNo]
	target := req.URL
	if target == "" {
		if t == nil || t.notifyURL == "" {
			return nil, badField("url", "url is required when the trade has no notify_url")
		}
		target = t.notifyURL
	}
	f := notifyFacts{appID: s.cfg.AppID, sellerID: s.cfg.SellerID, outTradeNo: req.OutTradeNo,
		subject: "forged", buyerID: DevBuyerID, notifyID: newNotifyID(), totalFen: 1, gmtCreate: now, gmtPayment: now}
	if t != nil {
		f.subject, f.totalFen, f.tradeNo = t.subject, t.totalFen, t.tradeNo
		if t.scanned {
			f.gmtCreate = t.scannedAt
		}
	}
	if f.tradeNo == "" {
		f.tradeNo = s.newTradeNoLocked(now) // invented, not registered
	}
	key := s.cfg.AlipayKey
	switch req.Kind {
	case ForgeBadSignature:
		key = stranger()
	case ForgeWrongApp:
		f.appID = ForgedAppID
	case ForgeWrongSeller:
		f.sellerID = ForgedSellerID
	case ForgeWrongAmount:
		f.totalFen += 100
	case ForgeUnknownTrade:
		for {
			f.outTradeNo = "ALIPAYSIM" + randString(digits, 16)
			if s.trades[f.outTradeNo] == nil {
				break
			}
		}
	}
	return &notification{outTradeNo: req.OutTradeNo, url: target, values: s.notifyValues(f), key: key,
		forged: true, forgeKind: req.Kind}, nil
}

// forgeAfterCreate applies a notify forge fault after a successful precreate or cashier
// page: the forged notification is sent after the reply, while the trade is unpaid.
func (s *Simulator) forgeAfterCreate(outTradeNo string) {
	f := s.consumeFault(FaultNotify, ModeForge)
	if f == nil {
		return
	}
	s.spawn(func() {
		s.mu.Lock()
		t := s.trades[outTradeNo]
		if t == nil || t.paid() || t.notifyURL == "" {
			s.mu.Unlock()
			return
		}
		n, err := s.forgedLocked(ForgeRequest{Kind: f.Code, OutTradeNo: outTradeNo})
		s.mu.Unlock()
		if err == nil {
			s.deliver(s.ctx, n, TriggerForgeFault, 1, false)
		}
	})
}

// deliverGenuine delivers a genuine notification, applying the notify faults, and, when
// retry is set and the attempt failed, schedules redeliveries.
func (s *Simulator) deliverGenuine(ctx context.Context, n *notification, trigger string, retry bool) Delivery {
	if s.consumeFault(FaultNotify, ModeDrop) != nil {
		d := s.newDelivery(n, trigger, 1, false)
		d.Dropped, d.Error = true, "dropped by a notify drop fault"
		s.mu.Lock()
		s.deliveries = append(s.deliveries, d)
		s.mu.Unlock()
		return d
	}
	d := s.attempt(ctx, n, trigger, 1)
	if !d.OK && retry {
		s.spawn(func() { s.redeliver(n) })
	}
	return d
}

// redeliver follows Config.RetryDelays until an attempt is acknowledged ("如果商户反馈给支付
// 宝的字符不是success这7个字符，支付宝服务器会不断重发通知", https://opendocs.alipay.com/open/203/105286).
func (s *Simulator) redeliver(n *notification) {
	for i, delay := range s.cfg.RetryDelays {
		if !sleep(s.ctx, delay) {
			return
		}
		s.mu.Lock()
		t := s.trades[n.outTradeNo]
		acked := t != nil && t.notifyAcked
		s.mu.Unlock()
		if acked {
			return
		}
		if s.attempt(s.ctx, n, TriggerRetry, i+2).OK {
			return
		}
	}
}

// attempt makes one delivery attempt, sent twice concurrently when a duplicate fault
// applies; it reports success if either copy was acknowledged.
func (s *Simulator) attempt(ctx context.Context, n *notification, trigger string, i int) Delivery {
	if s.consumeFault(FaultNotify, ModeDuplicate) == nil {
		return s.deliver(ctx, n, trigger, i, false)
	}
	var wg sync.WaitGroup
	var ds [2]Delivery
	for k := range ds {
		wg.Go(func() { ds[k] = s.deliver(ctx, n, trigger, i, k == 1) })
	}
	wg.Wait()
	if !ds[0].OK && ds[1].OK {
		return ds[1]
	}
	return ds[0]
}

func (s *Simulator) newDelivery(n *notification, trigger string, i int, dup bool) Delivery {
	return Delivery{OutTradeNo: n.outTradeNo, NotifyID: n.values.Get("notify_id"), Trigger: trigger,
		Attempt: i, URL: n.url, Forged: n.forged, ForgeKind: n.forgeKind, Duplicate: dup, At: s.now()}
}

// deliver POSTs n once, judges the reply and logs the attempt. Alipay takes only the
// seven characters success as the acknowledgement ("程序执行完后必须打印输出“success”（不包含
// 引号）。如果商户反馈给支付宝的字符不是success这7个字符，支付宝服务器会不断重发通知";
// "必须保证服务器异步通知页面上无任何字符，如空格、HTML标签"): no trimming. It also wants HTTP 200
// (a choice: the page says nothing of the status).
func (s *Simulator) deliver(ctx context.Context, n *notification, trigger string, i int, dup bool) Delivery {
	d := s.newDelivery(n, trigger, i, dup)
	d.Body = s.signedBody(n)
	d.Status, d.Reply, d.Error = s.post(ctx, n.url, d.Body)
	switch {
	case d.Error != "":
	case d.Status != http.StatusOK:
		d.Error = fmt.Sprintf("reply status %d, want 200", d.Status)
	case d.Reply != "success":
		d.Error = fmt.Sprintf("reply %q is not exactly \"success\"", truncate(d.Reply, 64))
	default:
		d.OK = true
	}
	d.At = s.now()
	s.mu.Lock()
	s.deliveries = append(s.deliveries, d)
	if d.OK && !n.forged {
		if t := s.trades[n.outTradeNo]; t != nil {
			t.notifyAcked = true
		}
	}
	s.mu.Unlock()
	return d
}

func (s *Simulator) post(ctx context.Context, target, body string) (status int, reply, errText string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		return 0, "", "build request: " + err.Error()
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
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

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
