package wechatsim

import (
	"net"
	"net/http"
	"net/url"
	"slices"
)

// API v3 Native (QR code) and H5 prepay: POST /v3/pay/transactions/native and /h5
// (docs/native-h5.md §2 and §4). They make the same orders as jsapi (same state machine,
// notify_url, query, close, POST /pay and TRANSACTION.SUCCESS notification), with
// trade_type NATIVE or MWEB and no payer until the user pays (then DevPayerOpenID).

const (
	tradeJSAPI  = "JSAPI"
	tradeNative = "NATIVE"
	tradeMWEB   = "MWEB"

	// DevPayerOpenID is the openid of the user who scans a Native QR code or opens an H5
	// page: the payer of a Native or H5 order paid with POST /pay.
	DevPayerOpenID = "oDevScanningPayer00000000001"

	codeURLPrefix = "weixin://wxpay/bizpayurl?pr="
	h5URLBase     = "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb"
)

// h5Types are the scene_info.h5_info.type values the simulator accepts (the SDK example
// and the v2 docs; docs/native-h5.md "Not verified" 4).
var h5Types = []string{"iOS", "Android", "Wap"}

// outTradeNoUsed is the answer to a prepay that would reuse an out_trade_no for another
// trade type, or after a close. Inferred, not seen: WeChat documents 403 OUT_TRADE_NO_USED
// ("商户订单号重复") and community reports say a number cannot change trade type nor be
// prepaid again after a close (docs/native-h5.md §3).
func outTradeNoUsed(why string) *v3Error {
	return v3Err(http.StatusForbidden, "OUT_TRADE_NO_USED", "商户订单号重复: out_trade_no already used ("+why+")")
}

// msgOutTradeNoReused is WeChat's message when an out_trade_no is prepaid again of the
// same trade type with other parameters.
const msgOutTradeNoReused = "201 商户订单号重复"

// outTradeNoReused is the answer to a prepay (jsapi, native or h5) that names an unpaid,
// open order of the same trade type with other parameters: 400 INVALID_REQUEST
// "201 商户订单号重复", WeChat's exact words.
//   - Docs: a repeated prepay is allowed only "使用原参数" ("若未超过支付结束时间，则可使用原参数
//     重新请求下单接口，以获取当前订单最新的prepay_id"), and time_expire "仅在用户首次下单时可设置，
//     且不允许后续修改，尝试修改将导致错误" (JSAPI下单,
//     https://pay.weixin.qq.com/doc/v3/merchant/4012525167; Native下单,
//     https://pay.weixin.qq.com/doc/v3/merchant/4012525095). The docs' tables do not say which
//     code; 400 is INVALID_REQUEST's documented status on both pages.
//   - Seen: a v3 JSAPI prepay answered {"code":"INVALID_REQUEST","message":"201 商户订单号重复"}
//     (https://developers.weixin.qq.com/community/pay/doc/000ae86d1049f0625e4cfeeef51800), and
//     a changed attach alone is enough
//     (https://developers.weixin.qq.com/community/pay/doc/000accc128012088c3620c52e6b800).
func outTradeNoReused() *v3Error {
	return v3Err(http.StatusBadRequest, "INVALID_REQUEST", msgOutTradeNoReused)
}

// msgOrderPaid is the message of ORDERPAID on a prepay.
const msgOrderPaid = "该订单已支付"

// orderPaid is the answer to a prepay (jsapi, native or h5) of a paid order: 400 ORDERPAID
// "该订单已支付". The v3 prepay pages' error tables (JSAPI下单
// https://pay.weixin.qq.com/doc/v3/merchant/4012525167, Native下单
// https://pay.weixin.qq.com/doc/v3/merchant/4012525095) list no code for it; the code and
// message are v2's as seen (err_code ORDERPAID, err_code_des "该订单已支付",
// https://developers.weixin.qq.com/community/pay/doc/000e66c8408920fdc01aeaffc56c00), with 400,
// v3's status for a business refusal (INVALID_REQUEST, ORDER_CLOSED). cloudpay's adapter
// maps ORDERPAID to CodeOrderPaid. Not seen from v3: inferred.
func orderPaid() *v3Error {
	return v3Err(http.StatusBadRequest, "ORDERPAID", msgOrderPaid)
}

