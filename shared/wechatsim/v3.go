package wechatsim

import (
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The API v3 side: requests are verified like WeChat Pay verifies them (facts §5.1),
// responses and notifications are signed with Config.PlatformKey (facts §5.2), and errors
// are {"code","message"} with WeChat's HTTP statuses.

const (
	v3AuthScheme    = "WECHATPAY2-SHA256-RSA2048"
	v3MaxClockSkew  = 300 // seconds, either way
	v3TimeFormat    = time.RFC3339
	maxNotifyURLLen = 256
)

// v3Error is an API v3 error reply.
type v3Error struct {
	status  int
	code    string
	message string
}

func v3Err(status int, code, message string) *v3Error {
	return &v3Error{status: status, code: code, message: message}
}

func (e *v3Error) body() map[string]any {
	return map[string]any{"code": e.code, "message": e.message}
}

// v3Reply is what a v3 handler answers: a status with a JSON body (nil: no body).
type v3Reply struct {
	status int
	body   any
	byCert bool // signed with the platform certificate whatever the mode (GET /v3/certificates)
}

func (e *v3Error) reply() v3Reply { return v3Reply{status: e.status, body: e.body()} }

func v3OK(body any) v3Reply { return v3Reply{status: http.StatusOK, body: body} }

// v3Func handles one authenticated v3 request. It returns the reply and, optionally, work
// to run after the reply is written.
type v3Func func(r *http.Request, raw []byte) (v3Reply, func())

// v3FaultError is the v3 reply of a fail fault (see the fault mode docs). The statuses are
// those of the per-API tables (e.g. 退款申请, https://pay.weixin.qq.com/doc/v3/merchant/4012556457:
// 403 NOT_ENOUGH / USER_ACCOUNT_ABNORMAL / NO_AUTH, 429 FREQUENCY_LIMITED, 500 SYSTEM_ERROR,
// 404 RESOURCE_NOT_EXISTS) and of the common HTTP status table
// (https://pay.weixin.qq.com/wiki/doc/apiv3/Share/error_code.shtml, facts §5.7).
func v3FaultError(code string) *v3Error {
	const msg = "simulated fault"
	if n, err := strconv.Atoi(code); err == nil {
		if n < 400 || n > 599 {
			n = http.StatusInternalServerError
		}
		return v3Err(n, "SYSTEM_ERROR", msg)
	}
	switch code {
	case "SYSTEM_ERROR", "SYSTEMERROR":
		return v3Err(http.StatusInternalServerError, "SYSTEM_ERROR", msg)
	case "FREQUENCY_LIMITED":
		return v3Err(http.StatusTooManyRequests, code, msg)
	case "NOT_ENOUGH", "USER_ACCOUNT_ABNORMAL", "NO_AUTH":
		return v3Err(http.StatusForbidden, code, msg)
	case "RESOURCE_NOT_EXISTS", "NOT_FOUND":
		return v3Err(http.StatusNotFound, code, msg)
	case "SIGN_ERROR":
		return v3Err(http.StatusUnauthorized, code, msg)
	}
	return v3Err(http.StatusBadRequest, code, msg)
}

// v3API wraps a v3 handler: call log, request signature, faults, signed reply.
func (s *Simulator) v3API(name string, fn v3Func) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		raw, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIBody))
		s.logCall(name, r.URL.RequestURI(), raw)
		if readErr != nil {
			s.writeV3(w, v3Err(http.StatusBadRequest, "PARAM_ERROR", "cannot read request body: "+readErr.Error()).reply())
			return
		}
		if e := s.verifyV3Request(r, raw); e != nil {
			s.writeV3(w, e.reply())
			return
		}
		f := s.consumeFault(name, ModeFail, ModeTimeout, ModeDelay)
		if f != nil && f.Mode == ModeDelay {
			sleep(s.ctx, time.Duration(f.DelayMS)*time.Millisecond)
		}
		if f != nil && f.Mode == ModeFail {
			s.writeV3(w, v3FaultError(f.Code).reply())
			return
		}
		rep, after := fn(r, raw)
		if f != nil && f.Mode == ModeTimeout {
			if after != nil {
				after()
			}
			hold := 60 * time.Second
			if f.DelayMS > 0 {
				hold = time.Duration(f.DelayMS) * time.Millisecond
			}
			t := time.NewTimer(hold)
			defer t.Stop()
			select {
			case <-r.Context().Done():
				return
			case <-s.ctx.Done():
			case <-t.C:
			}
			s.writeV3(w, rep)
			return
		}
		s.writeV3(w, rep)
		if after != nil {
			// "After the reply" means after the caller could read it.
			_ = http.NewResponseController(w).Flush()
			after()
		}
	}
}

