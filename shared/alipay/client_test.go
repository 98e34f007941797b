package alipay_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/alipay"
	"github.com/cloudpay/cloudpay/shared/alipaysim"
	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// world is the simulator over real HTTP, a receiver of its notifications
// and a client configured with its development credentials.
type world struct {
	sim     *alipaysim.Simulator
	client  *alipay.Client
	cfg     alipay.Config
	gateway string          // the simulator's gateway URL
	notes   chan url.Values // notifications received, as forms
}

func newWorld(t *testing.T, timeout time.Duration) *world {
	t.Helper()
	sim := alipaysim.New(alipaysim.Config{RetryDelays: []time.Duration{}})
	gw := httptest.NewServer(sim.Handler())
	t.Cleanup(gw.Close)
	t.Cleanup(sim.Close) // first: releases replies a timeout fault holds
	notes := make(chan url.Values, 16)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		form, err := url.ParseQuery(string(raw))
		if err != nil {
			http.Error(w, "fail", http.StatusBadRequest)
			return
		}
		notes <- form
		_, _ = io.WriteString(w, "success")
	}))
	t.Cleanup(recv.Close)
	cfg := alipay.Config{
		AppID: alipaysim.DevAppID, PrivateKey: alipaysim.DevAppPrivateKeyPEM, PublicKey: alipaysim.DevAlipayPublicKeyPEM,
		SellerID: alipaysim.DevSellerID, NotifyURL: recv.URL + "/callbacks/alipay",
		GatewayURL: gw.URL + alipaysim.GatewayPath, Timeout: timeout,
	}
	client, err := alipay.New(cfg, gw.Client())
	if err != nil {
		t.Fatal(err)
	}
	return &world{sim: sim, client: client, cfg: cfg, gateway: gw.URL + alipaysim.GatewayPath, notes: notes}
}

// order is a fresh order: its number is unique per test.
func order(t *testing.T, fen cloudpay.Fen) alipay.Order {
	sum := sha256.Sum256([]byte(t.Name()))
	return alipay.Order{
		OutTradeNo: "T" + hex.EncodeToString(sum[:10]),
		Subject:    "一杯咖啡", AmountFen: fen, ExpiresAt: time.Now().Add(30 * time.Minute),
	}
}

