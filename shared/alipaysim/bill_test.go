package alipaysim_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartwalle/alipay/v3"

	"github.com/cloudpay/cloudpay/shared/alipaysim"
	"github.com/cloudpay/cloudpay/shared/bill"
	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

var cst = time.FixedZone("CST", 8*3600)

// at is a Beijing time on the bill tests' calendar: March 2024.
func at(day, hour, minute, second int) time.Time {
	return time.Date(2024, 3, day, hour, minute, second, 0, cst)
}

// clock is the simulator's Config.Now, moved by the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newBillEnv(t *testing.T) (*env, *clock) {
	t.Helper()
	c := &clock{t: at(5, 9, 0, 0)}
	return newEnv(t, alipaysim.Config{Now: c.Now, RetryDelays: []time.Duration{}}), c
}

// billURL asks the gateway, through the SDK (which verifies the answer's signature), for
// the bill of date.
func (e *env) billURL(t *testing.T, billType, date string) *alipay.BillDownloadURLQueryRsp {
	t.Helper()
	rsp, err := e.client.BillDownloadURLQuery(context.Background(), alipay.BillDownloadURLQuery{BillType: billType, BillDate: date})
	if err != nil {
		t.Fatalf("BillDownloadURLQuery(%s, %s): %v", billType, date, err)
	}
	return rsp
}

// fetchBill fetches a URL: status, content type, body.
func fetchBill(t *testing.T, u string) (int, string, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}

// downloadBill gets the bill of date the way a merchant does: the link, then the ZIP.
func (e *env) downloadBill(t *testing.T, date string) bill.AlipayTrade {
	t.Helper()
	rsp := e.billURL(t, alipaysim.BillTypeTrade, date)
	if !rsp.IsSuccess() {
		t.Fatalf("BillDownloadURLQuery(%s) = %s %s %s", date, rsp.Code, rsp.SubCode, rsp.SubMsg)
	}
	status, _, body := fetchBill(t, rsp.BillDownloadURL)
	if status != http.StatusOK {
		t.Fatalf("GET the bill of %s: status %d: %s", date, status, body)
	}
	tb, err := bill.ParseAlipayTradeZip(body)
	if err != nil {
		t.Fatalf("ParseAlipayTradeZip(the bill of %s): %v", date, err)
	}
	return tb
}

// rowKey names a row for the tests: type and numbers.
func rowKey(r bill.AlipayRow) string {
	if r.Type == bill.AlipayRefund {
		return r.Type + " " + r.OutTradeNo + "/" + r.OutRequestNo
	}
	return r.Type + " " + r.OutTradeNo
}

