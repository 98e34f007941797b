package wechatsim_test

import (
	"context"
	"testing"

	"github.com/wechatpay-apiv3/wechatpay-go/services/refunddomestic"

	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// A refund requested without notify_url is notified where the merchant platform says
// (Config.OutsideNotifyURL), never at its payment's notify_url, as WeChat does; with
// nothing configured there it is not delivered at all.
func TestV3RefundWithoutNotifyURLIsNotNotifiedAtThePayments(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		platform string // Config.OutsideNotifyURL path on the sink; "" for none
	}{
		{"merchant platform URL", "/notify/platform"},
		{"none configured", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sink := newNotifySink(t)
			e := newV3Env(t, func(c *wechatsim.Config) {
				if tc.platform != "" {
					c.OutsideNotifyURL = sink.url(tc.platform)
				}
			})
			e.sink = sink
			e.prepay(t, "RNOTE01")
			if status, out := e.control(t, "POST", "/pay", map[string]any{"out_trade_no": "RNOTE01"}); status != 200 {
				t.Fatalf("pay: %d %v", status, out)
			}
			req := e.refundReq("RNOTE01", "RNOTE01-R1", 30)
			req.NotifyUrl = nil
			if _, _, err := (&refunddomestic.RefundsApiService{Client: e.sdk}).Create(context.Background(), req); err != nil {
				t.Fatalf("refund: %v", err)
			}
			if _, err := e.sim.SettleRefund(context.Background(), "RNOTE01-R1", "SUCCESS"); err != nil {
				t.Fatalf("settle: %v", err)
			}
			var refundDeliveries []wechatsim.Delivery
			for _, d := range e.sim.Deliveries("RNOTE01") {
				if d.OutRefundNo == "RNOTE01-R1" {
					refundDeliveries = append(refundDeliveries, d)
				}
			}
			if len(refundDeliveries) == 0 {
				t.Fatal("no delivery recorded for the refund")
			}
			for _, d := range refundDeliveries {
				if d.URL == sink.url("/notify/pay") {
					t.Errorf("REFUND notification went to the payment's notify_url: %+v", d)
				}
				if tc.platform != "" && (d.URL != sink.url(tc.platform) || !d.OK) {
					t.Errorf("delivery %+v, want it acknowledged at the merchant platform's URL", d)
				}
				if tc.platform == "" && (d.OK || d.Error == "") {
					t.Errorf("delivery %+v, want none (no URL)", d)
				}
			}
		})
	}
}
