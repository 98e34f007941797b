package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/alipaysim"
	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// alipayDay is a stack with Alipay whose simulator's day is today's
// (Beijing), from noon, and whose WeChat has served today's bill already.
// later moves Alipay's clock on.
func alipayDay(t *testing.T, opts ...testkit.Option) (s *testkit.Stack, day string, later func(time.Duration)) {
	t.Helper()
	s = testkit.New(t, append([]testkit.Option{testkit.AlipayAtNoon(),
		testkit.Sim(func(c *wechatsim.Config) { c.Now = func() time.Time { return time.Now().Add(48 * time.Hour) } })}, opts...)...)
	return s, s.AlipayDay(), s.AdvanceAlipay
}

// payWithAlipay creates an order and pays its Alipay QR code as the payer.
func payWithAlipay(t *testing.T, s *testkit.Stack, no string, fen int64) {
	t.Helper()
	ctx := context.Background()
	if _, _, err := s.Payments.CreateOrder(ctx, payment.NewOrder{OutTradeNo: no, OpenID: testkit.Alice, AmountFen: cloudpay.Fen(fen), Description: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Payments.Pay(ctx, no, payment.PayRequest{Method: cloudpay.MethodAlipayQR}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Alipay.Pay(ctx, no); err != nil {
		t.Fatalf("pay %s at Alipay: %v", no, err)
	}
}

func alipayRefund(t *testing.T, s *testkit.Stack, no string, fen int64, key string) cloudpay.Refund {
	t.Helper()
	r, _, err := s.Refunds.Create(context.Background(), refund.NewRefund{OutTradeNo: no, AmountFen: cloudpay.Fen(fen), IdempotencyKey: key})
	if err != nil || r.Status != cloudpay.RefundSucceeded {
		t.Fatalf("refund %s through Alipay: %+v, %v", no, r, err)
	}
	return r
}

func plant(t *testing.T, s *testkit.Stack, p alipaysim.BillPlant) {
	t.Helper()
	if _, err := s.Alipay.PlantBill(p); err != nil {
		t.Fatalf("plant %+v: %v", p, err)
	}
}

// differencesOf lists a report's differences as "channel kind number
// resolved", in the report's order.
func differencesOf(r testkit.Response) []string {
	var out []string
	diffs, _ := r.Body["differences"].([]any)
	for _, d := range diffs {
		m, _ := d.(map[string]any)
		no := m["out_refund_no"]
		if no == nil {
			no = m["out_trade_no"]
		}
		out = append(out, fmt.Sprintf("%v %v %v %v bill=%v ours=%v", m["channel"], m["kind"], no, m["resolved"], m["bill_fen"], m["our_fen"]))
	}
	return out
}

// Alipay's trade bill is read beside WeChat's: a payment Alipay took under
// one of cloudpay's numbers and cloudpay missed (its notification lost) is
// recorded from Alipay's own answer; a payment or refund cloudpay never
// issued, an amount that differs, and what cloudpay holds that the bill
// does not are reported, each once, with its channel. Running the day
// again finds the adopted payment and raises nothing twice.
func TestReconciliationReadsAlipaysBill(t *testing.T) {
	t.Parallel()
	s, day, later := alipayDay(t)

	payWithAlipay(t, s, "ALIREC001", 1000) // recorded by its notification
	if err := s.Alipay.AddFault(alipaysim.Fault{Method: alipaysim.FaultNotify, Mode: alipaysim.ModeDrop, Count: 1}); err != nil {
		t.Fatal(err)
	}
	payWithAlipay(t, s, "ALIREC002", 2000) // its notification lost
	if o := s.Order("ALIREC002"); o.Status == cloudpay.OrderPaid {
		t.Fatal("paid without a notification")
	}
	payWithAlipay(t, s, "ALIREC003", 3000)
	refunded := alipayRefund(t, s, "ALIREC003", 500, "alirec-3")
	payWithAlipay(t, s, "ALIREC004", 4000)
	payWithAlipay(t, s, "ALIREC005", 5000)
	lost := alipayRefund(t, s, "ALIREC001", 200, "alirec-1")

	// Alipay's bill disagrees.
	plant(t, s, alipaysim.BillPlant{Date: day, Kind: "amount", OutTradeNo: "ALIREC004", AmountFen: 3999})
	plant(t, s, alipaysim.BillPlant{Date: day, Kind: "missing_payment", OutTradeNo: "ALIREC005"})
	plant(t, s, alipaysim.BillPlant{Date: day, Kind: "extra_payment", OutTradeNo: "OTHERSYS01", AmountFen: 800})
	plant(t, s, alipaysim.BillPlant{Date: day, Kind: "extra_refund", OutTradeNo: "ALIREC001", OutRequestNo: "MANUAL0001", AmountFen: 100})
	plant(t, s, alipaysim.BillPlant{Date: day, Kind: "missing_refund", OutRequestNo: lost.OutRefundNo})

	// Before Alipay's bill exists WeChat's part is kept and Alipay's waits,
	// with no differences made up from nothing.
	if r := s.Do("POST", s.RefundURL+"/admin/api/reconciliations/"+day, nil, testkit.Admin()); r.Status != http.StatusOK ||
		r.Body["alipay"].(map[string]any)["status"] != "failed" || len(differencesOf(r)) != 0 {
		t.Fatalf("reconciled before Alipay's bill of %s exists: %s", day, r.Raw)
	}
	later(36 * time.Hour) // past 10:00 the next day, at Alipay
	r := s.Do("POST", s.RefundURL+"/admin/api/reconciliations/"+day, nil, testkit.Admin())
	if r.Status != http.StatusOK {
		t.Fatalf("reconcile: %d %s", r.Status, r.Raw)
	}
	want := []string{
		"alipay amount ALIREC004 <nil> bill=3999 ours=4000",
		"alipay missing_payment ALIREC005 <nil> bill=0 ours=5000",
		"alipay missing_refund " + lost.OutRefundNo + " <nil> bill=0 ours=200",
		"alipay unknown_payment ALIREC002 adopted bill=2000 ours=0",
		"alipay unknown_payment OTHERSYS01 <nil> bill=800 ours=0",
		"alipay unknown_refund MANUAL0001 <nil> bill=100 ours=0",
	}
	got := differencesOf(r)
	// Two payments unknown here come in the bill's order; compare as sets within a kind.
	slices.Sort(got)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("differences:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
	for _, d := range r.Body["differences"].([]any) {
		m := d.(map[string]any)
		switch m["out_trade_no"] {
		case "OTHERSYS01":
			if note, _ := m["note"].(string); !strings.Contains(note, "never issued") {
				t.Errorf("a payment of another system's: note %q", note)
			}
		}
		if m["wechat_fen"] != m["bill_fen"] {
			t.Errorf("wechat_fen %v, bill_fen %v: the old name must carry the bill's amount", m["wechat_fen"], m["bill_fen"])
		}
	}
	ali, _ := r.Body["alipay"].(map[string]any)
	// Bill: 1000 + 2000 + 3000 + 3999 + 800 (ALIREC005 left out); refunds
	// 500 + 100 (the second refund of ALIREC001 left out). Ours, with the
	// payment adopted from the bill: 1000 + 2000 + 3000 + 4000 + 5000;
	// refunds 500 + 200.
	wantTotals := map[string]float64{"payments": 5, "payments_fen": 10799, "refunds": 2, "refunds_fen": 600,
		"our_payments": 5, "our_payments_fen": 15000, "our_refunds": 2, "our_refunds_fen": 700}
	for k, v := range wantTotals {
		if ali[k] != v {
			t.Errorf("alipay.%s = %v, want %v (%v)", k, ali[k], v, ali)
		}
	}
	if ali["status"] != "done" || ali["fee_units"] == nil || ali["fee_units"].(float64) <= 0 {
		t.Errorf("Alipay's part: %v", ali)
	}
	if n, _ := r.Body["payments"].(float64); n != 0 {
		t.Errorf("WeChat's payments on the day: %v, want none", r.Body["payments"])
	}
	if o := s.Order("ALIREC002"); o.Status != cloudpay.OrderPaid {
		t.Fatalf("the payment Alipay's bill showed: %s", o.Status)
	}
	if o := s.Order("ALIREC003"); o.RefundedFen != refunded.AmountFen {
		t.Errorf("ALIREC003 refunded %d", o.RefundedFen)
	}
	if ev := s.Events(day + ":alipay:unknown_payment:OTHERSYS01"); len(ev) != 1 || ev[0].Type != cloudpay.EventReconMismatch || ev[0].Data["channel"] != "alipay" {
		t.Fatalf("the mismatch event of OTHERSYS01: %+v", ev)
	}
	if n := s.Count("bills"); n < 1 {
		t.Errorf("Alipay's bill was not kept")
	}

	// Again: the adopted payment matches now; nothing is raised twice.
	r = s.Do("POST", s.RefundURL+"/admin/api/reconciliations/"+day, nil, testkit.Admin())
	if r.Status != http.StatusOK {
		t.Fatalf("reconcile again: %d %s", r.Status, r.Raw)
	}
	again := differencesOf(r)
	slices.Sort(again)
	want = slices.DeleteFunc(want, func(d string) bool { return strings.Contains(d, "ALIREC002") })
	if strings.Join(again, "\n") != strings.Join(want, "\n") {
		t.Fatalf("differences the second time:\n got %s\nwant %s", strings.Join(again, "\n     "), strings.Join(want, "\n     "))
	}
	if ev := s.Events(day + ":alipay:unknown_payment:OTHERSYS01"); len(ev) != 1 {
		t.Fatalf("the mismatch event again: %d", len(ev))
	}
	if ev := s.Events(day + ":alipay:unknown_payment:ALIREC002"); len(ev) != 1 {
		t.Fatalf("the adoption's event: %d", len(ev))
	}
	// Alipay's request numbers are unique within a trade only.
	if ev := s.Events(day + ":alipay:unknown_refund:ALIREC001:MANUAL0001"); len(ev) != 1 {
		t.Fatalf("the unknown refund's event: %d", len(ev))
	}
}

// A payment Alipay's bill shows under a number cloudpay used with another
// channel (here the wallet) is not that order's payment: reported, never
// adopted, whatever its amount; the order keeps its own payment.
func TestReconciliationKeepsChannelsApart(t *testing.T) {
	t.Parallel()
	s, day, later := alipayDay(t, testkit.Channel(wechat.V3)) // the wallet is on API v3
	ctx := context.Background()
	if _, _, err := s.Withdrawals.Credit(ctx, testkit.Alice, "top-up", 1000, "top-up"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Payments.CreateOrder(ctx, payment.NewOrder{OutTradeNo: "ALIBAL0001", OpenID: testkit.Alice, AmountFen: 300, Description: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Payments.PayFromBalance(ctx, testkit.Alice, "ALIBAL0001"); err != nil {
		t.Fatal(err)
	}
	plant(t, s, alipaysim.BillPlant{Date: day, Kind: "extra_payment", OutTradeNo: "ALIBAL0001", AmountFen: 300})
	later(36 * time.Hour)
	r := s.Do("POST", s.RefundURL+"/admin/api/reconciliations/"+day, nil, testkit.Admin())
	if r.Status != http.StatusOK {
		t.Fatalf("reconcile: %d %s", r.Status, r.Raw)
	}
	if got := differencesOf(r); len(got) != 1 || got[0] != "alipay unknown_payment ALIBAL0001 <nil> bill=300 ours=0" {
		t.Fatalf("differences: %v", got)
	}
	if note := r.Body["differences"].([]any)[0].(map[string]any)["note"]; !strings.Contains(fmt.Sprint(note), "used with the wallet") {
		t.Errorf("note: %v", note)
	}
	if o := s.Order("ALIBAL0001"); o.Method != cloudpay.MethodBalance || o.TransactionID != "" {
		t.Errorf("the wallet-paid order after Alipay's bill: %+v", o)
	}
}

// Alipay's bill does not hold the day up: one Alipay cannot give now, or
// one not made yet for a day cloudpay took money through Alipay, keeps
// WeChat's part and leaves Alipay's to be tried again (failed, not_ready),
// with no false differences; once the bill is there the day is compared.
// A day without Alipay business and without Alipay's bill is compared with
// nothing.
func TestReconciliationWithoutAlipaysBill(t *testing.T) {
	t.Parallel()
	s, day, later := alipayDay(t)
	payWithAlipay(t, s, "ALINOBILL1", 1500)
	later(36 * time.Hour)
	reconcile := func(date string) map[string]any {
		t.Helper()
		r := s.Do("POST", s.RefundURL+"/admin/api/reconciliations/"+date, nil, testkit.Admin())
		if r.Status != http.StatusOK {
			t.Fatalf("reconcile %s: %d %s", date, r.Status, r.Raw)
		}
		if got := differencesOf(r); len(got) != 0 {
			t.Fatalf("differences on %s: %v", date, got)
		}
		ali, _ := r.Body["alipay"].(map[string]any)
		return ali
	}
	fault := func(subCode string) {
		t.Helper()
		if err := s.Alipay.AddFault(alipaysim.Fault{Method: alipaysim.MethodBillDownloadURL, Mode: alipaysim.ModeFail, SubCode: subCode, Count: 1}); err != nil {
			t.Fatal(err)
		}
	}

	fault("ACQ.SYSTEM_ERROR")
	if ali := reconcile(day); ali["status"] != "failed" || !strings.Contains(fmt.Sprint(ali["error"]), "ACQ.SYSTEM_ERROR") {
		t.Fatalf("Alipay's part when its bill is refused: %v", ali)
	}
	list := s.Do("GET", s.RefundURL+"/admin/api/reconciliations", nil, testkit.Admin())
	if reports, _ := list.Body["reports"].([]any); len(reports) != 1 || reports[0].(map[string]any)["alipay_status"] != "failed" {
		t.Fatalf("the list: %s", list.Raw)
	}

	fault("isp.bill_not_exist") // for a day cloudpay took money through Alipay
	if ali := reconcile(day); ali["status"] != "not_ready" {
		t.Fatalf("Alipay's part without its bill yet: %v", ali)
	}

	if ali := reconcile(day); ali["status"] != "done" || ali["payments"] != 1.0 || ali["our_payments"] != 1.0 {
		t.Fatalf("Alipay's part once its bill is there: %v", ali)
	}

	before := s.AlipayNoon().AddDate(0, 0, -1).Format(time.DateOnly)
	fault("isp.bill_not_exist") // a day without Alipay business
	if ali := reconcile(before); ali["status"] != "no_statement" {
		t.Fatalf("Alipay's part of a day without Alipay's bill nor business: %v", ali)
	}
}
