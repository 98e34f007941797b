package wechatsim_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/jsapi"
	"github.com/wechatpay-apiv3/wechatpay-go/services/refunddomestic"

	"github.com/cloudpay/cloudpay/shared/bill"
	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// bjt is a Beijing time on the day of the tests' bills.
func bjt(day, hhmm string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", day+" "+hhmm, cloudpay.Beijing)
	if err != nil {
		panic(err)
	}
	return t
}

const billDay = "2025-03-01"

// billLink is the answer to a bill request, or its error.
type billLink struct {
	status                         int
	code                           string
	HashType, HashValue, URL, body string
}

func (e *v3env) billLink(t *testing.T, uri string) billLink {
	t.Helper()
	resp, raw := e.raw(t, http.MethodGet, uri, "", nil)
	checkSigned(t, resp.Header, raw)
	var out struct {
		Code        string `json:"code"`
		HashType    string `json:"hash_type"`
		HashValue   string `json:"hash_value"`
		DownloadURL string `json:"download_url"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("GET %s: %s", uri, raw)
	}
	return billLink{status: resp.StatusCode, code: out.Code, HashType: out.HashType, HashValue: out.HashValue,
		URL: out.DownloadURL, body: string(raw)}
}

// download fetches a link's file with a signed GET and checks it against the hash.
func (e *v3env) download(t *testing.T, l billLink) []byte {
	t.Helper()
	u, err := url.Parse(l.URL)
	if err != nil || u.Scheme != "https" || u.Host != "api.mch.weixin.qq.com" || u.Path != "/v3/billdownload/file" {
		t.Fatalf("download_url %q", l.URL)
	}
	resp, raw := e.raw(t, http.MethodGet, u.RequestURI(), "", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("download: %d %s", resp.StatusCode, raw)
	}
	if resp.Header.Get("Wechatpay-Signature") != "" {
		t.Fatal("the file is signed: WeChat does not sign it")
	}
	data := raw
	if len(raw) > 2 && raw[0] == 0x1f && raw[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		if data, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	sum := sha1.Sum(data)
	if hex.EncodeToString(sum[:]) != l.HashValue || l.HashType != "SHA1" {
		t.Fatalf("hash %s %s, file's SHA1 %x", l.HashType, l.HashValue, sum)
	}
	return data
}

func (e *v3env) tradeBill(t *testing.T, query string) bill.Trade {
	t.Helper()
	l := e.billLink(t, "/v3/bill/tradebill?"+query)
	if l.status != 200 {
		t.Fatalf("tradebill %s: %d %s", query, l.status, l.body)
	}
	tr, err := bill.ParseTrade(e.download(t, l))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func (e *v3env) paid(t *testing.T, no string, total int64) {
	t.Helper()
	if _, _, err := (&jsapi.JsapiApiService{Client: e.sdk}).Prepay(context.Background(), e.prepayReq(no, total)); err != nil {
		t.Fatalf("prepay %s: %v", no, err)
	}
	e.pay(t, no)
}

func (e *v3env) refundOf(t *testing.T, no, refundNo string, total, refund int64) {
	t.Helper()
	req := e.refundReq(no, refundNo, refund)
	req.Amount.Total = core.Int64(total)
	if _, _, err := (&refunddomestic.RefundsApiService{Client: e.sdk}).Create(context.Background(), req); err != nil {
		t.Fatalf("refund %s: %v", refundNo, err)
	}
}

func rowOf(t *testing.T, tr bill.Trade, outTradeNo, outRefundNo string) bill.TradeRow {
	t.Helper()
	for _, r := range tr.Rows {
		if r.OutTradeNo == outTradeNo && r.OutRefundNo == outRefundNo {
			return r
		}
	}
	t.Fatalf("no row %s/%s in %+v", outTradeNo, outRefundNo, tr.Rows)
	return bill.TradeRow{}
}

// A day of payments and refunds on API v3: not before 10:00 the next day, then the
// rows WeChat would show, gzip or not, each type, with the hash of the file.
func TestV3TradeBill(t *testing.T) {
	e := newV3Env(t, nil)
	e.clock.Set(bjt(billDay, "12:05"))
	e.paid(t, "BILLA01", 600)
	e.paid(t, "BILLB01", 100)
	e.clock.Set(bjt(billDay, "12:10"))
	e.refundOf(t, "BILLA01", "REFA01", 600, 250)
	e.refundOf(t, "BILLB01", "REFB01", 100, 100)
	e.clock.Set(bjt(billDay, "12:11"))
	if status, out := e.control(t, "POST", "/refunds/REFA01/settle", map[string]any{"status": "SUCCESS"}); status != 200 {
		t.Fatalf("settle: %d %v", status, out)
	}
	// Settled after WeChat took its snapshot (09:00 the next day): the bill says PROCESSING.
	e.clock.Set(bjt("2025-03-02", "09:30"))
	if status, out := e.control(t, "POST", "/refunds/REFB01/settle", map[string]any{"status": "SUCCESS"}); status != 200 {
		t.Fatalf("settle: %d %v", status, out)
	}

	e.clock.Set(bjt("2025-03-02", "09:59"))
	if l := e.billLink(t, "/v3/bill/tradebill?bill_date="+billDay+"&bill_type=ALL&tar_type=GZIP"); l.status != 400 || l.code != "STATEMENT_CREATING" {
		t.Fatalf("before 10:00: %d %s", l.status, l.body)
	}
	e.clock.Set(bjt("2025-03-02", "10:00"))
	tr := e.tradeBill(t, "bill_date="+billDay+"&bill_type=ALL&tar_type=GZIP")
	if tr.Type != bill.All || len(tr.Rows) != 4 {
		t.Fatalf("bill %+v", tr)
	}
	a := rowOf(t, tr, "BILLA01", "")
	o, _ := e.sim.Order("BILLA01")
	if !a.Time.Equal(bjt(billDay, "12:05")) || a.TransactionID != o.TransactionID || a.TradeState != "SUCCESS" ||
		a.MchID != wechatsim.DevMchID || a.SubMchID != "0" || a.AppID != wechatsim.DefaultAppID || a.OpenID != "oUser1" ||
		a.SettlementFen != 600 || a.TotalFen != 600 || a.Fee != bill.FeeOf(4) || a.Rate != "0.60%" || a.Body != "Test order" ||
		a.Attach != "a1" || a.TradeType != "JSAPI" || a.Currency != "CNY" {
		t.Fatalf("payment row %+v", a)
	}
	ra := rowOf(t, tr, "BILLA01", "REFA01")
	rv, _ := e.sim.Refund("REFA01")
	if !ra.Time.Equal(bjt(billDay, "12:10")) || ra.TradeState != "REFUND" || ra.RefundID != rv.RefundID ||
		ra.RefundFen != 250 || ra.RefundRequestFen != 250 || ra.SettlementFen != 0 || ra.TotalFen != 0 ||
		ra.Fee != -bill.FeeOf(2) || ra.RefundStatus != "SUCCESS" || ra.RefundType != "ORIGINAL" {
		t.Fatalf("refund row %+v", ra)
	}
	if rb := rowOf(t, tr, "BILLB01", "REFB01"); rb.RefundStatus != "PROCESSING" || rb.Fee != -bill.FeeOf(1) {
		t.Fatalf("refund settled after the snapshot: %+v", rb)
	}
	if tr.Totals.Fee != bill.FeeOf(4+1-2-1) || tr.Totals.SettlementFen != 700 || tr.Totals.RefundFen != 350 {
		t.Fatalf("totals %+v", tr.Totals)
	}

	// Not compressed, and the other two types.
	plain := e.billLink(t, "/v3/bill/tradebill?bill_date="+billDay)
	if raw := e.download(t, plain); !strings.HasPrefix(string(raw), "交易时间,公众账号ID,") {
		t.Fatalf("plain bill %q", raw)
	}
	if s := e.tradeBill(t, "bill_date="+billDay+"&bill_type=SUCCESS"); s.Type != bill.Success || len(s.Rows) != 2 {
		t.Fatalf("SUCCESS bill %+v", s)
	}
	r := e.tradeBill(t, "bill_date="+billDay+"&bill_type=REFUND")
	if rr := rowOf(t, r, "BILLA01", "REFA01"); r.Type != bill.Refund || len(r.Rows) != 2 ||
		!rr.RefundRequestedAt.Equal(bjt(billDay, "12:10")) || !rr.RefundSucceededAt.Equal(bjt(billDay, "12:11")) {
		t.Fatalf("REFUND bill %+v", r)
	}

	for _, tc := range []struct{ query, code string }{
		{"bill_date=2025-02-28", "NO_STATEMENT_EXIST"},
		{"bill_date=2025-03-03", "INVALID_REQUEST"},
		{"bill_date=2024-12-01", "INVALID_REQUEST"},
		{"bill_date=20250301", "PARAM_ERROR"},
		{"", "PARAM_ERROR"},
		{"bill_date=" + billDay + "&bill_type=RECHARGE_REFUND", "PARAM_ERROR"},
		{"bill_date=" + billDay + "&tar_type=ZIP", "PARAM_ERROR"},
	} {
		if l := e.billLink(t, "/v3/bill/tradebill?"+tc.query); l.status != 400 || l.code != tc.code {
			t.Errorf("%s: %d %s, want 400 %s", tc.query, l.status, l.body, tc.code)
		}
	}

	// The file wants a v3-signed GET, and the link lives five minutes.
	u, _ := url.Parse(plain.URL)
	resp, raw := e.raw(t, http.MethodGet, u.RequestURI(), "", func(a *authParts) { a.scheme = "" })
	if resp.StatusCode != 401 || !strings.Contains(string(raw), "SIGN_ERROR") {
		t.Fatalf("unsigned download: %d %s", resp.StatusCode, raw)
	}
	e.clock.Add(5 * time.Minute)
	if resp, raw := e.raw(t, http.MethodGet, u.RequestURI(), "", nil); resp.StatusCode != 400 || !strings.Contains(string(raw), "INVALID_REQUEST") {
		t.Fatalf("expired link: %d %s", resp.StatusCode, raw)
	}
	if calls := e.sim.Calls("billfile"); len(calls) == 0 || !strings.HasPrefix(calls[0].Path, "/v3/billdownload/file?token=") {
		t.Fatalf("call log %+v", calls)
	}
}

// The fund-flow bill of the basic account: each payment's income and fee, each
// refund's expense and the fee given back, with the running balance.
func TestV3FundFlowBill(t *testing.T) {
	e := newV3Env(t, nil)
	e.clock.Set(bjt("2025-02-28", "23:59"))
	e.paid(t, "FUNDDAY0", 1000) // the day before: only in the balance
	e.clock.Set(bjt(billDay, "08:00"))
	e.paid(t, "FUNDA1", 600)
	e.clock.Set(bjt(billDay, "09:00"))
	e.refundOf(t, "FUNDA1", "FUNDR1", 600, 250)
	e.clock.Set(bjt("2025-03-02", "10:00"))

	l := e.billLink(t, "/v3/bill/fundflowbill?bill_date="+billDay+"&account_type=BASIC&tar_type=GZIP")
	if l.status != 200 {
		t.Fatalf("fundflowbill: %d %s", l.status, l.body)
	}
	ff, err := bill.ParseFundFlow(e.download(t, l))
	if err != nil {
		t.Fatal(err)
	}
	type mv struct {
		bizType string
		dir     bill.Direction
		amount  cloudpay.Fen
		balance cloudpay.Fen
		voucher string
	}
	want := []mv{
		{"交易", bill.Income, 600, 994 + 600, "FUNDA1"},
		{"扣除交易手续费", bill.Expense, 4, 994 + 596, "FUNDA1"},
		{"退款", bill.Expense, 250, 994 + 346, "FUNDR1"},
		{"退还交易手续费", bill.Income, 2, 994 + 348, "FUNDR1"},
	}
	if len(ff.Rows) != len(want) {
		t.Fatalf("rows %+v", ff.Rows)
	}
	for i, w := range want {
		r := ff.Rows[i]
		if r.BizType != w.bizType || r.Direction != w.dir || r.AmountFen != w.amount || r.BalanceFen != w.balance || r.VoucherNo != w.voucher {
			t.Fatalf("row %d = %+v, want %+v", i, r, w)
		}
	}
	if ff.Totals != (bill.FundFlowTotals{Count: 4, IncomeCount: 2, IncomeFen: 602, ExpenseCount: 2, ExpenseFen: 254}) {
		t.Fatalf("totals %+v", ff.Totals)
	}
	for _, tc := range []struct{ query, code string }{
		{"bill_date=" + billDay + "&account_type=OPERATION", "NO_STATEMENT_EXIST"},
		{"bill_date=" + billDay + "&account_type=ALL", "PARAM_ERROR"},
		{"bill_date=2025-02-27", "NO_STATEMENT_EXIST"},
	} {
		if l := e.billLink(t, "/v3/bill/fundflowbill?"+tc.query); l.status != 400 || l.code != tc.code {
			t.Errorf("%s: %d %s, want 400 %s", tc.query, l.status, l.body, tc.code)
		}
	}
}

// Plants make the bill disagree with the simulator's own orders and refunds.
func TestBillPlants(t *testing.T) {
	e := newV3Env(t, nil)
	e.clock.Set(bjt(billDay, "12:05"))
	e.paid(t, "PLANTA1", 600)
	e.paid(t, "PLANTB1", 100)
	e.refundOf(t, "PLANTA1", "PLANTR1", 600, 100)
	e.refundOf(t, "PLANTB1", "PLANTR2", 100, 100)
	plant := func(body map[string]any) (int, map[string]any) {
		t.Helper()
		return e.control(t, "POST", "/bills/plant", body)
	}
	for _, p := range []map[string]any{
		{"date": billDay, "kind": "extra_payment", "out_trade_no": "GHOST01", "amount_fen": 888},
		{"date": billDay, "kind": "missing_payment", "out_trade_no": "PLANTB1"},
		{"date": billDay, "kind": "amount", "out_trade_no": "PLANTA1", "amount_fen": 700},
		{"date": billDay, "kind": "status", "out_refund_no": "PLANTR1", "status": "CHANGE"},
		{"date": billDay, "kind": "extra_refund", "out_trade_no": "PLANTA1", "out_refund_no": "GHOSTR01", "amount_fen": 50},
		{"date": billDay, "kind": "missing_refund", "out_refund_no": "PLANTR2"},
	} {
		if status, out := plant(p); status != 201 {
			t.Fatalf("plant %v: %d %v", p, status, out)
		}
	}
	for _, tc := range []struct {
		body   map[string]any
		status int
		code   string
	}{
		{map[string]any{"date": billDay, "kind": "missing_payment", "out_trade_no": "NOSUCH"}, 404, "BILL_ROW_NOT_FOUND"},
		{map[string]any{"date": "2025-02-28", "kind": "amount", "out_trade_no": "PLANTA1", "amount_fen": 1}, 404, "BILL_ROW_NOT_FOUND"},
		{map[string]any{"date": billDay, "kind": "extra_payment", "out_trade_no": "PLANTA1", "amount_fen": 1}, 409, "BILL_ROW_EXISTS"},
		{map[string]any{"date": billDay, "kind": "extra_payment", "out_trade_no": "X"}, 400, "INVALID_FIELD"},
		{map[string]any{"date": billDay, "kind": "amount", "out_trade_no": "PLANTA1", "out_refund_no": "PLANTR1", "amount_fen": 1}, 400, "INVALID_FIELD"},
		{map[string]any{"date": billDay, "kind": "vanish"}, 400, "INVALID_FIELD"},
		{map[string]any{"date": "1.3.2025", "kind": "missing_payment", "out_trade_no": "PLANTA1"}, 400, "INVALID_FIELD"},
		{map[string]any{"date": billDay, "kind": "missing_payment", "out_trade_no": "PLANTA1", "nope": 1}, 400, "INVALID_FIELD"},
	} {
		if status, out := plant(tc.body); status != tc.status || !strings.HasPrefix(errorCode(out), tc.code) {
			t.Errorf("plant %v: %d %v, want %d %s", tc.body, status, out, tc.status, tc.code)
		}
	}
	if got := e.sim.BillPlants(); len(got) != 6 || got[0].TransactionID == "" || got[4].RefundID == "" {
		t.Fatalf("plants %+v", got)
	}

	e.clock.Set(bjt("2025-03-02", "10:00"))
	tr := e.tradeBill(t, "bill_date="+billDay)
	ghost := rowOf(t, tr, "GHOST01", "")
	if ghost.TotalFen != 888 || ghost.TradeState != "SUCCESS" || ghost.TransactionID != e.sim.BillPlants()[0].TransactionID {
		t.Fatalf("extra payment %+v", ghost)
	}
	if a := rowOf(t, tr, "PLANTA1", ""); a.TotalFen != 700 || a.SettlementFen != 700 || a.Fee != bill.FeeOf(4) {
		t.Fatalf("amount %+v", a)
	}
	if r := rowOf(t, tr, "PLANTA1", "PLANTR1"); r.RefundStatus != "CHANGE" {
		t.Fatalf("status %+v", r)
	}
	if r := rowOf(t, tr, "PLANTA1", "GHOSTR01"); r.RefundFen != 50 || r.RefundStatus != "SUCCESS" {
		t.Fatalf("extra refund %+v", r)
	}
	for _, r := range tr.Rows {
		if r.OutTradeNo == "PLANTB1" {
			t.Fatalf("missing rows are there: %+v", r)
		}
	}
	if len(tr.Rows) != 4 {
		t.Fatalf("rows %+v", tr.Rows)
	}
	// The control view shows the same bill, whatever the hour.
	e.clock.Set(bjt(billDay, "13:00"))
	resp, err := http.Get(e.srv.URL + wechatsim.ControlPrefix + "/bills/" + billDay + "?kind=trade")
	if err != nil {
		t.Fatal(err)
	}
	view, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if v, err := bill.ParseTrade(view); err != nil || len(v.Rows) != 4 {
		t.Fatalf("view: %v %s", err, view)
	}
	if status, _ := e.control(t, "DELETE", "/bills/plants", nil); status != 204 || len(e.sim.BillPlants()) != 0 {
		t.Fatalf("clear: %d", status)
	}
}

// The faults of the bill APIs: a corrupted hash, a refusal, a refused download.
func TestV3BillFaults(t *testing.T) {
	e := newV3Env(t, nil)
	e.clock.Set(bjt(billDay, "12:05"))
	e.paid(t, "FAULT01", 100)
	e.clock.Set(bjt("2025-03-02", "10:00"))
	addFault(t, e.env, map[string]any{"api": "downloadbill", "mode": "corrupt", "count": 1})
	l := e.billLink(t, "/v3/bill/tradebill?bill_date="+billDay)
	u, _ := url.Parse(l.URL)
	_, raw := e.raw(t, http.MethodGet, u.RequestURI(), "", nil)
	if sum := sha1.Sum(raw); hex.EncodeToString(sum[:]) == l.HashValue {
		t.Fatal("corrupt fault: the hash matches")
	}
	addFault(t, e.env, map[string]any{"api": "fundflowbill", "mode": "fail", "code": "SYSTEM_ERROR", "count": 1})
	if l := e.billLink(t, "/v3/bill/fundflowbill?bill_date="+billDay); l.status != 500 || l.code != "SYSTEM_ERROR" {
		t.Fatalf("fail fault: %d %s", l.status, l.body)
	}
	l = e.billLink(t, "/v3/bill/tradebill?bill_date="+billDay)
	addFault(t, e.env, map[string]any{"api": "billfile", "mode": "fail", "code": "NO_AUTH", "count": 1})
	u, _ = url.Parse(l.URL)
	if resp, raw := e.raw(t, http.MethodGet, u.RequestURI(), "", nil); resp.StatusCode != 403 || !strings.Contains(string(raw), "NO_AUTH") {
		t.Fatalf("download fault: %d %s", resp.StatusCode, raw)
	}
	if status, out := e.control(t, "POST", "/faults", map[string]any{"api": "billfile", "mode": "corrupt", "count": 1}); status != 400 {
		t.Fatalf("corrupt on billfile: %d %v", status, out)
	}
}

// chBill is POST /_/pay/downloadbill: the bill text, or the refusal.
func (e *env) chBill(t *testing.T, body map[string]any) (string, map[string]any) {
	t.Helper()
	resp, err := http.Post(e.srv.URL+"/_/pay/downloadbill", "application/json", bytes.NewReader(rawBody(t, body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		Errcode  int             `json:"errcode"`
		Respdata json.RawMessage `json:"respdata"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || env.Errcode != 0 {
		t.Fatalf("downloadbill: %v %+v", err, env)
	}
	var text string
	if json.Unmarshal(env.Respdata, &text) == nil {
		return text, nil
	}
	var refusal map[string]any
	if err := json.Unmarshal(env.Respdata, &refusal); err != nil {
		t.Fatalf("respdata %s", env.Respdata)
	}
	return "", refusal
}

// Cloud Hosting: the bill itself in respdata, the service provider as 商户号 and the
// sub-merchant as 特约商户号; Bill Creating, No Bill Exist.
func TestCloudHostingDownloadBill(t *testing.T) {
	e := newEnv(t, manualRefunds)
	e.clock.Set(bjt(billDay, "12:05"))
	txn := e.paidOrder(t, "CHBILL1")
	e.clock.Set(bjt(billDay, "12:06"))
	e.refund(t, refundReq("CHBILL1", "CHREF1", 40))
	req := map[string]any{"sub_mch_id": merchant, "bill_date": "20250301", "bill_type": "ALL"}

	e.clock.Set(bjt("2025-03-02", "09:00"))
	if _, refusal := e.chBill(t, req); refusal["return_code"] != "FAIL" || refusal["return_msg"] != "Bill Creating" {
		t.Fatalf("before 10:00: %v", refusal)
	}
	e.clock.Set(bjt("2025-03-02", "10:00"))
	text, refusal := e.chBill(t, req)
	if refusal != nil {
		t.Fatalf("refused: %v", refusal)
	}
	tr, err := bill.ParseTrade([]byte(text))
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	p := rowOf(t, tr, "CHBILL1", "")
	if len(tr.Rows) != 2 || p.MchID != wechatsim.SPMchID || p.SubMchID != merchant || p.TransactionID != txn || p.TotalFen != 100 ||
		p.Fee != bill.FeeOf(1) {
		t.Fatalf("bill %+v", tr)
	}
	if r := rowOf(t, tr, "CHBILL1", "CHREF1"); r.RefundFen != 40 || r.RefundStatus != "PROCESSING" || r.Fee != 0 {
		t.Fatalf("refund row %+v", r)
	}
	if text, _ := e.chBill(t, with(req, "bill_type", "SUCCESS")); !strings.Contains(text, "CHBILL1") || strings.Contains(text, "CHREF1") {
		t.Fatalf("SUCCESS bill %s", text)
	}
	// Without sub_mch_id: every Cloud Hosting order.
	if text, _ := e.chBill(t, with(req, "sub_mch_id", nil)); !strings.Contains(text, "CHBILL1") {
		t.Fatalf("bill without sub_mch_id %s", text)
	}

	for _, tc := range []struct {
		body      map[string]any
		msg, code string
	}{
		{with(req, "bill_date", "20250228"), "No Bill Exist", "20002"},
		{with(req, "bill_date", "2025-03-01"), "data format error", ""},
		{with(req, "bill_date", "20250303"), "data format error", ""},
		{with(req, "bill_date", nil), "missing parameter", ""},
		{with(req, "bill_type", "ALLES"), "invalid bill_type", ""},
	} {
		_, refusal := e.chBill(t, tc.body)
		if refusal["return_code"] != "FAIL" || refusal["return_msg"] != tc.msg || (tc.code != "" && refusal["error_code"] != tc.code) {
			t.Errorf("%v: %v, want %s %s", tc.body, refusal, tc.msg, tc.code)
		}
	}

	// A corrupt answer loses its last line: the parser notices.
	addFault(t, e, map[string]any{"api": "downloadbill", "mode": "corrupt", "count": 1})
	text, _ = e.chBill(t, req)
	if _, err := bill.ParseTrade([]byte(text)); err == nil {
		t.Fatalf("corrupt bill parsed:\n%s", text)
	}
	// A plant shows on this channel too.
	if status, out := e.control(t, "POST", "/bills/plant", map[string]any{"date": billDay, "kind": "amount", "out_trade_no": "CHBILL1", "amount_fen": 99}); status != 201 {
		t.Fatalf("plant: %d %v", status, out)
	}
	text, _ = e.chBill(t, req)
	if tr, err := bill.ParseTrade([]byte(text)); err != nil || rowOf(t, tr, "CHBILL1", "").TotalFen != 99 {
		t.Fatalf("planted bill: %v\n%s", err, text)
	}
}
