package checkout

import "github.com/cloudpay/cloudpay/shared/cloudpay"

// choice is a way to pay the page can show: its QR code, its name in the
// page's words, and the value of ?method= that picks it.
type choice struct {
	method cloudpay.PayMethod
	param  string
	name   string
}

// choices are the page's ways to pay, in the order of its tabs.
var choices = []choice{
	{cloudpay.MethodNative, "wechat", "微信支付"},
	{cloudpay.MethodAlipayQR, "alipay", "支付宝"},
}

// Methods are the ways to pay the page can show, in the order it offers
// them: WeChat's Native QR code, then Alipay's.
func Methods() []cloudpay.PayMethod {
	out := make([]cloudpay.PayMethod, len(choices))
	for i, c := range choices {
		out[i] = c.method
	}
	return out
}

// MethodParam reads the page's ?method= ("wechat", "alipay"): the method
// the payer picked, or "" for none or anything else.
func MethodParam(v string) cloudpay.PayMethod {
	for _, c := range choices {
		if c.param == v {
			return c.method
		}
	}
	return ""
}

// Name is how the page names a way to pay: 支付宝 for any of Alipay's,
// 微信支付 for the rest.
func Name(m cloudpay.PayMethod) string {
	if m.Provider() == cloudpay.ProviderAlipay {
		return "支付宝"
	}
	return "微信支付"
}

func choiceOf(m cloudpay.PayMethod) (choice, bool) {
	for _, c := range choices {
		if c.method == m {
			return c, true
		}
	}
	return choice{}, false
}
