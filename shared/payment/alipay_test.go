package payment_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/alipaysim"
	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// alipayPay asks for an Alipay payment of an order through the merchant's
// route, as the business back end does.
func alipayPay(t *testing.T, s *testkit.Stack, no string, body map[string]any) testkit.Response {
	t.Helper()
	return s.Do("POST", s.CreatePaymentURL+"/orders/"+no+"/pay", body, testkit.Admin())
}

// paidAtAlipay pays the order's QR code as the payer and returns the
// notification's delivery.
func paidAtAlipay(t *testing.T, s *testkit.Stack, tradeNo string) alipaysim.Delivery {
	t.Helper()
	if _, err := s.Alipay.Pay(ctx, tradeNo); err != nil {
		t.Fatalf("pay %s at Alipay: %v", tradeNo, err)
	}
	ds := s.Alipay.Deliveries(tradeNo)
	if len(ds) == 0 {
		t.Fatalf("no notification for %s", tradeNo)
	}
	return ds[len(ds)-1]
}

// An Alipay QR payment, on either WeChat channel: the QR code's text, no
// trade at Alipay until scanned (polling says unpaid), then the payer pays,
// Alipay's notification is verified, recorded once and answered "success",
// and the order is paid by alipay_qr at the stored amount.
func TestAlipayQRIsPaidByItsNotification(t *testing.T) {
	t.Parallel()
	for _, ch := range []string{wechat.CloudHosting, wechat.V3} {
		t.Run(ch, func(t *testing.T) {
			t.Parallel()
			s := testkit.New(t, testkit.Channel(ch), testkit.Alipay())
			o := createOrder(t, s, "ALIQR00001", testkit.Alice, 1230, 30)
			r := alipayPay(t, s, o.OutTradeNo, map[string]any{"method": "alipay_qr"})
			if r.Status != http.StatusOK || !strings.HasPrefix(r.Str("qr_code"), "https://qr.alipay.com/") || r.Str("code_url") != "" || r.Str("method") != "alipay_qr" {
				t.Fatalf("pay: %d %s", r.Status, r.Raw)
			}
			trade, found := s.Alipay.Trade(o.OutTradeNo)
			if !found || trade.TotalFen != 1230 || trade.Subject != o.Description {
				t.Fatalf("Alipay's trade: %+v %v", trade, found)
			}
			if st := s.Do("GET", s.CreatePaymentURL+"/orders/"+o.OutTradeNo+"/payment", nil, testkit.Admin()); st.Str("status") == "paid" {
				t.Fatalf("paid before anyone scanned: %s", st.Raw)
			}
			d := paidAtAlipay(t, s, o.OutTradeNo)
			if !d.OK || d.Reply != "success" {
				t.Fatalf("notification answered %d %q", d.Status, d.Reply)
			}
			got := s.Order(o.OutTradeNo)
			if got.Status != cloudpay.OrderPaid || got.Method != cloudpay.MethodAlipayQR || got.TransactionID == "" {
				t.Fatalf("order after the notification: %+v", got)
			}
			if n := len(s.Events(o.OutTradeNo)); n == 0 {
				t.Fatal("no payment event")
			}
			// The merchant's back end sees how it was paid, and Alipay's trade number.
			v := s.Do("GET", s.CreatePaymentURL+"/orders/"+o.OutTradeNo, nil, testkit.Admin())
			if v.Str("method") != "alipay_qr" || v.Str("status") != "paid" || v.Str("transaction_id") != got.TransactionID {
				t.Fatalf("GET /orders: %s", v.Raw)
			}
		})
	}
}

