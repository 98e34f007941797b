package wechatsim_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	"github.com/wechatpay-apiv3/wechatpay-go/core/notify"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/jsapi"
	"github.com/wechatpay-apiv3/wechatpay-go/services/refunddomestic"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"

	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

func devKeys(t *testing.T) (*rsa.PrivateKey, *rsa.PublicKey) {
	t.Helper()
	mch, err := utils.LoadPrivateKey(wechatsim.DevMerchantPrivateKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := utils.LoadPublicKey(wechatsim.DevPlatformPublicKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return mch, pub
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// sdkClient is the unmodified SDK in public-key mode; its transport sends
// https://api.mch.weixin.qq.com/v3/... to base + "/sim/v3/..." after the SDK signed it.
func sdkClient(t *testing.T, base string, timeout time.Duration) *core.Client {
	t.Helper()
	return sdkClientWith(t, base, timeout, nil)
}

// sdkClientWith is sdkClient whose transport also applies mutate to each request after
// the SDK signed it.
func sdkClientWith(t *testing.T, base string, timeout time.Duration, mutate func(*http.Request)) *core.Client {
	t.Helper()
	mch, pub := devKeys(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.URL.Scheme, r.URL.Host, r.Host = u.Scheme, u.Host, u.Host
		r.URL.Path = "/sim" + r.URL.Path
		if r.URL.RawPath != "" {
			r.URL.RawPath = "/sim" + r.URL.RawPath
		}
		if mutate != nil {
			mutate(r)
		}
		return http.DefaultTransport.RoundTrip(r)
	})
	c, err := core.NewClient(context.Background(),
		option.WithWechatPayPublicKeyAuthCipher(wechatsim.DevMchID, wechatsim.DevMerchantSerial, mch, wechatsim.DevPublicKeyID, pub),
		option.WithHTTPClient(&http.Client{Transport: rt, Timeout: timeout}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type parsedNotify struct {
	path      string
	err       error
	eventType string
	summary   string
	content   map[string]any
	plaintext string
	header    http.Header
	// resource fields of a notification the SDK accepted
	originalType, associatedData string
}

// notifySink is a merchant's notify endpoint that runs the SDK's notification handler.
type notifySink struct {
	srv      *httptest.Server
	mu       sync.Mutex
	got      []parsedNotify
	statuses []int // replies to the next genuine notifications; then 200
}

func newNotifySink(t *testing.T) *notifySink {
	t.Helper()
	_, pub := devKeys(t)
	h, err := notify.NewRSANotifyHandler(wechatsim.DevAPIv3Key, verifiers.NewSHA256WithRSAPubkeyVerifier(wechatsim.DevPublicKeyID, *pub))
	if err != nil {
		t.Fatal(err)
	}
	s := &notifySink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		content := map[string]any{}
		req, err := h.ParseNotifyRequest(r.Context(), r, &content)
		p := parsedNotify{path: r.URL.Path, err: err, header: r.Header.Clone()}
		if err == nil {
			p.eventType, p.summary, p.content, p.plaintext = req.EventType, req.Summary, content, req.Resource.Plaintext
			p.originalType, p.associatedData = req.Resource.OriginalType, req.Resource.AssociatedData
		}
		s.mu.Lock()
		s.got = append(s.got, p)
		status := http.StatusOK
		if err != nil {
			status = http.StatusUnauthorized
		} else if len(s.statuses) > 0 {
			status, s.statuses = s.statuses[0], s.statuses[1:]
		}
		s.mu.Unlock()
		if status == http.StatusOK || status == http.StatusNoContent {
			w.WriteHeader(status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"code":"FAIL","message":"失败"}`)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *notifySink) received() []parsedNotify {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]parsedNotify{}, s.got...)
}

func (s *notifySink) reply(statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.statuses = statuses
}

func (s *notifySink) url(path string) string { return s.srv.URL + path }

type v3env struct {
	*env
	pre  *httptest.Server // the simulator under /sim/, as functions/local mounts it
	sdk  *core.Client
	sink *notifySink
}

func newV3Env(t *testing.T, mod func(*wechatsim.Config)) *v3env {
	t.Helper()
	e := newEnv(t, func(c *wechatsim.Config) {
		c.RefundSettleDelay = -1
		if mod != nil {
			mod(c)
		}
	})
	mux := http.NewServeMux()
	mux.Handle("/sim/", http.StripPrefix("/sim", e.sim.Handler()))
	pre := httptest.NewServer(mux)
	t.Cleanup(pre.Close)
	return &v3env{env: e, pre: pre, sdk: sdkClient(t, pre.URL, 10*time.Second), sink: newNotifySink(t)}
}

func (e *v3env) prepayReq(no string, total int64) jsapi.PrepayRequest {
	return jsapi.PrepayRequest{
		Appid: core.String(wechatsim.DefaultAppID), Mchid: core.String(wechatsim.DevMchID),
		Description: core.String("Test order"), OutTradeNo: core.String(no), Attach: core.String("a1"),
		NotifyUrl:  core.String(e.sink.url("/notify/pay")),
		TimeExpire: core.Time(prepayExpiry), // the same in a request made again, as WeChat requires
		Amount:     &jsapi.Amount{Total: core.Int64(total), Currency: core.String("CNY")},
		Payer:      &jsapi.Payer{Openid: core.String("oUser1")},
	}
}

func (e *v3env) prepay(t *testing.T, no string) string {
	t.Helper()
	resp, _, err := (&jsapi.JsapiApiService{Client: e.sdk}).PrepayWithRequestPayment(context.Background(), e.prepayReq(no, 100))
	if err != nil {
		t.Fatalf("prepay %s: %v", no, err)
	}
	return *resp.PrepayId
}

func (e *v3env) query(t *testing.T, no string) *payments.Transaction {
	t.Helper()
	tx, _, err := (&jsapi.JsapiApiService{Client: e.sdk}).QueryOrderByOutTradeNo(context.Background(),
		jsapi.QueryOrderByOutTradeNoRequest{OutTradeNo: core.String(no), Mchid: core.String(wechatsim.DevMchID)})
	if err != nil {
		t.Fatalf("query %s: %v", no, err)
	}
	return tx
}

func (e *v3env) refundReq(no, refundNo string, refund int64) refunddomestic.CreateRequest {
	return refunddomestic.CreateRequest{
		OutTradeNo: core.String(no), OutRefundNo: core.String(refundNo), Reason: core.String("test refund"),
		NotifyUrl:    core.String(e.sink.url("/notify/refund")),
		FundsAccount: refunddomestic.REQFUNDSACCOUNT_AVAILABLE.Ptr(),
		Amount:       &refunddomestic.AmountReq{Refund: core.Int64(refund), Total: core.Int64(100), Currency: core.String("CNY")},
	}
}

func (e *v3env) createRefund(t *testing.T, no, refundNo string, refund int64) *refunddomestic.Refund {
	t.Helper()
	r, _, err := (&refunddomestic.RefundsApiService{Client: e.sdk}).Create(context.Background(), e.refundReq(no, refundNo, refund))
	if err != nil {
		t.Fatalf("refund %s: %v", refundNo, err)
	}
	return r
}

func (e *v3env) queryRefund(t *testing.T, refundNo string) *refunddomestic.Refund {
	t.Helper()
	r, _, err := (&refunddomestic.RefundsApiService{Client: e.sdk}).QueryByOutRefundNo(context.Background(),
		refunddomestic.QueryByOutRefundNoRequest{OutRefundNo: core.String(refundNo)})
	if err != nil {
		t.Fatalf("query refund %s: %v", refundNo, err)
	}
	return r
}

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func i64(p *int64) int64 {
	if p == nil {
		return -1
	}
	return *p
}

// The unmodified SDK prepays, queries, closes, refunds and receives notifications.
func TestV3SDKAcceptsTheSimulator(t *testing.T) {
	e := newV3Env(t, nil)
	ctx := context.Background()
	svc := &jsapi.JsapiApiService{Client: e.sdk}

	resp, result, err := svc.PrepayWithRequestPayment(ctx, e.prepayReq("V3ORDER1", 100))
	if err != nil {
		t.Fatalf("PrepayWithRequestPayment: %v", err)
	}
	prepay := str(resp.PrepayId)
	if result.Response.StatusCode != 200 || !strings.HasPrefix(prepay, "wx") || str(resp.Package) != "prepay_id="+prepay ||
		str(resp.SignType) != "RSA" {
		t.Fatalf("prepay %+v", resp)
	}
	o, ok := e.sim.Order("V3ORDER1")
	if !ok || o.Channel != "v3" || o.NotifyURL != e.sink.url("/notify/pay") || o.TotalFee != 100 || o.PrepayID != prepay ||
		o.SubMchID != wechatsim.DevMchID || o.SubOpenID != "oUser1" || o.Body != "Test order" || o.TimeExpire == nil {
		t.Fatalf("order %+v", o)
	}
	t.Run("same request again", func(t *testing.T) {
		if again := e.prepay(t, "V3ORDER1"); again != prepay {
			t.Fatalf("prepay_id %s, want %s", again, prepay)
		}
	})
	t.Run("unpaid order", func(t *testing.T) {
		tx := e.query(t, "V3ORDER1")
		if str(tx.TradeState) != "NOTPAY" || str(tx.TradeStateDesc) == "<nil>" || tx.TransactionId != nil ||
			str(tx.OutTradeNo) != "V3ORDER1" || str(tx.Mchid) != wechatsim.DevMchID || i64(tx.Amount.Total) != 100 {
			t.Fatalf("transaction %+v", tx)
		}
	})

	var txn string
	t.Run("pay sends TRANSACTION.SUCCESS", func(t *testing.T) {
		res, err := e.sim.Pay(ctx, "V3ORDER1")
		if err != nil {
			t.Fatal(err)
		}
		txn = res.TransactionID
		cb := res.Callback
		if !cb.OK || cb.Kind != "v3_notify" || cb.EventType != "TRANSACTION.SUCCESS" || cb.Trigger != "pay" ||
			cb.URL != e.sink.url("/notify/pay") || cb.Headers["Wechatpay-Serial"] != wechatsim.DevPublicKeyID {
			t.Fatalf("delivery %+v", cb)
		}
		got := e.sink.received()
		if len(got) != 1 || got[0].err != nil {
			t.Fatalf("received %+v", got)
		}
		n := got[0]
		if n.eventType != "TRANSACTION.SUCCESS" || n.summary != "支付成功" || n.content["trade_state"] != "SUCCESS" ||
			n.content["transaction_id"] != txn || n.content["out_trade_no"] != "V3ORDER1" {
			t.Fatalf("notification %+v", n)
		}
		var tx payments.Transaction
		if err := json.Unmarshal([]byte(n.plaintext), &tx); err != nil {
			t.Fatal(err)
		}
		if str(tx.Payer.Openid) != "oUser1" || i64(tx.Amount.PayerTotal) != 100 || str(tx.Appid) != wechatsim.DefaultAppID ||
			str(tx.SuccessTime) != "2025-03-01T12:05:06+08:00" || str(tx.Attach) != "a1" || str(tx.TradeType) != "JSAPI" {
			t.Fatalf("content %s", n.plaintext)
		}
		if string(cb.Plaintext) != n.plaintext {
			t.Fatalf("the delivery's plaintext %s differs from %s", cb.Plaintext, n.plaintext)
		}
		if o, _ := e.sim.Order("V3ORDER1"); !o.CallbackAcked {
			t.Fatal("acknowledged notification not recorded")
		}
	})
	t.Run("paid order", func(t *testing.T) {
		tx := e.query(t, "V3ORDER1")
		if str(tx.TradeState) != "SUCCESS" || str(tx.TransactionId) != txn || str(tx.SuccessTime) != "2025-03-01T12:05:06+08:00" ||
			str(tx.Payer.Openid) != "oUser1" || i64(tx.Amount.PayerTotal) != 100 || str(tx.Amount.Currency) != "CNY" ||
			str(tx.BankType) == "<nil>" || str(tx.TradeType) != "JSAPI" {
			t.Fatalf("transaction %+v", tx)
		}
	})

	var refundID string
	t.Run("refund", func(t *testing.T) {
		r := e.createRefund(t, "V3ORDER1", "V3REFUND1", 30)
		refundID = str(r.RefundId)
		if str((*string)(r.Status)) != "PROCESSING" || refundID == "<nil>" || str(r.TransactionId) != txn ||
			str((*string)(r.Channel)) != "ORIGINAL" || str(r.UserReceivedAccount) != "支付用户零钱" ||
			i64(r.Amount.Refund) != 30 || i64(r.Amount.Total) != 100 || i64(r.Amount.PayerRefund) != 30 ||
			r.CreateTime == nil || !r.CreateTime.Equal(e.clock.Now()) || r.SuccessTime != nil ||
			str((*string)(r.FundsAccount)) != "AVAILABLE" {
			t.Fatalf("refund %+v", r)
		}
		again := e.createRefund(t, "V3ORDER1", "V3REFUND1", 30)
		if str(again.RefundId) != refundID {
			t.Fatalf("idempotent retry got %s, want %s", str(again.RefundId), refundID)
		}
		v, _ := e.sim.Refund("V3REFUND1")
		if v.Requests != 2 || v.Channel != "v3" || v.NotifyURL != e.sink.url("/notify/refund") || v.Reason != "test refund" {
			t.Fatalf("refund view %+v", v)
		}
		if q := e.queryRefund(t, "V3REFUND1"); str((*string)(q.Status)) != "PROCESSING" || str(q.RefundId) != refundID {
			t.Fatalf("query %+v", q)
		}
	})
	t.Run("refund succeeds", func(t *testing.T) {
		e.clock.Add(time.Minute)
		v, err := e.sim.SettleRefund(ctx, "V3REFUND1", "SUCCESS")
		if err != nil || !v.Callback.OK || v.Callback.EventType != "REFUND.SUCCESS" {
			t.Fatalf("settle %+v %v", v, err)
		}
		got := e.sink.received()
		n := got[len(got)-1]
		if n.err != nil || n.path != "/notify/refund" || n.eventType != "REFUND.SUCCESS" || n.summary != "退款成功" {
			t.Fatalf("notification %+v", n)
		}
		amount, _ := n.content["amount"].(map[string]any)
		for k, want := range map[string]any{
			"mchid": wechatsim.DevMchID, "transaction_id": txn, "out_trade_no": "V3ORDER1", "refund_id": refundID,
			"out_refund_no": "V3REFUND1", "refund_status": "SUCCESS", "success_time": "2025-03-01T12:06:06+08:00",
			"user_received_account": "支付用户零钱",
		} {
			if n.content[k] != want {
				t.Errorf("content.%s = %v, want %v", k, n.content[k], want)
			}
		}
		if amount["total"] != 100.0 || amount["refund"] != 30.0 || amount["payer_total"] != 100.0 || amount["payer_refund"] != 30.0 {
			t.Errorf("content.amount %v", amount)
		}
		q := e.queryRefund(t, "V3REFUND1")
		if str((*string)(q.Status)) != "SUCCESS" || q.SuccessTime == nil || !q.SuccessTime.Equal(e.clock.Now()) {
			t.Fatalf("query %+v", q)
		}
		if tx := e.query(t, "V3ORDER1"); str(tx.TradeState) != "REFUND" {
			t.Fatalf("trade_state %s", str(tx.TradeState))
		}
	})
	t.Run("close", func(t *testing.T) {
		e.prepay(t, "V3ORDER2")
		result, err := svc.CloseOrder(ctx, jsapi.CloseOrderRequest{OutTradeNo: core.String("V3ORDER2"), Mchid: core.String(wechatsim.DevMchID)})
		if err != nil || result.Response.StatusCode != 204 {
			t.Fatalf("CloseOrder: %v", err)
		}
		if tx := e.query(t, "V3ORDER2"); str(tx.TradeState) != "CLOSED" {
			t.Fatalf("trade_state %s", str(tx.TradeState))
		}
		if _, err := svc.CloseOrder(ctx, jsapi.CloseOrderRequest{OutTradeNo: core.String("V3ORDER2"), Mchid: core.String(wechatsim.DevMchID)}); err != nil {
			t.Fatalf("closing a closed order: %v", err)
		}
	})
	t.Run("query by transaction id", func(t *testing.T) {
		tx, _, err := svc.QueryOrderById(ctx, jsapi.QueryOrderByIdRequest{TransactionId: core.String(txn), Mchid: core.String(wechatsim.DevMchID)})
		if err != nil || str(tx.OutTradeNo) != "V3ORDER1" {
			t.Fatalf("QueryOrderById: %+v %v", tx, err)
		}
	})
	t.Run("calls are logged under the shared api names", func(t *testing.T) {
		calls := e.sim.Calls("queryorder")
		if len(calls) == 0 || !strings.HasPrefix(calls[0].Path, "/v3/pay/transactions/out-trade-no/V3ORDER1?mchid=") {
			t.Fatalf("calls %+v", calls)
		}
		if n := len(e.sim.Calls("refund")); n != 2 {
			t.Fatalf("%d refund calls", n)
		}
	})
}

// apiError asserts that err is an SDK APIError with status and code, whose body the
// simulator signed.
func apiError(t *testing.T, err error, status int, code string) {
	t.Helper()
	var ae *core.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err %v is not an APIError", err)
	}
	if ae.StatusCode != status || ae.Code != code || ae.Message == "" {
		t.Fatalf("got %d %s %q, want %d %s", ae.StatusCode, ae.Code, ae.Message, status, code)
	}
	checkSigned(t, ae.Header, []byte(ae.Body))
}

// checkSigned verifies the Wechatpay-* headers of a response or notification.
func checkSigned(t *testing.T, h http.Header, body []byte) {
	t.Helper()
	_, pub := devKeys(t)
	if h.Get("Wechatpay-Serial") != wechatsim.DevPublicKeyID || h.Get("Wechatpay-Signature-Type") != "WECHATPAY2-SHA256-RSA2048" ||
		h.Get("Request-Id") == "" {
		t.Fatalf("headers %v", h)
	}
	ts, _ := strconv.ParseInt(h.Get("Wechatpay-Timestamp"), 10, 64)
	if d := time.Now().Unix() - ts; d < -5 || d > 5 {
		t.Fatalf("Wechatpay-Timestamp %d is %d s off", ts, d)
	}
	sig, _ := base64.StdEncoding.DecodeString(h.Get("Wechatpay-Signature"))
	sum := sha256.Sum256([]byte(h.Get("Wechatpay-Timestamp") + "\n" + h.Get("Wechatpay-Nonce") + "\n" + string(body) + "\n"))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		t.Fatalf("response signature: %v", err)
	}
}

func TestV3Errors(t *testing.T) {
	e := newV3Env(t, func(c *wechatsim.Config) { c.RefundMinInterval = time.Minute })
	ctx := context.Background()
	svc := &jsapi.JsapiApiService{Client: e.sdk}
	refunds := &refunddomestic.RefundsApiService{Client: e.sdk}
	e.prepay(t, "PAID00")
	_, _ = e.sim.Pay(ctx, "PAID00")
	e.prepay(t, "UNPAID")
	e.prepay(t, "CLOSED")
	_, _ = svc.CloseOrder(ctx, jsapi.CloseOrderRequest{OutTradeNo: core.String("CLOSED"), Mchid: core.String(wechatsim.DevMchID)})
	e.createRefund(t, "PAID00", "FIRST", 10)

	prepay := func(mod func(*jsapi.PrepayRequest)) func() error {
		return func() error {
			req := e.prepayReq("UNPAID", 100)
			mod(&req)
			_, _, err := svc.Prepay(ctx, req)
			return err
		}
	}
	refund := func(no, refundNo string, amount int64, mod func(*refunddomestic.CreateRequest)) func() error {
		return func() error {
			req := e.refundReq(no, refundNo, amount)
			if mod != nil {
				mod(&req)
			}
			_, _, err := refunds.Create(ctx, req)
			return err
		}
	}
	query := func(no, mchid string) func() error {
		return func() error {
			_, _, err := svc.QueryOrderByOutTradeNo(ctx, jsapi.QueryOrderByOutTradeNoRequest{OutTradeNo: core.String(no), Mchid: core.String(mchid)})
			return err
		}
	}
	closeOrder := func(no string) func() error {
		return func() error {
			_, err := svc.CloseOrder(ctx, jsapi.CloseOrderRequest{OutTradeNo: core.String(no), Mchid: core.String(wechatsim.DevMchID)})
			return err
		}
	}
	for _, tt := range []struct {
		name   string
		call   func() error
		status int
		code   string
	}{
		{"prepay paid order", prepay(func(r *jsapi.PrepayRequest) { r.OutTradeNo = core.String("PAID00") }), 400, "ORDERPAID"},
		{"prepay closed order", prepay(func(r *jsapi.PrepayRequest) { r.OutTradeNo = core.String("CLOSED") }), 400, "ORDER_CLOSED"},
		{"prepay other amount", prepay(func(r *jsapi.PrepayRequest) { r.Amount.Total = core.Int64(101) }), 400, "INVALID_REQUEST"},
		{"prepay other payer", prepay(func(r *jsapi.PrepayRequest) { r.Payer.Openid = core.String("oUser2") }), 400, "INVALID_REQUEST"},
		{"prepay other merchant", prepay(func(r *jsapi.PrepayRequest) { r.Mchid = core.String("1999999999") }), 400, "MCH_NOT_EXISTS"},
		{"prepay other app", prepay(func(r *jsapi.PrepayRequest) { r.Appid = core.String("wxother") }), 400, "APPID_MCHID_NOT_MATCH"},
		{"prepay short out_trade_no", prepay(func(r *jsapi.PrepayRequest) { r.OutTradeNo = core.String("AB1") }), 400, "PARAM_ERROR"},
		{"prepay past time_expire", prepay(func(r *jsapi.PrepayRequest) { r.TimeExpire = core.Time(e.clock.Now().Add(-time.Second)) }), 400, "PARAM_ERROR"},
		{"prepay notify_url with a query", prepay(func(r *jsapi.PrepayRequest) { r.NotifyUrl = core.String(e.sink.url("/n?a=1")) }), 400, "PARAM_ERROR"},
		{"prepay zero amount", prepay(func(r *jsapi.PrepayRequest) { r.Amount.Total = core.Int64(0) }), 400, "PARAM_ERROR"},
		{"prepay other currency", prepay(func(r *jsapi.PrepayRequest) { r.Amount.Currency = core.String("USD") }), 400, "PARAM_ERROR"},
		{"query unknown", query("NOSUCH", wechatsim.DevMchID), 404, "ORDER_NOT_EXIST"},
		{"query other merchant", query("PAID00", "1999999999"), 400, "MCH_NOT_EXISTS"},
		{"close paid", closeOrder("PAID00"), 400, "ORDERPAID"},
		{"close unknown", closeOrder("NOSUCH"), 404, "ORDER_NOT_EXIST"},
		{"refund unknown order", refund("NOSUCH", "R1", 10, nil), 404, "RESOURCE_NOT_EXISTS"},
		{"refund unpaid order", refund("UNPAID", "R1", 10, nil), 404, "RESOURCE_NOT_EXISTS"},
		{"refund with another total", refund("PAID00", "R1", 10, func(r *refunddomestic.CreateRequest) { r.Amount.Total = core.Int64(99) }), 400, "INVALID_REQUEST"},
		{"refund over the total", refund("PAID00", "R1", 91, nil), 400, "INVALID_REQUEST"},
		{"same out_refund_no, other amount", refund("PAID00", "FIRST", 11, nil), 400, "INVALID_REQUEST"},
		{"refund too soon after the previous", refund("PAID00", "R1", 10, nil), 429, "FREQUENCY_LIMITED"},
		{"refund bad out_refund_no", refund("PAID00", "R 1", 10, nil), 400, "PARAM_ERROR"},
		{"refund bad funds_account", refund("PAID00", "R1", 10, func(r *refunddomestic.CreateRequest) {
			r.FundsAccount = refunddomestic.ReqFundsAccount("BASIC").Ptr()
		}), 400, "PARAM_ERROR"},
		{"query unknown refund", func() error {
			_, _, err := refunds.QueryByOutRefundNo(ctx, refunddomestic.QueryByOutRefundNoRequest{OutRefundNo: core.String("NOSUCH")})
			return err
		}, 404, "RESOURCE_NOT_EXISTS"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			apiError(t, tt.call(), tt.status, tt.code)
		})
	}
	if n := len(e.sim.Refunds("PAID00")); n != 1 {
		t.Fatalf("%d refunds, want 1", n)
	}
	t.Run("a minute later the refund is accepted", func(t *testing.T) {
		e.clock.Add(time.Minute)
		if err := refund("PAID00", "R1", 10, nil)(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("unknown v3 path", func(t *testing.T) {
		_, err := e.sdk.Get(ctx, "https://api.mch.weixin.qq.com/v3/nowhere")
		apiError(t, err, 404, "NOT_FOUND")
	})
}

// Orders and refunds are one WeChat's, whichever channel created them.
func TestV3CrossChannel(t *testing.T) {
	// One merchant on both channels: the open interface accepts any sub_mch_id here.
	e := newV3Env(t, func(c *wechatsim.Config) { c.SubMchID = "" })
	ctx := context.Background()
	e.create(t, "CHORDER1")
	if tx := e.query(t, "CHORDER1"); str(tx.TradeState) != "NOTPAY" || str(tx.Mchid) != merchant {
		t.Fatalf("v3 query of a Cloud Hosting order: %+v", tx)
	}
	res := e.pay(t, "CHORDER1")
	if cb := res["callback"].(map[string]any); cb["kind"] != "pay_callback" || cb["ok"] != true {
		t.Fatalf("a Cloud Hosting order got %v", cb)
	}
	if len(e.sink.received()) != 0 {
		t.Fatal("a Cloud Hosting order got a v3 notification")
	}
	t.Run("v3 refund of a Cloud Hosting order", func(t *testing.T) {
		r := e.createRefund(t, "CHORDER1", "X-V3", 10)
		if str(r.TransactionId) != res["transaction_id"] {
			t.Fatalf("refund %+v", r)
		}
		v, _ := e.sim.SettleRefund(ctx, "X-V3", "SUCCESS")
		if v.Channel != "v3" || !v.Callback.OK || v.Callback.Kind != "v3_notify" {
			t.Fatalf("refund %+v, callback %+v", v, v.Callback)
		}
		if got := e.sink.received(); len(got) != 1 || got[0].err != nil || got[0].content["out_refund_no"] != "X-V3" {
			t.Fatalf("received %+v", got)
		}
	})
	t.Run("v3 refund without any notify_url", func(t *testing.T) {
		req := e.refundReq("CHORDER1", "X-V3-NOURL", 10)
		req.NotifyUrl = nil
		if _, _, err := (&refunddomestic.RefundsApiService{Client: e.sdk}).Create(ctx, req); err != nil {
			t.Fatal(err)
		}
		v, _ := e.sim.SettleRefund(ctx, "X-V3-NOURL", "SUCCESS")
		if v.Callback.OK || !strings.Contains(v.Callback.Error, "notify_url") {
			t.Fatalf("callback %+v", v.Callback)
		}
	})
	t.Run("Cloud Hosting refund of a v3 order", func(t *testing.T) {
		e.prepay(t, "V3ORDERX")
		_, _ = e.sim.Pay(ctx, "V3ORDERX")
		env := e.refund(t, with(refundReq("V3ORDERX", "X-CH", 10), "sub_mch_id", wechatsim.DevMchID))
		if resultOf(env) != "SUCCESS" {
			t.Fatalf("refund %v", env.Respdata)
		}
		v, _ := e.sim.SettleRefund(ctx, "X-CH", "SUCCESS")
		if v.Channel != "cloudhosting" || !v.Callback.OK || v.Callback.Kind != "refund_callback" {
			t.Fatalf("refund %+v, callback %+v", v, v.Callback)
		}
		if q := e.queryRefund(t, "X-CH"); str((*string)(q.Status)) != "SUCCESS" {
			t.Fatalf("v3 query of a Cloud Hosting refund: %+v", q)
		}
	})
	t.Run("v3 order through the open interface", func(t *testing.T) {
		d := e.api(t, "/_/pay/queryorder", map[string]any{"sub_mch_id": wechatsim.DevMchID, "out_trade_no": "V3ORDERX"}).Respdata
		if d["trade_state"] != "REFUND" {
			t.Fatalf("respdata %v", d)
		}
	})
}

// authParts is what a test signs a raw v3 request with.
type authParts struct {
	scheme, mchid, serial, nonce string
	ts                           int64
	key                          *rsa.PrivateKey
	signURI                      string // "" : the request's
	signBody                     *string
	signature                    string // overrides the computed one
}

func (e *v3env) raw(t *testing.T, method, uri string, body string, mod func(*authParts)) (*http.Response, []byte) {
	t.Helper()
	mch, _ := devKeys(t)
	a := authParts{scheme: "WECHATPAY2-SHA256-RSA2048", mchid: wechatsim.DevMchID, serial: wechatsim.DevMerchantSerial,
		nonce: "n0nce", ts: time.Now().Unix(), key: mch, signURI: uri}
	if mod != nil {
		mod(&a)
	}
	signBody := body
	if a.signBody != nil {
		signBody = *a.signBody
	}
	if a.signature == "" {
		var err error
		a.signature, err = utils.SignSHA256WithRSA(method+"\n"+a.signURI+"\n"+strconv.FormatInt(a.ts, 10)+"\n"+a.nonce+"\n"+signBody+"\n", a.key)
		if err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, e.pre.URL+"/sim"+uri, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if a.scheme != "" {
		req.Header.Set("Authorization", a.scheme+` mchid="`+a.mchid+`",nonce_str="`+a.nonce+`",timestamp="`+
			strconv.FormatInt(a.ts, 10)+`",serial_no="`+a.serial+`",signature="`+a.signature+`"`)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, raw
}

func TestV3RequestSignature(t *testing.T) {
	e := newV3Env(t, nil)
	e.prepay(t, "AUTH01")
	stranger, err := utils.LoadPrivateKey(wechatsim.DevPlatformPrivateKeyPEM) // any key but the merchant's
	if err != nil {
		t.Fatal(err)
	}
	queryURI := "/v3/pay/transactions/out-trade-no/AUTH01?mchid=" + wechatsim.DevMchID
	closeURI := "/v3/pay/transactions/out-trade-no/AUTH01/close"
	closeBody := `{"mchid":"` + wechatsim.DevMchID + `"}`
	other := `{"mchid":"1999999999"}`
	for _, tt := range []struct {
		name         string
		method, uri  string
		body         string
		mod          func(*authParts)
		status       int
		wantCode     string
		msgSubstring string
	}{
		{"valid", "GET", queryURI, "", nil, 200, "", ""},
		{"valid 290 s old", "GET", queryURI, "", func(a *authParts) { a.ts -= 290 }, 200, "", ""},
		{"no Authorization", "GET", queryURI, "", func(a *authParts) { a.scheme = "" }, 401, "SIGN_ERROR", "Authorization"},
		{"other scheme", "GET", queryURI, "", func(a *authParts) { a.scheme = "WECHATPAY2-SHA256-RSA4096" }, 401, "SIGN_ERROR", "Authorization"},
		{"other merchant", "GET", queryURI, "", func(a *authParts) { a.mchid = "1999999999" }, 401, "SIGN_ERROR", "mchid"},
		{"other serial", "GET", queryURI, "", func(a *authParts) { a.serial = "ABC" }, 401, "SIGN_ERROR", "serial"},
		{"signed with another key", "GET", queryURI, "", func(a *authParts) { a.key = stranger }, 401, "SIGN_ERROR", "签名"},
		{"301 s old", "GET", queryURI, "", func(a *authParts) { a.ts -= 301 }, 401, "SIGN_ERROR", "5分钟"},
		{"301 s ahead", "GET", queryURI, "", func(a *authParts) { a.ts += 301 }, 401, "SIGN_ERROR", "5分钟"},
		{"signed without the query", "GET", queryURI, "", func(a *authParts) { a.signURI = "/v3/pay/transactions/out-trade-no/AUTH01" }, 401, "SIGN_ERROR", "签名"},
		// Issue 16: a client given the prefixed base URL signs the whole
		// path it requests (wechatpay-axios-plugin): that is the request's.
		{"signed with the prefix it requested", "GET", queryURI, "", func(a *authParts) { a.signURI = "/sim" + queryURI }, 200, "", ""},
		{"signed with a prefix it did not request", "GET", queryURI, "", func(a *authParts) { a.signURI = "/other" + queryURI }, 401, "SIGN_ERROR", "签名"},
		{"signature not base64", "GET", queryURI, "", func(a *authParts) { a.signature = "!!" }, 401, "SIGN_ERROR", ""},
		{"body changed after signing", "POST", closeURI, other, func(a *authParts) { a.signBody = &closeBody }, 401, "SIGN_ERROR", "签名"},
		{"valid POST", "POST", closeURI, other, nil, 400, "MCH_NOT_EXISTS", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.raw(t, tt.method, tt.uri, tt.body, tt.mod)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d %s, want %d", resp.StatusCode, body, tt.status)
			}
			checkSigned(t, resp.Header, body)
			if tt.wantCode == "" {
				return
			}
			var out struct{ Code, Message string }
			_ = json.Unmarshal(body, &out)
			if out.Code != tt.wantCode || !strings.Contains(out.Message, tt.msgSubstring) {
				t.Fatalf("body %s, want code %s mentioning %q", body, tt.wantCode, tt.msgSubstring)
			}
		})
	}
	t.Run("an unauthenticated request consumes no fault", func(t *testing.T) {
		addFault(t, e.env, map[string]any{"api": "queryorder", "mode": "fail", "count": 1})
		if resp, _ := e.raw(t, "GET", queryURI, "", func(a *authParts) { a.nonce = "x" + a.nonce; a.signature = "AAAA" }); resp.StatusCode != 401 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if resp, _ := e.raw(t, "GET", queryURI, "", nil); resp.StatusCode != 500 {
			t.Fatalf("status %d, want the fault's 500", resp.StatusCode)
		}
	})
	if o, _ := e.sim.Order("AUTH01"); o.TradeState != "NOTPAY" {
		t.Fatalf("an unauthenticated close acted: %s", o.TradeState)
	}
}

func TestV3Notifications(t *testing.T) {
	e := newV3Env(t, func(c *wechatsim.Config) {
		c.RetryDelays = []time.Duration{time.Millisecond, time.Millisecond}
	})
	ctx := context.Background()
	e.prepay(t, "NOTE01")
	e.prepay(t, "NOTE02")
	_, _ = e.sim.Pay(ctx, "NOTE02")
	e.createRefund(t, "NOTE02", "NOTE02-R1", 10)
	e.sink.reply()
	base := len(e.sink.received())

	t.Run("forged notifications are rejected by the SDK", func(t *testing.T) {
		for _, kind := range []string{"bad_signature", "signtest", "stale", "tampered", "unknown_serial", "bad_resource"} {
			for _, target := range []wechatsim.ForgeV3Request{{OutTradeNo: "NOTE01"}, {OutRefundNo: "NOTE02-R1"}} {
				name := kind + " " + target.OutTradeNo + target.OutRefundNo
				t.Run(name, func(t *testing.T) {
					target.Kind = kind
					before := len(e.sink.received())
					d, err := e.sim.ForgeV3(ctx, target)
					if err != nil {
						t.Fatal(err)
					}
					got := e.sink.received()
					if len(got) != before+1 || got[before].err == nil {
						t.Fatalf("the SDK accepted a %s notification: %+v", kind, got[before:])
					}
					if d.OK || d.Status != 401 || !d.Forged || d.ForgeKind != kind || d.Trigger != "forge" || d.Kind != "v3_notify" {
						t.Fatalf("delivery %+v", d)
					}
					h := got[before].header
					switch kind {
					case "signtest":
						if !strings.HasPrefix(h.Get("Wechatpay-Signature"), "WECHATPAY/SIGNTEST/") {
							t.Fatalf("signature %s", h.Get("Wechatpay-Signature"))
						}
					case "stale":
						ts, _ := strconv.ParseInt(h.Get("Wechatpay-Timestamp"), 10, 64)
						if time.Now().Unix()-ts <= 300 {
							t.Fatalf("timestamp %d is not stale", ts)
						}
					case "unknown_serial":
						if s := h.Get("Wechatpay-Serial"); s == wechatsim.DevPublicKeyID || !strings.HasPrefix(s, "PUB_KEY_ID_") {
							t.Fatalf("serial %s", s)
						}
					case "tampered":
						var env map[string]any
						if err := json.Unmarshal(d.Body, &env); err != nil || env["summary"] == "支付成功" || env["summary"] == "退款成功" {
							t.Fatalf("body %s", d.Body)
						}
					}
				})
			}
		}
	})
	t.Run("forged content claims a success", func(t *testing.T) {
		d, err := e.sim.ForgeV3(ctx, wechatsim.ForgeV3Request{Kind: "bad_resource", OutTradeNo: "NOTE01"})
		var c map[string]any
		if err != nil || json.Unmarshal(d.Plaintext, &c) != nil || c["trade_state"] != "SUCCESS" || c["transaction_id"] == "" ||
			d.EventType != "TRANSACTION.SUCCESS" || d.URL != e.sink.url("/notify/pay") {
			t.Fatalf("delivery %+v %v", d, err)
		}
		d, _ = e.sim.ForgeV3(ctx, wechatsim.ForgeV3Request{Kind: "stale", OutRefundNo: "NOTE02-R1", EventType: "REFUND.CLOSED", URL: e.sink.url("/elsewhere")})
		if json.Unmarshal(d.Plaintext, &c) != nil || c["refund_status"] != "SUCCESS" || d.EventType != "REFUND.CLOSED" ||
			d.URL != e.sink.url("/elsewhere") || d.OutRefundNo != "NOTE02-R1" {
			t.Fatalf("delivery %+v", d)
		}
		if o, _ := e.sim.Order("NOTE01"); o.TradeState != "NOTPAY" || o.CallbackAcked {
			t.Fatalf("forgeries changed the order: %+v", o)
		}
		if v, _ := e.sim.Refund("NOTE02-R1"); v.Status != "PROCESSING" {
			t.Fatalf("forgeries changed the refund: %+v", v)
		}
	})
	t.Run("POST /forge with a kind", func(t *testing.T) {
		status, out := e.control(t, "POST", "/forge", map[string]any{"kind": "tampered", "out_trade_no": "NOTE01"})
		if status != 200 || out["forged"] != true || out["forge_kind"] != "tampered" || out["ok"] != false {
			t.Fatalf("%d %v", status, out)
		}
		e.create(t, "CHFORGE")
		for _, tt := range []struct {
			name   string
			body   map[string]any
			status int
			code   string
		}{
			{"unknown kind", map[string]any{"kind": "wrong", "out_trade_no": "NOTE01"}, 400, "INVALID_FIELD: kind"},
			{"unknown order", map[string]any{"kind": "stale", "out_trade_no": "NOPE"}, 404, "ORDER_NOT_FOUND"},
			{"unknown refund", map[string]any{"kind": "stale", "out_refund_no": "NOPE"}, 404, "REFUND_NOT_FOUND"},
			{"no target", map[string]any{"kind": "stale"}, 400, "INVALID_FIELD: out_trade_no"},
			{"no notify_url", map[string]any{"kind": "stale", "out_trade_no": "CHFORGE"}, 400, "INVALID_FIELD: url"},
			{"unknown field", map[string]any{"kind": "stale", "out_trade_no": "NOTE01", "service": "x"}, 400, "INVALID_FIELD: service"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				status, out := e.control(t, "POST", "/forge", tt.body)
				if status != tt.status || !strings.HasPrefix(errorCode(out), tt.code) {
					t.Fatalf("got %d %q", status, errorCode(out))
				}
			})
		}
		status, out = e.control(t, "POST", "/forge", map[string]any{"kind": "stale", "out_trade_no": "CHFORGE", "url": e.sink.url("/x")})
		if status != 200 || out["ok"] != false {
			t.Fatalf("%d %v", status, out)
		}
	})
	t.Run("genuine refund notifications of each state", func(t *testing.T) {
		for _, tt := range []struct {
			state, event, summary string
			successTime           bool
		}{
			{"ABNORMAL", "REFUND.ABNORMAL", "退款异常", false},
			{"CLOSED", "REFUND.CLOSED", "退款关闭", false},
			{"SUCCESS", "REFUND.SUCCESS", "退款成功", true},
		} {
			t.Run(tt.state, func(t *testing.T) {
				d, err := e.sim.NotifyRefund(ctx, "NOTE02-R1", tt.state)
				if err != nil || !d.OK {
					t.Fatalf("delivery %+v %v", d, err)
				}
				got := e.sink.received()
				n := got[len(got)-1]
				_, hasTime := n.content["success_time"]
				if n.err != nil || n.eventType != tt.event || n.summary != tt.summary || n.content["refund_status"] != tt.state || hasTime != tt.successTime {
					t.Fatalf("notification %+v", n)
				}
			})
		}
		status, out := e.control(t, "POST", "/refunds/NOTE02-R1/settle", map[string]any{"status": "CLOSED"})
		if status != 200 || out["status"] != "CLOSED" {
			t.Fatalf("%d %v", status, out)
		}
		got := e.sink.received()
		if n := got[len(got)-1]; n.err != nil || n.eventType != "REFUND.CLOSED" {
			t.Fatalf("notification %+v", n)
		}
	})
	t.Run("replay of a paid order's notification", func(t *testing.T) {
		status, out := e.control(t, "POST", "/notify", map[string]any{"out_trade_no": "NOTE02"})
		got := e.sink.received()
		if status != 200 || out["ok"] != true || got[len(got)-1].err != nil || got[len(got)-1].eventType != "TRANSACTION.SUCCESS" {
			t.Fatalf("%d %v", status, out)
		}
	})
	if got := e.sink.received(); len(got) <= base {
		t.Fatal("nothing received")
	}
}

func TestV3NotificationDelivery(t *testing.T) {
	fast := func(c *wechatsim.Config) {
		c.RetryDelays = []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}
	}
	t.Run("redelivered, signed afresh, until acknowledged", func(t *testing.T) {
		e := newV3Env(t, fast)
		e.prepay(t, "REDEL1")
		e.sink.reply(500, 400)
		res, _ := e.sim.Pay(context.Background(), "REDEL1")
		if res.Callback.OK || res.Callback.Status != 500 {
			t.Fatalf("first delivery %+v", res.Callback)
		}
		eventually(t, "the acknowledged notification", func() bool {
			o, _ := e.sim.Order("REDEL1")
			return o.CallbackAcked
		})
		ds := e.sim.Deliveries("REDEL1")
		if len(ds) != 3 || ds[2].Trigger != "retry" || !ds[2].OK || ds[1].OK {
			t.Fatalf("deliveries %+v", ds)
		}
		if ds[0].Headers["Wechatpay-Nonce"] == ds[1].Headers["Wechatpay-Nonce"] || string(ds[0].Body) != string(ds[2].Body) {
			t.Fatal("a redelivery was not re-signed, or its body changed")
		}
		for _, n := range e.sink.received() {
			if n.err != nil {
				t.Fatalf("a genuine delivery failed to parse: %v", n.err)
			}
		}
	})
	t.Run("the reply status decides", func(t *testing.T) {
		e := newV3Env(t, nil)
		for i, tt := range []struct {
			status int
			ok     bool
		}{{200, true}, {204, true}, {400, false}, {500, false}, {302, false}} {
			no := "JUDGE" + strconv.Itoa(i)
			e.prepay(t, no)
			e.sink.reply(tt.status)
			res, _ := e.sim.Pay(context.Background(), no)
			if res.Callback.OK != tt.ok {
				t.Fatalf("status %d judged ok=%v", tt.status, res.Callback.OK)
			}
		}
	})
	t.Run("drop", func(t *testing.T) {
		e := newV3Env(t, fast)
		addFault(t, e.env, map[string]any{"api": "v3_notify", "mode": "drop", "count": 1})
		e.prepay(t, "DROP01")
		res, _ := e.sim.Pay(context.Background(), "DROP01")
		time.Sleep(20 * time.Millisecond)
		if !res.Callback.Dropped || len(e.sink.received()) != 0 {
			t.Fatalf("delivery %+v", res.Callback)
		}
	})
	t.Run("duplicate", func(t *testing.T) {
		e := newV3Env(t, nil)
		addFault(t, e.env, map[string]any{"api": "v3_notify", "mode": "duplicate", "count": 1})
		e.prepay(t, "DUP001")
		_, _ = e.sim.Pay(context.Background(), "DUP001")
		got := e.sink.received()
		if len(got) != 2 || got[0].err != nil || got[1].err != nil || got[0].content["transaction_id"] != got[1].content["transaction_id"] {
			t.Fatalf("received %+v", got)
		}
	})
	t.Run("forge after jsapi", func(t *testing.T) {
		e := newV3Env(t, nil)
		addFault(t, e.env, map[string]any{"api": "v3_notify", "mode": "forge", "count": 1})
		e.prepay(t, "FORGE1")
		eventually(t, "the forged notification", func() bool { return len(e.sim.Deliveries("FORGE1")) == 1 })
		d := e.sim.Deliveries("FORGE1")[0]
		got := e.sink.received()
		if !d.Forged || d.ForgeKind != "bad_signature" || d.Trigger != "forge_fault" || len(got) != 1 || got[0].err == nil {
			t.Fatalf("delivery %+v, received %+v", d, got)
		}
		if o, _ := e.sim.Order("FORGE1"); o.TradeState != "NOTPAY" {
			t.Fatalf("order %s", o.TradeState)
		}
	})
}

func TestV3Faults(t *testing.T) {
	e := newV3Env(t, nil)
	ctx := context.Background()
	e.prepay(t, "FAULT1")
	_, _ = e.sim.Pay(ctx, "FAULT1")
	refunds := &refunddomestic.RefundsApiService{Client: e.sdk}

	for _, tt := range []struct {
		code   any
		status int
		want   string
	}{
		{nil, 500, "SYSTEM_ERROR"},
		{"SYSTEM_ERROR", 500, "SYSTEM_ERROR"},
		{"FREQUENCY_LIMITED", 429, "FREQUENCY_LIMITED"},
		{"NOT_ENOUGH", 403, "NOT_ENOUGH"},
		{"USER_ACCOUNT_ABNORMAL", 403, "USER_ACCOUNT_ABNORMAL"},
		{"NO_AUTH", 403, "NO_AUTH"},
		{"PARAM_ERROR", 400, "PARAM_ERROR"},
		{"INVALID_REQUEST", 400, "INVALID_REQUEST"},
		{"RESOURCE_NOT_EXISTS", 404, "RESOURCE_NOT_EXISTS"},
		{"SIGN_ERROR", 401, "SIGN_ERROR"},
		{"MCH_NOT_EXISTS", 400, "MCH_NOT_EXISTS"},
		{503, 503, "SYSTEM_ERROR"},
		{40003, 500, "SYSTEM_ERROR"},
	} {
		t.Run("refund fail "+strings.TrimSpace(strings.Trim(jsonString(tt.code), `"`)), func(t *testing.T) {
			f := map[string]any{"api": "refund", "mode": "fail", "count": 1}
			if tt.code != nil {
				f["code"] = tt.code
			}
			addFault(t, e.env, f)
			_, _, err := refunds.Create(ctx, e.refundReq("FAULT1", "FR1", 10))
			apiError(t, err, tt.status, tt.want)
			if _, ok := e.sim.Refund("FR1"); ok {
				t.Fatal("a failed call refunded")
			}
		})
	}
	t.Run("refund timeout refunds without answering", func(t *testing.T) {
		addFault(t, e.env, map[string]any{"api": "refund", "mode": "timeout", "count": 1})
		impatient := sdkClient(t, e.pre.URL, 200*time.Millisecond)
		if _, _, err := (&refunddomestic.RefundsApiService{Client: impatient}).Create(ctx, e.refundReq("FAULT1", "FR2", 10)); err == nil {
			t.Fatal("the call answered")
		}
		v, ok := e.sim.Refund("FR2")
		if !ok || v.Status != "PROCESSING" {
			t.Fatalf("WeChat did not act on the timed-out refund: %+v", v)
		}
		if r := e.createRefund(t, "FAULT1", "FR2", 10); str(r.RefundId) != v.RefundID {
			t.Fatalf("retry got another refund: %s", str(r.RefundId))
		}
	})
	t.Run("queryrefund delay", func(t *testing.T) {
		addFault(t, e.env, map[string]any{"api": "queryrefund", "mode": "delay", "count": 1, "delay_ms": 80})
		start := time.Now()
		e.queryRefund(t, "FR2")
		if time.Since(start) < 80*time.Millisecond {
			t.Fatalf("answered after %v", time.Since(start))
		}
	})
	t.Run("unifiedorder faults apply to jsapi", func(t *testing.T) {
		addFault(t, e.env, map[string]any{"api": "unifiedorder", "mode": "fail", "count": 1, "code": "PARAM_ERROR"})
		_, _, err := (&jsapi.JsapiApiService{Client: e.sdk}).Prepay(ctx, e.prepayReq("FAULT2", 100))
		apiError(t, err, 400, "PARAM_ERROR")
		if _, ok := e.sim.Order("FAULT2"); ok {
			t.Fatal("a failed call created the order")
		}
	})
	t.Run("closeorder timeout with delay_ms answers late", func(t *testing.T) {
		e.prepay(t, "FAULT3")
		addFault(t, e.env, map[string]any{"api": "closeorder", "mode": "timeout", "count": 1, "delay_ms": 100})
		start := time.Now()
		if _, err := (&jsapi.JsapiApiService{Client: e.sdk}).CloseOrder(ctx, jsapi.CloseOrderRequest{OutTradeNo: core.String("FAULT3"), Mchid: core.String(wechatsim.DevMchID)}); err != nil {
			t.Fatal(err)
		}
		if time.Since(start) < 100*time.Millisecond {
			t.Fatalf("answered after %v", time.Since(start))
		}
	})
	t.Run("queryorder fail applies to the v3 query", func(t *testing.T) {
		addFault(t, e.env, map[string]any{"api": "queryorder", "mode": "fail", "count": 1, "code": "NO_AUTH"})
		_, _, err := (&jsapi.JsapiApiService{Client: e.sdk}).QueryOrderByOutTradeNo(ctx,
			jsapi.QueryOrderByOutTradeNoRequest{OutTradeNo: core.String("FAULT1"), Mchid: core.String(wechatsim.DevMchID)})
		apiError(t, err, 403, "NO_AUTH")
	})
	t.Run("the error lists the apis", func(t *testing.T) {
		status, out := e.control(t, "POST", "/faults", map[string]any{"api": "nope", "mode": "fail", "count": 1})
		if status != 400 || !strings.Contains(errorCode(out), "refund_callback") || !strings.Contains(errorCode(out), "v3_notify") {
			t.Fatalf("%d %q", status, errorCode(out))
		}
	})
}

func jsonString(v any) string {
	raw, _ := json.Marshal(v)
	return string(raw)
}

// New rejects an APIv3 key that is not 32 bytes long.
func TestV3Config(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("New accepted a 31-byte APIv3 key")
		}
	}()
	wechatsim.New(wechatsim.Config{APIv3Key: strings.Repeat("k", 31)})
}