// verifyV3Request checks the Authorization header of facts §5.1 over the request as the
// simulator received it: r.URL.RequestURI() is what the client signed (a transport that
// adds a path prefix after signing is undone by the mount that strips it).
func (s *Simulator) verifyV3Request(r *http.Request, body []byte) *v3Error {
	signErr := func(msg string) *v3Error { return v3Err(http.StatusUnauthorized, "SIGN_ERROR", msg) }
	scheme, rest, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if scheme != v3AuthScheme {
		return signErr("Authorization header missing or not of type " + v3AuthScheme)
	}
	fields, err := parseAuthFields(rest)
	if err != nil {
		return signErr("Authorization header is malformed: " + err.Error())
	}
	for _, k := range []string{"mchid", "nonce_str", "timestamp", "serial_no", "signature"} {
		if fields[k] == "" {
			return signErr("Authorization header lacks " + k)
		}
	}
	if fields["mchid"] != s.cfg.MchID {
		return signErr(fmt.Sprintf("mchid %q in the Authorization header is not the merchant %s", fields["mchid"], s.cfg.MchID))
	}
	if fields["serial_no"] != s.cfg.MerchantSerial {
		return signErr(fmt.Sprintf("商户证书序列号有误: serial_no %q is not the merchant's certificate serial", fields["serial_no"]))
	}
	ts, err := strconv.ParseInt(fields["timestamp"], 10, 64)
	if err != nil {
		return signErr("timestamp in the Authorization header is not a number of seconds")
	}
	if d := time.Now().Unix() - ts; d > v3MaxClockSkew || d < -v3MaxClockSkew {
		return signErr("Http头Authorization中的timestamp与发起请求的时间不得超过5分钟")
	}
	// The path signed is the one the client requested. Given a base URL with a
	// path (http://host/sim, or a proxy's prefix), a client signs the whole path
	// (wechatpay-axios-plugin does), while the handler sees it without the
	// prefix: every form the request arrived in is the request's own.
	var msg string
	for _, uri := range requestedURIs(r) {
		msg = r.Method + "\n" + uri + "\n" + fields["timestamp"] + "\n" + fields["nonce_str"] + "\n" + string(body) + "\n"
		if verifySHA256(s.cfg.MerchantPublicKey, msg, fields["signature"]) == nil {
			return nil
		}
	}
	return signErr("错误的签名，验签失败: the signature does not verify over " + strconv.Quote(msg))
}

// requestedURIs are the request's path and query as the handler sees them,
// as they reached this process when a mux stripped a prefix, and behind a
// reverse proxy that stripped one and said so in X-Forwarded-Prefix (as
// Traefik's and Spring's gateways do).
func requestedURIs(r *http.Request) []string {
	uris := []string{r.URL.RequestURI()}
	if r.RequestURI != "" && r.RequestURI != uris[0] && strings.HasSuffix(strings.SplitN(r.RequestURI, "?", 2)[0], r.URL.Path) {
		uris = append(uris, r.RequestURI)
	}
	if p := strings.TrimSuffix(r.Header.Get("X-Forwarded-Prefix"), "/"); strings.HasPrefix(p, "/") {
		uris = append(uris, p+uris[len(uris)-1])
	}
	return uris
}

