package bench_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/app"
	"github.com/cloudpay/cloudpay/shared/cloudhosting"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/storetest"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// BenchmarkRefundBatch200 runs a batch of 200 refunds (one per paid order)
// against the simulator over loopback HTTP, with refund callbacks delivered
// to payment-callback, and reports wall time to the last refund settled,
// the most calls in flight at WeChat and the refund calls per second.
//
//	go test ./bench -run '^$' -bench RefundBatch -benchtime 1x
func BenchmarkRefundBatch200(b *testing.B) {
	const n = 200
	for b.Loop() {
		b.StopTimer()
		ctx := context.Background()
		store := storetest.New(b)
		var callbackURL string
		cbSrv := httptest.NewServer(nil)
		b.Cleanup(cbSrv.Close)
		callbackURL = cbSrv.URL
		sim := wechatsim.New(wechatsim.Config{SubMchID: subMchID, Services: map[string]string{"payment-callback": callbackURL},
			RetryDelays: []time.Duration{time.Second}})
		b.Cleanup(sim.Close)
		simSrv := httptest.NewServer(sim.Handler())
		b.Cleanup(simSrv.Close)
		// create-payment, refund and payment-callback, as deployed, on one store.
		ch := app.ChannelConfig{Channel: wechat.CloudHosting, CloudHosting: cloudhosting.Config{APIURL: simSrv.URL, SubMchID: subMchID, EnvID: "bench-env",
			CallbackService: "payment-callback", CallbackPath: "/callbacks/pay", RefundCallbackPath: "/callbacks/refund"}}
		rules := refund.Config{MinInterval: time.Minute}
		pay := built(b)(app.CreatePayment(ctx, app.CreatePaymentConfig{Channel: ch}, app.WithStore(store))).Payments
		refunds := built(b)(app.Refund(ctx, app.RefundConfig{Channel: ch, Refund: rules}, app.WithStore(store))).Refunds
		callback := built(b)(app.PaymentCallback(ctx, app.PaymentCallbackConfig{Channel: ch, Refund: rules}, app.WithStore(store)))
		cbSrv.Config.Handler = callback.Handler

		items := make([]refund.BatchItem, n)
		for i := range n {
			no := fmt.Sprintf("BATCH%05d", i)
			if _, _, err := pay.CreateOrder(ctx, payment.NewOrder{OutTradeNo: no, OpenID: openid, AmountFen: 1990, Description: "camp"}); err != nil {
				b.Fatal(err)
			}
			if _, err := pay.CreatePayment(ctx, openid, no, "203.0.113.7", ""); err != nil {
				b.Fatal(err)
			}
			if res, err := sim.Pay(ctx, no); err != nil || !res.Callback.OK {
				b.Fatalf("pay %s: %v %+v", no, err, res.Callback)
			}
			items[i] = refund.BatchItem{OutTradeNo: no, AmountFen: 1990, Reason: "camp cancelled", Key: "bench-" + no}
		}
		b.StartTimer()
		start := time.Now()
		id, _, err := refunds.CreateBatch(ctx, refund.NewBatch{IdempotencyKey: fmt.Sprintf("bench-%d", time.Now().UnixNano()), Items: items})
		if err != nil {
			b.Fatal(err)
		}
		for {
			p, err := refunds.BatchProgress(ctx, id)
			if err != nil {
				b.Fatal(err)
			}
			if p.Done == n {
				if p.Succeeded != n {
					b.Fatalf("batch ended %+v", p)
				}
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		wall := time.Since(start)
		st := refunds.Stats()
		b.ReportMetric(wall.Seconds(), "wall-s")
		b.ReportMetric(float64(st.PeakInFlight), "peak-in-flight")
		b.ReportMetric(float64(st.Calls)/wall.Seconds(), "calls/s")
	}
}