// A storm of copies of one genuine notification records the payment once;
// every copy is answered "success" once the outcome is stored.
func TestAlipayNotificationStormRecordedOnce(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Alipay())
	o := createOrder(t, s, "ALISTORM01", testkit.Alice, 500, 30)
	if r := alipayPay(t, s, o.OutTradeNo, map[string]any{"method": "alipay_qr"}); r.Status != http.StatusOK {
		t.Fatalf("pay: %s", r.Raw)
	}
	first := paidAtAlipay(t, s, o.OutTradeNo)
	var mu sync.Mutex
	replies := map[string]int{}
	s.Concurrently(30, func(int) {
		d, err := s.Alipay.Notify(ctx, o.OutTradeNo)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			replies["error: "+err.Error()]++
			return
		}
		if d.NotifyID != first.NotifyID {
			replies["another notify_id"]++
		}
		replies[d.Reply]++
	})
	if replies["success"] != 30 {
		t.Fatalf("replies: %v", replies)
	}
	paidEvents := 0
	for _, e := range s.Events(o.OutTradeNo) {
		if e.Type == cloudpay.EventOrderPaid {
			paidEvents++
		}
	}
	if paidEvents != 1 || s.Order(o.OutTradeNo).Status != cloudpay.OrderPaid {
		t.Fatalf("%d paid events, order %+v", paidEvents, s.Order(o.OutTradeNo))
	}
}

// Forged and mismatching notifications change nothing and are answered
// "fail": another signer, another application, another seller, another
// amount, an order nobody made.
func TestAlipayForgedNotificationsChangeNothing(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Alipay())
	o := createOrder(t, s, "ALIFORGE01", testkit.Alice, 800, 30)
	if r := alipayPay(t, s, o.OutTradeNo, map[string]any{"method": "alipay_qr"}); r.Status != http.StatusOK {
		t.Fatalf("pay: %s", r.Raw)
	}
	if _, err := s.Alipay.Scan(o.OutTradeNo); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{alipaysim.ForgeBadSignature, alipaysim.ForgeWrongApp, alipaysim.ForgeWrongSeller,
		alipaysim.ForgeWrongAmount, alipaysim.ForgeUnknownTrade} {
		t.Run(kind, func(t *testing.T) {
			d, err := s.Alipay.Forge(ctx, alipaysim.ForgeRequest{Kind: kind, OutTradeNo: o.OutTradeNo})
			if err != nil {
				t.Fatal(err)
			}
			if d.OK || d.Reply != "fail" {
				t.Fatalf("a %s notification was answered %d %q", kind, d.Status, d.Reply)
			}
			if got := s.Order(o.OutTradeNo); got.Status == cloudpay.OrderPaid {
				t.Fatalf("a %s notification paid the order", kind)
			}
		})
	}
	if n := s.Count("settlements"); n != 0 {
		t.Fatalf("%d settlements after forgeries", n)
	}
}

// A QR code nobody paid: when the order expires the job closes it at
// Alipay first. Alipay holds no trade before the scan, so that close closes
// nothing and the code may still be paid until it lapses (two hours): the
// order stays open meanwhile, a late payment is recorded, and an unused
// code's order is closed once it has lapsed.
func TestAlipayQRExpiresAndCloses(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Alipay())
	late := createOrder(t, s, "ALIEXP0001", testkit.Alice, 300, 5)
	unused := createOrder(t, s, "ALIEXP0002", testkit.Alice, 300, 5)
	for _, o := range []cloudpay.Order{late, unused} {
		if r := alipayPay(t, s, o.OutTradeNo, map[string]any{"method": "alipay_qr"}); r.Status != http.StatusOK {
			t.Fatalf("pay: %s", r.Raw)
		}
	}
	s.Advance(10 * time.Minute)
	s.Job.Run(ctx)
	if calls := s.Alipay.Calls("alipay.trade.close"); len(calls) < 2 {
		t.Fatalf("the job did not try to close the codes at Alipay: %d calls", len(calls))
	}
	for _, o := range []cloudpay.Order{late, unused} {
		if got := s.Order(o.OutTradeNo); got.Status == cloudpay.OrderClosed {
			t.Fatalf("%s closed while its QR code may still be paid", o.OutTradeNo)
		}
	}
	// Paid late, within the code's life: recorded, no money lost.
	if d := paidAtAlipay(t, s, late.OutTradeNo); !d.OK {
		t.Fatalf("late payment's notification: %+v", d)
	}
	if got := s.Order(late.OutTradeNo); got.Status != cloudpay.OrderPaid {
		t.Fatalf("late payment: %+v", got)
	}
	s.Advance(2 * time.Hour)
	s.Job.Run(ctx)
	if got := s.Order(unused.OutTradeNo); got.Status != cloudpay.OrderClosed {
		t.Fatalf("unused code after it lapsed: %+v", got)
	}
	if got := s.Order(late.OutTradeNo); got.Status != cloudpay.OrderPaid {
		t.Fatalf("the paid order after the job: %+v", got)
	}
}

