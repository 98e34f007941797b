package wechatsim_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

const merchant = "1900000001"

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type reply struct {
	status int
	body   string
}

// service is the container service that receives pay callbacks.
type service struct {
	srv     *httptest.Server
	mu      sync.Mutex
	replies []reply // used first, in order
	def     reply
	got     []map[string]any
	paths   []string
}

func newService(t *testing.T) *service {
	t.Helper()
	s := &service{def: reply{200, `{"errcode":0,"errmsg":"ok"}`}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		_ = json.Unmarshal(raw, &body)
		s.mu.Lock()
		s.got = append(s.got, body)
		s.paths = append(s.paths, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type"))
		rep := s.def
		if len(s.replies) > 0 {
			rep, s.replies = s.replies[0], s.replies[1:]
		}
		s.mu.Unlock()
		w.WriteHeader(rep.status)
		_, _ = io.WriteString(w, rep.body)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *service) received() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

func (s *service) set(def reply, first ...reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.def, s.replies = def, first
}

type env struct {
	sim   *wechatsim.Simulator
	srv   *httptest.Server
	svc   *service
	clock *clock
}

func newEnv(t *testing.T, mod func(*wechatsim.Config)) *env {
	t.Helper()
	svc := newService(t)
	clk := &clock{t: time.Date(2025, 3, 1, 4, 5, 6, 0, time.UTC)}
	cfg := wechatsim.Config{
		SubMchID:    merchant,
		Services:    map[string]string{"payment-callback": svc.srv.URL + "/payment-callback"},
		RetryDelays: []time.Duration{},
		Now:         clk.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	sim := wechatsim.New(cfg)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() {
		sim.Close()
		srv.Close()
	})
	return &env{sim: sim, srv: srv, svc: svc, clock: clk}
}

type envelope struct {
	Errcode  int            `json:"errcode"`
	Errmsg   string         `json:"errmsg"`
	Respdata map[string]any `json:"respdata"`
}

func orderReq(no string) map[string]any {
	return map[string]any{
		"sub_mch_id": merchant, "body": "Test order", "out_trade_no": no, "total_fee": 100,
		"spbill_create_ip": "127.0.0.1", "openid": "oUser1", "env_id": "prod-1",
		"callback_type": 2, "attach": "a1",
		"container": map[string]any{"service": "payment-callback", "path": "/callbacks/pay"},
	}
}

func with(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func rawBody(t *testing.T, body any) []byte {
	t.Helper()
	switch b := body.(type) {
	case string:
		return []byte(b)
	case nil:
		return nil
	}
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func (e *env) api(t *testing.T, path string, body any) envelope {
	t.Helper()
	resp, err := http.Post(e.srv.URL+path, "application/json", bytes.NewReader(rawBody(t, body)))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	var env envelope
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatalf("POST %s: decode: %v", path, err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("POST %s: status %d", path, resp.StatusCode)
	}
	return env
}

func (e *env) control(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+wechatsim.Route(path), bytes.NewReader(rawBody(t, body)))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: body %q is not JSON", method, path, raw)
		}
	}
	return resp.StatusCode, out
}

func (e *env) create(t *testing.T, no string) map[string]any {
	t.Helper()
	env := e.api(t, "/_/pay/unifiedOrder", orderReq(no))
	if env.Errcode != 0 || env.Respdata["result_code"] != "SUCCESS" {
		t.Fatalf("unifiedOrder %s: %+v", no, env)
	}
	return env.Respdata
}

func (e *env) pay(t *testing.T, no string) map[string]any {
	t.Helper()
	status, out := e.control(t, "POST", "/pay", map[string]any{"out_trade_no": no})
	if status != 200 {
		t.Fatalf("pay %s: %d %v", no, status, out)
	}
	return out
}

func resultOf(env envelope) string {
	if env.Errcode != 0 {
		return "errcode"
	}
	if env.Respdata["return_code"] == "FAIL" {
		msg, _ := env.Respdata["return_msg"].(string)
		return "return_code FAIL: " + msg
	}
	if env.Respdata["result_code"] == "SUCCESS" {
		return "SUCCESS"
	}
	code, _ := env.Respdata["err_code"].(string)
	return code
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func errorCode(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	code, _ := e["code"].(string)
	msg, _ := e["message"].(string)
	return code + ": " + msg
}

func TestUnifiedOrderValidation(t *testing.T) {
	e := newEnv(t, nil)
	long := strings.Repeat("x", 129)
	tests := []struct {
		name    string
		req     any
		errcode bool
		code    string
		field   string
	}{
		{"valid with every allowed character", orderReq("Az09_-|*"), false, "SUCCESS", ""},
		{"lower-case unifiedorder accepts the same", orderReq("V2"), false, "SUCCESS", ""},
		{"not JSON", "body=x", true, "", ""},
		{"JSON array", "[1,2]", true, "", ""},
		{"missing sub_mch_id", with(orderReq("V3"), "sub_mch_id", nil), false, "PARAM_ERROR", "sub_mch_id"},
		{"other merchant", with(orderReq("V3"), "sub_mch_id", "1999"), false, unboundResult, ""},
		{"empty body", with(orderReq("V3"), "body", ""), false, "PARAM_ERROR", "body"},
		{"body over 128 bytes", with(orderReq("V3"), "body", long), false, "PARAM_ERROR", "body"},
		{"out_trade_no missing", with(orderReq("V3"), "out_trade_no", nil), false, "PARAM_ERROR", "out_trade_no"},
		{"out_trade_no 33 chars", orderReq(strings.Repeat("1", 33)), false, "PARAM_ERROR", "out_trade_no"},
		{"out_trade_no bad char", orderReq("A#1"), false, "PARAM_ERROR", "out_trade_no"},
		{"total_fee zero", with(orderReq("V3"), "total_fee", 0), false, "PARAM_ERROR", "total_fee"},
		{"total_fee negative", with(orderReq("V3"), "total_fee", -5), false, "PARAM_ERROR", "total_fee"},
		{"total_fee fraction", with(orderReq("V3"), "total_fee", 1.5), false, "PARAM_ERROR", "total_fee"},
		{"total_fee string", with(orderReq("V3"), "total_fee", "100"), false, "PARAM_ERROR", "total_fee"},
		{"spbill_create_ip missing", with(orderReq("V3"), "spbill_create_ip", nil), false, "PARAM_ERROR", "spbill_create_ip"},
		{"spbill_create_ip not an IP", with(orderReq("V3"), "spbill_create_ip", "localhost"), false, "PARAM_ERROR", "spbill_create_ip"},
		{"openid missing", with(orderReq("V3"), "openid", nil), false, "PARAM_ERROR", "openid"},
		{"env_id missing", with(orderReq("V3"), "env_id", nil), false, "PARAM_ERROR", "env_id"},
		{"callback_type 3", with(orderReq("V3"), "callback_type", 3), false, "PARAM_ERROR", "callback_type"},
		{"callback_type missing", with(orderReq("V3"), "callback_type", nil), false, "PARAM_ERROR", "callback_type"},
		{"container missing", with(orderReq("V3"), "container", nil), false, "PARAM_ERROR", "container"},
		{"container.path missing", with(orderReq("V3"), "container", map[string]any{"service": "s"}), false, "PARAM_ERROR", "container.path"},
		{"container.service missing", with(orderReq("V3"), "container", map[string]any{"path": "/"}), false, "PARAM_ERROR", "container.service"},
		{"callback_type 1 without function_name", with(orderReq("V3"), "callback_type", 1), false, "PARAM_ERROR", "function_name"},
		{"callback_type 1 with function_name", with(orderReq("V4"), "callback_type", 1, "function_name", "pay", "container", nil), false, "SUCCESS", ""},
		{"attach over 127 bytes", with(orderReq("V3"), "attach", long), false, "PARAM_ERROR", "attach"},
		{"time_expire malformed", with(orderReq("V3"), "time_expire", "2025-03-01"), false, "PARAM_ERROR", "time_expire"},
		{"time_expire in the past", with(orderReq("V3"), "time_expire", "20250301120506"), false, "PARAM_ERROR", "time_expire"},
		{"time_expire in the future", with(orderReq("V5"), "time_expire", "20250301121506"), false, "SUCCESS", ""},
		{"trade_type NATIVE", with(orderReq("V3"), "trade_type", "NATIVE"), false, "PARAM_ERROR", "trade_type"},
		{"sub_appid of another app", with(orderReq("V3"), "sub_appid", "wxother"), false, "APPID_MCHID_NOT_MATCH", ""},
		{"body not a string", with(orderReq("V3"), "body", 12), false, "PARAM_ERROR", "body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/_/pay/unifiedOrder"
			if strings.HasPrefix(tt.name, "lower-case") {
				path = "/_/pay/unifiedorder"
			}
			env := e.api(t, path, tt.req)
			if tt.errcode {
				if env.Errcode != -1 || env.Respdata != nil || env.Errmsg == "" {
					t.Fatalf("got %+v, want errcode -1 without respdata", env)
				}
				return
			}
			if env.Errcode != 0 || (env.Respdata["return_code"] != "SUCCESS" && tt.code != unboundResult) {
				t.Fatalf("envelope %+v", env)
			}
			if got := resultOf(env); got != tt.code {
				t.Fatalf("result %q (%v), want %q", got, env.Respdata["err_code_des"], tt.code)
			}
			if des, _ := env.Respdata["err_code_des"].(string); tt.field != "" && !strings.Contains(des, tt.field) {
				t.Fatalf("err_code_des %q does not name %q", des, tt.field)
			}
			if tt.code != "SUCCESS" {
				if _, ok := e.sim.Order("V3"); ok {
					t.Fatal("a failed unifiedorder created an order")
				}
			}
		})
	}
	if n := len(e.sim.Calls("unifiedorder")); n != len(tests) {
		t.Fatalf("call log has %d unifiedorder calls, want %d", n, len(tests))
	}
}

func TestUnifiedOrderSuccessAndIdempotency(t *testing.T) {
	e := newEnv(t, nil)
	first := e.create(t, "ORDER1")

	prepay, _ := first["prepay_id"].(string)
	if !regexp.MustCompile(`^wx[0-9A-Za-z]{30}$`).MatchString(prepay) {
		t.Fatalf("prepay_id %q", prepay)
	}
	for k, want := range map[string]any{
		"return_code": "SUCCESS", "result_code": "SUCCESS", "appid": wechatsim.SPAppID,
		"mch_id": wechatsim.SPMchID, "sub_mch_id": merchant, "sub_appid": wechatsim.DefaultAppID,
		"trade_type": "JSAPI",
	} {
		if first[k] != want {
			t.Errorf("respdata.%s = %v, want %v", k, first[k], want)
		}
	}
	pay := first["payment"].(map[string]any)
	checkPayment(t, pay, prepay, e.clock.Now())

	t.Run("same request returns the same prepay_id and a fresh payment", func(t *testing.T) {
		again := e.create(t, "ORDER1")
		if again["prepay_id"] != prepay {
			t.Fatalf("prepay_id %v, want %v", again["prepay_id"], prepay)
		}
		p2 := again["payment"].(map[string]any)
		checkPayment(t, p2, prepay, e.clock.Now())
		if p2["nonceStr"] == pay["nonceStr"] {
			t.Fatal("payment object was not regenerated")
		}
	})
	for _, tt := range []struct {
		name string
		req  map[string]any
	}{
		{"different total_fee", with(orderReq("ORDER1"), "total_fee", 101)},
		{"different body", with(orderReq("ORDER1"), "body", "Other")},
		{"different openid", with(orderReq("ORDER1"), "openid", "oUser2")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := resultOf(e.api(t, "/_/pay/unifiedOrder", tt.req)); got != "OUT_TRADE_NO_USED" {
				t.Fatalf("got %s, want OUT_TRADE_NO_USED", got)
			}
		})
	}
	t.Run("paid order", func(t *testing.T) {
		e.create(t, "PAID1")
		e.pay(t, "PAID1")
		if got := resultOf(e.api(t, "/_/pay/unifiedOrder", orderReq("PAID1"))); got != "ORDERPAID" {
			t.Fatalf("got %s, want ORDERPAID", got)
		}
	})
	t.Run("closed order", func(t *testing.T) {
		e.create(t, "CLOSED1")
		e.api(t, "/_/pay/closeorder", map[string]any{"sub_mch_id": merchant, "out_trade_no": "CLOSED1"})
		if got := resultOf(e.api(t, "/_/pay/unifiedOrder", orderReq("CLOSED1"))); got != "ORDERCLOSED" {
			t.Fatalf("got %s, want ORDERCLOSED", got)
		}
	})
}

