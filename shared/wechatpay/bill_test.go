package wechatpay_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/bill"
	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// simClock is the simulator's clock, which the test moves.
type simClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *simClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *simClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// billDays are yesterday and today in Beijing: the gateway checks the day
// against the real clock, the simulator against its own.
func billDays() (yesterday, today time.Time) {
	y, m, d := time.Now().In(cloudpay.Beijing).Date()
	today = time.Date(y, m, d, 0, 0, 0, 0, cloudpay.Beijing)
	return today.AddDate(0, 0, -1), today
}

func findRow(t *testing.T, tr bill.Trade, outTradeNo, outRefundNo string) bill.TradeRow {
	t.Helper()
	for _, r := range tr.Rows {
		if r.OutTradeNo == outTradeNo && r.OutRefundNo == outRefundNo {
			return r
		}
	}
	t.Fatalf("no row %s/%s in %+v", outTradeNo, outRefundNo, tr.Rows)
	return bill.TradeRow{}
}

// Pay and refund through the simulator, then download yesterday's bills
// through the channel (the simulator mounted under a prefix, as the
// transport must re-point the download link too) and find the rows.
func TestDownloadBill(t *testing.T) {
	yesterday, today := billDays()
	day := yesterday.Format("2006-01-02")
	clk := &simClock{t: yesterday.Add(12 * time.Hour)}
	s := newStack(t, wechatsim.Config{Now: clk.Now}, 5*time.Second)
	ctx := context.Background()

	s.prepay(t, "BILLV3PAY1")
	if _, err := s.sim.Pay(ctx, "BILLV3PAY1"); err != nil {
		t.Fatal(err)
	}
	clk.Set(yesterday.Add(12*time.Hour + 5*time.Minute))
	if _, err := s.gw.Refund(ctx, wechat.RefundRequest{OutTradeNo: "BILLV3PAY1", OutRefundNo: "BILLV3REF1", TotalFen: 100, RefundFen: 30}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.sim.SettleRefund(ctx, "BILLV3REF1", wechatsim.RefundSuccess); err != nil {
		t.Fatal(err)
	}

	clk.Set(today.Add(9*time.Hour + 59*time.Minute))
	for _, kind := range []wechat.BillKind{wechat.TradeBill, wechat.FundFlowBill} {
		if _, err := s.gw.DownloadBill(ctx, kind, day); cloudpay.ErrorCode(err) != cloudpay.CodeBillNotReady {
			t.Fatalf("%s before 10:00: %v", kind, err)
		}
	}

	clk.Set(today.Add(10 * time.Hour))
	raw, err := s.gw.DownloadBill(ctx, wechat.TradeBill, day)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := bill.ParseTrade(raw)
	if err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	o, _ := s.sim.Order("BILLV3PAY1")
	p := findRow(t, tr, "BILLV3PAY1", "")
	if tr.Type != bill.All || p.TransactionID != o.TransactionID || p.TotalFen != 100 || p.MchID != wechatsim.DevMchID ||
		p.Fee != bill.FeeOf(1) || !p.Time.Equal(yesterday.Add(12*time.Hour)) {
		t.Fatalf("payment row %+v", p)
	}
	if r := findRow(t, tr, "BILLV3PAY1", "BILLV3REF1"); r.RefundFen != 30 || r.RefundStatus != "SUCCESS" || r.TradeState != "REFUND" {
		t.Fatalf("refund row %+v", r)
	}

	raw, err = s.gw.DownloadBill(ctx, wechat.FundFlowBill, day)
	if err != nil {
		t.Fatal(err)
	}
	ff, err := bill.ParseFundFlow(raw)
	if err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	// 交易 +1.00, 扣除交易手续费 -0.01, 退款 -0.30 (its fee, 0.0018, rounds to nothing).
	if ff.Totals != (bill.FundFlowTotals{Count: 3, IncomeCount: 1, IncomeFen: 100, ExpenseCount: 2, ExpenseFen: 31}) ||
		ff.Rows[2].BalanceFen != 69 || ff.Rows[2].VoucherNo != "BILLV3REF1" {
		t.Fatalf("fund flow %+v", ff)
	}

	// A day without anything.
	empty := yesterday.AddDate(0, 0, -1).Format("2006-01-02")
	for _, kind := range []wechat.BillKind{wechat.TradeBill, wechat.FundFlowBill} {
		if _, err := s.gw.DownloadBill(ctx, kind, empty); cloudpay.ErrorCode(err) != cloudpay.CodeNoStatement {
			t.Fatalf("%s of an empty day: %v", kind, err)
		}
	}

	// A planted difference shows in the bill.
	if _, err := s.sim.PlantBill(wechatsim.BillPlant{Date: day, Kind: wechatsim.PlantExtraPayment, OutTradeNo: "NOTOURS01", AmountFen: 4200}); err != nil {
		t.Fatal(err)
	}
	raw, err = s.gw.DownloadBill(ctx, wechat.TradeBill, day)
	if err != nil {
		t.Fatal(err)
	}
	if tr, err := bill.ParseTrade(raw); err != nil || findRow(t, tr, "NOTOURS01", "").TotalFen != 4200 {
		t.Fatalf("planted: %v", err)
	}

	// A file that is not what the hash says is refused.
	if err := s.sim.AddFault(wechatsim.Fault{API: "downloadbill", Mode: wechatsim.ModeCorrupt, Count: 1}); err != nil {
		t.Fatal(err)
	}
	_, err = s.gw.DownloadBill(ctx, wechat.TradeBill, day)
	if cloudpay.ErrorCode(err) != cloudpay.CodeWeChatError || !strings.Contains(err.Error(), "SHA1") {
		t.Fatalf("corrupt bill: %v", err)
	}
	// A refusal of the download keeps WeChat's code.
	if err := s.sim.AddFault(wechatsim.Fault{API: "billfile", Mode: wechatsim.ModeFail, Code: "NO_AUTH", Count: 1}); err != nil {
		t.Fatal(err)
	}
	_, err = s.gw.DownloadBill(ctx, wechat.FundFlowBill, day)
	if we, ok := wechat.ErrorOf(err); cloudpay.ErrorCode(err) != cloudpay.CodeWeChatError || !ok || we.Code != "NO_AUTH" || we.HTTPStatus != 403 {
		t.Fatalf("refused download: %v", err)
	}
	// The download went through the prefix, signed.
	if calls := s.sim.Calls("billfile"); len(calls) < 3 {
		t.Fatalf("downloads logged: %+v", calls)
	}
}

// The day and the kind are checked before anything is sent.
func TestDownloadBillValidation(t *testing.T) {
	s := newStack(t, wechatsim.Config{}, time.Second)
	_, today := billDays()
	for _, tc := range []struct {
		kind  wechat.BillKind
		day   string
		field string
	}{
		{wechat.TradeBill, "2025-13-01", "date"},
		{wechat.TradeBill, "2025-3-1", "date"},
		{wechat.TradeBill, "", "date"},
		{wechat.TradeBill, today.AddDate(0, 0, 1).Format("2006-01-02"), "date"},
		{wechat.FundFlowBill, today.AddDate(0, -3, -1).Format("2006-01-02"), "date"},
		{"monthly", today.Format("2006-01-02"), "kind"},
	} {
		_, err := s.gw.DownloadBill(context.Background(), tc.kind, tc.day)
		var e *cloudpay.Error
		if cloudpay.ErrorCode(err) != cloudpay.CodeInvalidField || !errors.As(err, &e) || e.Field != tc.field {
			t.Errorf("%s %q: %v, want a bad %s", tc.kind, tc.day, err, tc.field)
		}
	}
	if n := len(s.sim.Calls("")); n != 0 {
		t.Fatalf("%d calls reached WeChat", n)
	}
	// Today passes the check; WeChat says it is not ready.
	if _, err := s.gw.DownloadBill(context.Background(), wechat.TradeBill, today.Format("2006-01-02")); cloudpay.ErrorCode(err) != cloudpay.CodeBillNotReady {
		t.Fatalf("today: %v", err)
	}
}