// A payment whose notification was lost is found by polling the order.
func TestAlipayLostNotificationFoundByPolling(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Alipay())
	o := createOrder(t, s, "ALILOST001", testkit.Alice, 700, 30)
	if r := alipayPay(t, s, o.OutTradeNo, map[string]any{"method": "alipay_qr"}); r.Status != http.StatusOK {
		t.Fatalf("pay: %s", r.Raw)
	}
	if err := s.Alipay.AddFault(alipaysim.Fault{Method: "notify", Mode: "drop", Count: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Alipay.Pay(ctx, o.OutTradeNo); err != nil {
		t.Fatal(err)
	}
	if got := s.Order(o.OutTradeNo); got.Status == cloudpay.OrderPaid {
		t.Fatal("paid without a notification or a query")
	}
	st := s.Do("GET", s.CreatePaymentURL+"/orders/"+o.OutTradeNo+"/payment", nil, testkit.Admin())
	if st.Str("status") != "paid" {
		t.Fatalf("polling after a lost notification: %s", st.Raw)
	}
}

// Refunds of an Alipay payment go back through Alipay under out_request_no
// = the refund's number. A refund whose answer was lost is found by the
// query (Alipay acted) and not sent twice; the same refund asked again,
// concurrently, is the same refund: refunded once at Alipay.
func TestAlipayRefundRetriedIsRefundedOnce(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Alipay(), testkit.GatewayTimeout(testkit.FaultTimeout))
	o := createOrder(t, s, "ALIREF0001", testkit.Alice, 1000, 30)
	if r := alipayPay(t, s, o.OutTradeNo, map[string]any{"method": "alipay_qr"}); r.Status != http.StatusOK {
		t.Fatalf("pay: %s", r.Raw)
	}
	paidAtAlipay(t, s, o.OutTradeNo)
	if err := s.Alipay.AddFault(alipaysim.Fault{Method: "alipay.trade.refund", Mode: "timeout", Count: 1}); err != nil {
		t.Fatal(err)
	}
	body := map[string]any{"out_trade_no": o.OutTradeNo, "amount_fen": 400, "idempotency_key": "ali-r1"}
	var mu sync.Mutex
	nos := map[string]bool{}
	s.Concurrently(8, func(int) {
		r := s.Do("POST", s.RefundURL+"/refunds", body, testkit.Admin())
		mu.Lock()
		defer mu.Unlock()
		nos[fmt.Sprintf("%d %s", r.Status/100, r.Str("out_refund_no"))] = true
	})
	var no string
	for k := range nos {
		if f := strings.Fields(k); len(f) == 2 && f[0] == "2" {
			no = f[1]
		}
	}
	if len(nos) != 1 || no == "" {
		t.Fatalf("answers to the same refund asked 8 times: %v", nos)
	}
	testkit.Eventually(t, func() error {
		s.Job.Run(ctx)
		if st := s.Refund(no).Status; st != cloudpay.RefundSucceeded {
			return fmt.Errorf("refund %s is %s after its lost answer", no, st)
		}
		return nil
	})
	refunds := s.Alipay.Refunds(o.OutTradeNo)
	if len(refunds) != 1 || refunds[0].OutRequestNo != no || refunds[0].RefundFen != 400 {
		t.Fatalf("Alipay's refunds: %+v", refunds)
	}
	if trade, _ := s.Alipay.Trade(o.OutTradeNo); trade.RefundedFen != 400 {
		t.Fatalf("Alipay refunded %d fen, want 400", trade.RefundedFen)
	}
	// The rest, then nothing more: the ledger holds what was paid.
	if r := s.Do("POST", s.RefundURL+"/refunds", map[string]any{"out_trade_no": o.OutTradeNo, "amount_fen": 601, "idempotency_key": "ali-r2"}, testkit.Admin()); r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("refund over what is left: %d %s", r.Status, r.Raw)
	}
}

