package recon_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/bill"
	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/recon"
)

// Alipay's bill comes from a link nobody signs: AlipayLines takes it only
// for the day asked and the merchant configured, and reads its rows as
// completed payments and refunds in fen, refunds positive, fees net.
func TestAlipayLinesTakeOnlyTheDaysBillOfTheMerchant(t *testing.T) {
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, cloudpay.Beijing)
	at := day.Add(10 * time.Hour)
	zipOf := func(account string, d time.Time) []byte {
		t.Helper()
		raw, err := bill.FormatAlipayTradeZip(bill.AlipayTrade{Account: account, Day: d, Rows: []bill.AlipayRow{
			{TradeNo: "2026120122001400000000000001", OutTradeNo: "ORDER00001", Type: bill.AlipayPayment, Subject: "课程",
				CreatedAt: at, FinishedAt: at, TotalFen: 1000, ReceivedFen: 1000, ServiceFeeFen: -6},
			{TradeNo: "2026120122001400000000000001", OutTradeNo: "ORDER00001", Type: bill.AlipayRefund, Subject: "课程",
				CreatedAt: at, FinishedAt: at.Add(time.Hour), TotalFen: -400, ReceivedFen: -400, OutRequestNo: "REFUND0001", ServiceFeeFen: 2},
		}})
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	const pid = "2088000000000001"
	lines, err := recon.AlipayLines(pid)(day, zipOf(pid+"0156", day))
	if err != nil {
		t.Fatal(err)
	}
	want := []recon.Line{
		{TransactionID: "2026120122001400000000000001", OutTradeNo: "ORDER00001", State: "SUCCESS", AmountFen: 1000, FeeUnits: int64(bill.FeeOf(6))},
		{Refund: true, TransactionID: "2026120122001400000000000001", OutTradeNo: "ORDER00001", OutRefundNo: "REFUND0001", State: "SUCCESS",
			AmountFen: 400, FeeUnits: -int64(bill.FeeOf(2))},
	}
	if len(lines) != len(want) || lines[0] != want[0] || lines[1] != want[1] {
		t.Fatalf("lines:\n got %+v\nwant %+v", lines, want)
	}

	if _, err := recon.AlipayLines(pid)(day, zipOf(pid+"0156", day.AddDate(0, 0, -1))); err == nil || !strings.Contains(err.Error(), "2026-11-30") {
		t.Errorf("another day's bill: %v", err)
	}
	if _, err := recon.AlipayLines(pid)(day, zipOf("20889999999999990156", day)); err == nil || !strings.Contains(err.Error(), "account") {
		t.Errorf("another merchant's bill: %v", err)
	}
	if _, err := recon.AlipayLines(pid)(day, []byte("<html>下载超时，请重新下载</html>")); err == nil {
		t.Error("a page taken for a bill")
	}
}
