package payment_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// simState is the trade state WeChat (the simulator) holds under a number,
// "" when it never heard of it.
func simState(s *testkit.Stack, tradeNo string) string {
	v, found := s.Sim.Order(tradeNo)
	if !found {
		return ""
	}
	return v.TradeState
}

// simPaid counts the numbers WeChat holds a payment under, of an order's
// attempts.
func simPaid(t *testing.T, s *testkit.Stack, no string) int {
	t.Helper()
	n := 0
	for i := 1; i <= 10; i++ {
		if st := simState(s, cloudpay.TradeNoOf(no, i)); st == "SUCCESS" || st == "REFUND" {
			n++
		}
	}
	return n
}

func native(t *testing.T, s *testkit.Stack, no string) payment.Prepared {
	t.Helper()
	p, err := s.Payments.Pay(ctx, no, payment.PayRequest{Method: cloudpay.MethodNative})
	if err != nil {
		t.Fatalf("native pay %s: %v", no, err)
	}
	return p
}

func TestNativePaymentIsPaidByScanning(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Channel(wechat.V3))
	o := createOrder(t, s, "NATIVE0001", testkit.Alice, 1234, 30)
	p := native(t, s, o.OutTradeNo)
	if !strings.HasPrefix(p.CodeURL, "weixin://wxpay/bizpayurl?pr=") || p.Method != cloudpay.MethodNative {
		t.Fatalf("prepared: %+v", p)
	}
	if want := o.ExpiresAt.Truncate(time.Second); !p.ExpiresAt.Equal(want) {
		t.Fatalf("expires_at %s, want the order's %s", p.ExpiresAt, want)
	}
	// Asking again returns the live attempt: no new number at WeChat.
	again := native(t, s, o.OutTradeNo)
	if again.CodeURL == "" || simState(s, cloudpay.TradeNoOf(o.OutTradeNo, 2)) != "" {
		t.Fatalf("asked again: %+v; a second attempt exists at WeChat", again)
	}
	if got := s.Order(o.OutTradeNo); got.Status != cloudpay.OrderPaying || got.Method != cloudpay.MethodNative {
		t.Fatalf("order while paying: %s %s", got.Status, got.Method)
	}
	// Anyone may scan a QR code: the payer is not the order's user.
	res, err := s.Sim.Pay(ctx, o.OutTradeNo)
	if err != nil || !res.Callback.OK {
		t.Fatalf("scan and pay: %v %+v", err, res.Callback)
	}
	got := s.Order(o.OutTradeNo)
	if got.Status != cloudpay.OrderPaid || got.Method != cloudpay.MethodNative || got.TransactionID != res.TransactionID {
		t.Fatalf("order after paying: %+v", got)
	}
	if _, err := s.Payments.Pay(ctx, o.OutTradeNo, payment.PayRequest{Method: cloudpay.MethodNative}); cloudpay.ErrorCode(err) != cloudpay.CodeOrderPaid {
		t.Fatalf("pay a paid order: %v, want ORDER_PAID", err)
	}
}

func TestNativePaymentWhoseNotificationIsLostIsFoundByPolling(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Channel(wechat.V3))
	o := createOrder(t, s, "NATIVE0002", testkit.Alice, 500, 30)
	native(t, s, o.OutTradeNo)
	payLost(t, s, o.OutTradeNo, "v3_notify")
	if got := s.Order(o.OutTradeNo); got.Status != cloudpay.OrderPaying {
		t.Fatalf("order before polling: %s", got.Status)
	}
	got, err := s.Payments.Status(ctx, o.OutTradeNo)
	if err != nil || got.Status != cloudpay.OrderPaid || got.Method != cloudpay.MethodNative {
		t.Fatalf("poll: %+v, %v", got, err)
	}
}

func TestH5PaymentNeedsThePayersIP(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Channel(wechat.V3))
	o := createOrder(t, s, "H5ORDER0001", testkit.Alice, 800, 30)
	for _, tc := range []struct {
		req   payment.PayRequest
		field string
	}{
		{payment.PayRequest{Method: cloudpay.MethodH5}, "client_ip"},
		{payment.PayRequest{Method: cloudpay.MethodH5, ClientIP: "not-an-ip"}, "client_ip"},
		{payment.PayRequest{Method: cloudpay.MethodH5, ClientIP: "203.0.113.9", H5Type: "Windows"}, "h5_type"},
		{payment.PayRequest{Method: "alipay"}, "method"},
		{payment.PayRequest{Method: cloudpay.MethodJSAPI}, "method"},
	} {
		_, err := s.Payments.Pay(ctx, o.OutTradeNo, tc.req)
		var de *cloudpay.Error
		if !errorsAs(err, &de) || de.Field != tc.field {
			t.Errorf("%+v: %v, want a field error on %s", tc.req, err, tc.field)
		}
	}
	if list, _ := s.Store.Prepays(ctx, o.OutTradeNo); len(list) != 0 {
		t.Fatalf("bad requests stored attempts: %+v", list)
	}
	p, err := s.Payments.Pay(ctx, o.OutTradeNo, payment.PayRequest{Method: cloudpay.MethodH5, ClientIP: "203.0.113.9"})
	after := s.Now()
	if err != nil || !strings.HasPrefix(p.H5URL, "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?") {
		t.Fatalf("h5: %+v, %v", p, err)
	}
	if p.ExpiresAt.After(after.Add(5 * time.Minute)) {
		t.Fatalf("h5_url expires at %s; WeChat's lives 5 minutes, and it is %s", p.ExpiresAt, after)
	}
	if res, err := s.Sim.Pay(ctx, o.OutTradeNo); err != nil || !res.Callback.OK {
		t.Fatalf("pay: %v %+v", err, res.Callback)
	}
	if got := s.Order(o.OutTradeNo); got.Status != cloudpay.OrderPaid || got.Method != cloudpay.MethodH5 {
		t.Fatalf("order: %s %s", got.Status, got.Method)
	}
}

