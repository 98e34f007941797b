package wechatpay_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/wechatpay"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// inbox is payment-callback's /callbacks/v3: it parses what WeChat Pay
// notifies and answers as the handler would (204, or 4xx with FAIL).
type inbox struct {
	mu  sync.Mutex
	gw  *wechatpay.Client
	got []received
}

type received struct {
	n   wechatpay.Notification
	err error
}

func (in *inbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	in.mu.Lock()
	gw := in.gw
	in.mu.Unlock()
	n, err := gw.ParseNotification(r)
	in.mu.Lock()
	in.got = append(in.got, received{n, err})
	in.mu.Unlock()
	switch {
	case cloudpay.ErrorCode(err) == cloudpay.CodeBadSignature:
		w.WriteHeader(http.StatusUnauthorized)
	case err != nil:
		w.WriteHeader(http.StatusBadRequest)
	default:
		w.WriteHeader(http.StatusNoContent)
		return
	}
	_, _ = io.WriteString(w, `{"code":"FAIL","message":"rejected"}`)
}

func (in *inbox) last(t *testing.T) received {
	t.Helper()
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.got) == 0 {
		t.Fatal("no notification arrived")
	}
	return in.got[len(in.got)-1]
}

func (in *inbox) count() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.got)
}

type stack struct {
	sim   *wechatsim.Simulator
	gw    *wechatpay.Client
	inbox *inbox
}

// prefix is where the simulator is mounted: the SDK's calls only reach it
// if the transport puts the prefix in front of the path it signed.
const prefix = "/some/prefix"

// newStack starts the simulator behind prefix and a notification inbox,
// and builds the channel against them with the development credentials.
func newStack(t *testing.T, simCfg wechatsim.Config, timeout time.Duration) *stack {
	t.Helper()
	return newStackWith(t, simCfg, timeout, nil, nil)
}

// newStackWith is newStack with changes to the channel's configuration
// and an HTTP client of the test's (nil for a plain one).
func newStackWith(t *testing.T, simCfg wechatsim.Config, timeout time.Duration, change func(*wechatpay.Config), hc *http.Client) *stack {
	t.Helper()
	if simCfg.RefundSettleDelay == 0 {
		simCfg.RefundSettleDelay = -1 // the test settles refunds
	}
	sim := wechatsim.New(simCfg)
	t.Cleanup(sim.Close)
	mux := http.NewServeMux()
	mux.Handle(prefix+"/", http.StripPrefix(prefix, sim.Handler()))
	simSrv := httptest.NewServer(mux)
	t.Cleanup(simSrv.Close)
	in := &inbox{}
	inSrv := httptest.NewServer(in)
	t.Cleanup(inSrv.Close)

	cfg := devConfig(simSrv.URL+prefix, inSrv.URL+"/callbacks/v3")
	cfg.Timeout = timeout
	if change != nil {
		change(&cfg)
	}
	if hc == nil {
		hc = &http.Client{}
	}
	gw, err := wechatpay.New(context.Background(), cfg, hc)
	if err != nil {
		t.Fatal(err)
	}
	in.mu.Lock()
	in.gw = gw
	in.mu.Unlock()
	return &stack{sim: sim, gw: gw, inbox: in}
}

