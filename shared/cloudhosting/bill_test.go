package cloudhosting_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/bill"
	"github.com/cloudpay/cloudpay/shared/cloudhosting"
	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

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

// Pay and refund through the simulator, then download yesterday's trade
// bill through the open interface and find the rows.
func TestDownloadBill(t *testing.T) {
	yesterday, today := billDays()
	day := yesterday.Format("2006-01-02")
	clk := &simClock{t: yesterday.Add(12 * time.Hour)}
	sim := wechatsim.New(wechatsim.Config{SubMchID: "1900000109", RefundSettleDelay: -1, Now: clk.Now})
	t.Cleanup(sim.Close)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	gw := cloudhosting.New(cloudhosting.Config{APIURL: srv.URL, SubMchID: "1900000109", EnvID: "prod-1",
		CallbackService: "payment-callback", CallbackPath: "/callbacks/pay", RefundCallbackPath: "/callbacks/refund"}, nil)
	ctx := context.Background()

	if _, _, err := gw.Prepay(ctx, wechat.PrepayRequest{Order: order("CHBILLPAY1"), ClientIP: "203.0.113.7"}); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Pay(ctx, "CHBILLPAY1"); err != nil {
		t.Fatal(err)
	}
	clk.Set(yesterday.Add(13 * time.Hour))
	if _, err := gw.Refund(ctx, wechat.RefundRequest{OutTradeNo: "CHBILLPAY1", OutRefundNo: "CHBILLREF1", TotalFen: 100, RefundFen: 100}); err != nil {
		t.Fatal(err)
	}

	clk.Set(today.Add(9 * time.Hour))
	if _, err := gw.DownloadBill(ctx, wechat.TradeBill, day); cloudpay.ErrorCode(err) != cloudpay.CodeBillNotReady {
		t.Fatalf("before 10:00: %v", err)
	}
	clk.Set(today.Add(10 * time.Hour))
	raw, err := gw.DownloadBill(ctx, wechat.TradeBill, day)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := bill.ParseTrade(raw)
	if err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	o, _ := sim.Order("CHBILLPAY1")
	if len(tr.Rows) != 2 || tr.Rows[0].OutTradeNo != "CHBILLPAY1" || tr.Rows[0].TransactionID != o.TransactionID ||
		tr.Rows[0].SubMchID != "1900000109" || tr.Rows[0].MchID != wechatsim.SPMchID || tr.Rows[0].TotalFen != 100 {
		t.Fatalf("bill %+v", tr)
	}
	if r := tr.Rows[1]; r.OutRefundNo != "CHBILLREF1" || r.RefundFen != 100 || r.RefundStatus != "PROCESSING" || r.Fee != -bill.FeeOf(1) {
		t.Fatalf("refund row %+v", r)
	}
	if calls := sim.Calls("downloadbill"); len(calls) == 0 ||
		string(calls[len(calls)-1].Body) != `{"bill_date":"`+yesterday.Format("20060102")+`","bill_type":"ALL","sub_mch_id":"1900000109"}` {
		t.Fatalf("request %+v", calls)
	}

	// No fund-flow bill on this channel; no bill on an empty day.
	if _, err := gw.DownloadBill(ctx, wechat.FundFlowBill, day); cloudpay.ErrorCode(err) != cloudpay.CodeBillUnsupported {
		t.Fatalf("fund flow: %v", err)
	}
	if _, err := gw.DownloadBill(ctx, wechat.TradeBill, yesterday.AddDate(0, 0, -1).Format("2006-01-02")); cloudpay.ErrorCode(err) != cloudpay.CodeNoStatement {
		t.Fatalf("empty day: %v", err)
	}

	// A planted difference shows in the bill.
	if _, err := sim.PlantBill(wechatsim.BillPlant{Date: day, Kind: wechatsim.PlantMissingPayment, OutTradeNo: "CHBILLPAY1"}); err != nil {
		t.Fatal(err)
	}
	raw, err = gw.DownloadBill(ctx, wechat.TradeBill, day)
	if err != nil {
		t.Fatal(err)
	}
	if tr, err := bill.ParseTrade(raw); err != nil || len(tr.Rows) != 1 || tr.Rows[0].OutRefundNo != "CHBILLREF1" {
		t.Fatalf("planted: %v %+v", err, tr)
	}

	// Bad days never reach WeChat.
	before := len(sim.Calls(""))
	for _, d := range []string{"20250301", today.AddDate(0, 0, 1).Format("2006-01-02"), today.AddDate(0, -4, 0).Format("2006-01-02")} {
		_, err := gw.DownloadBill(ctx, wechat.TradeBill, d)
		var e *cloudpay.Error
		if !errors.As(err, &e) || e.Code != cloudpay.CodeInvalidField || e.Field != "date" {
			t.Errorf("%q: %v", d, err)
		}
	}
	if after := len(sim.Calls("")); after != before {
		t.Fatalf("%d calls for bad days", after-before)
	}
}

// Answers the simulator does not give: the open interface's own failures.
func TestDownloadBillErrorMapping(t *testing.T) {
	yesterday, _ := billDays()
	for _, tc := range []struct {
		name, body string
		want       cloudpay.Code
		wantWeChat string
	}{
		{"bill", `{"errcode":0,"errmsg":"ok","respdata":"交易时间\n"}`, "", ""},
		{"no bill, by message", `{"errcode":0,"respdata":{"return_code":"FAIL","return_msg":"No Bill Exist"}}`, cloudpay.CodeNoStatement, "No Bill Exist"},
		{"no bill, by code", `{"errcode":0,"respdata":{"return_code":"FAIL","return_msg":"账单不存在","error_code":"20002"}}`, cloudpay.CodeNoStatement, "20002"},
		{"creating", `{"errcode":0,"respdata":{"return_code":"FAIL","return_msg":"Bill Creating"}}`, cloudpay.CodeBillNotReady, "Bill Creating"},
		{"other refusal", `{"errcode":0,"respdata":{"return_code":"FAIL","return_msg":"invalid bill_type","error_code":"20001"}}`, cloudpay.CodeWeChatError, "20001"},
		{"empty bill", `{"errcode":0,"respdata":""}`, cloudpay.CodeWeChatError, ""},
		{"no respdata", `{"errcode":0,"errmsg":"ok"}`, cloudpay.CodeWeChatError, ""},
		{"transport errcode", `{"errcode":-1,"errmsg":"system busy"}`, cloudpay.CodeWeChatError, ""},
		{"not the envelope", `bill`, cloudpay.CodeWeChatError, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			gw := cloudhosting.New(cloudhosting.Config{APIURL: srv.URL, SubMchID: "1900000109"}, nil)
			raw, err := gw.DownloadBill(context.Background(), wechat.TradeBill, yesterday.Format("2006-01-02"))
			if got := cloudpay.ErrorCode(err); got != tc.want {
				t.Fatalf("code = %s (%v), want %s", got, err, tc.want)
			}
			if tc.want == "" && string(raw) != "交易时间\n" {
				t.Fatalf("bill %q", raw)
			}
			we, ok := wechat.ErrorOf(err)
			if tc.wantWeChat != "" && (!ok || we.Code != tc.wantWeChat) {
				t.Fatalf("WeChatError = %+v, want code %s", we, tc.wantWeChat)
			}
		})
	}
}