// paid precreates o and has the simulator's buyer pay it.
func (w *world) paid(t *testing.T, o alipay.Order) {
	t.Helper()
	if _, err := w.client.Precreate(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	if _, err := w.sim.Pay(t.Context(), o.OutTradeNo); err != nil {
		t.Fatal(err)
	}
}

func wantCode(t *testing.T, err error, code cloudpay.Code, class wechat.CallFailure) {
	t.Helper()
	if got := cloudpay.ErrorCode(err); got != code {
		t.Errorf("error %v: code %s, want %s", err, got, code)
	}
	if got := alipay.Classify(err); got != class {
		t.Errorf("error %v: Classify %v, want %v", err, got, class)
	}
}

func TestPrecreateQueryPay(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 5*time.Second)
	ctx := t.Context()
	o := order(t, 1230)

	qr, err := w.client.Precreate(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	st, ok := w.sim.Trade(o.OutTradeNo)
	if !ok || qr != st.QRCode || st.TotalFen != 1230 || st.Subject != o.Subject || st.NotifyURL != w.cfg.NotifyURL {
		t.Fatalf("the simulator holds %+v for QR %q", st, qr)
	}
	calls := w.sim.Calls(alipaysim.MethodPrecreate)
	var biz map[string]string
	if err := json.Unmarshal([]byte(calls[0].Params["biz_content"]), &biz); err != nil {
		t.Fatal(err)
	}
	wantExpire := o.ExpiresAt.In(cloudpay.Beijing).Format("2006-01-02 15:04:05")
	if biz["total_amount"] != "12.30" || biz["product_code"] != "FACE_TO_FACE_PAYMENT" || biz["time_expire"] != wantExpire {
		t.Errorf("biz_content %v", biz)
	}
	if ts, err := time.ParseInLocation("2006-01-02 15:04:05", calls[0].Params["timestamp"], cloudpay.Beijing); err != nil ||
		time.Since(ts).Abs() > time.Minute {
		t.Errorf("timestamp %q is not now in Beijing time", calls[0].Params["timestamp"])
	}

	// Precreated, not scanned: Alipay holds no trade yet.
	tr, err := w.client.Query(ctx, o.OutTradeNo)
	if err != nil || tr.Status != alipay.NotExist || tr.OutTradeNo != o.OutTradeNo {
		t.Fatalf("Query before the scan = %+v, %v; want NotExist", tr, err)
	}
	// The same order again is the same code.
	if again, err := w.client.Precreate(ctx, o); err != nil || again != qr {
		t.Errorf("Precreate again = %q, %v; want %q", again, err, qr)
	}

	if _, err := w.sim.Scan(o.OutTradeNo); err != nil {
		t.Fatal(err)
	}
	if tr, err = w.client.Query(ctx, o.OutTradeNo); err != nil || tr.Status != alipay.WaitBuyerPay || !tr.PaidAt.IsZero() {
		t.Fatalf("Query after the scan = %+v, %v; want WAIT_BUYER_PAY", tr, err)
	}

	before := time.Now().Add(-time.Second).Truncate(time.Second)
	if _, err := w.sim.Pay(ctx, o.OutTradeNo); err != nil {
		t.Fatal(err)
	}
	tr, err = w.client.Query(ctx, o.OutTradeNo)
	if err != nil {
		t.Fatal(err)
	}
	st, _ = w.sim.Trade(o.OutTradeNo)
	if tr.Status != alipay.TradeSuccess || tr.TotalFen != 1230 || tr.TradeNo == "" || tr.TradeNo != st.TradeNo ||
		tr.BuyerID != alipaysim.DevBuyerID || tr.PaidAt.Before(before) || tr.PaidAt.After(time.Now()) ||
		tr.PaidAt.Location() != time.UTC {
		t.Errorf("Query after the payment = %+v; simulator %+v", tr, st)
	}

	// A paid order cannot be precreated again, nor under other details.
	_, err = w.client.Precreate(ctx, o)
	wantCode(t, err, cloudpay.CodeOrderPaid, wechat.Final)
	other := o
	other.OutTradeNo += "x"
	if _, err := w.client.Precreate(ctx, other); err != nil {
		t.Fatal(err)
	}
	other.AmountFen++
	_, err = w.client.Precreate(ctx, other)
	wantCode(t, err, cloudpay.CodeOrderConflict, wechat.Final)
	if !strings.Contains(err.Error(), "ACQ.CONTEXT_INCONSISTENT") {
		t.Errorf("error %q lost Alipay's sub_code", err)
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 5*time.Second)
	ctx := t.Context()

	t.Run("before the scan", func(t *testing.T) {
		o := order(t, 100)
		if _, err := w.client.Precreate(ctx, o); err != nil {
			t.Fatal(err)
		}
		if st, err := w.client.Close(ctx, o.OutTradeNo); err != nil || st != alipay.NotExist {
			t.Fatalf("Close = %s, %v; want NOT_EXIST", st, err)
		}
	})
	t.Run("after the scan, and again", func(t *testing.T) {
		o := order(t, 100)
		if _, err := w.client.Precreate(ctx, o); err != nil {
			t.Fatal(err)
		}
		if _, err := w.sim.Scan(o.OutTradeNo); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if st, err := w.client.Close(ctx, o.OutTradeNo); err != nil || st != alipay.TradeClosed {
				t.Fatalf("Close = %s, %v; want TRADE_CLOSED", st, err)
			}
		}
		if st, _ := w.sim.Trade(o.OutTradeNo); st.Status != alipaysim.StatusClosed {
			t.Errorf("the simulator's trade is %s", st.Status)
		}
		if _, err := w.sim.Pay(ctx, o.OutTradeNo); err == nil {
			t.Error("a closed trade could be paid")
		}
		_, err := w.client.Precreate(ctx, o)
		wantCode(t, err, cloudpay.CodeOrderClosed, wechat.Final)
	})
	t.Run("after the payment", func(t *testing.T) {
		o := order(t, 100)
		w.paid(t, o)
		st, err := w.client.Close(ctx, o.OutTradeNo)
		if st != alipay.TradeSuccess {
			t.Errorf("Close = %s, want TRADE_SUCCESS", st)
		}
		wantCode(t, err, cloudpay.CodeOrderPaid, wechat.Final)
		if st, _ := w.sim.Trade(o.OutTradeNo); st.Status != alipaysim.StatusSuccess {
			t.Errorf("the simulator's trade is %s", st.Status)
		}
	})
}

