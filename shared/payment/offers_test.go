package payment_test

import (
	"testing"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// Offers says which methods the deployment takes, as Pay would: Native and
// H5 on API v3 only, Alipay's only with Alipay configured.
func TestOffers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts []testkit.Option
		want map[cloudpay.PayMethod]bool
	}{
		{"Cloud Hosting", nil, map[cloudpay.PayMethod]bool{
			cloudpay.MethodJSAPI: true, cloudpay.MethodNative: false, cloudpay.MethodH5: false,
			cloudpay.MethodAlipayQR: false, cloudpay.MethodAlipayWap: false, "wechat": false,
		}},
		{"API v3", []testkit.Option{testkit.Channel(wechat.V3)}, map[cloudpay.PayMethod]bool{
			cloudpay.MethodJSAPI: true, cloudpay.MethodNative: true, cloudpay.MethodH5: true,
			cloudpay.MethodAlipayQR: false, cloudpay.MethodAlipayWap: false,
		}},
		{"Cloud Hosting and Alipay", []testkit.Option{testkit.Alipay()}, map[cloudpay.PayMethod]bool{
			cloudpay.MethodNative: false, cloudpay.MethodAlipayQR: true, cloudpay.MethodAlipayWap: true,
		}},
		{"API v3 and Alipay", []testkit.Option{testkit.Channel(wechat.V3), testkit.Alipay()}, map[cloudpay.PayMethod]bool{
			cloudpay.MethodNative: true, cloudpay.MethodH5: true, cloudpay.MethodAlipayQR: true, cloudpay.MethodAlipayWap: true,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := testkit.New(t, tc.opts...)
			for m, want := range tc.want {
				if got := s.Payments.Offers(m); got != want {
					t.Errorf("Offers(%q) = %v, want %v", m, got, want)
				}
			}
		})
	}
}