func TestTradeBill(t *testing.T) {
	t.Parallel()
	e, c := newBillEnv(t)

	// Paid the day before, refunded in part on the day: only its refund is on the bill.
	c.set(at(4, 23, 59, 59))
	e.precreate(t, "B0", "10.00", "")
	b0 := e.pay(t, "B0")

	c.set(at(5, 9, 0, 0))
	e.precreate(t, "B1", "100.00", "")
	e.precreate(t, "B2", "33.33", "")
	e.precreate(t, "B3", "1.00", "")
	e.precreate(t, "B4", "2.00", "") // never paid
	c.set(at(5, 9, 30, 0))
	if _, err := e.sim.Scan("B1"); err != nil {
		t.Fatal(err)
	}
	c.set(at(5, 10, 0, 0))
	b1 := e.pay(t, "B1")
	c.set(at(5, 11, 0, 0))
	b2 := e.pay(t, "B2")
	refundAt := func(tm time.Time, no, amount, req string) {
		t.Helper()
		c.set(tm)
		if rsp := e.refund(t, no, amount, req); !rsp.IsSuccess() {
			t.Fatalf("refund %s %s %s = %s %s", no, amount, req, rsp.Code, rsp.SubCode)
		}
	}
	refundAt(at(5, 12, 0, 0), "B0", "5.00", "R0")
	refundAt(at(5, 15, 0, 0), "B1", "40.00", "R1")
	// B2 refunded in full in three parts: the fee comes back whole, never a fen more.
	refundAt(at(5, 16, 0, 0), "B2", "11.11", "R2a")
	refundAt(at(5, 17, 0, 0), "B2", "11.11", "R2b")
	refundAt(at(5, 18, 0, 0), "B2", "11.11", "R2c")
	// Paid at midnight: the next day's.
	c.set(at(6, 0, 0, 0))
	e.pay(t, "B3")

	c.set(at(6, 10, 0, 0))
	rsp := e.billURL(t, alipaysim.BillTypeTrade, "2024-03-05")
	if !rsp.IsSuccess() {
		t.Fatalf("BillDownloadURLQuery = %s %s %s", rsp.Code, rsp.SubCode, rsp.SubMsg)
	}
	account := alipaysim.DevSellerID + "0156"
	wantPrefix := e.srv.URL + "/downloadBillFile.resource?bizType=trade&userId=" + account +
		"&fileType=csv.zip&bizDates=20240305&downloadFileName=" + account + "_20240305.csv.zip&timestamp=1709690400000&token="
	if !strings.HasPrefix(rsp.BillDownloadURL, wantPrefix) || len(rsp.BillDownloadURL) == len(wantPrefix) {
		t.Fatalf("bill_download_url = %s, want %s<token>", rsp.BillDownloadURL, wantPrefix)
	}

	c.add(29 * time.Second) // the link lives 30 seconds
	status, ctype, body := fetchBill(t, rsp.BillDownloadURL)
	if status != http.StatusOK || ctype != "application/octet-stream" {
		t.Fatalf("GET the bill: %d %s", status, ctype)
	}
	tb, err := bill.ParseAlipayTradeZip(body)
	if err != nil {
		t.Fatalf("ParseAlipayTradeZip: %v", err)
	}
	if tb.Account != account || !tb.Day.Equal(at(5, 0, 0, 0)) {
		t.Errorf("bill account %s day %v", tb.Account, tb.Day)
	}
	type want struct {
		key, tradeNo     string
		created, done    time.Time
		total, fee       cloudpay.Fen
		subject, request string
	}
	wants := []want{
		{"交易 B1", b1.TradeNo, at(5, 9, 30, 0), at(5, 10, 0, 0), 10000, -60, "测试商品 B1", ""},
		{"交易 B2", b2.TradeNo, at(5, 11, 0, 0), at(5, 11, 0, 0), 3333, -20, "测试商品 B2", ""}, // 19.998 fen rounds to 20
		{"退款 B0/R0", b0.TradeNo, at(4, 23, 59, 59), at(5, 12, 0, 0), -500, 3, "测试商品 B0", "R0"},
		{"退款 B1/R1", b1.TradeNo, at(5, 9, 30, 0), at(5, 15, 0, 0), -4000, 24, "测试商品 B1", "R1"},
		{"退款 B2/R2a", b2.TradeNo, at(5, 11, 0, 0), at(5, 16, 0, 0), -1111, 7, "测试商品 B2", "R2a"},
		{"退款 B2/R2b", b2.TradeNo, at(5, 11, 0, 0), at(5, 17, 0, 0), -1111, 6, "测试商品 B2", "R2b"},
		{"退款 B2/R2c", b2.TradeNo, at(5, 11, 0, 0), at(5, 18, 0, 0), -1111, 7, "测试商品 B2", "R2c"},
	}
	if len(tb.Rows) != len(wants) {
		var got []string
		for _, r := range tb.Rows {
			got = append(got, rowKey(r))
		}
		t.Fatalf("rows = %v, want %d rows", got, len(wants))
	}
	for i, w := range wants {
		r := tb.Rows[i]
		if rowKey(r) != w.key || r.TradeNo != w.tradeNo || !r.CreatedAt.Equal(w.created) || !r.FinishedAt.Equal(w.done) ||
			r.TotalFen != w.total || r.ReceivedFen != w.total || r.ServiceFeeFen != w.fee || r.Subject != w.subject ||
			r.OutRequestNo != w.request || r.Buyer != "dev***@example.com" {
			t.Errorf("row %d = %+v, want %+v", i, r, w)
		}
	}

	// The control route shows the same detail as UTF-8 text.
	status, ctype, body = fetchBill(t, e.srv.URL+alipaysim.ControlPrefix+"/bills/2024-03-05")
	if status != http.StatusOK || !strings.HasPrefix(ctype, "text/plain") {
		t.Fatalf("GET /bills/2024-03-05: %d %s %s", status, ctype, body)
	}
	view, err := bill.ParseAlipayTrade(body)
	if err != nil {
		t.Fatalf("ParseAlipayTrade(the view): %v", err)
	}
	if len(view.Rows) != len(tb.Rows) || view.Rows[3].OutRequestNo != "R1" || view.Rows[3].ServiceFeeFen != 24 {
		t.Errorf("view rows = %+v", view.Rows)
	}

	// Dead links: expired, or altered.
	tampered := strings.Replace(rsp.BillDownloadURL, "bizDates=20240305", "bizDates=20240304", 1)
	unknown := e.srv.URL + "/downloadBillFile.resource?bizType=trade&userId=" + account + "&bizDates=20240305&token=nope"
	c.add(time.Second) // 30 seconds after the link was given
	for name, u := range map[string]string{"expired": rsp.BillDownloadURL, "tampered": tampered, "unknown": unknown} {
		status, ctype, body := fetchBill(t, u)
		if status != http.StatusOK || !strings.HasPrefix(ctype, "text/plain") || string(body) != "下载超时，请重新下载" {
			t.Errorf("%s link: %d %s %q", name, status, ctype, body)
		}
	}

	// The next day has B3 only; a day without trades has a bill without rows.
	c.set(at(7, 10, 0, 0))
	if rows := e.downloadBill(t, "2024-03-06").Rows; len(rows) != 1 || rowKey(rows[0]) != "交易 B3" || rows[0].ServiceFeeFen != -1 {
		t.Errorf("the bill of 2024-03-06 = %+v", rows) // 0.6 fen rounds up to 1
	}
	if rows := e.downloadBill(t, "2024-03-01").Rows; len(rows) != 0 {
		t.Errorf("the bill of a day without trades = %+v", rows)
	}
}