func TestWapPayURL(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 5*time.Second)
	ctx := t.Context()
	o := order(t, 29)
	returnURL := "https://shop.example.com/paid?order=" + o.OutTradeNo

	raw, err := w.client.WapPayURL(ctx, o, returnURL)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme+"://"+u.Host+u.Path != w.gateway {
		t.Errorf("URL %s does not lead to the gateway %s", raw, w.gateway)
	}
	if q.Get("method") != "alipay.trade.wap.pay" || q.Get("return_url") != returnURL || q.Get("notify_url") != w.cfg.NotifyURL ||
		q.Get("app_id") != alipaysim.DevAppID || q.Get("sign") == "" || q.Get("sign_type") != "RSA2" {
		t.Errorf("URL parameters %v", q)
	}
	var biz map[string]string
	if err := json.Unmarshal([]byte(q.Get("biz_content")), &biz); err != nil {
		t.Fatal(err)
	}
	if biz["total_amount"] != "0.29" || biz["product_code"] != "QUICK_WAP_WAY" || biz["out_trade_no"] != o.OutTradeNo {
		t.Errorf("biz_content %v", biz)
	}
	if len(w.sim.Calls(alipaysim.MethodWapPay)) != 0 {
		t.Error("WapPayURL called the gateway")
	}

	// The payer's browser opens it: the simulator checks the signature and
	// shows its cashier for the order.
	resp, err := http.Get(raw)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "¥0.29") {
		t.Fatalf("the cashier answered %d: %s", resp.StatusCode, page)
	}
	st, ok := w.sim.Trade(o.OutTradeNo)
	if !ok || st.ReturnURL != returnURL || st.NotifyURL != w.cfg.NotifyURL || st.Method != alipaysim.TradeMethodWap {
		t.Errorf("the simulator holds %+v", st)
	}
	// Without a return URL, none is sent.
	o.OutTradeNo += "n"
	raw, err = w.client.WapPayURL(ctx, o, "")
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := url.Parse(raw); u.Query().Has("return_url") {
		t.Errorf("URL %s carries a return_url", raw)
	}
}