// parseAuthFields parses `k1="v1",k2="v2",...`.
func parseAuthFields(s string) (map[string]string, error) {
	m := map[string]string{}
	s = strings.TrimSpace(s)
	for s != "" {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fmt.Errorf("%q is not key=\"value\"", s)
		}
		k = strings.TrimSpace(k)
		if !strings.HasPrefix(v, `"`) {
			return nil, fmt.Errorf("value of %s is not quoted", k)
		}
		end := strings.IndexByte(v[1:], '"')
		if end < 0 {
			return nil, fmt.Errorf("value of %s is not terminated", k)
		}
		m[k] = v[1 : 1+end]
		s = strings.TrimSpace(v[2+end:])
		if s != "" {
			if s[0] != ',' {
				return nil, fmt.Errorf("expected a comma after %s", k)
			}
			s = strings.TrimSpace(s[1:])
		}
	}
	return m, nil
}

// v3SignedHeaders signs body the way WeChat Pay signs responses and notifications, now.
func (s *Simulator) v3SignedHeaders(body []byte) http.Header {
	key, serial := s.signer()
	return v3Headers(key, serial, time.Now().Unix(), body)
}

// v3Headers are the Wechatpay-* headers of body signed with key at ts, naming serial.
func v3Headers(key *rsa.PrivateKey, serial string, ts int64, body []byte) http.Header {
	t := strconv.FormatInt(ts, 10)
	n := randString(alnum, 32)
	h := http.Header{}
	h.Set("Wechatpay-Serial", serial)
	h.Set("Wechatpay-Timestamp", t)
	h.Set("Wechatpay-Nonce", n)
	h.Set("Wechatpay-Signature", signSHA256(key, t+"\n"+n+"\n"+string(body)+"\n"))
	h.Set("Wechatpay-Signature-Type", v3AuthScheme)
	return h
}

// writeV3 writes a signed v3 reply.
func (s *Simulator) writeV3(w http.ResponseWriter, rep v3Reply) {
	var raw []byte
	if rep.body != nil {
		var err error
		if raw, err = json.Marshal(rep.body); err != nil {
			rep.status = http.StatusInternalServerError
			raw = []byte(`{"code":"SYSTEM_ERROR","message":"cannot encode response"}`)
		}
	}
	h := w.Header()
	signed := s.v3SignedHeaders(raw)
	if rep.byCert {
		signed = v3Headers(s.cfg.PlatformCertKey, s.cfg.PlatformCertSerial, time.Now().Unix(), raw)
	}
	for k, v := range signed {
		h[k] = v
	}
	h.Set("Request-ID", randString(hexLow, 32))
	if raw != nil {
		h.Set("Content-Type", "application/json; charset=utf-8")
	}
	w.WriteHeader(rep.status)
	_, _ = w.Write(raw)
}

func v3ParamError(err error) (v3Reply, func()) {
	return v3Err(http.StatusBadRequest, "PARAM_ERROR", err.Error()).reply(), nil
}

// parseParams decodes a JSON object body.
func parseParams(raw []byte) (params, error) {
	var p params
	if err := json.Unmarshal(raw, &p); err != nil || p == nil {
		return nil, &paramError{"request body is not a JSON object"}
	}
	return p, nil
}

// flatten copies the fields of the object field name into p as "name.field", so that
// errors name them in full. A missing object adds nothing.
func (p params) flatten(name string, required bool) error {
	raw, ok := p.raw(name)
	if !ok {
		if required {
			return missingParam(name)
		}
		return nil
	}
	var sub params
	if err := json.Unmarshal(raw, &sub); err != nil || sub == nil {
		return invalidParam(name, "must be an object")
	}
	for k, v := range sub {
		p[name+"."+k] = v
	}
	return nil
}

func (p params) v3OutTradeNo() (string, error) {
	no, err := p.str("out_trade_no", true, 0)
	if err != nil {
		return "", err
	}
	if len(no) < 6 || !validOutTradeNo(no) {
		return "", invalidParam("out_trade_no", "must be 6 to 32 characters of 0-9 A-Z a-z _ - | *")
	}
	return no, nil
}

func (p params) notifyURL(required bool) (string, error) {
	v, err := p.str("notify_url", required, maxNotifyURLLen)
	if err != nil || v == "" {
		return v, err
	}
	u, perr := url.Parse(v)
	if perr != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", invalidParam("notify_url", "must be an absolute http(s) URL")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", invalidParam("notify_url", "must not carry a query string")
	}
	return v, nil
}