// The mobile-web cashier: its URL carries the return_url; without Alipay
// configured, Alipay methods say which settings are missing; fields are
// checked before anything happens.
func TestAlipayWapAndItsErrors(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Alipay())
	o := createOrder(t, s, "ALIWAP0001", testkit.Alice, 990, 30)
	r := alipayPay(t, s, o.OutTradeNo, map[string]any{"method": "alipay_wap", "return_url": "https://shop.example/paid?o=1"})
	if r.Status != http.StatusOK || r.Str("pay_url") == "" {
		t.Fatalf("wap: %d %s", r.Status, r.Raw)
	}
	u, err := url.Parse(r.Str("pay_url"))
	if err != nil || !strings.HasPrefix(r.Str("pay_url"), s.AlipayURL+alipaysim.GatewayPath) || u.Query().Get("return_url") != "https://shop.example/paid?o=1" {
		t.Fatalf("pay_url %q", r.Str("pay_url"))
	}
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"method": "alipay_wap", "return_url": "javascript:alert(1)"}, "return_url"},
		{map[string]any{"method": "alipay_qr", "return_url": "https://shop.example/"}, "return_url"},
		{map[string]any{"method": "alipay_qr", "client_ip": "203.0.113.7"}, "client_ip"},
		{map[string]any{"method": "alipay"}, "method"},
	} {
		if r := alipayPay(t, s, o.OutTradeNo, tc.body); r.Status != http.StatusBadRequest || r.ErrorField() != tc.field {
			t.Errorf("%v: %d %s, want 400 naming %s", tc.body, r.Status, r.Raw, tc.field)
		}
	}

	plain := testkit.New(t)
	createOrder(t, plain, "ALINONE001", testkit.Alice, 100, 30)
	if r := alipayPay(t, plain, "ALINONE001", map[string]any{"method": "alipay_qr"}); r.Status != http.StatusUnprocessableEntity ||
		r.ErrorCode() != string(cloudpay.CodeMethodNotSupported) || !strings.Contains(string(r.Raw), "ALIPAY_APP_ID") {
		t.Fatalf("without Alipay: %d %s", r.Status, r.Raw)
	}
	if r := plain.Do("POST", plain.PaymentCallbackURL+"/callbacks/alipay", nil, nil); r.Status != http.StatusNotFound {
		t.Fatalf("/callbacks/alipay without Alipay: %d %s", r.Status, r.Raw)
	}
}

// Alipay's refusals classify themselves: a busy Alipay (ACQ.SYSTEM_ERROR) is
// asked again later and the refund succeeds once; a final refusal fails the
// refund and gives its amount back to what may be refunded.
func TestAlipayRefundRefusals(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Alipay())
	o := createOrder(t, s, "ALIREF0002", testkit.Alice, 1000, 30)
	if r := alipayPay(t, s, o.OutTradeNo, map[string]any{"method": "alipay_qr"}); r.Status != http.StatusOK {
		t.Fatalf("pay: %s", r.Raw)
	}
	paidAtAlipay(t, s, o.OutTradeNo)
	refund := func(key string, fen int64) string {
		t.Helper()
		r := s.Do("POST", s.RefundURL+"/refunds", map[string]any{"out_trade_no": o.OutTradeNo, "amount_fen": fen, "idempotency_key": key}, testkit.Admin())
		if r.Status/100 != 2 {
			t.Fatalf("refund %s: %d %s", key, r.Status, r.Raw)
		}
		return r.Str("out_refund_no")
	}

	if err := s.Alipay.AddFault(alipaysim.Fault{Method: "alipay.trade.refund", Mode: "fail", Code: "40004", SubCode: "ACQ.SYSTEM_ERROR", Count: 1}); err != nil {
		t.Fatal(err)
	}
	busy := refund("ali-busy", 300)
	testkit.Eventually(t, func() error {
		s.Advance(2 * time.Minute)
		s.Job.Run(ctx)
		if st := s.Refund(busy).Status; st != cloudpay.RefundSucceeded {
			return fmt.Errorf("refund after a busy Alipay: %s", st)
		}
		return nil
	})

	if err := s.Alipay.AddFault(alipaysim.Fault{Method: "alipay.trade.refund", Mode: "fail", Code: "40004", SubCode: "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", Count: 1}); err != nil {
		t.Fatal(err)
	}
	s.Advance(2 * time.Minute)
	refused := refund("ali-refused", 700)
	if r := s.Refund(refused); r.Status != cloudpay.RefundFailed {
		t.Fatalf("a finally refused refund: %+v", r)
	}
	s.Advance(2 * time.Minute)
	rest := refund("ali-rest", 700)
	testkit.Eventually(t, func() error {
		s.Job.Run(ctx)
		if st := s.Refund(rest).Status; st != cloudpay.RefundSucceeded {
			return fmt.Errorf("the rest after a refused refund: %s", st)
		}
		return nil
	})
	if trade, _ := s.Alipay.Trade(o.OutTradeNo); trade.RefundedFen != 1000 || len(s.Alipay.Refunds(o.OutTradeNo)) != 2 {
		t.Fatalf("Alipay refunded %d fen in %+v", trade.RefundedFen, s.Alipay.Refunds(o.OutTradeNo))
	}
}

