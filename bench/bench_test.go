// Package bench_test holds Go benchmarks of the pay use cases over the
// in-process stack, built through package app as the functions are: a fresh
// database on the embedded store (or MONGODB_TEST_URI), the WeChat Pay
// simulator on a loopback httptest server, and the functions' handlers
// where HTTP is in the loop.
//
//	go test ./bench -run '^$' -bench . -benchtime 200x
package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/app"
	"github.com/cloudpay/cloudpay/shared/cloudhosting"
	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/httpapi"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/storetest"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

const (
	subMchID   = "1900000109"
	adminToken = "bench-token"
	openid     = "oBenchUser_0123456789"
)

// stack is create-payment and payment-callback, built as their deployables
// build them, in process on one store.
type stack struct {
	sim      *wechatsim.Simulator
	create   *app.Function
	callback *app.Function
}

func newStack(b *testing.B) *stack {
	b.Helper()
	sim := wechatsim.New(wechatsim.Config{SubMchID: subMchID, RetryDelays: []time.Duration{}})
	b.Cleanup(sim.Close)
	srv := httptest.NewServer(sim.Handler())
	b.Cleanup(srv.Close)
	ch := app.ChannelConfig{Channel: wechat.CloudHosting, CloudHosting: cloudhosting.Config{
		APIURL: srv.URL, SubMchID: subMchID, EnvID: "bench-env",
		CallbackService: "payment-callback", CallbackPath: "/callbacks/pay",
	}}
	store := app.WithStore(storetest.New(b))
	ctx := context.Background()
	return &stack{
		sim:      sim,
		create:   built(b)(app.CreatePayment(ctx, app.CreatePaymentConfig{Channel: ch, Admin: httpapi.AdminConfig{Tokens: []string{adminToken}}}, store)),
		callback: built(b)(app.PaymentCallback(ctx, app.PaymentCallbackConfig{Channel: ch}, store)),
	}
}

// built takes what an app builder returns: it fails the benchmark on the
// error and closes the function when the benchmark ends.
func built(b *testing.B) func(*app.Function, error) *app.Function {
	return func(f *app.Function, err error) *app.Function {
		b.Helper()
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(f.Close)
		return f
	}
}

// serve runs one request through h without a socket and returns the recorder.
func serve(h http.Handler, method, path string, body []byte, header map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func BenchmarkCreateOrder(b *testing.B) {
	b.Run("service", func(b *testing.B) {
		s := newStack(b)
		ctx := context.Background()
		i := 0
		for b.Loop() {
			i++
			_, created, err := s.create.Payments.CreateOrder(ctx, payment.NewOrder{
				OutTradeNo: fmt.Sprintf("BSVC%08d", i), OpenID: openid, AmountFen: 2590, Description: "bench order"})
			if err != nil || !created {
				b.Fatalf("create order: created %v, %v", created, err)
			}
		}
	})
	b.Run("http", func(b *testing.B) {
		s := newStack(b)
		admin := map[string]string{"Authorization": "Bearer " + adminToken}
		i := 0
		for b.Loop() {
			i++
			body := fmt.Appendf(nil, `{"out_trade_no":"BHTTP%08d","openid":%q,"amount_fen":2590,"description":"bench order"}`, i, openid)
			if rec := serve(s.create.Handler, http.MethodPost, "/orders", body, admin); rec.Code != http.StatusCreated {
				b.Fatalf("POST /orders: %d %s", rec.Code, rec.Body)
			}
		}
	})
}

// BenchmarkConfirmPaymentDuplicate measures the path every repeated pay
// callback takes once the payment is recorded. The orders=1000 case has that
// many other orders in the collection, as a store in use does.
func BenchmarkConfirmPaymentDuplicate(b *testing.B) {
	for _, tc := range []struct {
		name  string
		other int
		http  bool
	}{
		{"service/orders=1", 0, false},
		{"service/orders=1000", 999, false},
		{"http/orders=1", 0, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := newStack(b)
			ctx := context.Background()
			for i := range tc.other {
				if _, _, err := s.create.Payments.CreateOrder(ctx, payment.NewOrder{
					OutTradeNo: fmt.Sprintf("BOTHER%06d", i), OpenID: openid, AmountFen: 100, Description: "other"}); err != nil {
					b.Fatal(err)
				}
			}
			body := paidCallback(b, s, "BDUP0001")
			hint, err := cloudhosting.ParsePayCallback(body)
			if err != nil {
				b.Fatal(err)
			}
			if v, err := s.callback.Payments.Confirm(ctx, hint); err != nil || v != wechat.Recorded {
				b.Fatalf("first callback: %v %v, want recorded", v, err)
			}
			for b.Loop() {
				if tc.http {
					rec := serve(s.callback.Handler, http.MethodPost, "/callbacks/pay", body, nil)
					if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(`"errcode":0`)) {
						b.Fatalf("duplicate callback: %d %s", rec.Code, rec.Body)
					}
					continue
				}
				if v, err := s.callback.Payments.Confirm(ctx, hint); err != nil || v != wechat.AlreadyRecorded {
					b.Fatalf("duplicate callback: %v %v, want already_recorded", v, err)
				}
			}
		})
	}
}

// paidCallback creates an order, asks for its payment, has the simulator pay
// it with the callback held back, and returns that genuine callback body.
func paidCallback(b *testing.B, s *stack, no string) []byte {
	b.Helper()
	ctx := context.Background()
	if _, _, err := s.create.Payments.CreateOrder(ctx, payment.NewOrder{OutTradeNo: no, OpenID: openid, AmountFen: 1200, Description: "bench order"}); err != nil {
		b.Fatal(err)
	}
	if _, err := s.create.Payments.CreatePayment(ctx, openid, no, "203.0.113.7", ""); err != nil {
		b.Fatal(err)
	}
	if err := s.sim.AddFault(wechatsim.Fault{API: "pay_callback", Mode: wechatsim.ModeDrop, Count: 1}); err != nil {
		b.Fatal(err)
	}
	paid, err := s.sim.Pay(ctx, no)
	if err != nil {
		b.Fatal(err)
	}
	var check struct {
		OutTradeNo string `json:"outTradeNo"`
	}
	if !paid.Callback.Dropped || json.Unmarshal(paid.Callback.Body, &check) != nil || check.OutTradeNo != no {
		b.Fatalf("no held-back callback for %s: %+v", no, paid.Callback)
	}
	if o, err := s.create.Payments.Order(ctx, no); err != nil || o.Status != cloudpay.OrderPaying {
		b.Fatalf("order before the callback: %v %v", o.Status, err)
	}
	return paid.Callback.Body
}