func TestBillDownloadRefusals(t *testing.T) {
	t.Parallel()
	e, c := newBillEnv(t)
	c.set(at(6, 9, 59, 59)) // the bill of the 5th is not ready until 10:00
	tests := []struct {
		name, billType, date string
		code, subCode        string
	}{
		{"today", "trade", "2024-03-06", "40004", "isv.invalid-parameter"},
		{"tomorrow", "trade", "2024-03-07", "40004", "isv.invalid-parameter"},
		{"yesterday before 10:00", "trade", "2024-03-05", "40004", "isp.bill_not_exist"},
		{"the day before", "trade", "2024-03-04", "10000", ""},
		{"before 2016", "trade", "2015-12-31", "40004", "isv.invalid-parameter"},
		{"balance bill", "signcustomer", "2024-03-04", "40004", alipaysim.SubCodeNotSimulated},
		{"monthly", "trade", "2024-02", "40004", alipaysim.SubCodeNotSimulated},
		{"no bill_type", "", "2024-03-04", "40004", "isv.invalid-parameter"},
		{"unknown bill_type", "TRADE", "2024-03-04", "40004", "isv.invalid-parameter"},
		{"no bill_date", "trade", "", "40004", "isv.invalid-parameter"},
		{"yyyyMMdd", "trade", "20240304", "40004", "isv.invalid-parameter"},
		{"unpadded", "trade", "2024-3-4", "40004", "isv.invalid-parameter"},
		{"no such day", "trade", "2024-02-30", "40004", "isv.invalid-parameter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// err == nil: the answer is signed and the SDK verified it.
			rsp := e.billURL(t, tt.billType, tt.date)
			if string(rsp.Code) != tt.code || rsp.SubCode != tt.subCode {
				t.Errorf("= %s %s %s, want %s %s", rsp.Code, rsp.SubCode, rsp.SubMsg, tt.code, tt.subCode)
			}
			if (rsp.BillDownloadURL != "") != (tt.code == "10000") {
				t.Errorf("bill_download_url = %q", rsp.BillDownloadURL)
			}
		})
	}
	c.set(at(6, 10, 0, 0))
	if rsp := e.billURL(t, "trade", "2024-03-05"); !rsp.IsSuccess() {
		t.Errorf("at 10:00 the next day = %s %s", rsp.Code, rsp.SubCode)
	}
}