// A batch of refunds of Alipay payments goes back through Alipay, each
// refunded once, beside a WeChat payment refunded at WeChat.
func TestAlipayBatchRefund(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Alipay())
	var items []map[string]any
	for i := range 3 {
		no := fmt.Sprintf("ALIBATCH%02d", i)
		createOrder(t, s, no, testkit.Alice, 200, 30)
		if r := alipayPay(t, s, no, map[string]any{"method": "alipay_qr"}); r.Status != http.StatusOK {
			t.Fatalf("pay: %s", r.Raw)
		}
		paidAtAlipay(t, s, no)
		items = append(items, map[string]any{"out_trade_no": no, "amount_fen": 150, "key": "alibatch-" + no})
	}
	s.Paid("WXBATCH001", testkit.Alice, 200)
	items = append(items, map[string]any{"out_trade_no": "WXBATCH001", "amount_fen": 150, "key": "alibatch-wx"})
	r := s.Do("POST", s.RefundURL+"/refunds/batch", map[string]any{"idempotency_key": "alibatch", "items": items}, testkit.Admin())
	if r.Status != http.StatusAccepted {
		t.Fatalf("batch: %d %s", r.Status, r.Raw)
	}
	id := r.Str("batch_id")
	testkit.Eventually(t, func() error {
		p := s.Do("GET", s.RefundURL+"/refunds/batches/"+id, nil, testkit.Admin())
		if p.Body["succeeded"] != float64(4) {
			return fmt.Errorf("batch %s", p.Raw)
		}
		return nil
	})
	for i := range 3 {
		no := fmt.Sprintf("ALIBATCH%02d", i)
		if refunds := s.Alipay.Refunds(no); len(refunds) != 1 || refunds[0].RefundFen != 150 {
			t.Errorf("%s: Alipay's refunds %+v", no, refunds)
		}
	}
	if refunds := s.SimRefunds("WXBATCH001"); len(refunds) != 1 {
		t.Errorf("WeChat's refunds of the WeChat payment: %v", refunds)
	}
}

// Switching from an Alipay QR code nobody scanned to WeChat's Native cannot
// close the code at Alipay (there is no trade yet), so the attempt stays
// live: a payment of the old code whose notification is lost is still found
// by polling, never left at Alipay.
func TestAlipaySwitchKeepsAskingAboutTheOldCode(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Channel(wechat.V3), testkit.Alipay())
	o := createOrder(t, s, "ALISWITCH1", testkit.Alice, 450, 30)
	if r := alipayPay(t, s, o.OutTradeNo, map[string]any{"method": "alipay_qr"}); r.Status != http.StatusOK {
		t.Fatalf("alipay_qr: %s", r.Raw)
	}
	if r := alipayPay(t, s, o.OutTradeNo, map[string]any{"method": "native"}); r.Status != http.StatusOK || r.Str("code_url") == "" {
		t.Fatalf("switch to native: %d %s", r.Status, r.Raw)
	}
	if err := s.Alipay.AddFault(alipaysim.Fault{Method: "notify", Mode: "drop", Count: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Alipay.Pay(ctx, o.OutTradeNo); err != nil { // the first attempt is the order's own number
		t.Fatal(err)
	}
	st := s.Do("GET", s.CreatePaymentURL+"/orders/"+o.OutTradeNo+"/payment", nil, testkit.Admin())
	if st.Str("status") != "paid" || st.Str("method") != "alipay_qr" {
		t.Fatalf("polling after the old code was paid: %s", st.Raw)
	}
}

// WeChat's trade management knows nothing of Alipay payments: no automatic
// virtual-goods upload is queued for one, and entering shipping is refused.
func TestAlipayPaymentsAreNotShippedToWeChat(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Alipay(), testkit.AutoVirtualShipping())
	o := createOrder(t, s, "ALISHIP001", testkit.Alice, 300, 30)
	if r := alipayPay(t, s, o.OutTradeNo, map[string]any{"method": "alipay_qr"}); r.Status != http.StatusOK {
		t.Fatalf("pay: %s", r.Raw)
	}
	paidAtAlipay(t, s, o.OutTradeNo)
	if n := s.Count("shipments"); n != 0 {
		t.Fatalf("%d shipments queued for an Alipay payment", n)
	}
	r := s.Do("POST", s.CreatePaymentURL+"/orders/"+o.OutTradeNo+"/shipping",
		map[string]any{"idempotency_key": "k", "logistics_type": "virtual", "shipping_list": []any{map[string]any{"item_desc": "x"}}}, testkit.Admin())
	if r.ErrorCode() != string(cloudpay.CodeShippingRefused) || !strings.Contains(r.ErrorMessage(), "Alipay") {
		t.Fatalf("shipping an Alipay payment: %d %s", r.Status, r.Raw)
	}
}

