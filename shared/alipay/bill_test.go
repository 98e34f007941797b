package alipay_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/alipay"
	"github.com/cloudpay/cloudpay/shared/alipaysim"
	"github.com/cloudpay/cloudpay/shared/bill"
	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// billWorld is a client against a simulator whose clock starts at noon of
// today (Beijing) and moves on when the test says.
type billWorld struct {
	sim    *alipaysim.Simulator
	client *alipay.Client
	day    string
	ahead  atomic.Int64
	// beforeDownload runs before each request for a bill file.
	beforeDownload atomic.Pointer[func()]
}

func newBillWorld(t *testing.T) *billWorld {
	t.Helper()
	w := &billWorld{}
	today := time.Now().In(cloudpay.Beijing)
	noon := time.Date(today.Year(), today.Month(), today.Day(), 12, 0, 0, 0, cloudpay.Beijing)
	start := time.Now()
	w.day = noon.Format(time.DateOnly)
	w.sim = alipaysim.New(alipaysim.Config{RetryDelays: []time.Duration{},
		Now: func() time.Time { return noon.Add(time.Since(start) + time.Duration(w.ahead.Load())) }})
	srv := httptest.NewServer(w.sim.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(w.sim.Close)
	hc := srv.Client()
	base := hc.Transport
	hc.Transport = roundTrip(func(r *http.Request) (*http.Response, error) {
		if f := w.beforeDownload.Load(); f != nil && strings.HasSuffix(r.URL.Path, alipaysim.BillFilePath) {
			(*f)()
		}
		return base.RoundTrip(r)
	})
	cfg := alipay.Config{
		AppID: alipaysim.DevAppID, PrivateKey: alipaysim.DevAppPrivateKeyPEM, PublicKey: alipaysim.DevAlipayPublicKeyPEM,
		SellerID: alipaysim.DevSellerID, NotifyURL: "http://127.0.0.1:1/callbacks/alipay",
		GatewayURL: srv.URL + alipaysim.GatewayPath, Timeout: 30 * time.Second,
	}
	c, err := alipay.New(cfg, hc)
	if err != nil {
		t.Fatal(err)
	}
	w.client = c
	return w
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// The day's trade bill is a ZIP whose detail lists the payment and the
// refund made through the client, under the refund's out_request_no.
func TestDownloadTradeBill(t *testing.T) {
	t.Parallel()
	w := newBillWorld(t)
	o := alipay.Order{OutTradeNo: "BILLT00001", Subject: "一杯咖啡", AmountFen: 1234}
	if _, err := w.client.Precreate(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	if _, err := w.sim.Pay(t.Context(), o.OutTradeNo); err != nil {
		t.Fatal(err)
	}
	if _, err := w.client.Refund(t.Context(), alipay.Refund{OutTradeNo: o.OutTradeNo, OutRequestNo: "BILLR00001", AmountFen: 234}); err != nil {
		t.Fatal(err)
	}

	// The bill of a day that is not over is not served: Alipay refuses it
	// as an invalid parameter, a final refusal.
	_, err := w.client.DownloadTradeBill(t.Context(), w.day)
	if e, ok := alipay.ErrorOf(err); !ok || e.SubCode != "isv.invalid-parameter" || alipay.Classify(err) != wechat.Final {
		t.Fatalf("today's bill: %v", err)
	}

	w.ahead.Store(int64(36 * time.Hour))
	raw, err := w.client.DownloadTradeBill(t.Context(), w.day)
	if err != nil {
		t.Fatal(err)
	}
	b, err := bill.ParseAlipayTradeZip(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Rows) != 2 {
		t.Fatalf("rows: %+v", b.Rows)
	}
	pay, ref := b.Rows[0], b.Rows[1]
	if pay.Type != bill.AlipayPayment || pay.OutTradeNo != o.OutTradeNo || pay.TotalFen != 1234 || pay.TradeNo == "" {
		t.Errorf("payment row: %+v", pay)
	}
	if ref.Type != bill.AlipayRefund || ref.OutRequestNo != "BILLR00001" || ref.TotalFen != -234 || ref.TradeNo != pay.TradeNo {
		t.Errorf("refund row: %+v", ref)
	}
}

// A day Alipay has no bill for is CodeNoStatement; a refusal for now is
// the channel's error; a link followed too late answers a page, never
// taken for a bill; a day that is not a day is the caller's error.
func TestDownloadTradeBillRefusals(t *testing.T) {
	t.Parallel()
	w := newBillWorld(t)
	w.ahead.Store(int64(36 * time.Hour))

	if err := w.sim.AddFault(alipaysim.Fault{Method: alipaysim.MethodBillDownloadURL, Mode: alipaysim.ModeFail, SubCode: "isp.bill_not_exist"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.client.DownloadTradeBill(t.Context(), w.day); cloudpay.ErrorCode(err) != cloudpay.CodeNoStatement {
		t.Fatalf("no bill: %v", err)
	}

	if err := w.sim.AddFault(alipaysim.Fault{Method: alipaysim.MethodBillDownloadURL, Mode: alipaysim.ModeFail, SubCode: "ACQ.SYSTEM_ERROR"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.client.DownloadTradeBill(t.Context(), w.day); cloudpay.ErrorCode(err) != cloudpay.CodeWeChatError || alipay.Classify(err) != wechat.Retryable {
		t.Fatalf("busy: %v", err)
	}

	late := func() { w.ahead.Add(int64(31 * time.Second)) }
	w.beforeDownload.Store(&late)
	if _, err := w.client.DownloadTradeBill(t.Context(), w.day); cloudpay.ErrorCode(err) != cloudpay.CodeWeChatError || !strings.Contains(err.Error(), "not a ZIP") {
		t.Fatalf("an expired link: %v", err)
	}
	w.beforeDownload.Store(nil)

	for _, day := range []string{"2026-13-01", "yesterday", "2026-1-02"} {
		if _, err := w.client.DownloadTradeBill(t.Context(), day); cloudpay.ErrorCode(err) != cloudpay.CodeInvalidField {
			t.Errorf("day %q: %v", day, err)
		}
	}
}