func (p params) currency(name string) error {
	c, err := p.str(name, false, 8)
	if err != nil {
		return err
	}
	if c != "" && c != "CNY" {
		return invalidParam(name, "only CNY is supported")
	}
	return nil
}

func (s *Simulator) v3Time(t time.Time) string { return t.In(s.loc).Format(v3TimeFormat) }

type jsapiRequest struct {
	appID, mchID, description, outTradeNo, notifyURL, attach, openID string
	total                                                            int64
	timeExpire                                                       time.Time
}

func (s *Simulator) parseJsapi(raw []byte) (jsapiRequest, error) {
	p, err := parseParams(raw)
	if err != nil {
		return jsapiRequest{}, err
	}
	q, err := s.parsePrepay(p)
	if err != nil {
		return q, err
	}
	if err = p.flatten("payer", true); err != nil {
		return q, err
	}
	if q.openID, err = p.str("payer.openid", true, 128); err != nil {
		return q, err
	}
	return q, nil
}

// parsePrepay reads the fields every v3 prepay (jsapi, native, h5) shares.
func (s *Simulator) parsePrepay(p params) (jsapiRequest, error) {
	var q jsapiRequest
	var err error
	if q.appID, err = p.str("appid", true, 32); err != nil {
		return q, err
	}
	if q.mchID, err = p.str("mchid", true, 32); err != nil {
		return q, err
	}
	if q.description, err = p.str("description", true, 127); err != nil {
		return q, err
	}
	if q.outTradeNo, err = p.v3OutTradeNo(); err != nil {
		return q, err
	}
	if q.attach, err = p.str("attach", false, 128); err != nil {
		return q, err
	}
	if q.notifyURL, err = p.notifyURL(true); err != nil {
		return q, err
	}
	expire, err := p.str("time_expire", false, 64)
	if err != nil {
		return q, err
	}
	if expire != "" {
		t, perr := time.Parse(time.RFC3339, expire)
		if perr != nil {
			return q, invalidParam("time_expire", "must be RFC 3339, e.g. 2025-03-01T12:00:00+08:00")
		}
		if !t.After(s.now()) {
			return q, invalidParam("time_expire", "is not in the future")
		}
		q.timeExpire = t
	}
	if err = p.flatten("amount", true); err != nil {
		return q, err
	}
	if q.total, err = p.integer("amount.total", true); err != nil {
		return q, err
	}
	if q.total <= 0 {
		return q, invalidParam("amount.total", "must be an integer greater than 0")
	}
	if err = p.currency("amount.currency"); err != nil {
		return q, err
	}
	return q, nil
}

// orderClosed is the answer to a JSAPI prepay of a closed order: 400 ORDER_CLOSED
// "订单已关闭", the row "400 ORDER_CLOSED 订单已关闭 当前订单已关闭，请重新下单" of the v3
// prepay and close pages' business error tables (JSAPI下单,
// https://pay.weixin.qq.com/doc/v3/merchant/4012525167; 关闭订单,
// https://pay.weixin.qq.com/doc/v3/merchant/4012556398). Native and H5 prepays of a closed
// order answer OUT_TRADE_NO_USED instead (docs/native-h5.md §3; the docs do not say which
// of the two a closed number gets, see docs/simulator-fidelity-v3.md).
func orderClosed() *v3Error {
	return v3Err(http.StatusBadRequest, "ORDER_CLOSED", "订单已关闭")
}

// msgOrderNotExist is the message of 404 ORDER_NOT_EXIST.
const msgOrderNotExist = "订单不存在"

// orderNotExist is the answer to a query (by out_trade_no or transaction_id) or a close
// of an order WeChat does not know: 404 ORDER_NOT_EXIST "订单不存在", the row "404
// ORDER_NOT_EXIST 订单不存在" of the query pages' business error tables (商户订单号查询订单,
// https://pay.weixin.qq.com/doc/v3/merchant/4013070356; 微信支付订单号查询订单,
// https://pay.weixin.qq.com/doc/v3/merchant/4013070354) and of the close page's
// (https://pay.weixin.qq.com/doc/v3/merchant/4012556398). An unpaid order has no
// transaction_id, so only out-trade-no finds it ("若订单未支付，则只能使用商户订单号查询订单").
func orderNotExist() *v3Error {
	return v3Err(http.StatusNotFound, "ORDER_NOT_EXIST", msgOrderNotExist)
}