// Reconciliation's adoption of a payment a bill shows under one of
// cloudpay's numbers: Alipay is asked about that attempt and only its
// answer counts — a number cloudpay never issued, and an attempt Alipay
// holds no payment for, are refused with nothing recorded; a payment
// Alipay took is recorded once, however often it is adopted.
func TestAdoptAttemptAsksTheAttemptsChannel(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Alipay())
	if _, err := s.Payments.AdoptAttempt(ctx, cloudpay.ProviderAlipay, "NOTOURS001"); cloudpay.ErrorCode(err) != cloudpay.CodeOrderNotFound {
		t.Fatalf("a number cloudpay never issued: %v", err)
	}
	o := createOrder(t, s, "ALIADOPT01", testkit.Alice, 900, 30)
	if r := alipayPay(t, s, o.OutTradeNo, map[string]any{"method": "alipay_qr"}); r.Status != http.StatusOK {
		t.Fatalf("pay: %s", r.Raw)
	}
	if _, err := s.Payments.AdoptAttempt(ctx, cloudpay.ProviderAlipay, o.OutTradeNo); cloudpay.ErrorCode(err) != cloudpay.CodeOrderNotPaid {
		t.Fatalf("a QR code nobody paid: %v", err)
	}
	// The number was used with Alipay: WeChat's word about it is not asked.
	if _, err := s.Payments.AdoptAttempt(ctx, cloudpay.ProviderWeChat, o.OutTradeNo); cloudpay.ErrorCode(err) != cloudpay.CodeOrderConflict {
		t.Fatalf("an Alipay number adopted through WeChat: %v", err)
	}
	if got := s.Order(o.OutTradeNo); got.Status == cloudpay.OrderPaid {
		t.Fatal("recorded as paid before Alipay took the money")
	}
	if err := s.Alipay.AddFault(alipaysim.Fault{Method: alipaysim.FaultNotify, Mode: alipaysim.ModeDrop, Count: 1}); err != nil {
		t.Fatal(err)
	}
	trade, err := s.Alipay.Pay(ctx, o.OutTradeNo)
	if err != nil {
		t.Fatal(err)
	}
	s.Concurrently(4, func(int) {
		if got, err := s.Payments.AdoptAttempt(ctx, cloudpay.ProviderAlipay, o.OutTradeNo); err != nil || got.Status != cloudpay.OrderPaid {
			t.Errorf("adopt the paid attempt: %s, %v", got.Status, err)
		}
	})
	got := s.Order(o.OutTradeNo)
	if got.Status != cloudpay.OrderPaid || got.TransactionID != trade.TradeNo || got.Method != cloudpay.MethodAlipayQR {
		t.Fatalf("the adopted payment: %+v", got)
	}
	paid := 0
	for _, e := range s.Events(o.OutTradeNo) {
		if e.Type == cloudpay.EventOrderPaid {
			paid++
		}
	}
	if paid != 1 {
		t.Fatalf("order.paid raised %d times", paid)
	}
}