func TestRefund(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 5*time.Second)
	ctx := t.Context()
	o := order(t, 1000)
	w.paid(t, o)
	st, _ := w.sim.Trade(o.OutTradeNo)

	r := alipay.Refund{OutTradeNo: o.OutTradeNo, OutRequestNo: "R1", AmountFen: 430, Reason: "少了一杯"}
	res, err := w.client.Refund(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	want := alipay.RefundResult{OutTradeNo: o.OutTradeNo, OutRequestNo: "R1", TradeNo: st.TradeNo, RefundFen: 430,
		Succeeded: true, RefundedTotalFen: 430}
	if res != want {
		t.Errorf("Refund = %+v, want %+v", res, want)
	}
	// The same refund again: Alipay answers fund_change N and moves no
	// money; the refund query confirms it succeeded before.
	again, err := w.client.Refund(ctx, r)
	if err != nil || again != want {
		t.Errorf("Refund again = %+v, %v; want %+v", again, err, want)
	}
	refunds := w.sim.Refunds(o.OutTradeNo)
	if len(refunds) != 1 || refunds[0].RefundFen != 430 || refunds[0].Requests != 2 || refunds[0].Reason != r.Reason {
		t.Errorf("the simulator holds %+v", refunds)
	}
	if st, _ := w.sim.Trade(o.OutTradeNo); st.RefundedFen != 430 {
		t.Errorf("the simulator refunded %d", st.RefundedFen)
	}

	q, err := w.client.QueryRefund(ctx, o.OutTradeNo, "R1")
	if wantQ := (alipay.RefundResult{OutTradeNo: o.OutTradeNo, OutRequestNo: "R1", TradeNo: st.TradeNo, RefundFen: 430, Succeeded: true}); err != nil || q != wantQ {
		t.Errorf("QueryRefund = %+v, %v; want %+v", q, err, wantQ)
	}
	q, err = w.client.QueryRefund(ctx, o.OutTradeNo, "R2")
	if err != nil || !q.NotExist || q.Succeeded {
		t.Errorf("QueryRefund of an unknown number = %+v, %v; want NotExist", q, err)
	}
	q, err = w.client.QueryRefund(ctx, "TNoSuchTrade", "R1")
	if err != nil || !q.NotExist {
		t.Errorf("QueryRefund on an unknown trade = %+v, %v; want NotExist", q, err)
	}

	// Refusals.
	_, err = w.client.Refund(ctx, alipay.Refund{OutTradeNo: o.OutTradeNo, OutRequestNo: "R1", AmountFen: 431})
	wantCode(t, err, cloudpay.CodeRefundConflict, wechat.Final)
	_, err = w.client.Refund(ctx, alipay.Refund{OutTradeNo: o.OutTradeNo, OutRequestNo: "R3", AmountFen: 571})
	wantCode(t, err, cloudpay.CodeRefundExceeds, wechat.Final)
	_, err = w.client.Refund(ctx, alipay.Refund{OutTradeNo: "TNoSuchTrade", OutRequestNo: "R1", AmountFen: 1})
	wantCode(t, err, cloudpay.CodeOrderNotPaid, wechat.Final)
	if e, ok := alipay.ErrorOf(err); !ok || e.SubCode != "ACQ.TRADE_NOT_EXIST" {
		t.Errorf("error %v lost Alipay's refusal", err)
	}

	// The rest, in full: the trade closes.
	res, err = w.client.Refund(ctx, alipay.Refund{OutTradeNo: o.OutTradeNo, OutRequestNo: "R4", AmountFen: 570})
	if err != nil || !res.Succeeded || res.RefundedTotalFen != 1000 {
		t.Errorf("last Refund = %+v, %v", res, err)
	}
	if tr, err := w.client.Query(ctx, o.OutTradeNo); err != nil || tr.Status != alipay.TradeClosed {
		t.Errorf("Query after the full refund = %+v, %v", tr, err)
	}
}

// A refund whose answer never comes is unknown, never failed: the refund
// was made, the query finds it, and the retry under the same number
// refunds nothing more.
func TestRefundTimeoutIsUnknown(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 300*time.Millisecond)
	ctx := t.Context()
	o := order(t, 500)
	w.paid(t, o)
	if err := w.sim.AddFault(alipaysim.Fault{Method: alipaysim.MethodRefund, Mode: alipaysim.ModeTimeout}); err != nil {
		t.Fatal(err)
	}
	r := alipay.Refund{OutTradeNo: o.OutTradeNo, OutRequestNo: "R1", AmountFen: 500}
	_, err := w.client.Refund(ctx, r)
	wantCode(t, err, cloudpay.CodeWeChatTimeout, wechat.Unknown)
	if _, ok := alipay.ErrorOf(err); ok {
		t.Errorf("a timeout carries an Alipay refusal: %v", err)
	}

	q, err := w.client.QueryRefund(ctx, o.OutTradeNo, "R1")
	if err != nil || !q.Succeeded || q.RefundFen != 500 {
		t.Fatalf("QueryRefund after the timeout = %+v, %v", q, err)
	}
	res, err := w.client.Refund(ctx, r)
	if err != nil || !res.Succeeded {
		t.Fatalf("Refund again = %+v, %v", res, err)
	}
	if refunds := w.sim.Refunds(o.OutTradeNo); len(refunds) != 1 || refunds[0].RefundFen != 500 {
		t.Errorf("the simulator holds %+v, want one refund of 500", refunds)
	}
}