// prepayMerchant refuses a prepay for another merchant or app than the simulator's.
func (s *Simulator) prepayMerchant(q jsapiRequest) *v3Error {
	if q.mchID != s.cfg.MchID {
		return v3Err(http.StatusBadRequest, "MCH_NOT_EXISTS", "商户号不存在: mchid "+q.mchID)
	}
	if q.appID != s.cfg.AppID {
		return v3Err(http.StatusBadRequest, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配: appid "+q.appID)
	}
	return nil
}

// newV3Order is a new unpaid order from a v3 prepay of tradeType.
func (s *Simulator) newV3Order(q jsapiRequest, tradeType string, now time.Time) *order {
	return &order{
		channel: ChannelV3, notifyURL: q.notifyURL, outTradeNo: q.outTradeNo, subMchID: q.mchID,
		subAppID: q.appID, body: q.description, attach: q.attach, openID: q.openID,
		tradeType: tradeType, totalFee: q.total, timeExpire: q.timeExpire,
		prepayID: s.newPrepayID(now), state: stateNotPay, createdAt: now,
	}
}

// v3Jsapi is POST /v3/pay/transactions/jsapi (JSAPI下单,
// https://pay.weixin.qq.com/doc/v3/merchant/4012525167; the same call as 小程序下单,
// https://pay.weixin.qq.com/doc/v3/merchant/4012525182). For an out_trade_no already used:
//   - the same parameters again (still unpaid and open) answer the order's prepay_id (the
//     doc: "可使用原参数重新请求下单接口，以获取当前订单最新的prepay_id"; the simulator keeps
//     one prepay_id per order, see docs/simulator-fidelity-v3.md);
//   - other parameters: 400 INVALID_REQUEST "201 商户订单号重复" (outTradeNoReused);
//   - a paid order: 400 ORDERPAID (orderPaid); a closed one: 400 ORDER_CLOSED (orderClosed);
//   - a Native or H5 order: 403 OUT_TRADE_NO_USED (outTradeNoUsed).
func (s *Simulator) v3Jsapi(_ *http.Request, raw []byte) (v3Reply, func()) {
	q, err := s.parseJsapi(raw)
	if err != nil {
		return v3ParamError(err)
	}
	if e := s.prepayMerchant(q); e != nil {
		return e.reply(), nil
	}
	now := s.now()
	s.mu.Lock()
	o := s.orders[q.outTradeNo]
	switch {
	case o == nil:
		o = s.newV3Order(q, tradeJSAPI, now)
		s.orders[o.outTradeNo] = o
		s.saveOrderLocked(o)
	case o.paid():
		s.mu.Unlock()
		return orderPaid().reply(), nil
	case o.state == stateClosed:
		s.mu.Unlock()
		return orderClosed().reply(), nil
	case o.tradeType == tradeNative || o.tradeType == tradeMWEB:
		s.mu.Unlock()
		return outTradeNoUsed(o.tradeType).reply(), nil
	case o.totalFee != q.total || o.openID != q.openID ||
		o.channel == ChannelV3 && (o.body != q.description || o.attach != q.attach || o.notifyURL != q.notifyURL ||
			!o.timeExpire.Equal(q.timeExpire)):
		// The parameters must be the original's (see outTradeNoReused); a Cloud Hosting
		// order's notify target is not a notify_url, so only its amount and payer count.
		// time_expire "仅在用户首次下单时可设置，且不允许后续修改，尝试修改将导致错误" (the
		// JSAPI page above).
		s.mu.Unlock()
		return outTradeNoReused().reply(), nil
	}
	prepayID := o.prepayID
	forge := s.consumeFaultLocked(KindV3Notify, ModeForge) != nil
	s.mu.Unlock()

	var after func()
	if forge {
		after = func() { s.spawn(func() { s.forgeV3FromFault(q.outTradeNo) }) }
	}
	return v3OK(map[string]any{"prepay_id": prepayID}), after
}

// v3Transaction is the payments.Transaction JSON (facts §5.5).
type v3Transaction struct {
	Amount          v3TxnAmount   `json:"amount"`
	Appid           string        `json:"appid"`
	Attach          string        `json:"attach"`
	BankType        string        `json:"bank_type,omitempty"`
	Mchid           string        `json:"mchid"`
	OutTradeNo      string        `json:"out_trade_no"`
	Payer           *v3Payer      `json:"payer,omitempty"`
	PromotionDetail []v3Promotion `json:"promotion_detail"`
	SuccessTime     string        `json:"success_time,omitempty"`
	TradeState      string        `json:"trade_state"`
	TradeStateDesc  string        `json:"trade_state_desc"`
	TradeType       string        `json:"trade_type,omitempty"`
	TransactionID   string        `json:"transaction_id,omitempty"`
}

type v3TxnAmount struct {
	Currency      string `json:"currency,omitempty"`
	PayerCurrency string `json:"payer_currency"`
	PayerTotal    *int64 `json:"payer_total,omitempty"`
	Total         int64  `json:"total"`
}

type v3Payer struct {
	Openid string `json:"openid"`
}

// v3Promotion is a transaction's promotion_detail entry, for a payment with a coupon
// (payments.PromotionDetail of wechatpay-go; the fields of "优惠功能" in
// https://pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter3_5_2.shtml and
// https://pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter3_5_5.shtml): type CASH
// (充值型) or NOCASH (免充值型), amount = wechatpay_contribute + merchant_contribute +
// other_contribute. Who funds it is a choice: WeChat Pay a CASH coupon, the merchant a
// NOCASH one (docs/simulator-fidelity-ch.md).
type v3Promotion struct {
	CouponID            string `json:"coupon_id"`
	Name                string `json:"name"`
	Scope               string `json:"scope"`
	Type                string `json:"type"`
	Amount              int64  `json:"amount"`
	StockID             string `json:"stock_id"`
	WechatpayContribute int64  `json:"wechatpay_contribute"`
	MerchantContribute  int64  `json:"merchant_contribute"`
	OtherContribute     int64  `json:"other_contribute"`
	Currency            string `json:"currency"`
}

// v3PromotionOf is o's promotion_detail: one entry for its coupon, or none.
func v3PromotionOf(o *order) []v3Promotion {
	if o.couponFee == 0 {
		return []v3Promotion{}
	}
	p := v3Promotion{CouponID: o.couponID, Name: "代金券", Scope: "GLOBAL", Type: "CASH", Amount: o.couponFee,
		StockID: "9" + o.couponID[1:8], WechatpayContribute: o.couponFee, Currency: "CNY"}
	if o.couponType == CouponNoCash {
		p.Type, p.WechatpayContribute, p.MerchantContribute = "NOCASH", 0, o.couponFee
	}
	return []v3Promotion{p}
}

// transactionLocked renders o as a v3 Transaction. claimPaid renders an unpaid order as
// paid (for forged notifications), inventing a transaction id.
func (s *Simulator) transactionLocked(o *order, claimPaid bool) v3Transaction {
	t := v3Transaction{
		Amount: v3TxnAmount{PayerCurrency: "CNY", Total: o.totalFee}, Appid: o.subAppID,
		Attach: o.attach, Mchid: o.subMchID, OutTradeNo: o.outTradeNo,
		PromotionDetail: []v3Promotion{}, TradeState: o.state, TradeStateDesc: tradeStateDesc(o.state),
	}
	if !o.paid() && !claimPaid {
		return t
	}
	// amount.payer_total is what the user paid, total less the coupons of
	// promotion_detail ("用户支付金额"): chapter3_5_2 above.
	payer := o.cashFee()
	t.Amount.Currency, t.Amount.PayerTotal = "CNY", &payer
	t.PromotionDetail = v3PromotionOf(o)
	t.BankType = "OTHERS"
	t.Payer = &v3Payer{Openid: o.openID}
	if o.openID == "" { // a Native or H5 order not yet paid, in a forged notification
		t.Payer.Openid = DevPayerOpenID
	}
	t.TradeType = o.tradeType
	t.TransactionID, t.SuccessTime = o.transactionID, ""
	if o.paid() {
		t.SuccessTime = s.v3Time(o.timeEnd)
	}
	if claimPaid {
		t.TradeState, t.TradeStateDesc = stateSuccess, tradeStateDesc(stateSuccess)
		if t.TransactionID == "" {
			t.TransactionID = s.newTransactionIDLocked(s.now())
			t.SuccessTime = s.v3Time(s.now())
		}
	}
	return t
}

func (s *Simulator) v3MchidQuery(r *http.Request) *v3Error {
	mchid := r.URL.Query().Get("mchid")
	if mchid == "" {
		return v3Err(http.StatusBadRequest, "PARAM_ERROR", "missing mchid")
	}
	if mchid != s.cfg.MchID {
		return v3Err(http.StatusBadRequest, "MCH_NOT_EXISTS", "商户号不存在: mchid "+mchid)
	}
	return nil
}

// v3QueryOrder is GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid= (商户订单号查询订单,
// https://pay.weixin.qq.com/doc/v3/merchant/4013070356) and
// GET /v3/pay/transactions/id/{transaction_id}?mchid= (微信支付订单号查询订单,
// https://pay.weixin.qq.com/doc/v3/merchant/4013070354). Orders of both channels are found;
// an unknown one is 404 ORDER_NOT_EXIST (orderNotExist), on either form.
func (s *Simulator) v3QueryOrder(r *http.Request, _ []byte) (v3Reply, func()) {
	if e := s.v3MchidQuery(r); e != nil {
		return e.reply(), nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var o *order
	if txn := r.PathValue("transaction_id"); txn != "" {
		o = s.byTxn[txn]
	} else {
		o = s.orders[r.PathValue("out_trade_no")]
	}
	if o == nil {
		return orderNotExist().reply(), nil
	}
	return v3OK(s.transactionLocked(o, false)), nil
}

// v3CloseOrder is POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close (关闭订单,
// https://pay.weixin.qq.com/doc/v3/merchant/4012556398): 204 No Content for an unpaid order
// (now closed) and for one already closed, 404 ORDER_NOT_EXIST (orderNotExist) for an
// unknown one, 400 ORDERPAID "订单已支付" for a paid one.
//   - Closing a closed order: the docs list 400 ORDER_CLOSED among the close page's codes,
//     but WeChat answers 204 to a repeated close ("这个接口，对重复关闭，是会返回204",
//     https://developers.weixin.qq.com/community/pay/doc/00048a1efdc23011142d839d351800);
//     cloudpay's adapter takes both as closed.
//   - The same community thread says an unknown out_trade_no also gets 204; the simulator
//     answers the documented 404 ORDER_NOT_EXIST instead, so that a wrong number shows.
//   - A paid order: the domestic close page lists no code for it; ORDERPAID "订单已支付"
//     ("订单已支付，不能发起关单") is the code of v2's closeorder and of API v3's global close
//     (https://pay.weixin.qq.com/wiki/doc/api_external/ch/apis/chapter3_5_7.shtml).
func (s *Simulator) v3CloseOrder(r *http.Request, raw []byte) (v3Reply, func()) {
	p, err := parseParams(raw)
	if err != nil {
		return v3ParamError(err)
	}
	mchid, err := p.str("mchid", true, 32)
	if err != nil {
		return v3ParamError(err)
	}
	if mchid != s.cfg.MchID {
		return v3Err(http.StatusBadRequest, "MCH_NOT_EXISTS", "商户号不存在: mchid "+mchid).reply(), nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[r.PathValue("out_trade_no")]
	switch {
	case o == nil:
		return orderNotExist().reply(), nil
	case o.paid():
		return v3Err(http.StatusBadRequest, "ORDERPAID", "订单已支付").reply(), nil
	case o.state == stateNotPay:
		o.state = stateClosed
		o.closedAt = s.now()
		s.saveOrderLocked(o)
	}
	return v3Reply{status: http.StatusNoContent}, nil
}

// v3NotFound answers unknown /v3/ paths.
func (s *Simulator) v3NotFound(w http.ResponseWriter, r *http.Request) {
	s.writeV3(w, v3Err(http.StatusNotFound, "NOT_FOUND", "no API "+r.Method+" "+r.URL.Path).reply())
}