func TestBillFault(t *testing.T) {
	t.Parallel()
	e, c := newBillEnv(t)
	c.set(at(6, 10, 0, 0))
	addFault(t, e.sim, alipaysim.Fault{Method: alipaysim.MethodBillDownloadURL, Mode: alipaysim.ModeFail})
	if rsp := e.billURL(t, "trade", "2024-03-05"); rsp.Code != alipay.CodeBusinessFailed || rsp.SubCode != "ACQ.SYSTEM_ERROR" || rsp.BillDownloadURL != "" {
		t.Errorf("under a fail fault = %+v", rsp)
	}
	if rsp := e.billURL(t, "trade", "2024-03-05"); !rsp.IsSuccess() {
		t.Errorf("after the fault = %s %s", rsp.Code, rsp.SubCode)
	}
	if calls := e.sim.Calls(alipaysim.MethodBillDownloadURL); len(calls) != 2 || calls[0].Fault != alipaysim.ModeFail || calls[1].Code != "10000" {
		t.Errorf("calls = %+v", calls)
	}
	addFault(t, e.sim, alipaysim.Fault{Method: alipaysim.MethodBillDownloadURL, Mode: alipaysim.ModeDelay, DelayMS: 1})
	if rsp := e.billURL(t, "trade", "2024-03-05"); !rsp.IsSuccess() || e.sim.Calls(alipaysim.MethodBillDownloadURL)[2].Fault != alipaysim.ModeDelay {
		t.Errorf("under a delay fault = %s %s", rsp.Code, rsp.SubCode)
	}
	if err := e.sim.AddFault(alipaysim.Fault{Method: alipaysim.MethodBillDownloadURL, Mode: alipaysim.ModeDrop}); err == nil {
		t.Error("a drop fault on the bill method was accepted")
	}
	if err := e.sim.AddFault(alipaysim.Fault{Method: "nope", Mode: alipaysim.ModeFail}); err == nil || !strings.Contains(err.Error(), alipaysim.MethodBillDownloadURL) {
		t.Errorf("unknown method refused with %v", err)
	}
}

// The link points where the gateway was reached: under the prefix it is mounted at
// (as functions/local mounts it at /alipay), at the host a proxy names.
func TestBillURLUnderPrefix(t *testing.T) {
	t.Parallel()
	c := &clock{t: at(6, 10, 0, 0)}
	sim := alipaysim.New(alipaysim.Config{Now: c.Now})
	t.Cleanup(sim.Close)
	mux := http.NewServeMux()
	mux.Handle("/alipay/", http.StripPrefix("/alipay", sim.Handler()))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	client, err := alipay.New(alipaysim.DevAppID, alipaysim.DevAppPrivateKeyPEM, true,
		alipay.WithProductionGateway(srv.URL+"/alipay"+alipaysim.GatewayPath))
	if err != nil {
		t.Fatal(err)
	}
	if err := client.LoadAliPayPublicKey(alipaysim.DevAlipayPublicKeyPEM); err != nil {
		t.Fatal(err)
	}
	rsp, err := client.BillDownloadURLQuery(context.Background(), alipay.BillDownloadURLQuery{BillType: "trade", BillDate: "2024-03-05"})
	if err != nil || !rsp.IsSuccess() {
		t.Fatalf("BillDownloadURLQuery = %+v, %v", rsp, err)
	}
	if !strings.HasPrefix(rsp.BillDownloadURL, srv.URL+"/alipay/downloadBillFile.resource?bizType=trade&") {
		t.Fatalf("bill_download_url = %s", rsp.BillDownloadURL)
	}
	status, _, body := fetchBill(t, rsp.BillDownloadURL)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d", rsp.BillDownloadURL, status)
	}
	if tb, err := bill.ParseAlipayTradeZip(body); err != nil || len(tb.Rows) != 0 {
		t.Errorf("the bill = %+v, %v", tb, err)
	}

	// Behind a proxy.
	proxied, err := alipay.New(alipaysim.DevAppID, alipaysim.DevAppPrivateKeyPEM, true,
		alipay.WithProductionGateway(srv.URL+"/alipay"+alipaysim.GatewayPath),
		alipay.WithHTTPClient(&http.Client{Transport: forwarded{}}))
	if err != nil {
		t.Fatal(err)
	}
	if err := proxied.LoadAliPayPublicKey(alipaysim.DevAlipayPublicKeyPEM); err != nil {
		t.Fatal(err)
	}
	rsp, err = proxied.BillDownloadURLQuery(context.Background(), alipay.BillDownloadURLQuery{BillType: "trade", BillDate: "2024-03-05"})
	if err != nil || !strings.HasPrefix(rsp.BillDownloadURL, "https://pay.example.com/alipay/downloadBillFile.resource?") {
		t.Errorf("behind a proxy: bill_download_url = %+v, %v", rsp, err)
	}
}

// forwarded adds the headers a TLS-terminating proxy adds.
type forwarded struct{}