func TestFaultsAreClassified(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fault alipaysim.Fault
		code  cloudpay.Code
		class wechat.CallFailure
		text  string // in the error
	}{
		{"system error", alipaysim.Fault{Method: alipaysim.MethodQuery, Mode: alipaysim.ModeFail, SubCode: "ACQ.SYSTEM_ERROR"},
			cloudpay.CodeWeChatError, wechat.Retryable, "40004 Business Failed: ACQ.SYSTEM_ERROR 系统异常"},
		{"service unavailable", alipaysim.Fault{Method: alipaysim.MethodQuery, Mode: alipaysim.ModeFail, Code: "20000"},
			cloudpay.CodeWeChatError, wechat.Unknown, "20000 Service Currently Unavailable: isp.unknow-error"},
		{"call limited", alipaysim.Fault{Method: alipaysim.MethodQuery, Mode: alipaysim.ModeFail, Code: "40005"},
			cloudpay.CodeWeChatError, wechat.Retryable, "40005"},
		{"seller balance", alipaysim.Fault{Method: alipaysim.MethodRefund, Mode: alipaysim.ModeFail, SubCode: "ACQ.SELLER_BALANCE_NOT_ENOUGH"},
			cloudpay.CodeWeChatError, wechat.Retryable, "ACQ.SELLER_BALANCE_NOT_ENOUGH 卖家余额不足"},
		{"not allowed", alipaysim.Fault{Method: alipaysim.MethodRefund, Mode: alipaysim.ModeFail, SubCode: "ACQ.TRADE_NOT_ALLOW_REFUND"},
			cloudpay.CodeWeChatError, wechat.Final, "ACQ.TRADE_NOT_ALLOW_REFUND"},
		{"invalid parameter", alipaysim.Fault{Method: alipaysim.MethodQuery, Mode: alipaysim.ModeFail, Code: "40002"},
			cloudpay.CodeWeChatError, wechat.Final, "isv.invalid-parameter"},
		{"timeout", alipaysim.Fault{Method: alipaysim.MethodQuery, Mode: alipaysim.ModeTimeout},
			cloudpay.CodeWeChatTimeout, wechat.Unknown, "did not answer in time"},
		{"slow", alipaysim.Fault{Method: alipaysim.MethodRefund, Mode: alipaysim.ModeDelay, DelayMS: 2000},
			cloudpay.CodeWeChatTimeout, wechat.Unknown, "did not answer in time"},
		{"close fails", alipaysim.Fault{Method: alipaysim.MethodClose, Mode: alipaysim.ModeFail, SubCode: "ACQ.SYSTEM_ERROR"},
			cloudpay.CodeWeChatError, wechat.Retryable, "ACQ.SYSTEM_ERROR"},
		{"refund query fails", alipaysim.Fault{Method: alipaysim.MethodRefundQuery, Mode: alipaysim.ModeFail, SubCode: "ACQ.SYSTEM_ERROR"},
			cloudpay.CodeWeChatError, wechat.Retryable, "ACQ.SYSTEM_ERROR"},
		{"precreate fails", alipaysim.Fault{Method: alipaysim.MethodPrecreate, Mode: alipaysim.ModeFail, SubCode: "ACQ.SYSTEM_ERROR"},
			cloudpay.CodeWeChatError, wechat.Retryable, "ACQ.SYSTEM_ERROR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, 400*time.Millisecond)
			ctx := t.Context()
			o := order(t, 300)
			w.paid(t, o)
			if err := w.sim.AddFault(tc.fault); err != nil {
				t.Fatal(err)
			}
			var err error
			switch tc.fault.Method {
			case alipaysim.MethodQuery:
				_, err = w.client.Query(ctx, o.OutTradeNo)
			case alipaysim.MethodClose:
				_, err = w.client.Close(ctx, o.OutTradeNo)
			case alipaysim.MethodRefund:
				_, err = w.client.Refund(ctx, alipay.Refund{OutTradeNo: o.OutTradeNo, OutRequestNo: "R1", AmountFen: 100})
			case alipaysim.MethodRefundQuery:
				_, err = w.client.QueryRefund(ctx, o.OutTradeNo, "R1")
			case alipaysim.MethodPrecreate:
				o.OutTradeNo += "p"
				_, err = w.client.Precreate(ctx, o)
			}
			if err == nil {
				t.Fatal("no error")
			}
			wantCode(t, err, tc.code, tc.class)
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q does not say %q", err, tc.text)
			}
			if f := alipay.FailureOf(err); f == nil || f.Code == "" {
				t.Errorf("FailureOf = %+v", f)
			}
		})
	}
}

