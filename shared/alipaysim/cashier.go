package alipaysim

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
)

// CashierPayPath is where the cashier page's 付款 button posts (form out_trade_no).
const CashierPayPath = ControlPrefix + "/cashier/pay"

// ReturnMethod is the method of the synchronous return to return_url.
const ReturnMethod = "alipay.trade.wap.pay.return"

var cashierPage = template.Must(template.New("cashier").Parse(`<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>支付宝 - 收银台 (alipaysim)</title>
<style>
body{font-family:sans-serif;margin:0;background:#f5f5f5;color:#333}
header{background:#1677ff;color:#fff;padding:12px 16px;font-size:18px}
main{background:#fff;margin:16px;padding:16px;border-radius:8px}
.amount{font-size:32px;margin:12px 0}
button{width:100%;padding:12px;font-size:18px;color:#fff;background:#1677ff;border:0;border-radius:6px}
.meta{color:#888;font-size:13px}
</style>
</head>
<body>
<header>支付宝 收银台（模拟）</header>
<main>
<p id="subject">{{.Subject}}</p>
<p class="amount" id="amount">¥{{.Amount}}</p>
<p class="meta">商户订单号 <span id="out_trade_no">{{.OutTradeNo}}</span></p>
<form method="post" action="{{.Action}}">
<input type="hidden" name="out_trade_no" value="{{.OutTradeNo}}">
<button type="submit">付款</button>
</form>
</main>
</body>
</html>
`))

var messagePage = template.Must(template.New("message").Parse(`<!DOCTYPE html>
<html lang="zh-CN">
<head><meta charset="utf-8"><title>支付宝 (alipaysim)</title></head>
<body>
<p id="message">{{.Message}}</p>
{{if .Code}}<p>错误代码 <span id="code">{{.Code}}</span> 错误原因: <span id="reason">{{.Reason}}</span></p>{{end}}
</body>
</html>
`))

// serveCashier answers alipay.trade.wap.pay (手机网站支付,
// https://opendocs.alipay.com/open/29ae8cb6_alipay.trade.wap.pay): "该接口是页面跳转接口，用于
// 生成用户访问支付宝的跳转链接", so what the merchant's URL leads to is a page for the user:
// the cashier, or, when the request is refused, Alipay's error page ("调试错误，请回到请求来源
// 地，重新发起请求。错误代码 invalid-app-id 错误原因: 无效的AppID参数", as public probes of the
// gateway show it; Alipay serves it in GBK, the simulator in UTF-8). The trade is
// recorded like a precreate's, and exists at Alipay only once the user pays (or Scan):
// "手机网站支付…用户点击支付，输入账户与密码登录成功后，订单创建".
func (s *Simulator) serveCashier(w http.ResponseWriter, idx int, req *gatewayRequest, refused *answer) {
	if refused != nil {
		s.finishCall(idx, *refused, "")
		writeErrorPage(w, *refused)
		return
	}
	o, bad := readOrder(req)
	if bad == nil {
		s.mu.Lock()
		_, bad = s.placeLocked(req, o, TradeMethodWap)
		s.mu.Unlock()
	}
	if bad != nil {
		s.finishCall(idx, *bad, "")
		writeErrorPage(w, *bad)
		return
	}
	s.finishCall(idx, success(), "")
	s.forgeAfterCreate(o.outTradeNo)
	w.Header().Set("Content-Type", "text/html;charset=utf-8")
	_ = cashierPage.Execute(w, map[string]string{
		"Subject": o.subject, "Amount": formatFen(o.totalFen), "OutTradeNo": o.outTradeNo, "Action": CashierPayPath,
	})
}

func writeErrorPage(w http.ResponseWriter, a answer) {
	w.Header().Set("Content-Type", "text/html;charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_ = messagePage.Execute(w, map[string]string{
		"Message": "调试错误，请回到请求来源地，重新发起请求。",
		"Code":    strings.TrimPrefix(a.subCode, "isv."),
		"Reason":  a.subMsg,
	})
}

// handleCashierPay is the cashier's 付款 button: DevBuyerID pays (Pay: the notification's
// first attempt goes before the redirect), then the browser is sent to return_url with
// the synchronous-return parameters (see ReturnParams). Without return_url it shows 支付成功.
func (s *Simulator) handleCashierPay(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxControlBody)
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	t, err := s.Pay(r.Context(), r.PostForm.Get("out_trade_no"))
	if err != nil {
		var e *Error
		status := http.StatusInternalServerError
		if errors.As(err, &e) {
			status = e.Status
		}
		w.Header().Set("Content-Type", "text/html;charset=utf-8")
		w.WriteHeader(status)
		_ = messagePage.Execute(w, map[string]string{"Message": err.Error()})
		return
	}
	if t.ReturnURL == "" {
		w.Header().Set("Content-Type", "text/html;charset=utf-8")
		_ = messagePage.Execute(w, map[string]string{"Message": "支付成功"})
		return
	}
	target, err := url.Parse(t.ReturnURL)
	if err != nil {
		http.Error(w, "return_url: "+err.Error(), http.StatusBadRequest)
		return
	}
	q := s.ReturnParams(t).Encode()
	if target.RawQuery != "" {
		q = target.RawQuery + "&" + q
	}
	target.RawQuery = q
	http.Redirect(w, r, target.String(), http.StatusFound)
}

// ReturnParams are the synchronous-return (同步跳转) parameters of a paid WAP trade, as
// Alipay appends them to return_url: charset, out_trade_no, method
// alipay.trade.wap.pay.return, total_amount, trade_no, auth_app_id, version, app_id,
// sign_type, seller_id, timestamp and sign (the members merchants log from Alipay's
// redirects), signed like a notification (everything but sign and sign_type, sorted), so
// the SDK's VerifySign accepts them. A query return_url already had is kept in front
// and is not signed.
func (s *Simulator) ReturnParams(t Trade) url.Values {
	v := url.Values{}
	v.Set("charset", "utf-8")
	v.Set("out_trade_no", t.OutTradeNo)
	v.Set("method", ReturnMethod)
	v.Set("total_amount", formatFen(t.TotalFen))
	v.Set("trade_no", t.TradeNo)
	v.Set("auth_app_id", s.cfg.AppID)
	v.Set("version", "1.0")
	v.Set("app_id", s.cfg.AppID)
	v.Set("sign_type", "RSA2")
	v.Set("seller_id", s.cfg.SellerID)
	v.Set("timestamp", s.alipayTime(s.now()))
	v.Set("sign", signRSA2(s.cfg.AlipayKey, []byte(notifySignContent(v))))
	return v
}