// prepayScene is the scene_info of a Native or H5 prepay.
type prepayScene struct {
	clientIP, h5Type string
}

// parseScene reads scene_info: optional for Native (but if sent, payer_client_ip is
// required), required with h5_info.type for H5.
func parseScene(p params, h5 bool) (prepayScene, error) {
	var sc prepayScene
	if _, ok := p.raw("scene_info"); !ok && !h5 {
		return sc, nil
	}
	if err := p.flatten("scene_info", true); err != nil {
		return sc, err
	}
	ip, err := p.str("scene_info.payer_client_ip", true, 45)
	if err != nil {
		return sc, err
	}
	if net.ParseIP(ip) == nil {
		return sc, invalidParam("scene_info.payer_client_ip", "must be an IPv4 or IPv6 address")
	}
	sc.clientIP = ip
	if !h5 {
		return sc, nil
	}
	if err := p.flatten("scene_info.h5_info", true); err != nil {
		return sc, err
	}
	if sc.h5Type, err = p.str("scene_info.h5_info.type", true, 32); err != nil {
		return sc, err
	}
	if !slices.Contains(h5Types, sc.h5Type) {
		return sc, invalidParam("scene_info.h5_info.type", "must be iOS, Android or Wap")
	}
	return sc, nil
}

// v3Native is POST /v3/pay/transactions/native.
func (s *Simulator) v3Native(_ *http.Request, raw []byte) (v3Reply, func()) {
	return s.v3PrepayURL(raw, tradeNative)
}

// v3H5 is POST /v3/pay/transactions/h5.
func (s *Simulator) v3H5(_ *http.Request, raw []byte) (v3Reply, func()) {
	return s.v3PrepayURL(raw, tradeMWEB)
}

// v3PrepayURL creates (or, asked again with the same parameters, finds) a Native or H5
// order and answers its code_url or h5_url.
func (s *Simulator) v3PrepayURL(raw []byte, tradeType string) (v3Reply, func()) {
	p, err := parseParams(raw)
	if err != nil {
		return v3ParamError(err)
	}
	q, err := s.parsePrepay(p)
	if err != nil {
		return v3ParamError(err)
	}
	sc, err := parseScene(p, tradeType == tradeMWEB)
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
		o = s.newV3Order(q, tradeType, now)
		o.spbillIP, o.h5Type = sc.clientIP, sc.h5Type
		if tradeType == tradeNative {
			o.payURL = codeURLPrefix + randString(alnum, 11)
		} else {
			o.payURL = h5URLBase + "?" + url.Values{"prepay_id": {o.prepayID}, "package": {randString(digits, 10)}}.Encode()
		}
		s.orders[o.outTradeNo] = o
		s.saveOrderLocked(o)
	case o.state == stateClosed:
		s.mu.Unlock()
		return outTradeNoUsed("the order is closed").reply(), nil
	case o.paid():
		s.mu.Unlock()
		return orderPaid().reply(), nil
	case o.tradeType != tradeType:
		s.mu.Unlock()
		return outTradeNoUsed("trade_type " + o.tradeType).reply(), nil
	case o.totalFee != q.total || o.body != q.description || o.attach != q.attach || o.notifyURL != q.notifyURL ||
		!o.timeExpire.Equal(q.timeExpire) || o.spbillIP != sc.clientIP || o.h5Type != sc.h5Type:
		s.mu.Unlock()
		return outTradeNoReused().reply(), nil
	}
	payURL := o.payURL
	forge := s.consumeFaultLocked(KindV3Notify, ModeForge) != nil
	s.mu.Unlock()

	var after func()
	if forge {
		after = func() { s.spawn(func() { s.forgeV3FromFault(q.outTradeNo) }) }
	}
	if tradeType == tradeNative {
		return v3OK(map[string]any{"code_url": payURL}), after
	}
	return v3OK(map[string]any{"h5_url": payURL}), after
}