func (forwarded) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-Proto", "https")
	r.Header.Set("X-Forwarded-Host", "pay.example.com")
	return http.DefaultTransport.RoundTrip(r)
}

func TestBillPlants(t *testing.T) {
	t.Parallel()
	e, c := newBillEnv(t)
	e.precreate(t, "P1", "50.00", "")
	e.precreate(t, "P2", "20.00", "")
	c.set(at(5, 10, 0, 0))
	p1 := e.pay(t, "P1")
	e.pay(t, "P2")
	c.set(at(5, 11, 0, 0))
	if rsp := e.refund(t, "P2", "5.00", "RP2"); !rsp.IsSuccess() {
		t.Fatalf("refund = %s %s", rsp.Code, rsp.SubCode)
	}
	c.set(at(6, 10, 0, 0))
	rows := func() map[string]bill.AlipayRow {
		t.Helper()
		out := map[string]bill.AlipayRow{}
		for _, r := range e.downloadBill(t, "2024-03-05").Rows {
			out[rowKey(r)] = r
		}
		return out
	}
	base := rows()
	if len(base) != 3 {
		t.Fatalf("rows without plants = %v", base)
	}

	tests := []struct {
		name  string
		plant string
		check func(t *testing.T, p alipaysim.BillPlant, got map[string]bill.AlipayRow)
	}{
		{"extra_payment", `{"date":"2024-03-05","kind":"extra_payment","out_trade_no":"X1","amount_fen":777}`,
			func(t *testing.T, p alipaysim.BillPlant, got map[string]bill.AlipayRow) {
				r, ok := got["交易 X1"]
				if len(got) != 4 || !ok || r.TradeNo != p.TradeNo || len(r.TradeNo) != 28 || r.TotalFen != 777 ||
					r.ReceivedFen != 777 || r.ServiceFeeFen != -5 || !r.FinishedAt.Equal(at(5, 12, 0, 0)) {
					t.Errorf("rows = %+v (plant %+v)", got, p)
				}
			}},
		{"missing_payment", `{"date":"2024-03-05","kind":"missing_payment","out_trade_no":"P1"}`,
			func(t *testing.T, _ alipaysim.BillPlant, got map[string]bill.AlipayRow) {
				if _, ok := got["交易 P1"]; ok || len(got) != 2 {
					t.Errorf("rows = %+v", got)
				}
			}},
		{"amount of a payment", `{"date":"2024-03-05","kind":"amount","out_trade_no":"P1","amount_fen":4999}`,
			func(t *testing.T, _ alipaysim.BillPlant, got map[string]bill.AlipayRow) {
				if r := got["交易 P1"]; r.TotalFen != 4999 || r.ReceivedFen != 4999 || r.ServiceFeeFen != -30 || len(got) != 3 {
					t.Errorf("rows = %+v", got)
				}
			}},
		{"amount of a refund", `{"date":"2024-03-05","kind":"amount","out_request_no":"RP2","amount_fen":400}`,
			func(t *testing.T, _ alipaysim.BillPlant, got map[string]bill.AlipayRow) {
				if r := got["退款 P2/RP2"]; r.TotalFen != -400 || r.ReceivedFen != -400 || r.ServiceFeeFen != 2 || len(got) != 3 {
					t.Errorf("rows = %+v", got)
				}
			}},
		{"extra_refund", `{"date":"2024-03-05","kind":"extra_refund","out_trade_no":"P1","out_request_no":"RX","amount_fen":1000}`,
			func(t *testing.T, p alipaysim.BillPlant, got map[string]bill.AlipayRow) {
				r, ok := got["退款 P1/RX"]
				if !ok || len(got) != 4 || p.TradeNo != p1.TradeNo || r.TradeNo != p1.TradeNo || r.TotalFen != -1000 ||
					r.ServiceFeeFen != 6 || !r.FinishedAt.Equal(at(5, 12, 0, 0)) {
					t.Errorf("rows = %+v (plant %+v)", got, p)
				}
			}},
		{"missing_refund", `{"date":"2024-03-05","kind":"missing_refund","out_request_no":"RP2"}`,
			func(t *testing.T, _ alipaysim.BillPlant, got map[string]bill.AlipayRow) {
				if _, ok := got["退款 P2/RP2"]; ok || len(got) != 2 {
					t.Errorf("rows = %+v", got)
				}
			}},
	}
	// Sequential: each plant is cleared before the next.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p alipaysim.BillPlant
			do(t, e, http.MethodPost, "/bills/plant", tt.plant, http.StatusCreated, &p)
			var listed struct{ Plants []alipaysim.BillPlant }
			do(t, e, http.MethodGet, "/bills/plants", "", http.StatusOK, &listed)
			if len(listed.Plants) != 1 || listed.Plants[0] != p {
				t.Errorf("plants = %+v, want [%+v]", listed.Plants, p)
			}
			got := rows()
			tt.check(t, p, got)
			for k, r := range base { // the rows the plant does not name are untouched
				no := r.OutTradeNo
				if r.Type == bill.AlipayRefund {
					no = r.OutRequestNo
				}
				if g, ok := got[k]; ok && g != r && !strings.Contains(tt.plant, `"`+no+`"`) {
					t.Errorf("row %s = %+v, was %+v", k, g, r)
				}
			}
			do(t, e, http.MethodDelete, "/bills/plants", "", http.StatusNoContent, nil)
			if got := rows(); len(got) != len(base) {
				t.Errorf("after DELETE /bills/plants: rows = %+v", got)
			}
		})
	}

	// Plants stack in order: a planted row can be planted on again.
	if _, err := e.sim.PlantBill(alipaysim.BillPlant{Date: "2024-03-05", Kind: alipaysim.PlantExtraPayment, OutTradeNo: "X2", AmountFen: 100}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sim.PlantBill(alipaysim.BillPlant{Date: "2024-03-05", Kind: alipaysim.PlantAmount, OutTradeNo: "X2", AmountFen: 200}); err != nil {
		t.Fatal(err)
	}
	if r := rows()["交易 X2"]; r.TotalFen != 200 {
		t.Errorf("X2 after two plants = %+v", r)
	}
	e.sim.ClearBillPlants()

	refusals := []struct {
		name, body string
		status     int
	}{
		{"bad date", `{"date":"2024-3-5","kind":"missing_payment","out_trade_no":"P1"}`, http.StatusBadRequest},
		{"unknown kind", `{"date":"2024-03-05","kind":"status","out_trade_no":"P1"}`, http.StatusBadRequest},
		{"no amount", `{"date":"2024-03-05","kind":"extra_payment","out_trade_no":"X3"}`, http.StatusBadRequest},
		{"negative amount", `{"date":"2024-03-05","kind":"extra_payment","out_trade_no":"X3","amount_fen":-1}`, http.StatusBadRequest},
		{"both numbers", `{"date":"2024-03-05","kind":"amount","out_trade_no":"P1","out_request_no":"RP2","amount_fen":1}`, http.StatusBadRequest},
		{"no refund number", `{"date":"2024-03-05","kind":"extra_refund","out_trade_no":"P1","amount_fen":1}`, http.StatusBadRequest},
		{"bad out_trade_no", `{"date":"2024-03-05","kind":"extra_payment","out_trade_no":"a,b","amount_fen":1}`, http.StatusBadRequest},
		{"trade_no given", `{"date":"2024-03-05","kind":"extra_payment","out_trade_no":"X3","amount_fen":1,"trade_no":"1"}`, http.StatusBadRequest},
		{"unknown field", `{"date":"2024-03-05","kind":"missing_payment","out_refund_no":"P1"}`, http.StatusBadRequest},
		{"no such payment", `{"date":"2024-03-05","kind":"missing_payment","out_trade_no":"NOPE"}`, http.StatusNotFound},
		{"payment of another day", `{"date":"2024-03-04","kind":"amount","out_trade_no":"P1","amount_fen":1}`, http.StatusNotFound},
		{"no such refund", `{"date":"2024-03-05","kind":"missing_refund","out_request_no":"NOPE"}`, http.StatusNotFound},
		{"payment exists", `{"date":"2024-03-05","kind":"extra_payment","out_trade_no":"P1","amount_fen":1}`, http.StatusConflict},
		{"refund exists", `{"date":"2024-03-05","kind":"extra_refund","out_trade_no":"P2","out_request_no":"RP2","amount_fen":1}`, http.StatusConflict},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			var out struct{ Error alipaysim.Error }
			do(t, e, http.MethodPost, "/bills/plant", tt.body, tt.status, &out)
			if out.Error.Code == "" {
				t.Errorf("no error code: %+v", out)
			}
		})
	}
	if ps := e.sim.BillPlants(); len(ps) != 0 {
		t.Errorf("refused plants were recorded: %+v", ps)
	}
}
