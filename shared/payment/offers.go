package payment

import (
	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// Offers reports whether this deployment can take a payment by m: Native
// and H5 on a channel with web payments (API v3), Alipay's methods when
// Alipay is configured, the balance with a wallet. A page offering the
// payer a choice shows only these.
func (s *Service) Offers(m cloudpay.PayMethod) bool {
	switch m {
	case cloudpay.MethodJSAPI:
		return true
	case cloudpay.MethodNative, cloudpay.MethodH5:
		_, ok := s.gw.(wechat.WebPayments)
		return ok
	case cloudpay.MethodAlipayQR, cloudpay.MethodAlipayWap:
		return s.ali != nil
	case cloudpay.MethodBalance:
		return s.wallet != nil
	}
	return false
}
