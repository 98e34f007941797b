package wechatsim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"time"
)

// API names, as used in the call log and in faults. Each names an open-interface endpoint
// and its API v3 counterpart.
const (
	apiUnifiedOrder = "unifiedorder" // also POST /v3/pay/transactions/jsapi
	apiQueryOrder   = "queryorder"   // also GET /v3/pay/transactions/out-trade-no/{no}
	apiCloseOrder   = "closeorder"   // also POST /v3/pay/transactions/out-trade-no/{no}/close
	apiRefund       = "refund"       // also POST /v3/refund/domestic/refunds
	apiQueryRefund  = "queryrefund"  // also GET /v3/refund/domestic/refunds/{no}
)

// Trade states (v2 values; v3 uses the same).
const (
	stateNotPay  = "NOTPAY"
	stateSuccess = "SUCCESS"
	stateRefund  = "REFUND" // paid, and at least one refund succeeded
	stateClosed  = "CLOSED"
)

// Channels an order or a refund was created through.
const (
	ChannelCloudHosting = "cloudhosting"
	ChannelV3           = "v3"
)

const maxAPIBody = 1 << 20

// Container is the Cloud Hosting callback target of an order.
type Container struct {
	Service string `json:"service"`
	Path    string `json:"path"`
}

type order struct {
	channel       string // ChannelCloudHosting or ChannelV3
	notifyURL     string // v3 only
	outTradeNo    string
	subMchID      string
	subAppID      string
	body          string
	attach        string
	openID        string
	spbillIP      string
	envID         string
	tradeType     string
	callbackType  int64
	container     Container
	functionName  string
	totalFee      int64
	timeExpire    time.Time
	prepayID      string
	state         string
	transactionID string
	timeEnd       time.Time
	createdAt     time.Time
	closedAt      time.Time
	payURL        string    // API v3 Native: the code_url; H5: the h5_url
	h5Type        string    // API v3 H5: scene_info.h5_info.type
	outside       bool      // paid outside any merchant back end (OutsidePayment): no prepay, no pay callback
	couponFee     int64     // the part of totalFee a coupon paid (PayWithCoupon); 0: none
	couponType    string    // the coupon's v2 coupon_type: CouponCash or CouponNoCash
	couponID      string    // the coupon's coupon_id
	acked         bool      // a genuine callback delivery was acknowledged
	attempted     bool      // a genuine callback delivery was attempted (or dropped by a fault)
	refunds       []*refund // in creation order
}

// paid reports whether the user paid the order (refunds do not undo that).
func (o *order) paid() bool { return o.state == stateSuccess || o.state == stateRefund }

// cashFee is what the user paid in cash: total_fee less the coupon (v2 cash_fee,
// v3 amount.payer_total). "订单金额-代金券金额=现金支付金额":
// https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_2 (coupon_fee).
func (o *order) cashFee() int64 { return o.totalFee - o.couponFee }

// settlementTotalFee is v2's settlement_total_fee, "应结订单金额=订单金额-非充值代金券金额":
// only a no-cash (免充值) coupon lowers what the merchant settles
// (https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_2).
func (o *order) settlementTotalFee() int64 {
	if o.couponType == CouponNoCash {
		return o.totalFee - o.couponFee
	}
	return o.totalFee
}

func tradeStateDesc(state string) string {
	switch state {
	case stateSuccess:
		return "支付成功"
	case stateRefund:
		return "转入退款"
	case stateClosed:
		return "订单已关闭"
	}
	return "订单未支付"
}

// apiFunc handles one parsed open-interface request. It returns the respdata and,
// optionally, work to run after the reply is written.
type apiFunc func(p params) (respdata map[string]any, after func())