func checkPayment(t *testing.T, p map[string]any, prepay string, now time.Time) {
	t.Helper()
	str := func(k string) string { s, _ := p[k].(string); return s }
	if str("appId") != wechatsim.DefaultAppID || str("package") != "prepay_id="+prepay || str("signType") != "MD5" {
		t.Fatalf("payment %v", p)
	}
	if str("timeStamp") != itoa(now.Unix()) {
		t.Fatalf("timeStamp %s, want %d", str("timeStamp"), now.Unix())
	}
	if !regexp.MustCompile(`^[0-9A-Za-z]{16}$`).MatchString(str("nonceStr")) {
		t.Fatalf("nonceStr %q", str("nonceStr"))
	}
	sum := md5.Sum([]byte("appId=" + str("appId") + "&nonceStr=" + str("nonceStr") + "&package=" + str("package") +
		"&signType=MD5&timeStamp=" + str("timeStamp") + "&key=" + wechatsim.PaySignKey))
	if want := strings.ToUpper(hex.EncodeToString(sum[:])); str("paySign") != want {
		t.Fatalf("paySign %s, want %s", str("paySign"), want)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestQueryAndCloseOrder(t *testing.T) {
	e := newEnv(t, nil)
	e.create(t, "Q1")
	query := func(t *testing.T, body map[string]any) envelope {
		return e.api(t, "/_/pay/queryorder", body)
	}
	byNo := map[string]any{"sub_mch_id": merchant, "out_trade_no": "Q1"}

	t.Run("unpaid", func(t *testing.T) {
		d := query(t, byNo).Respdata
		if d["result_code"] != "SUCCESS" || d["trade_state"] != "NOTPAY" || d["total_fee"] != 100.0 ||
			d["sub_openid"] != "oUser1" || d["attach"] != "a1" || d["out_trade_no"] != "Q1" || d["transaction_id"] != nil {
			t.Fatalf("respdata %v", d)
		}
	})
	t.Run("paid", func(t *testing.T) {
		e.clock.Add(time.Minute)
		res := e.pay(t, "Q1")
		txn, _ := res["transaction_id"].(string)
		if !regexp.MustCompile(`^42000\d{23}$`).MatchString(txn) || res["trade_state"] != "SUCCESS" {
			t.Fatalf("pay result %v", res)
		}
		for _, body := range []map[string]any{byNo, {"sub_mch_id": merchant, "transaction_id": txn}} {
			d := query(t, body).Respdata
			if d["trade_state"] != "SUCCESS" || d["transaction_id"] != txn || d["cash_fee"] != 100.0 ||
				d["time_end"] != "20250301120606" || d["sub_mch_id"] != merchant || d["out_trade_no"] != "Q1" {
				t.Fatalf("respdata %v", d)
			}
			if op, _ := d["openid"].(string); op == "" || op == "oUser1" {
				t.Fatalf("openid %q, want the service provider's openid", op)
			}
		}
	})
	for _, tt := range []struct {
		name string
		body map[string]any
		want string
	}{
		{"unknown order", map[string]any{"sub_mch_id": merchant, "out_trade_no": "NOPE"}, "ORDERNOTEXIST"},
		{"unknown transaction", map[string]any{"sub_mch_id": merchant, "transaction_id": "4200000000"}, "ORDERNOTEXIST"},
		{"other merchant", map[string]any{"sub_mch_id": "1999", "out_trade_no": "Q1"}, unboundResult},
		{"no order number", map[string]any{"sub_mch_id": merchant}, "PARAM_ERROR"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := resultOf(query(t, tt.body)); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}

	e.create(t, "C1")
	e.create(t, "C2")
	e.pay(t, "C2")
	closeReq := func(no string) map[string]any { return map[string]any{"sub_mch_id": merchant, "out_trade_no": no} }
	for _, tt := range []struct {
		name, no, want, state string
	}{
		{"close unpaid", "C1", "SUCCESS", "CLOSED"},
		{"close closed", "C1", "ORDERCLOSED", "CLOSED"},
		{"close paid", "C2", "ORDERPAID", "SUCCESS"},
		{"close unknown", "C3", "ORDERNOTEXIST", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := resultOf(e.api(t, "/_/pay/closeorder", closeReq(tt.no))); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
			if tt.state == "" {
				return
			}
			if got := query(t, closeReq(tt.no)).Respdata["trade_state"]; got != tt.state {
				t.Fatalf("trade_state %v, want %s", got, tt.state)
			}
		})
	}
	t.Run("closed order cannot be paid", func(t *testing.T) {
		status, out := e.control(t, "POST", "/pay", map[string]any{"out_trade_no": "C1"})
		if status != 409 {
			t.Fatalf("status %d %v", status, out)
		}
	})
}

func TestPayDeliversCallback(t *testing.T) {
	e := newEnv(t, nil)
	e.create(t, "P1")
	res := e.pay(t, "P1")
	cb := res["callback"].(map[string]any)
	if cb["ok"] != true || cb["status"] != 200.0 || cb["url"] != e.svc.srv.URL+"/payment-callback/callbacks/pay" || cb["trigger"] != "pay" {
		t.Fatalf("callback %v", cb)
	}
	got := e.svc.received()
	if len(got) != 1 {
		t.Fatalf("service received %d callbacks, want 1", len(got))
	}
	if p := e.svc.paths[0]; p != "POST /payment-callback/callbacks/pay application/json" {
		t.Fatalf("request %q", p)
	}
	body := got[0]
	wantKeys := []string{"returnCode", "appid", "mchId", "subAppid", "subMchId", "nonceStr", "resultCode", "openid",
		"isSubscribe", "subOpenid", "subIsSubscribe", "tradeType", "bankType", "totalFee", "feeType", "cashFee",
		"transactionId", "outTradeNo", "timeEnd", "attach"}
	for _, k := range wantKeys {
		if _, ok := body[k]; !ok {
			t.Errorf("callback lacks %s", k)
		}
	}
	if len(body) != len(wantKeys) {
		t.Errorf("callback has %d keys, want %d: %v", len(body), len(wantKeys), body)
	}
	if body["returnCode"] != "SUCCESS" || body["resultCode"] != "SUCCESS" || body["subMchId"] != merchant ||
		body["subOpenid"] != "oUser1" || body["totalFee"] != 100.0 || body["cashFee"] != 100.0 ||
		body["outTradeNo"] != "P1" || body["transactionId"] != res["transaction_id"] ||
		body["timeEnd"] != "20250301120506" || body["attach"] != "a1" || body["mchId"] != wechatsim.SPMchID {
		t.Fatalf("callback body %v", body)
	}
	v, _ := e.sim.Order("P1")
	if v.TradeState != "SUCCESS" || !v.CallbackAcked || v.TransactionID != res["transaction_id"] {
		t.Fatalf("order %+v", v)
	}

	// The reply decides whether WeChat counts the callback as delivered.
	for i, tt := range []struct {
		name string
		rep  reply
		ok   bool
	}{
		{"errcode 0", reply{200, `{"errcode":0,"errmsg":"ok"}`}, true},
		{"errcode 0 without errmsg", reply{200, `{"errcode":0}`}, true},
		{"errcode 1", reply{200, `{"errcode":1,"errmsg":"retry"}`}, false},
		{"errcode as a string", reply{200, `{"errcode":"0"}`}, false},
		{"no errcode", reply{200, `{}`}, false},
		{"not JSON", reply{200, `success`}, false},
		{"status 500", reply{500, `{"errcode":0}`}, false},
		{"status 204", reply{204, ``}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			no := "R" + itoa(int64(i))
			e.svc.set(tt.rep)
			e.create(t, no)
			cb := e.pay(t, no)["callback"].(map[string]any)
			if cb["ok"] != tt.ok {
				t.Fatalf("ok = %v, want %v (%v)", cb["ok"], tt.ok, cb)
			}
			if !tt.ok && cb["error"] == nil {
				t.Fatal("failed delivery has no error")
			}
			if d := e.sim.Deliveries(no); len(d) != 1 || d[0].OK != tt.ok {
				t.Fatalf("deliveries %+v", d)
			}
		})
	}

	t.Run("unknown service is a failed, logged delivery", func(t *testing.T) {
		e.api(t, "/_/pay/unifiedOrder", with(orderReq("U1"), "container", map[string]any{"service": "ghost", "path": "/"}))
		cb := e.pay(t, "U1")["callback"].(map[string]any)
		if cb["ok"] != false || !strings.Contains(cb["error"].(string), "ghost") {
			t.Fatalf("callback %v", cb)
		}
		status, out := e.control(t, "GET", "/callbacks?out_trade_no=U1", nil)
		if ds := out["deliveries"].([]any); status != 200 || len(ds) != 1 {
			t.Fatalf("GET /callbacks: %d %v", status, out)
		}
	})
}

func TestRedelivery(t *testing.T) {
	delays := func(c *wechatsim.Config) {
		c.RetryDelays = []time.Duration{time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond}
	}
	t.Run("redelivers until acknowledged", func(t *testing.T) {
		e := newEnv(t, delays)
		e.svc.set(reply{200, `{"errcode":0}`}, reply{500, "boom"}, reply{200, `{"errcode":1}`})
		e.create(t, "RD1")
		if cb := e.pay(t, "RD1")["callback"].(map[string]any); cb["ok"] != false {
			t.Fatalf("first delivery %v", cb)
		}
		eventually(t, "an acknowledged redelivery", func() bool {
			d := e.sim.Deliveries("RD1")
			return len(d) > 0 && d[len(d)-1].OK
		})
		time.Sleep(20 * time.Millisecond)
		d := e.sim.Deliveries("RD1")
		if len(d) != 3 || d[1].Trigger != "retry" || d[1].Attempt != 2 || d[2].Attempt != 3 {
			t.Fatalf("deliveries %+v", d)
		}
		if len(e.svc.received()) != 3 {
			t.Fatalf("service received %d", len(e.svc.received()))
		}
	})
	t.Run("gives up after the schedule", func(t *testing.T) {
		e := newEnv(t, delays)
		e.svc.set(reply{503, ""})
		e.create(t, "RD2")
		e.pay(t, "RD2")
		eventually(t, "4 attempts", func() bool { return len(e.sim.Deliveries("RD2")) == 4 })
		time.Sleep(30 * time.Millisecond)
		if n := len(e.sim.Deliveries("RD2")); n != 4 {
			t.Fatalf("%d attempts, want 4", n)
		}
	})
	t.Run("Close stops pending redeliveries", func(t *testing.T) {
		e := newEnv(t, func(c *wechatsim.Config) { c.RetryDelays = []time.Duration{time.Hour} })
		e.svc.set(reply{500, ""})
		e.create(t, "RD3")
		e.pay(t, "RD3")
		done := make(chan struct{})
		go func() { e.sim.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Fatal("Close did not return")
		}
	})
	t.Run("notify replays and is not retried", func(t *testing.T) {
		e := newEnv(t, delays)
		e.create(t, "N1")
		e.pay(t, "N1")
		e.svc.set(reply{200, `{"errcode":0}`})
		status, out := e.control(t, "POST", "/notify", map[string]any{"out_trade_no": "N1"})
		if status != 200 || out["ok"] != true || out["trigger"] != "notify" {
			t.Fatalf("notify: %d %v", status, out)
		}
		e.svc.set(reply{500, ""})
		status, out = e.control(t, "POST", "/notify", map[string]any{"out_trade_no": "N1"})
		if status != 200 || out["ok"] != false {
			t.Fatalf("notify: %d %v", status, out)
		}
		time.Sleep(30 * time.Millisecond)
		if n := len(e.svc.received()); n != 3 {
			t.Fatalf("service received %d, want 3", n)
		}
		if a, b := e.svc.received()[0]["transactionId"], e.svc.received()[1]["transactionId"]; a != b || a == nil {
			t.Fatalf("replay changed transactionId: %v %v", a, b)
		}
	})
}

func TestControlErrors(t *testing.T) {
	e := newEnv(t, nil)
	e.create(t, "E1")
	e.pay(t, "E1")
	e.create(t, "E2")
	e.api(t, "/_/pay/unifiedOrder", with(orderReq("EXP"), "time_expire", "20250301120606"))
	e.clock.Add(2 * time.Minute)
	for _, tt := range []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"pay unknown", "POST", "/pay", map[string]any{"out_trade_no": "NOPE"}, 404, "ORDER_NOT_FOUND"},
		{"pay paid", "POST", "/pay", map[string]any{"out_trade_no": "E1"}, 409, "ORDER_NOT_PAYABLE"},
		{"pay expired", "POST", "/pay", map[string]any{"out_trade_no": "EXP"}, 409, "ORDER_EXPIRED: expired"},
		{"pay without out_trade_no", "POST", "/pay", map[string]any{}, 400, "INVALID_FIELD: out_trade_no"},
		{"pay unknown field", "POST", "/pay", map[string]any{"out_trade_no": "E2", "x": 1}, 400, "INVALID_FIELD: x"},
		{"pay not JSON", "POST", "/pay", "nope", 400, "INVALID_JSON"},
		{"pay empty body", "POST", "/pay", nil, 400, "INVALID_JSON"},
		{"pay wrong type", "POST", "/pay", map[string]any{"out_trade_no": 5}, 400, "INVALID_FIELD: out_trade_no"},
		{"notify unpaid", "POST", "/notify", map[string]any{"out_trade_no": "E2"}, 409, "ORDER_NOT_PAID"},
		{"notify unknown", "POST", "/notify", map[string]any{"out_trade_no": "NOPE"}, 404, "ORDER_NOT_FOUND"},
		{"order unknown", "GET", "/orders/NOPE", nil, 404, "ORDER_NOT_FOUND"},
		{"unknown route", "GET", "/nowhere", nil, 404, "NOT_FOUND"},
		{"wrong method", "GET", "/pay", nil, 405, "METHOD_NOT_ALLOWED"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, out := e.control(t, tt.method, tt.path, tt.body)
			if status != tt.status || !strings.HasPrefix(errorCode(out), tt.code) {
				t.Fatalf("got %d %q, want %d %q", status, errorCode(out), tt.status, tt.code)
			}
		})
	}
	t.Run("Go API returns *Error", func(t *testing.T) {
		_, err := e.sim.Pay(context.Background(), "NOPE")
		var se *wechatsim.Error
		if !errors.As(err, &se) || se.Status != 404 {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("order view", func(t *testing.T) {
		status, out := e.control(t, "GET", "/orders/E1", nil)
		if status != 200 || out["trade_state"] != "SUCCESS" || out["total_fee"] != 100.0 || out["env_id"] != "prod-1" ||
			out["sub_openid"] != "oUser1" || out["transaction_id"] == nil || out["time_end"] != "20250301120506" {
			t.Fatalf("%d %v", status, out)
		}
		c := out["container"].(map[string]any)
		if c["service"] != "payment-callback" || c["path"] != "/callbacks/pay" {
			t.Fatalf("container %v", c)
		}
		_, out = e.control(t, "GET", "/orders/EXP", nil)
		if out["time_expire"] != "2025-03-01T04:06:06Z" || out["trade_state"] != "NOTPAY" {
			t.Fatalf("expiring order %v", out)
		}
	})
}

func addFault(t *testing.T, e *env, f map[string]any) {
	t.Helper()
	status, out := e.control(t, "POST", "/faults", f)
	if status != 201 {
		t.Fatalf("POST /faults %v: %d %v", f, status, out)
	}
}

func TestAPIFaults(t *testing.T) {
	e := newEnv(t, nil)
	query := func(t *testing.T, no string) envelope {
		return e.api(t, "/_/pay/queryorder", map[string]any{"sub_mch_id": merchant, "out_trade_no": no})
	}
	t.Run("fail with a numeric code is a transport error", func(t *testing.T) {
		addFault(t, e, map[string]any{"api": "unifiedorder", "mode": "fail", "count": 2, "code": 40003})
		for range 2 {
			if env := e.api(t, "/_/pay/unifiedOrder", orderReq("F1")); env.Errcode != 40003 || env.Respdata != nil {
				t.Fatalf("got %+v", env)
			}
		}
		if _, ok := e.sim.Order("F1"); ok {
			t.Fatal("a failed call created the order")
		}
		e.create(t, "F1") // the fault is used up
	})
	t.Run("fail with a business code", func(t *testing.T) {
		addFault(t, e, map[string]any{"api": "queryorder", "mode": "fail", "count": 1})
		if got := resultOf(query(t, "F1")); got != "SYSTEMERROR" {
			t.Fatalf("got %s", got)
		}
		addFault(t, e, map[string]any{"api": "closeorder", "mode": "fail", "count": 1, "code": "ORDERPAID"})
		if got := resultOf(e.api(t, "/_/pay/closeorder", map[string]any{"sub_mch_id": merchant, "out_trade_no": "F1"})); got != "ORDERPAID" {
			t.Fatalf("got %s", got)
		}
		if got := query(t, "F1").Respdata["trade_state"]; got != "NOTPAY" {
			t.Fatalf("a failed closeorder changed the order: %v", got)
		}
	})
	t.Run("timeout acts but does not answer", func(t *testing.T) {
		addFault(t, e, map[string]any{"api": "unifiedorder", "mode": "timeout", "count": 1})
		client := &http.Client{Timeout: 150 * time.Millisecond}
		raw, _ := json.Marshal(orderReq("T1"))
		resp, err := client.Post(e.srv.URL+"/_/pay/unifiedOrder", "application/json", bytes.NewReader(raw))
		if err == nil {
			resp.Body.Close()
			t.Fatal("the call answered")
		}
		if got := query(t, "T1").Respdata["trade_state"]; got != "NOTPAY" {
			t.Fatalf("WeChat did not act on the timed-out call: %v", got)
		}
	})
	t.Run("timeout with delay_ms answers late", func(t *testing.T) {
		addFault(t, e, map[string]any{"api": "queryorder", "mode": "timeout", "count": 1, "delay_ms": 100})
		start := time.Now()
		if got := resultOf(query(t, "T1")); got != "SUCCESS" || time.Since(start) < 100*time.Millisecond {
			t.Fatalf("got %s after %v", got, time.Since(start))
		}
	})
	t.Run("delay", func(t *testing.T) {
		addFault(t, e, map[string]any{"api": "queryorder", "mode": "delay", "count": 1, "delay_ms": 80})
		start := time.Now()
		if got := resultOf(query(t, "T1")); got != "SUCCESS" || time.Since(start) < 80*time.Millisecond {
			t.Fatalf("got %s after %v", got, time.Since(start))
		}
	})
	t.Run("list and clear", func(t *testing.T) {
		addFault(t, e, map[string]any{"api": "closeorder", "mode": "fail", "count": 3})
		_, out := e.control(t, "GET", "/faults", nil)
		fs := out["faults"].([]any)
		if len(fs) != 1 || fs[0].(map[string]any)["count"] != 3.0 || fs[0].(map[string]any)["code"] != "SYSTEMERROR" {
			t.Fatalf("faults %v", out)
		}
		if status, _ := e.control(t, "DELETE", "/faults", nil); status != 204 {
			t.Fatalf("DELETE /faults: %d", status)
		}
		if len(e.sim.Faults()) != 0 {
			t.Fatal("faults not cleared")
		}
	})
	for _, tt := range []struct {
		name  string
		fault any
		field string
	}{
		{"unknown api", map[string]any{"api": "transfer_batches", "mode": "fail", "count": 1}, "api"},
		{"mode of another callback", map[string]any{"api": "refund_callback", "mode": "forge", "count": 1}, "mode"},
		{"mode of another api", map[string]any{"api": "queryorder", "mode": "drop", "count": 1}, "mode"},
		{"count zero", map[string]any{"api": "queryorder", "mode": "fail"}, "count"},
		{"numeric code zero", map[string]any{"api": "queryorder", "mode": "fail", "count": 1, "code": 0}, "code"},
		{"code boolean", map[string]any{"api": "queryorder", "mode": "fail", "count": 1, "code": true}, "code"},
		{"delay without delay_ms", map[string]any{"api": "queryorder", "mode": "delay", "count": 1}, "delay_ms"},
		{"delay_ms too large", map[string]any{"api": "queryorder", "mode": "delay", "count": 1, "delay_ms": 60001}, "delay_ms"},
		{"code with drop", map[string]any{"api": "pay_callback", "mode": "drop", "count": 1, "code": "X"}, "code"},
		{"unknown field", map[string]any{"api": "queryorder", "mode": "fail", "count": 1, "times": 2}, "times"},
	} {
		t.Run("invalid: "+tt.name, func(t *testing.T) {
			status, out := e.control(t, "POST", "/faults", tt.fault)
			if status != 400 || !strings.HasPrefix(errorCode(out), "INVALID_FIELD: "+tt.field) {
				t.Fatalf("got %d %q", status, errorCode(out))
			}
		})
	}
}

func TestCallbackFaults(t *testing.T) {
	t.Run("drop loses the callback without retries", func(t *testing.T) {
		e := newEnv(t, func(c *wechatsim.Config) { c.RetryDelays = []time.Duration{time.Millisecond} })
		addFault(t, e, map[string]any{"api": "pay_callback", "mode": "drop", "count": 1})
		e.create(t, "D1")
		cb := e.pay(t, "D1")["callback"].(map[string]any)
		if cb["dropped"] != true || cb["ok"] != false {
			t.Fatalf("callback %v", cb)
		}
		time.Sleep(30 * time.Millisecond)
		if n := len(e.svc.received()); n != 0 {
			t.Fatalf("service received %d callbacks", n)
		}
		if d, _ := e.sim.Order("D1"); d.TradeState != "SUCCESS" || d.CallbackAcked {
			t.Fatalf("order %+v", d)
		}
		// A replay gets through: the fault is used up.
		if d, err := e.sim.Notify(context.Background(), "D1"); err != nil || !d.OK {
			t.Fatalf("notify %+v %v", d, err)
		}
	})
	t.Run("duplicate sends each delivery twice", func(t *testing.T) {
		e := newEnv(t, nil)
		addFault(t, e, map[string]any{"api": "pay_callback", "mode": "duplicate", "count": 1})
		e.create(t, "DU1")
		e.pay(t, "DU1")
		got := e.svc.received()
		if len(got) != 2 || got[0]["transactionId"] != got[1]["transactionId"] {
			t.Fatalf("service received %v", got)
		}
		if d := e.sim.Deliveries("DU1"); len(d) != 2 || !d[0].Duplicate || !d[1].Duplicate {
			t.Fatalf("deliveries %+v", d)
		}
		e.create(t, "DU2")
		e.pay(t, "DU2")
		if n := len(e.svc.received()); n != 3 {
			t.Fatalf("fault not used up: %d callbacks", n)
		}
	})
	t.Run("forge after unifiedorder", func(t *testing.T) {
		e := newEnv(t, nil)
		addFault(t, e, map[string]any{"api": "pay_callback", "mode": "forge", "count": 1})
		e.create(t, "FG1")
		eventually(t, "the forged callback", func() bool { return len(e.sim.Deliveries("FG1")) == 1 })
		d := e.sim.Deliveries("FG1")[0]
		got := e.svc.received()
		if !d.Forged || d.Trigger != "forge_fault" || len(got) != 1 || got[0]["resultCode"] != "SUCCESS" || got[0]["outTradeNo"] != "FG1" {
			t.Fatalf("delivery %+v, received %v", d, got)
		}
		if v, _ := e.sim.Order("FG1"); v.TradeState != "NOTPAY" {
			t.Fatalf("forged callback changed the order: %s", v.TradeState)
		}
		e.create(t, "FG2")
		time.Sleep(30 * time.Millisecond)
		if n := len(e.sim.Deliveries("FG2")); n != 0 {
			t.Fatalf("fault not used up: %d deliveries", n)
		}
	})
}

func TestForge(t *testing.T) {
	e := newEnv(t, nil)
	e.create(t, "FO1")
	for _, tt := range []struct {
		name   string
		req    map[string]any
		status int
		check  func(t *testing.T, body map[string]any)
	}{
		{"unpaid order with overrides", map[string]any{"out_trade_no": "FO1", "total_fee": 1, "sub_mch_id": "1999"}, 200,
			func(t *testing.T, b map[string]any) {
				if b["totalFee"] != 1.0 || b["subMchId"] != "1999" || b["subOpenid"] != "oUser1" || b["transactionId"] == "" {
					t.Fatalf("body %v", b)
				}
			}},
		{"unknown order to an explicit target", map[string]any{"out_trade_no": "GHOST", "service": "payment-callback", "path": "/callbacks/pay"}, 200,
			func(t *testing.T, b map[string]any) {
				if b["outTradeNo"] != "GHOST" || b["subMchId"] != merchant || b["resultCode"] != "SUCCESS" {
					t.Fatalf("body %v", b)
				}
			}},
		{"unknown order without service", map[string]any{"out_trade_no": "GHOST", "path": "/"}, 400, nil},
		{"unknown order without path", map[string]any{"out_trade_no": "GHOST", "service": "payment-callback"}, 400, nil},
		{"no out_trade_no", map[string]any{}, 400, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.svc.received())
			status, out := e.control(t, "POST", "/forge", tt.req)
			if status != tt.status {
				t.Fatalf("status %d %v", status, out)
			}
			if tt.check == nil {
				return
			}
			if out["forged"] != true || out["ok"] != true || out["trigger"] != "forge" {
				t.Fatalf("delivery %v", out)
			}
			got := e.svc.received()
			if len(got) != before+1 {
				t.Fatalf("service received %d new callbacks", len(got)-before)
			}
			tt.check(t, got[len(got)-1])
		})
	}
	if v, _ := e.sim.Order("FO1"); v.TradeState != "NOTPAY" || v.CallbackAcked {
		t.Fatalf("forge changed the order: %+v", v)
	}
	if _, ok := e.sim.Order("GHOST"); ok {
		t.Fatal("forge created an order")
	}
}