func TestNativeAndH5AreNotOfferedOnCloudHosting(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Channel(wechat.CloudHosting))
	o := createOrder(t, s, "CHNATIVE01", testkit.Alice, 100, 30)
	_, err := s.Payments.Pay(ctx, o.OutTradeNo, payment.PayRequest{Method: cloudpay.MethodNative})
	if cloudpay.ErrorCode(err) != cloudpay.CodeMethodNotSupported || !strings.Contains(err.Error(), "PAY_CHANNEL=v3") {
		t.Fatalf("native on Cloud Hosting: %v", err)
	}
	if got := s.Order(o.OutTradeNo); got.Status != cloudpay.OrderUnpaid {
		t.Fatalf("order changed: %s", got.Status)
	}
}

// Switching from Native to JSAPI closes the QR code's number at WeChat
// before the mini-program's prepay exists, so the order can be paid once.
func TestSwitchingFromNativeToJSAPINeverPaysTwice(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Channel(wechat.V3))
	o := createOrder(t, s, "SWITCH0001", testkit.Alice, 700, 30)
	native(t, s, o.OutTradeNo)
	prepay(t, s, o.OutTradeNo, testkit.Alice)
	second := cloudpay.TradeNoOf(o.OutTradeNo, 2)
	if st := simState(s, o.OutTradeNo); st != "CLOSED" {
		t.Fatalf("the QR code's number at WeChat: %q, want CLOSED", st)
	}
	if got := s.Order(o.OutTradeNo); got.Method != cloudpay.MethodJSAPI || got.TradeNo != second {
		t.Fatalf("order while paying: %+v", got)
	}
	if _, err := s.Sim.Pay(ctx, o.OutTradeNo); err == nil {
		t.Fatal("the closed QR code was paid")
	}
	res, err := s.Sim.Pay(ctx, second)
	if err != nil || !res.Callback.OK {
		t.Fatalf("pay in the mini-program: %v %+v", err, res.Callback)
	}
	got := s.Order(o.OutTradeNo)
	if got.Status != cloudpay.OrderPaid || got.Method != cloudpay.MethodJSAPI || got.TradeNo != second || got.TransactionID != res.TransactionID {
		t.Fatalf("order after paying: %+v", got)
	}
	if n := simPaid(t, s, o.OutTradeNo); n != 1 {
		t.Fatalf("WeChat holds %d payments of the order", n)
	}
	// Back to Native: refused, the order is paid.
	if _, err := s.Payments.Pay(ctx, o.OutTradeNo, payment.PayRequest{Method: cloudpay.MethodNative}); cloudpay.ErrorCode(err) != cloudpay.CodeOrderPaid {
		t.Fatalf("native after paying: %v", err)
	}
}

// A QR code paid while its notification is lost is found by the switch's
// close: the payment is recorded and the switch refused.
func TestSwitchingAwayFromAPaidQRCodeRecordsItsPayment(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Channel(wechat.V3))
	o := createOrder(t, s, "SWITCH0002", testkit.Alice, 700, 30)
	native(t, s, o.OutTradeNo)
	tx := payLost(t, s, o.OutTradeNo, "v3_notify")
	_, err := s.Payments.CreatePayment(ctx, testkit.Alice, o.OutTradeNo, "203.0.113.7", "")
	if cloudpay.ErrorCode(err) != cloudpay.CodeOrderPaid {
		t.Fatalf("switch to JSAPI: %v, want ORDER_PAID", err)
	}
	got := s.Order(o.OutTradeNo)
	if got.Status != cloudpay.OrderPaid || got.TransactionID != tx.TransactionID || got.Method != cloudpay.MethodNative {
		t.Fatalf("order: %+v", got)
	}
	if st := simState(s, cloudpay.TradeNoOf(o.OutTradeNo, 2)); st != "" {
		t.Fatalf("a second attempt reached WeChat: %s", st)
	}
}