// openAPI wraps an open-interface handler: call log, faults, envelope.
func (s *Simulator) openAPI(name string, fn apiFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		raw, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIBody))
		s.logCall(name, r.URL.Path, raw)
		f := s.consumeFault(name, ModeFail, ModeTimeout, ModeDelay)
		if f != nil && f.Mode == ModeDelay {
			sleep(s.ctx, time.Duration(f.DelayMS)*time.Millisecond)
		}
		if f != nil && f.Mode == ModeFail {
			if code, err := strconv.Atoi(f.Code); err == nil {
				writeEnvelope(w, code, "simulated fault", nil)
				return
			}
			resp := s.base(s.cfg.SubMchID, s.cfg.AppID)
			failResp(resp, f.Code, "simulated fault")
			writeEnvelope(w, 0, "ok", resp)
			return
		}
		if readErr != nil {
			writeEnvelope(w, -1, "cannot read request body: "+readErr.Error(), nil)
			return
		}
		var p params
		if err := json.Unmarshal(raw, &p); err != nil || p == nil {
			writeEnvelope(w, -1, "request body is not a JSON object", nil)
			return
		}
		resp, after := fn(p)
		if f != nil && f.Mode == ModeTimeout {
			// WeChat acted; the caller only sees silence.
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
			writeEnvelope(w, 0, "ok", resp)
			return
		}
		writeEnvelope(w, 0, "ok", resp)
		if after != nil {
			// "After the reply" means after the caller could read it.
			_ = http.NewResponseController(w).Flush()
			after()
		}
	}
}

func writeEnvelope(w http.ResponseWriter, errcode int, errmsg string, respdata map[string]any) {
	env := map[string]any{"errcode": errcode, "errmsg": errmsg}
	if text, ok := respdata[respdataText].(string); ok {
		env["respdata"] = text // downloadbill answers the bill itself (bill.go)
	} else if respdata != nil {
		// v2 signs only what follows return_code SUCCESS: a return_code FAIL answer is
		// return_code and return_msg alone ("以下字段在return_code为SUCCESS的时候有返回",
		// https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_2).
		if respdata["return_code"] != "FAIL" {
			respdata["sign"] = v2Sign(respdata)
		}
		env["respdata"] = respdata
	}
	writeJSON(w, http.StatusOK, env)
}

// base returns the fields every respdata carries.
func (s *Simulator) base(subMchID, subAppID string) map[string]any {
	return map[string]any{
		"return_code": "SUCCESS",
		"return_msg":  "OK",
		"appid":       SPAppID,
		"mch_id":      SPMchID,
		"sub_appid":   subAppID,
		"sub_mch_id":  subMchID,
		"nonce_str":   nonce(),
		"result_code": "SUCCESS",
	}
}

func failResp(m map[string]any, code, des string) map[string]any {
	m["result_code"] = "FAIL"
	m["err_code"] = code
	m["err_code_des"] = des
	return m
}

func (s *Simulator) merchantOK(subMchID string) bool {
	return s.cfg.SubMchID == "" || subMchID == s.cfg.SubMchID
}

// msgUnbound is the open interface's return_msg for a merchant that is not bound (or
// not yet authorised) in the environment's 微信支付配置.
const msgUnbound = "受理关系不存在"

// unbound is what every open-interface pay API answers for a sub_mch_id that is not
// bound to the environment (Config.SubMchID): the envelope's errcode is 0 and respdata
// is a v2 communication failure, return_code FAIL with return_msg 受理关系不存在 and
// nothing else (no result_code, no err_code, no sign):
//   - https://developers.weixin.qq.com/miniprogram/dev/wxcloudservice/wxcloudrun/src/development/pay/index.md
//     ("如果在请求时返回 { return_code: 'FAIL', return_msg: '受理关系不存在' }，则需要前往微信云托管控制台 -
//     设置 - 其他设置 - 微信支付配置绑定商户号到已授权状态")
//   - https://developers.weixin.qq.com/doc/knowledge/068f77ccbee00c78.html (the FAQ, same answer)
//   - observed on the cloud-function twin, errCode 0 "cloudPay.unifiedOrder:ok" with
//     returnCode FAIL and returnMsg 受理关系不存在, no resultCode [community]:
//     https://developers.weixin.qq.com/community/develop/doc/0002464b4b84d8682e7a54af656400
func unbound() map[string]any {
	return map[string]any{"return_code": "FAIL", "return_msg": msgUnbound}
}

func (s *Simulator) mchNotExist(subMchID string) string {
	return fmt.Sprintf("sub_mch_id %q is not a merchant of this simulator", subMchID)
}

type unifiedOrderRequest struct {
	subMchID, subAppID, body, outTradeNo, spbillIP, openID, envID string
	attach, tradeType, functionName                               string
	totalFee, callbackType                                        int64
	container                                                     Container
	timeExpire                                                    time.Time
}