func order(no string) cloudpay.Order {
	now := time.Now()
	return cloudpay.Order{OutTradeNo: no, OpenID: "oUser0001", AmountFen: 100, Description: "一杯咖啡", Attach: "table=7",
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
}

func (s *stack) prepay(t *testing.T, no string) (string, wechat.PaymentParams) {
	t.Helper()
	id, params, err := s.gw.Prepay(context.Background(), wechat.PrepayRequest{Order: order(no), ClientIP: "203.0.113.7"})
	if err != nil {
		t.Fatal(err)
	}
	return id, params
}

func (s *stack) paid(t *testing.T, no string) wechatsim.PayResult {
	t.Helper()
	s.prepay(t, no)
	res, err := s.sim.Pay(context.Background(), no)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func lastCall(t *testing.T, sim *wechatsim.Simulator, api string) (wechatsim.Call, map[string]any) {
	t.Helper()
	calls := sim.Calls(api)
	if len(calls) == 0 {
		t.Fatalf("no %s call reached the simulator", api)
	}
	c := calls[len(calls)-1]
	var body map[string]any
	if len(c.Body) > 0 && string(c.Body) != `""` {
		if err := json.Unmarshal(c.Body, &body); err != nil {
			t.Fatalf("%s body %s: %v", api, c.Body, err)
		}
	}
	return c, body
}

func TestPrepayReturnsAPaymentSignedWithTheMerchantKey(t *testing.T) {
	s := newStack(t, wechatsim.Config{}, 5*time.Second)
	o := order("V3PAY001")
	prepayID, p, err := s.gw.Prepay(context.Background(), wechat.PrepayRequest{Order: o, ClientIP: "203.0.113.7"})
	if err != nil {
		t.Fatal(err)
	}
	if prepayID == "" || p.Package != "prepay_id="+prepayID || p.SignType != "RSA" || p.AppID != wechatsim.DefaultAppID || p.NonceStr == "" {
		t.Fatalf("prepay %q params %+v", prepayID, p)
	}
	if d := time.Since(time.Unix(mustInt(t, p.TimeStamp), 0)); d < -time.Minute || d > time.Minute {
		t.Fatalf("timeStamp %s is not now", p.TimeStamp)
	}
	sig, err := base64.StdEncoding.DecodeString(p.PaySign)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(p.AppID + "\n" + p.TimeStamp + "\n" + p.NonceStr + "\n" + p.Package + "\n"))
	if err := rsa.VerifyPKCS1v15(merchantPublicKey(t), crypto.SHA256, sum[:], sig); err != nil {
		t.Fatalf("paySign does not verify with the merchant public key: %v", err)
	}

	call, body := lastCall(t, s.sim, "unifiedorder")
	if call.Path != "/v3/pay/transactions/jsapi" {
		t.Fatalf("path at WeChat %q", call.Path)
	}
	expire, _ := time.Parse(time.RFC3339, body["time_expire"].(string))
	if body["appid"] != wechatsim.DefaultAppID || body["mchid"] != wechatsim.DevMchID || body["description"] != "一杯咖啡" ||
		body["out_trade_no"] != "V3PAY001" || body["attach"] != "table=7" || !strings.HasSuffix(body["notify_url"].(string), "/callbacks/v3") ||
		!expire.Equal(o.ExpiresAt.Truncate(time.Second)) || !strings.HasSuffix(body["time_expire"].(string), "+08:00") {
		t.Fatalf("jsapi request %v", body)
	}
	if amount := body["amount"].(map[string]any); amount["total"] != 100.0 || amount["currency"] != "CNY" {
		t.Fatalf("amount %v", amount)
	}
	if payer := body["payer"].(map[string]any); payer["openid"] != "oUser0001" {
		t.Fatalf("payer %v", payer)
	}
	if v, ok := s.sim.Order("V3PAY001"); !ok || v.TradeState != "NOTPAY" || v.PrepayID != prepayID {
		t.Fatalf("at WeChat: %+v", v)
	}
}

func TestQueryAndCloseOrders(t *testing.T) {
	s := newStack(t, wechatsim.Config{}, 5*time.Second)
	ctx := context.Background()

	tx, err := s.gw.QueryOrder(ctx, "NEVER0001")
	if err != nil || tx.State != wechat.TradeNotExist || tx.OutTradeNo != "NEVER0001" {
		t.Fatalf("unknown order: %+v %v", tx, err)
	}
	s.prepay(t, "V3QRY001")
	tx, err = s.gw.QueryOrder(ctx, "V3QRY001")
	if err != nil || tx.State != wechat.TradeNotPay || tx.TotalFen != 100 || tx.MchID != wechatsim.DevMchID || tx.TransactionID != "" || !tx.PaidAt.IsZero() {
		t.Fatalf("unpaid: %+v %v", tx, err)
	}
	pay, err := s.sim.Pay(ctx, "V3QRY001")
	if err != nil {
		t.Fatal(err)
	}
	tx, err = s.gw.QueryOrder(ctx, "V3QRY001")
	if err != nil || tx.State != wechat.TradeSuccess || tx.TransactionID != pay.TransactionID || tx.TotalFen != 100 ||
		tx.MchID != wechatsim.DevMchID || tx.OpenID != "oUser0001" || time.Since(tx.PaidAt).Abs() > time.Minute || tx.PaidAt.Location() != time.UTC {
		t.Fatalf("paid: %+v %v", tx, err)
	}
	if _, body := lastCall(t, s.sim, "queryorder"); body != nil {
		t.Fatalf("a GET carried a body: %v", body)
	}
	if c, _ := lastCall(t, s.sim, "queryorder"); c.Path != "/v3/pay/transactions/out-trade-no/V3QRY001?mchid="+wechatsim.DevMchID {
		t.Fatalf("query path %q", c.Path)
	}

	if err := s.gw.CloseOrder(ctx, "V3QRY001"); cloudpay.ErrorCode(err) != cloudpay.CodeOrderPaid {
		t.Fatalf("close a paid order: %v", err)
	}
	s.prepay(t, "V3QRY002")
	for range 2 { // closing a closed order is done, not an error
		if err := s.gw.CloseOrder(ctx, "V3QRY002"); err != nil {
			t.Fatalf("close: %v", err)
		}
	}
	if tx, err := s.gw.QueryOrder(ctx, "V3QRY002"); err != nil || tx.State != wechat.TradeClosed {
		t.Fatalf("closed: %+v %v", tx, err)
	}
	if _, body := lastCall(t, s.sim, "closeorder"); body["mchid"] != wechatsim.DevMchID {
		t.Fatalf("close body %v", body)
	}
}

func TestRefundAndQueryRefund(t *testing.T) {
	s := newStack(t, wechatsim.Config{}, 5*time.Second)
	ctx := context.Background()
	s.paid(t, "V3REF001")

	res, err := s.gw.Refund(ctx, wechat.RefundRequest{OutTradeNo: "V3REF001", OutRefundNo: "V3REF001-1", TotalFen: 100, RefundFen: 40, Reason: "坏了"})
	if err != nil {
		t.Fatal(err)
	}
	if res.State != wechat.RefundProcessing || res.RefundID == "" || res.RefundFen != 40 || res.TotalFen != 100 ||
		res.OutTradeNo != "V3REF001" || res.OutRefundNo != "V3REF001-1" || res.MchID != wechatsim.DevMchID {
		t.Fatalf("accepted: %+v", res)
	}
	_, body := lastCall(t, s.sim, "refund")
	amount := body["amount"].(map[string]any)
	if body["reason"] != "坏了" || body["out_trade_no"] != "V3REF001" || body["out_refund_no"] != "V3REF001-1" ||
		!strings.HasSuffix(body["notify_url"].(string), "/callbacks/v3") ||
		amount["refund"] != 40.0 || amount["total"] != 100.0 || amount["currency"] != "CNY" {
		t.Fatalf("refund request %v", body)
	}

	q, err := s.gw.QueryRefund(ctx, "V3REF001-1")
	if err != nil || q.State != wechat.RefundProcessing || q.RefundID != res.RefundID || q.RefundFen != 40 || !q.SucceededAt.IsZero() {
		t.Fatalf("processing: %+v %v", q, err)
	}
	if _, err := s.sim.SettleRefund(ctx, "V3REF001-1", "SUCCESS"); err != nil {
		t.Fatal(err)
	}
	q, err = s.gw.QueryRefund(ctx, "V3REF001-1")
	if err != nil || q.State != wechat.RefundSuccess || q.Account == "" || q.OutTradeNo != "V3REF001" ||
		time.Since(q.SucceededAt).Abs() > time.Minute || q.SucceededAt.Location() != time.UTC {
		t.Fatalf("succeeded: %+v %v", q, err)
	}

	// No reason: the field is left out rather than sent empty.
	if _, err := s.gw.Refund(ctx, wechat.RefundRequest{OutTradeNo: "V3REF001", OutRefundNo: "V3REF001-2", TotalFen: 100, RefundFen: 10}); err != nil {
		t.Fatal(err)
	}
	if _, body := lastCall(t, s.sim, "refund"); body["reason"] != nil {
		t.Fatalf("empty reason sent: %v", body)
	}
	if c, _ := lastCall(t, s.sim, "queryrefund"); c.Path != "/v3/refund/domestic/refunds/V3REF001-1" {
		t.Fatalf("query path %q", c.Path)
	}

	q, err = s.gw.QueryRefund(ctx, "NEVER-R1")
	if err != nil || q.State != wechat.RefundNotExist || q.OutRefundNo != "NEVER-R1" {
		t.Fatalf("unknown refund: %+v %v", q, err)
	}
}

// A fail fault makes WeChat Pay answer {"code":…} with its HTTP status; the
// code reaches the use cases in a WeChatError, and ORDERPAID/ORDER_CLOSED
// become the domain's codes.
func TestRefusalsCarryWeChatsCodeAndStatus(t *testing.T) {
	s := newStack(t, wechatsim.Config{}, 5*time.Second)
	ctx := context.Background()
	s.paid(t, "V3ERR001")
	s.prepay(t, "V3ERR002")
	calls := map[string]func() error{
		"unifiedorder": func() error {
			_, _, err := s.gw.Prepay(ctx, wechat.PrepayRequest{Order: order("V3ERR002"), ClientIP: "203.0.113.7"})
			return err
		},
		"queryorder":  func() error { _, err := s.gw.QueryOrder(ctx, "V3ERR001"); return err },
		"closeorder":  func() error { return s.gw.CloseOrder(ctx, "V3ERR002") },
		"queryrefund": func() error { _, err := s.gw.QueryRefund(ctx, "V3ERR001-1"); return err },
		"refund": func() error {
			_, err := s.gw.Refund(ctx, wechat.RefundRequest{OutTradeNo: "V3ERR001", OutRefundNo: "V3ERR001-1", TotalFen: 100, RefundFen: 1})
			return err
		},
	}
	for _, tc := range []struct {
		api, code string
		status    int
		want      cloudpay.Code
		wantCode  string
	}{
		{"unifiedorder", "PARAM_ERROR", 400, cloudpay.CodeWeChatError, "PARAM_ERROR"},
		{"unifiedorder", "ORDER_CLOSED", 400, cloudpay.CodeOrderClosed, "ORDER_CLOSED"},
		{"queryorder", "SYSTEM_ERROR", 500, cloudpay.CodeWeChatError, "SYSTEM_ERROR"},
		{"closeorder", "ORDERPAID", 400, cloudpay.CodeOrderPaid, "ORDERPAID"},
		{"refund", "NOT_ENOUGH", 403, cloudpay.CodeWeChatError, "NOT_ENOUGH"},
		{"refund", "FREQUENCY_LIMITED", 429, cloudpay.CodeWeChatError, "FREQUENCY_LIMITED"},
		{"refund", "503", 503, cloudpay.CodeWeChatError, "SYSTEM_ERROR"},
		{"queryrefund", "SIGN_ERROR", 401, cloudpay.CodeWeChatError, "SIGN_ERROR"},
	} {
		t.Run(tc.api+" "+tc.code, func(t *testing.T) {
			if err := s.sim.AddFault(wechatsim.Fault{API: tc.api, Mode: wechatsim.ModeFail, Count: 1, Code: tc.code}); err != nil {
				t.Fatal(err)
			}
			err := calls[tc.api]()
			if got := cloudpay.ErrorCode(err); got != tc.want {
				t.Fatalf("code %s (%v), want %s", got, err, tc.want)
			}
			we, ok := wechat.ErrorOf(err)
			if !ok || we.Code != tc.wantCode || we.HTTPStatus != tc.status || we.Message != "simulated fault" {
				t.Fatalf("WeChatError %+v (found %v), want %s HTTP %d", we, ok, tc.wantCode, tc.status)
			}
			var de *cloudpay.Error
			if !errors.As(err, &de) || de.Message != "WeChat Pay refused the request: "+tc.wantCode {
				t.Fatalf("message %q", de.Message)
			}
		})
	}
	if _, ok := s.sim.Refund("V3ERR001-1"); ok {
		t.Fatal("a refused refund was made")
	}
}

// A call WeChat Pay does not answer in time may have taken effect: it is
// WECHAT_TIMEOUT, never a plain failure.
func TestNoAnswerInTime(t *testing.T) {
	s := newStack(t, wechatsim.Config{}, 300*time.Millisecond)
	ctx := context.Background()
	s.paid(t, "V3TMO001")
	if err := s.sim.AddFault(wechatsim.Fault{API: "refund", Mode: wechatsim.ModeTimeout, Count: 1}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := s.gw.Refund(ctx, wechat.RefundRequest{OutTradeNo: "V3TMO001", OutRefundNo: "V3TMO001-1", TotalFen: 100, RefundFen: 5})
	if cloudpay.ErrorCode(err) != cloudpay.CodeWeChatTimeout {
		t.Fatalf("err = %v, want WECHAT_TIMEOUT", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the call took %s: not bounded by the timeout", d)
	}
	if _, ok := s.sim.Refund("V3TMO001-1"); !ok {
		t.Fatal("the unanswered refund is not at WeChat")
	}
	if q, err := s.gw.QueryRefund(ctx, "V3TMO001-1"); err != nil || q.State != wechat.RefundProcessing {
		t.Fatalf("query after the timeout: %+v %v", q, err)
	}

	if err := s.sim.AddFault(wechatsim.Fault{API: "queryorder", Mode: wechatsim.ModeTimeout, Count: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.gw.QueryOrder(ctx, "V3TMO001"); cloudpay.ErrorCode(err) != cloudpay.CodeWeChatTimeout {
		t.Fatalf("query: err = %v, want WECHAT_TIMEOUT", err)
	}
}

func TestUnreachableIsNotATimeout(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	gw, err := wechatpay.New(context.Background(), devConfig(url, "https://pay.example.com/callbacks/v3"), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = gw.QueryOrder(context.Background(), "V3NET001")
	if cloudpay.ErrorCode(err) != cloudpay.CodeWeChatError || !strings.Contains(err.Error(), "could not be reached") {
		t.Fatalf("err = %v, want WECHAT_ERROR: could not be reached", err)
	}
	if _, ok := wechat.ErrorOf(err); ok {
		t.Fatal("no answer is not WeChat's refusal")
	}
}

// An answer signed with a key that is not the configured WeChat Pay public
// key is not believed, whatever it says.
func TestAnswerWithAForeignSignatureIsRefused(t *testing.T) {
	stranger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s := newStack(t, wechatsim.Config{PlatformKey: stranger}, 5*time.Second)
	ctx := context.Background()
	// In this order: the query finds the order, so its answer is a 2xx,
	// whose signature the SDK checks (it does not check error answers).
	prepay := func() error {
		_, _, err := s.gw.Prepay(ctx, wechat.PrepayRequest{Order: order("V3SIG001"), ClientIP: "203.0.113.7"})
		return err
	}
	query := func() error { _, err := s.gw.QueryOrder(ctx, "V3SIG001"); return err }
	for i, call := range []func() error{prepay, query} {
		err := call()
		if cloudpay.ErrorCode(err) != cloudpay.CodeWeChatError || !strings.Contains(err.Error(), "failed signature verification") {
			t.Errorf("call %d: err = %v, want WECHAT_ERROR failing signature verification", i, err)
		}
	}
	// The request itself was genuine: WeChat made the order.
	if _, ok := s.sim.Order("V3SIG001"); !ok {
		t.Fatal("the prepay did not reach WeChat")
	}
}

func TestNotificationsFromWeChat(t *testing.T) {
	s := newStack(t, wechatsim.Config{}, 5*time.Second)
	ctx := context.Background()

	pay := s.paid(t, "V3NTF001")
	if !pay.Callback.OK || pay.Callback.Status != http.StatusNoContent {
		t.Fatalf("TRANSACTION.SUCCESS delivery %+v", pay.Callback)
	}
	got := s.inbox.last(t)
	if got.err != nil {
		t.Fatal(got.err)
	}
	n := got.n
	if n.EventType != "TRANSACTION.SUCCESS" || n.ID == "" || n.Transaction == nil || n.Refund != nil || n.Resource != nil {
		t.Fatalf("notification %+v", n)
	}
	tx := *n.Transaction
	if tx.OutTradeNo != "V3NTF001" || tx.TransactionID != pay.TransactionID || tx.State != wechat.TradeSuccess || tx.TotalFen != 100 ||
		tx.MchID != wechatsim.DevMchID || tx.OpenID != "oUser0001" || time.Since(tx.PaidAt).Abs() > time.Minute {
		t.Fatalf("transaction %+v", tx)
	}

	for i, state := range []string{"SUCCESS", "CLOSED", "ABNORMAL"} {
		no := "V3NTF001-" + state
		refund, err := s.gw.Refund(ctx, wechat.RefundRequest{OutTradeNo: "V3NTF001", OutRefundNo: no, TotalFen: 100, RefundFen: cloudpay.Fen(10 + i)})
		if err != nil {
			t.Fatal(err)
		}
		v, err := s.sim.SettleRefund(ctx, no, state)
		if err != nil {
			t.Fatal(err)
		}
		if v.Callback == nil || !v.Callback.OK {
			t.Fatalf("REFUND.%s delivery %+v", state, v.Callback)
		}
		got := s.inbox.last(t)
		if got.err != nil {
			t.Fatal(got.err)
		}
		if got.n.EventType != "REFUND."+state || got.n.Refund == nil || got.n.Transaction != nil {
			t.Fatalf("notification %+v", got.n)
		}
		r := *got.n.Refund
		if r.OutRefundNo != no || r.OutTradeNo != "V3NTF001" || r.RefundID != refund.RefundID || string(r.State) != state ||
			r.RefundFen != cloudpay.Fen(10+i) || r.TotalFen != 100 || r.MchID != wechatsim.DevMchID || r.Account == "" ||
			(state == "SUCCESS") == r.SucceededAt.IsZero() {
			t.Fatalf("refund %+v", r)
		}
	}
}

func TestForgedNotificationsAreRefused(t *testing.T) {
	s := newStack(t, wechatsim.Config{}, 5*time.Second)
	ctx := context.Background()
	s.prepay(t, "V3FRG001") // unpaid: a forgery claims it was paid
	s.paid(t, "V3FRG002")
	if _, err := s.gw.Refund(ctx, wechat.RefundRequest{OutTradeNo: "V3FRG002", OutRefundNo: "V3FRG002-1", TotalFen: 100, RefundFen: 1}); err != nil {
		t.Fatal(err)
	}
	kinds := []string{wechatsim.ForgeBadSignature, wechatsim.ForgeSignTest, wechatsim.ForgeStale, wechatsim.ForgeTampered,
		wechatsim.ForgeUnknownSerial, wechatsim.ForgeBadResource}
	for _, kind := range kinds {
		for _, req := range []wechatsim.ForgeV3Request{
			{Kind: kind, OutTradeNo: "V3FRG001"},
			{Kind: kind, OutRefundNo: "V3FRG002-1"},
		} {
			t.Run(kind+" "+req.OutTradeNo+req.OutRefundNo, func(t *testing.T) {
				before := s.inbox.count()
				d, err := s.sim.ForgeV3(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				if s.inbox.count() != before+1 {
					t.Fatalf("the forgery was not delivered: %+v", d)
				}
				got := s.inbox.last(t)
				if cloudpay.ErrorCode(got.err) != cloudpay.CodeBadSignature {
					t.Fatalf("err = %v, want BAD_SIGNATURE (parsed %+v)", got.err, got.n)
				}
				if d.OK || d.Status != http.StatusUnauthorized {
					t.Fatalf("delivery %+v", d)
				}
				if strings.Contains(got.err.Error(), "V3FRG") {
					t.Fatalf("the error quotes the notification: %v", got.err)
				}
			})
		}
	}
	if v, _ := s.sim.Order("V3FRG001"); v.TradeState != "NOTPAY" {
		t.Fatalf("forgeries changed WeChat: %+v", v)
	}
}

func merchantPublicKey(t *testing.T) *rsa.PublicKey {
	t.Helper()
	return parsePublicKey(t, wechatsim.DevMerchantPublicKeyPEM)
}