// A refund of an order paid under a later attempt names that attempt's
// number at WeChat.
func TestRefundOfAnOrderPaidUnderASwitchedNumber(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Channel(wechat.V3))
	o := createOrder(t, s, "SWITCH0003", testkit.Alice, 900, 30)
	prepay(t, s, o.OutTradeNo, testkit.Alice)
	native(t, s, o.OutTradeNo)
	second := cloudpay.TradeNoOf(o.OutTradeNo, 2)
	if res, err := s.Sim.Pay(ctx, second); err != nil || !res.Callback.OK {
		t.Fatalf("scan: %v", err)
	}
	r, _, err := s.Refunds.Create(ctx, refundOf(o.OutTradeNo, 300, "k1"))
	if err != nil {
		t.Fatalf("refund: %v", err)
	}
	if r.Status != cloudpay.RefundProcessing && r.Status != cloudpay.RefundSucceeded {
		t.Fatalf("refund: %+v", r)
	}
	if refunds := s.SimRefunds(second); len(refunds) != 1 {
		t.Fatalf("WeChat's refunds of %s: %v, want one", second, refunds)
	}
}

// close-expired closes every attempt of an expired order at WeChat.
func TestJobClosesEveryAttemptOfAnExpiredOrder(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Channel(wechat.V3))
	o := createOrder(t, s, "EXPIRE0001", testkit.Alice, 100, 10)
	native(t, s, o.OutTradeNo)
	if _, err := s.Payments.Pay(ctx, o.OutTradeNo, payment.PayRequest{Method: cloudpay.MethodH5, ClientIP: "203.0.113.9"}); err != nil {
		t.Fatal(err)
	}
	s.Advance(11 * time.Minute)
	if did, err := s.Payments.Reconcile(ctx, o.OutTradeNo); err != nil || did != payment.ReconciledClosed {
		t.Fatalf("reconcile: %s, %v", did, err)
	}
	for i := 1; i <= 2; i++ {
		if st := simState(s, cloudpay.TradeNoOf(o.OutTradeNo, i)); st != "CLOSED" {
			t.Fatalf("attempt %d at WeChat: %s", i, st)
		}
	}
	if got := s.Order(o.OutTradeNo); got.Status != cloudpay.OrderClosed {
		t.Fatalf("order: %s", got.Status)
	}
}

// An order whose newest attempt's notification is lost is found by the job.
func TestJobFindsALostPaymentUnderALaterAttempt(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Channel(wechat.V3))
	o := createOrder(t, s, "LOST000001", testkit.Alice, 100, 30)
	prepay(t, s, o.OutTradeNo, testkit.Alice)
	native(t, s, o.OutTradeNo)
	payLost(t, s, cloudpay.TradeNoOf(o.OutTradeNo, 2), "v3_notify")
	if did, err := s.Payments.Reconcile(ctx, o.OutTradeNo); err != nil || did != payment.ReconciledPaid {
		t.Fatalf("reconcile: %s, %v", did, err)
	}
	if got := s.Order(o.OutTradeNo); got.Status != cloudpay.OrderPaid || got.Method != cloudpay.MethodNative {
		t.Fatalf("order: %+v", got)
	}
}

func TestOrderNumbersOfAttemptsAreReserved(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Channel(wechat.CloudHosting))
	_, _, err := s.Payments.CreateOrder(ctx, payment.NewOrder{OutTradeNo: "CPA123456", OpenID: testkit.Alice, AmountFen: 1, Description: "x"})
	var de *cloudpay.Error
	if !errorsAs(err, &de) || de.Field != "out_trade_no" {
		t.Fatalf("create CPA…: %v", err)
	}
	if n := cloudpay.TradeNoOf("A", 2); len(n) != 32 || !cloudpay.ValidOutTradeNo(n) || !cloudpay.IsAttemptNo(n) || n == cloudpay.TradeNoOf("A", 3) {
		t.Fatalf("attempt number %q", n)
	}
}

func errorsAs(err error, target **cloudpay.Error) bool { return errors.As(err, target) }

func refundOf(no string, fen cloudpay.Fen, key string) refund.NewRefund {
	return refund.NewRefund{OutTradeNo: no, AmountFen: fen, IdempotencyKey: key, Reason: "returned"}
}

// A Native prepay WeChat failed, or did not answer, is asked again under
// the same attempt: no new number at WeChat.
func TestNativePrepayFailureIsAskedAgainUnderTheSameNumber(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Channel(wechat.V3))
	o := createOrder(t, s, "NATIVE0003", testkit.Alice, 100, 30)
	s.Fault("unifiedorder", "fail", 1, map[string]any{"code": "SYSTEM_ERROR"})
	if _, err := s.Payments.Pay(ctx, o.OutTradeNo, payment.PayRequest{Method: cloudpay.MethodNative}); err == nil {
		t.Fatal("a failed prepay answered")
	}
	p := native(t, s, o.OutTradeNo)
	list, err := s.Store.Prepays(ctx, o.OutTradeNo)
	if err != nil || len(list) != 1 || list[0].TradeNo != o.OutTradeNo || p.CodeURL == "" {
		t.Fatalf("attempts after a retry: %+v, %v", list, err)
	}
}