func TestCallLog(t *testing.T) {
	e := newEnv(t, nil)
	e.create(t, "L1")
	e.api(t, "/_/pay/queryorder", map[string]any{"sub_mch_id": merchant, "out_trade_no": "L1"})
	e.api(t, "/_/pay/queryorder", "not json")
	e.api(t, "/_/pay/closeorder", map[string]any{"sub_mch_id": merchant, "out_trade_no": "L1"})

	_, out := e.control(t, "GET", "/calls", nil)
	calls := out["calls"].([]any)
	var apis []string
	for _, c := range calls {
		apis = append(apis, c.(map[string]any)["api"].(string))
	}
	if want := []string{"unifiedorder", "queryorder", "queryorder", "closeorder"}; !slices.Equal(apis, want) {
		t.Fatalf("apis %v, want %v", apis, want)
	}
	first := calls[0].(map[string]any)
	if b := first["body"].(map[string]any); b["out_trade_no"] != "L1" || b["total_fee"] != 100.0 || first["at"] == nil {
		t.Fatalf("first call %v", first)
	}
	_, out = e.control(t, "GET", "/calls?api=queryorder", nil)
	qs := out["calls"].([]any)
	if len(qs) != 2 || qs[1].(map[string]any)["body"] != "not json" {
		t.Fatalf("queryorder calls %v", qs)
	}
	if got := e.sim.Calls("closeorder"); len(got) != 1 || got[0].Path != "/_/pay/closeorder" {
		t.Fatalf("Calls(closeorder) %+v", got)
	}
}

// Concurrent payments, queries and replays with duplicate callbacks, for the race detector.
func TestConcurrentUse(t *testing.T) {
	e := newEnv(t, func(c *wechatsim.Config) { c.RetryDelays = []time.Duration{time.Millisecond} })
	e.svc.set(reply{200, `{"errcode":0}`}, reply{500, ""}, reply{500, ""})
	addFault(t, e, map[string]any{"api": "pay_callback", "mode": "duplicate", "count": 5})
	var wg sync.WaitGroup
	for i := range 8 {
		no := "CC" + itoa(int64(i))
		e.create(t, no)
		wg.Go(func() {
			_, _ = e.sim.Pay(context.Background(), no)
			_, _ = e.sim.Notify(context.Background(), no)
			_, _ = e.sim.Pay(context.Background(), no)
			e.sim.Order(no)
			e.sim.Deliveries("")
		})
	}
	wg.Wait()
	for i := range 8 {
		if v, _ := e.sim.Order("CC" + itoa(int64(i))); v.TradeState != "SUCCESS" {
			t.Fatalf("order %d is %s", i, v.TradeState)
		}
	}
}