func TestNotifications(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 5*time.Second)
	ctx := t.Context()
	o := order(t, 1230)
	w.paid(t, o)
	st, _ := w.sim.Trade(o.OutTradeNo)

	var form url.Values
	select {
	case form = <-w.notes:
	case <-time.After(5 * time.Second):
		t.Fatal("no notification arrived")
	}
	n, err := w.client.ParseNotification(form)
	if err != nil {
		t.Fatalf("the simulator's notification was refused: %v", err)
	}
	want := alipay.Notification{
		NotifyID: st.NotifyID, OutTradeNo: o.OutTradeNo, TradeNo: st.TradeNo, AppID: alipaysim.DevAppID,
		SellerID: alipaysim.DevSellerID, Status: alipay.TradeSuccess, TotalFen: 1230, BuyerID: alipaysim.DevBuyerID,
		PaidAt: st.PaidAt.UTC().Truncate(time.Second),
	}
	if n != want {
		t.Errorf("ParseNotification = %+v, want %+v", n, want)
	}
	// A redelivery is the same notification.
	if _, err := w.sim.Notify(ctx, o.OutTradeNo); err != nil {
		t.Fatal(err)
	}
	if again, err := w.client.ParseNotification(<-w.notes); err != nil || again != want {
		t.Errorf("redelivery = %+v, %v", again, err)
	}

	// The simulator's forgeries, as they arrive.
	for _, tc := range []struct {
		kind string
		code cloudpay.Code
	}{
		{alipaysim.ForgeBadSignature, cloudpay.CodeBadSignature},
		{alipaysim.ForgeWrongApp, cloudpay.CodeOtherMerchant},
		{alipaysim.ForgeWrongSeller, cloudpay.CodeOtherMerchant},
	} {
		if _, err := w.sim.Forge(ctx, alipaysim.ForgeRequest{Kind: tc.kind, OutTradeNo: o.OutTradeNo}); err != nil {
			t.Fatal(err)
		}
		forged := <-w.notes
		n, err := w.client.ParseNotification(forged)
		if cloudpay.ErrorCode(err) != tc.code || n != (alipay.Notification{}) {
			t.Errorf("%s: ParseNotification = %+v, %v; want %s and nothing else", tc.kind, n, err, tc.code)
		}
	}

	// Changes to the genuine form.
	alipayKey, err := alipaysim.ParsePrivateKeyPEM(alipaysim.DevAlipayPrivateKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change func(url.Values)
		code   cloudpay.Code
	}{
		{"amount changed", func(v url.Values) { v.Set("total_amount", "0.01") }, cloudpay.CodeBadSignature},
		{"status changed", func(v url.Values) { v.Set("trade_status", "TRADE_FINISHED") }, cloudpay.CodeBadSignature},
		{"field added", func(v url.Values) { v.Set("refund_fee", "12.30") }, cloudpay.CodeBadSignature},
		{"field removed", func(v url.Values) { v.Del("gmt_payment") }, cloudpay.CodeBadSignature},
		{"sign removed", func(v url.Values) { v.Del("sign") }, cloudpay.CodeBadSignature},
		{"sign garbled", func(v url.Values) { v.Set("sign", "not base64!") }, cloudpay.CodeBadSignature},
		{"sign_type RSA", func(v url.Values) { v.Set("sign_type", "RSA") }, cloudpay.CodeBadSignature},
		{"a parameter twice", func(v url.Values) { v.Add("out_trade_no", "Tsomething_else") }, cloudpay.CodeBadSignature},
		{"a parameter twice, signed by Alipay", func(v url.Values) {
			v["out_trade_no"] = []string{"Tsomething_else", v.Get("out_trade_no")}
			resign(t, alipayKey, v)
		}, cloudpay.CodeBadSignature},
		{"another app, signed by Alipay", func(v url.Values) { v.Set("app_id", "2021000000000002"); resign(t, alipayKey, v) }, cloudpay.CodeOtherMerchant},
		{"another seller, signed by Alipay", func(v url.Values) { v.Set("seller_id", "2088000000000099"); resign(t, alipayKey, v) }, cloudpay.CodeOtherMerchant},
		{"unknown status, signed by Alipay", func(v url.Values) { v.Set("trade_status", "TRADE_PENDING"); resign(t, alipayKey, v) }, cloudpay.CodeInvalidField},
		{"amount with one decimal, signed by Alipay", func(v url.Values) { v.Set("total_amount", "12.3"); resign(t, alipayKey, v) }, cloudpay.CodeInvalidField},
		{"another notification type, signed by Alipay", func(v url.Values) { v.Set("notify_type", "fund_auth_freeze"); resign(t, alipayKey, v) }, cloudpay.CodeInvalidField},
		{"a stranger's certificate serial number", func(v url.Values) { v.Set("alipay_cert_sn", "0123456789abcdef") }, ""},
		{"empty form", func(v url.Values) { clear(v) }, cloudpay.CodeBadSignature},
	} {
		v := maps.Clone(form)
		for k, vs := range v {
			v[k] = slices.Clone(vs)
		}
		tc.change(v)
		n, err := w.client.ParseNotification(v)
		if tc.code == "" {
			if err != nil || n != want {
				t.Errorf("%s: ParseNotification = %+v, %v; want it accepted", tc.name, n, err)
			}
			continue
		}
		if cloudpay.ErrorCode(err) != tc.code || n != (alipay.Notification{}) {
			t.Errorf("%s: ParseNotification = %+v, %v; want %s and nothing else", tc.name, n, err, tc.code)
		}
		var ce *cloudpay.Error
		if !errors.As(err, &ce) {
			t.Errorf("%s: error %v is not a *cloudpay.Error", tc.name, err)
		}
	}
}

// resign signs a notification form as Alipay does: RSA2 over the sorted
// parameters, without sign and sign_type; a repeated parameter is signed
// with each of its values, as the SDK verifies it.
func resign(t *testing.T, key *rsa.PrivateKey, v url.Values) {
	t.Helper()
	keys := slices.Sorted(maps.Keys(v))
	var parts []string
	for _, k := range keys {
		if k != "sign" && k != "sign_type" {
			for _, value := range v[k] {
				parts = append(parts, k+"="+value)
			}
		}
	}
	slices.Sort(parts) // the SDK sorts name=value pairs
	digest := sha256.Sum256([]byte(strings.Join(parts, "&")))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	v.Set("sign", base64.StdEncoding.EncodeToString(sig))
}
