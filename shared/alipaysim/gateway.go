package alipaysim

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Gateway codes and their msg, from the public error codes (公共错误码,
// https://opendocs.alipay.com/common/02km9f).
const (
	codeSuccess        = "10000" // Success 接口调用成功
	codeUnavailable    = "20000" // Service Currently Unavailable 服务不可用
	codeMissingParam   = "40001" // Missing Required Arguments 缺少必选参数
	codeInvalidParam   = "40002" // Invalid Arguments 非法的参数
	codeBusinessFailed = "40004" // Business Failed 业务处理失败
)

var codeMsgs = map[string]string{
	codeSuccess:        "Success",
	codeUnavailable:    "Service Currently Unavailable",
	"20001":            "Insufficient Token Permissions",
	codeMissingParam:   "Missing Required Arguments",
	codeInvalidParam:   "Invalid Arguments",
	"40003":            "Insufficient Conditions",
	codeBusinessFailed: "Business Failed",
	"40005":            "Call Limited",
	"40006":            "Insufficient Permissions",
}

// subMsgs are the sub_msg of the sub_codes the simulator answers, from the public error
// codes (https://opendocs.alipay.com/common/02km9f) and the ACQ.* tables of each method's
// page; a fault's SubCode not listed here is its own sub_msg.
var subMsgs = map[string]string{
	"isp.unknow-error":                           "服务暂不可用（业务系统不可用）",
	"aop.unknow-error":                           "服务暂不可用（网关自身的未知错误）",
	"isv.missing-method":                         "缺少方法名参数",
	"isv.missing-signature":                      "缺少签名参数",
	"isv.missing-signature-type":                 "缺少签名类型参数",
	"isv.missing-app-id":                         "缺少AppID参数",
	"isv.missing-timestamp":                      "缺少时间戳参数",
	"isv.missing-version":                        "缺少版本参数",
	"isv.invalid-parameter":                      "参数无效",
	"isv.invalid-method":                         "不存在的方法名",
	"isv.invalid-format":                         "无效的数据格式",
	"isv.invalid-signature-type":                 "无效的签名类型",
	"isv.invalid-signature":                      "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配",
	"isv.invalid-app-id":                         "无效的AppID参数",
	"isv.invalid-timestamp":                      "非法的时间戳参数",
	"isv.invalid-charset":                        "字符集错误",
	"isv.decryption-error-not-valid-encrypt-key": "解密出错，未配置加密密钥或加密密钥格式错误",
	"ACQ.SYSTEM_ERROR":                           "系统异常",
	"ACQ.INVALID_PARAMETER":                      "参数无效",
	"ACQ.TOTAL_FEE_EXCEED":                       "订单总金额超过限额",
	"ACQ.CONTEXT_INCONSISTENT":                   "交易信息被篡改",
	"ACQ.TRADE_HAS_SUCCESS":                      "交易已被支付",
	"ACQ.TRADE_HAS_CLOSE":                        "交易已经关闭",
	"ACQ.TRADE_NOT_EXIST":                        "交易不存在",
	"ACQ.TRADE_STATUS_ERROR":                     "交易状态不合法",
	"ACQ.REFUND_AMT_NOT_EQUAL_TOTAL":             "退款金额超限",
	"ACQ.DISCORDANT_REPEAT_REQUEST":              "请求信息不一致",
	"ACQ.SELLER_BALANCE_NOT_ENOUGH":              "卖家余额不足",
	"isp.bill_not_exist":                         "账单不存在",
	SubCodeNotSimulated:                          "模拟器不提供该账单",
}

func subMsg(subCode string) string {
	if m, ok := subMsgs[subCode]; ok {
		return m
	}
	return subCode
}

// field is one member of an answer, kept in order so the inner JSON reads like Alipay's.
type field struct {
	k string
	v string
}

// answer is what a gateway method answers: code, msg, sub_code, sub_msg and the method's
// members.
type answer struct {
	code    string
	subCode string
	subMsg  string
	fields  []field
}

func success(fields ...field) answer { return answer{code: codeSuccess, fields: fields} }

// bizFailure is a business refusal (40004 Business Failed, an ACQ.* sub_code).
func bizFailure(subCode, msg string, fields ...field) answer {
	if msg == "" {
		msg = subMsg(subCode)
	}
	return answer{code: codeBusinessFailed, subCode: subCode, subMsg: msg, fields: fields}
}

// gatewayFailure is a refusal by the gateway before any business logic (40001, 40002).
func gatewayFailure(code, subCode, msg string) *answer {
	if msg == "" {
		msg = subMsg(subCode)
	}
	return &answer{code: code, subCode: subCode, subMsg: msg}
}

// signed reports whether Alipay signs this answer. Business answers (10000, 40004) are
// signed ("sign" beside the response member); the gateway's own refusals are not: a
// request with an unknown app_id is answered {"alipay_trade_query_response":{"code":
// "40002",…,"sub_code":"isv.invalid-app-id",…}} with no sign, and smartwalle reads a
// response without sign as an error ("没有签名数据，返回的内容一般为错误信息", alipay.go
// decode). Whether a 20000 answer is signed is not documented; the simulator does not
// sign it.
func (a answer) signed() bool { return a.code == codeSuccess || a.code == codeBusinessFailed }

// json renders the inner object: code, msg, sub_code, sub_msg, then the members.
func (a answer) json() []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	write := func(k, v string) {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		b.Write(jsonString(k))
		b.WriteByte(':')
		b.Write(jsonString(v))
	}
	write("code", a.code)
	msg, ok := codeMsgs[a.code]
	if !ok {
		msg = "Unknown Error"
	}
	write("msg", msg)
	if a.subCode != "" {
		write("sub_code", a.subCode)
		write("sub_msg", a.subMsg)
	}
	for _, f := range a.fields {
		write(f.k, f.v)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// jsonString encodes s as a JSON string without HTML escaping, as Alipay writes its
// answers (Chinese and URLs as they are).
func jsonString(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// responseKey is the member an answer is wrapped in: the method with its dots as
// underscores plus _response ("alipay_trade_query_response"), or error_response when the
// method is unknown (smartwalle reads either).
func responseKey(method string) string {
	if _, ok := apiMethods[method]; !ok && method != MethodWapPay {
		return "error_response"
	}
	return strings.ReplaceAll(method, ".", "_") + "_response"
}

// writeAnswer writes {"<key>":<inner>,"sign":"<RSA2 over the exact bytes of inner>"}, the
// form smartwalle verifies (it checks the sign over raw[bizFieldName], the member's raw
// JSON text). Errors and successes alike are HTTP 200, as the gateway answers.
func (s *Simulator) writeAnswer(w http.ResponseWriter, method string, a answer) {
	inner := a.json()
	var b bytes.Buffer
	b.WriteString(`{"` + responseKey(method) + `":`)
	b.Write(inner)
	if a.signed() {
		b.WriteString(`,"sign":"` + signRSA2(s.cfg.AlipayKey, inner) + `"`)
	}
	b.WriteString("}")
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
}

// Call is one request the gateway received.
type Call struct {
	Method     string            `json:"method"`
	HTTPMethod string            `json:"http_method"`
	Params     map[string]string `json:"params"` // every parameter as received, sign and biz_content included
	Code       string            `json:"code,omitempty"`
	SubCode    string            `json:"sub_code,omitempty"`
	Fault      string            `json:"fault,omitempty"` // the fault mode applied, if any
	At         time.Time         `json:"at"`
}

// Calls returns the gateway calls for method ("" for all) in arrival order.
func (s *Simulator) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Call{}
	for _, c := range s.calls {
		if method == "" || c.Method == method {
			c.Params = maps.Clone(c.Params)
			out = append(out, c)
		}
	}
	return out
}

func (s *Simulator) logCall(method, httpMethod string, params url.Values) int {
	flat := make(map[string]string, len(params))
	for k, vs := range params {
		flat[k] = strings.Join(vs, ",")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, Call{Method: method, HTTPMethod: httpMethod, Params: flat, At: s.now()})
	return len(s.calls) - 1
}

func (s *Simulator) finishCall(i int, a answer, fault string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[i].Code, s.calls[i].SubCode, s.calls[i].Fault = a.code, a.subCode, fault
}

// gatewayRequest is a request that passed the gateway's checks.
type gatewayRequest struct {
	method    string
	params    url.Values
	biz       map[string]json.RawMessage
	notifyURL string
	returnURL string
	base      string // where the gateway was reached, without GatewayPath (requestBase)
}

// text returns a biz_content member as text: a string's content or a number's literal.
// Absent, null and empty members are "".
func (g *gatewayRequest) text(key string) string {
	raw, ok := g.biz[key]
	if !ok {
		return ""
	}
	t, _ := amountText(raw)
	return t
}

type apiHandler func(*gatewayRequest) answer

// apiMethods are the JSON methods (alipay.trade.wap.pay is a page: cashier.go).
var apiMethods = map[string]func(*Simulator) apiHandler{
	MethodPrecreate:       func(s *Simulator) apiHandler { return s.precreate },
	MethodQuery:           func(s *Simulator) apiHandler { return s.query },
	MethodClose:           func(s *Simulator) apiHandler { return s.closeTrade },
	MethodRefund:          func(s *Simulator) apiHandler { return s.createRefund },
	MethodRefundQuery:     func(s *Simulator) apiHandler { return s.refundQuery },
	MethodBillDownloadURL: func(s *Simulator) apiHandler { return s.billDownloadURLQuery },
}

const maxGatewayBody = 1 << 20

// handleGateway serves GatewayPath: the public checks, then the method, with the faults
// queued for it.
func (s *Simulator) handleGateway(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxGatewayBody)
	if err := r.ParseForm(); err != nil {
		a := gatewayFailure(codeInvalidParam, "isv.invalid-parameter", "参数无效: "+err.Error())
		s.finishCall(s.logCall("", r.Method, nil), *a, "")
		s.writeAnswer(w, "", *a)
		return
	}
	method := r.Form.Get("method")
	idx := s.logCall(method, r.Method, r.Form)
	req, refused := s.checkPublic(r.Form)
	if method == MethodWapPay {
		s.serveCashier(w, idx, req, refused)
		return
	}
	if refused != nil {
		s.finishCall(idx, *refused, "")
		s.writeAnswer(w, method, *refused)
		return
	}
	req.base = requestBase(r)
	handle := apiMethods[method](s)
	f := s.consumeFault(method, ModeFail, ModeTimeout, ModeDelay)
	if f == nil {
		a := handle(req)
		s.finishCall(idx, a, "")
		s.writeAnswer(w, method, a)
		return
	}
	switch f.Mode {
	case ModeFail: // fails without taking effect
		a := f.answer()
		s.finishCall(idx, a, f.Mode)
		s.writeAnswer(w, method, a)
	case ModeDelay:
		if !sleep(r.Context(), time.Duration(f.DelayMS)*time.Millisecond) {
			return
		}
		a := handle(req)
		s.finishCall(idx, a, f.Mode)
		s.writeAnswer(w, method, a)
	case ModeTimeout: // takes effect; the reply waits until the caller gives up
		a := handle(req)
		s.finishCall(idx, a, f.Mode)
		var expire <-chan time.Time
		if f.DelayMS > 0 {
			t := time.NewTimer(time.Duration(f.DelayMS) * time.Millisecond)
			defer t.Stop()
			expire = t.C
		}
		select {
		case <-r.Context().Done():
		case <-s.ctx.Done():
		case <-expire:
			s.writeAnswer(w, method, a)
		}
	}
}

// checkPublic applies the gateway's checks of the public parameters (公共请求参数) in the
// order Alipay applies them: app_id first (a request with an unknown app_id is refused
// isv.invalid-app-id whether or not it is signed, as public probes of the gateway show),
// then the method, then the signature, then the rest. It returns the refusal, or the
// request with its biz_content decoded.
func (s *Simulator) checkPublic(p url.Values) (*gatewayRequest, *answer) {
	appID := p.Get("app_id")
	switch {
	case appID == "":
		return nil, gatewayFailure(codeMissingParam, "isv.missing-app-id", "")
	case appID != s.cfg.AppID:
		return nil, gatewayFailure(codeInvalidParam, "isv.invalid-app-id", "")
	}
	method := p.Get("method")
	switch {
	case method == "":
		return nil, gatewayFailure(codeMissingParam, "isv.missing-method", "")
	case method != MethodWapPay && apiMethods[method] == nil:
		return nil, gatewayFailure(codeInvalidParam, "isv.invalid-method", "")
	}
	sign := p.Get("sign")
	signType := p.Get("sign_type")
	switch {
	case sign == "":
		return nil, gatewayFailure(codeMissingParam, "isv.missing-signature", "")
	case signType == "":
		return nil, gatewayFailure(codeMissingParam, "isv.missing-signature-type", "")
	case signType != "RSA2": // the application's key is an RSA2 key (公钥模式, RSA2)
		return nil, gatewayFailure(codeInvalidParam, "isv.invalid-signature-type", "")
	}
	content := requestSignContent(p)
	if verifyRSA2(s.cfg.AppPublicKey, []byte(content), sign) != nil {
		// Alipay's sub_msg shows the string it checked, which is how merchants debug.
		return nil, gatewayFailure(codeInvalidParam, "isv.invalid-signature",
			subMsg("isv.invalid-signature")+"，网关生成的验签字符串为："+content)
	}
	ts := p.Get("timestamp")
	if ts == "" {
		return nil, gatewayFailure(codeMissingParam, "isv.missing-timestamp", "")
	}
	if _, err := time.Parse(time.DateTime, ts); err != nil {
		// "发送请求的时间，格式"yyyy-MM-dd HH:mm:ss"" (公共请求参数). The window Alipay
		// allows around its clock is not documented; only the form is checked.
		return nil, gatewayFailure(codeInvalidParam, "isv.invalid-timestamp", "")
	}
	if p.Get("version") == "" {
		return nil, gatewayFailure(codeMissingParam, "isv.missing-version", "")
	}
	if cs := p.Get("charset"); cs != "" && !strings.EqualFold(cs, "utf-8") {
		// Alipay also takes gbk and gb2312; the simulator speaks UTF-8 only.
		return nil, gatewayFailure(codeInvalidParam, "isv.invalid-charset", "")
	}
	if f := p.Get("format"); f != "" && !strings.EqualFold(f, "json") {
		return nil, gatewayFailure(codeInvalidParam, "isv.invalid-format", "") // "仅支持JSON"
	}
	if p.Get("encrypt_type") != "" {
		// Content encryption (接口内容加密) needs an AES key set on the application; the
		// simulated application has none.
		return nil, gatewayFailure(codeInvalidParam, "isv.decryption-error-not-valid-encrypt-key", "")
	}
	req := &gatewayRequest{method: method, params: p, notifyURL: p.Get("notify_url"), returnURL: p.Get("return_url")}
	if err := json.Unmarshal([]byte(p.Get("biz_content")), &req.biz); err != nil || req.biz == nil {
		// "biz_content 请求参数的集合…除公共参数外所有请求参数都必须放在这个参数中传递"
		return nil, gatewayFailure(codeInvalidParam, "isv.invalid-parameter", "参数无效: biz_content 不是 JSON 对象")
	}
	return req, nil
}