func (s *Simulator) parseUnifiedOrder(p params) (unifiedOrderRequest, error) {
	var q unifiedOrderRequest
	var err error
	if q.subMchID, err = p.str("sub_mch_id", true, 32); err != nil {
		return q, err
	}
	if q.subAppID, err = p.str("sub_appid", false, 32); err != nil {
		return q, err
	}
	if q.body, err = p.str("body", true, 128); err != nil {
		return q, err
	}
	if q.outTradeNo, err = p.outTradeNo(true); err != nil {
		return q, err
	}
	if q.totalFee, err = p.integer("total_fee", true); err != nil {
		return q, err
	}
	if q.totalFee <= 0 {
		return q, invalidParam("total_fee", "must be an integer greater than 0")
	}
	if q.spbillIP, err = p.str("spbill_create_ip", true, 64); err != nil {
		return q, err
	}
	if _, perr := netip.ParseAddr(q.spbillIP); perr != nil {
		return q, invalidParam("spbill_create_ip", "must be an IPv4 or IPv6 address")
	}
	if q.tradeType, err = p.str("trade_type", false, 16); err != nil {
		return q, err
	}
	if q.tradeType == "" {
		q.tradeType = "JSAPI"
	}
	if q.tradeType != "JSAPI" {
		return q, invalidParam("trade_type", "only JSAPI is simulated")
	}
	if q.openID, err = p.str("openid", true, 128); err != nil {
		return q, err
	}
	if q.envID, err = p.str("env_id", true, 64); err != nil {
		return q, err
	}
	if q.attach, err = p.str("attach", false, 127); err != nil {
		return q, err
	}
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
	expire, err := p.str("time_expire", false, 14)
	if err != nil {
		return q, err
	}
	if expire != "" {
		t, perr := time.ParseInLocation("20060102150405", expire, s.loc)
		if perr != nil {
			return q, invalidParam("time_expire", "must be yyyyMMddHHmmss (Beijing time)")
		}
		if !t.After(s.now()) {
			return q, invalidParam("time_expire", "is not in the future")
		}
		q.timeExpire = t
	}
	return q, nil
}

func (s *Simulator) unifiedOrder(p params) (map[string]any, func()) {
	q, err := s.parseUnifiedOrder(p)
	if err != nil {
		sub, _ := p.str("sub_mch_id", false, 0)
		return s.noPayment(failResp(s.base(sub, s.cfg.AppID), "PARAM_ERROR", err.Error()), s.cfg.AppID), nil
	}
	subAppID := q.subAppID
	if subAppID == "" {
		subAppID = s.cfg.AppID
	}
	resp := s.base(q.subMchID, subAppID)
	if !s.merchantOK(q.subMchID) {
		return s.noPayment(unbound(), subAppID), nil
	}
	if subAppID != s.cfg.AppID {
		return s.noPayment(failResp(resp, "APPID_MCHID_NOT_MATCH", "sub_appid does not match sub_mch_id"), subAppID), nil
	}
	now := s.now()

	s.mu.Lock()
	o := s.orders[q.outTradeNo]
	switch {
	case o == nil:
		o = &order{
			channel:    ChannelCloudHosting,
			outTradeNo: q.outTradeNo, subMchID: q.subMchID, subAppID: subAppID, body: q.body,
			attach: q.attach, openID: q.openID, spbillIP: q.spbillIP, envID: q.envID,
			tradeType: q.tradeType, callbackType: q.callbackType, container: q.container,
			functionName: q.functionName, totalFee: q.totalFee, timeExpire: q.timeExpire,
			prepayID: s.newPrepayID(now), state: stateNotPay, createdAt: now,
		}
		s.orders[o.outTradeNo] = o
		s.saveOrderLocked(o)
	case o.paid():
		s.mu.Unlock()
		return s.noPayment(failResp(resp, "ORDERPAID", "order already paid"), subAppID), nil
	case o.state == stateClosed:
		s.mu.Unlock()
		return s.noPayment(failResp(resp, "ORDERCLOSED", "order already closed"), subAppID), nil
	case o.totalFee != q.totalFee || o.body != q.body || o.openID != q.openID || o.subMchID != q.subMchID:
		s.mu.Unlock()
		return s.noPayment(failResp(resp, "OUT_TRADE_NO_USED", "out_trade_no already used with a different total_fee, body or openid"), subAppID), nil
	}
	prepayID := o.prepayID
	forge := s.consumeFaultLocked(KindPayCallback, ModeForge) != nil
	s.mu.Unlock()

	resp["trade_type"] = q.tradeType
	resp["prepay_id"] = prepayID
	ts := strconv.FormatInt(now.Unix(), 10)
	ns := nonce()
	pkg := "prepay_id=" + prepayID
	resp["payment"] = map[string]any{
		"appId":     subAppID,
		"timeStamp": ts,
		"nonceStr":  ns,
		"package":   pkg,
		"signType":  "MD5",
		"paySign":   paySign(subAppID, ns, pkg, ts),
	}
	var after func()
	if forge {
		after = func() { s.spawn(func() { s.forgeFromFault(q.outTradeNo) }) }
	}
	return resp, after
}

// noPayment adds to a refused unifiedOrder the payment object the open interface
// answers all the same, without a prepay: package "prepay_id=" and an empty nonceStr,
// as observed with errcode 0 and result_code FAIL (facts §1.3, [community]) and on the
// cloud-function twin with return_code FAIL 受理关系不存在
// (https://developers.weixin.qq.com/community/develop/doc/0002464b4b84d8682e7a54af656400).
func (s *Simulator) noPayment(resp map[string]any, appID string) map[string]any {
	ts := strconv.FormatInt(s.now().Unix(), 10)
	const pkg = "prepay_id="
	resp["payment"] = map[string]any{
		"appId": appID, "timeStamp": ts, "nonceStr": "", "package": pkg,
		"signType": "MD5", "paySign": paySign(appID, "", pkg, ts),
	}
	return resp
}

func (s *Simulator) queryOrder(p params) (map[string]any, func()) {
	sub, err := p.str("sub_mch_id", true, 32)
	if err != nil {
		return failResp(s.base(sub, s.cfg.AppID), "PARAM_ERROR", err.Error()), nil
	}
	txn, err := p.str("transaction_id", false, 32)
	if err != nil {
		return failResp(s.base(sub, s.cfg.AppID), "PARAM_ERROR", err.Error()), nil
	}
	var no string
	if txn == "" {
		if no, err = p.outTradeNo(true); err != nil {
			return failResp(s.base(sub, s.cfg.AppID), "PARAM_ERROR", err.Error()), nil
		}
	}
	if !s.merchantOK(sub) {
		return unbound(), nil
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[no]
	if txn != "" {
		o = s.byTxn[txn]
	}
	if o == nil || o.subMchID != sub {
		return failResp(s.base(sub, s.cfg.AppID), "ORDERNOTEXIST", "order does not exist"), nil
	}
	resp := s.base(o.subMchID, o.subAppID)
	resp["openid"] = spOpenID(o.openID)
	resp["is_subscribe"] = "N"
	resp["sub_openid"] = o.openID
	resp["sub_is_subscribe"] = "N"
	resp["trade_type"] = o.tradeType
	resp["trade_state"] = o.state
	resp["total_fee"] = o.totalFee
	resp["fee_type"] = "CNY"
	resp["out_trade_no"] = o.outTradeNo
	// attach is answered even empty ("attach":"" in the example answer of
	// https://developers.weixin.qq.com/minigame/dev/wxcloudrun/src/development/pay/order/query.html).
	resp["attach"] = o.attach
	resp["trade_state_desc"] = tradeStateDesc(o.state)
	// The open interface answers v2's coupon_id_$n, coupon_type_$n and coupon_fee_$n
	// as the arrays coupon_id_list, coupon_type_list and coupon_fee_list, present and
	// empty when no coupon was used (the example answer of
	// https://developers.weixin.qq.com/minigame/dev/wxcloudrun/src/development/pay/order/query.html).
	// The indexed v2 fields are answered too: the same page's field table is v2's
	// (https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_2), and which of the two
	// shapes a coupon payment really gets is not documented (docs/simulator-fidelity-ch.md).
	ids, types, fees := []string{}, []string{}, []int64{}
	if o.paid() {
		resp["bank_type"] = "OTHERS"
		resp["cash_fee"] = o.cashFee()
		resp["cash_fee_type"] = "CNY"
		resp["transaction_id"] = o.transactionID
		resp["time_end"] = s.wechatTime(o.timeEnd)
		if o.couponFee > 0 {
			// coupon_fee, coupon_count, coupon_type_$n, coupon_id_$n, coupon_fee_$n are
			// answered only for a payment that used coupons; settlement_total_fee only when
			// one was a no-cash (免充值) coupon
			// (https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_2).
			resp["coupon_fee"] = o.couponFee
			resp["coupon_count"] = 1
			resp["coupon_type_0"] = o.couponType
			resp["coupon_id_0"] = o.couponID
			resp["coupon_fee_0"] = o.couponFee
			ids, types, fees = []string{o.couponID}, []string{o.couponType}, []int64{o.couponFee}
			if o.couponType == CouponNoCash {
				resp["settlement_total_fee"] = o.settlementTotalFee()
			}
		}
	}
	resp["coupon_id_list"], resp["coupon_type_list"], resp["coupon_fee_list"] = ids, types, fees
	return resp, nil
}

func (s *Simulator) closeOrder(p params) (map[string]any, func()) {
	sub, err := p.str("sub_mch_id", true, 32)
	if err != nil {
		return failResp(s.base(sub, s.cfg.AppID), "PARAM_ERROR", err.Error()), nil
	}
	no, err := p.outTradeNo(true)
	if err != nil {
		return failResp(s.base(sub, s.cfg.AppID), "PARAM_ERROR", err.Error()), nil
	}
	resp := s.base(sub, s.cfg.AppID)
	if !s.merchantOK(sub) {
		return unbound(), nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[no]
	switch {
	case o == nil || o.subMchID != sub:
		return failResp(resp, "ORDERNOTEXIST", "order does not exist"), nil
	case o.paid():
		return failResp(resp, "ORDERPAID", "order already paid"), nil
	case o.state == stateClosed:
		return failResp(resp, "ORDERCLOSED", "order already closed"), nil
	}
	o.state = stateClosed
	o.closedAt = s.now()
	s.saveOrderLocked(o)
	resp["sub_appid"] = o.subAppID
	resp["result_msg"] = "OK"
	return resp, nil
}

// params is a decoded open-interface request, read field by field so that every
// error names its field.
type params map[string]json.RawMessage

type paramError struct{ msg string }

func (e *paramError) Error() string { return e.msg }

func missingParam(name string) error { return &paramError{"missing " + name} }

func invalidParam(name, why string) error { return &paramError{"invalid " + name + ": " + why} }

func (p params) raw(name string) (json.RawMessage, bool) {
	raw, ok := p[name]
	if !ok || string(raw) == "null" {
		return nil, false
	}
	return raw, true
}

// str reads a string field; max is a limit in bytes (0: none).
func (p params) str(name string, required bool, max int) (string, error) {
	raw, ok := p.raw(name)
	if !ok {
		if required {
			return "", missingParam(name)
		}
		return "", nil
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", invalidParam(name, "must be a string")
	}
	if v == "" && required {
		return "", missingParam(name)
	}
	if max > 0 && len(v) > max {
		return "", invalidParam(name, fmt.Sprintf("longer than %d bytes", max))
	}
	return v, nil
}

// integer reads a JSON integer number (not a string, not a fraction).
func (p params) integer(name string, required bool) (int64, error) {
	raw, ok := p.raw(name)
	if !ok {
		if required {
			return 0, missingParam(name)
		}
		return 0, nil
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, invalidParam(name, "must be an integer number")
	}
	return n, nil
}

func (p params) outTradeNo(required bool) (string, error) {
	no, err := p.str("out_trade_no", required, 0)
	if err != nil {
		return "", err
	}
	if no != "" && !validOutTradeNo(no) {
		return "", invalidParam("out_trade_no", "must be 1 to 32 characters of 0-9 A-Z a-z _ - | *")
	}
	return no, nil
}

func (p params) container() (Container, error) {
	raw, ok := p.raw("container")
	if !ok {
		return Container{}, missingParam("container")
	}
	var c struct {
		Service *string `json:"service"`
		Path    *string `json:"path"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return Container{}, invalidParam("container", "must be an object of strings service and path")
	}
	if c.Service == nil || *c.Service == "" {
		return Container{}, missingParam("container.service")
	}
	if c.Path == nil || *c.Path == "" {
		return Container{}, missingParam("container.path")
	}
	return Container{Service: *c.Service, Path: *c.Path}, nil
}

func validOutTradeNo(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' ||
			c == '_' || c == '-' || c == '|' || c == '*'
		if !ok {
			return false
		}
	}
	return true
}
