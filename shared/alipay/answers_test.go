package alipay_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/alipay"
	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// These tests answer the client from a bare HTTP server, for the answers
// the simulator never gives: broken, forged or foreign ones.

// signedAnswer is a gateway answer to method whose inner object is inner,
// signed with key over the inner object's exact bytes, as Alipay signs.
func signedAnswer(t *testing.T, key *rsa.PrivateKey, method, inner string) string {
	t.Helper()
	digest := sha256.Sum256([]byte(inner))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return `{"` + strings.ReplaceAll(method, ".", "_") + `_response":` + inner + `,"sign":"` + base64.StdEncoding.EncodeToString(sig) + `"}`
}

// answering returns a client whose gateway always answers status and body.
func answering(t *testing.T, status int, body string) *alipay.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	cfg := keyConfig()
	cfg.GatewayURL = srv.URL + "/gateway.do"
	client, err := alipay.New(cfg, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return client
}

const queryMethod = "alipay.trade.query"

func TestAnswersWithoutAVerdictAreUnknown(t *testing.T) {
	t.Parallel()
	k := keysOnce()
	stranger := newKey(2048)
	paid := `{"code":"10000","msg":"Success","trade_no":"2025010122001400000000000001","out_trade_no":"CP20250101000000abc",` +
		`"trade_status":"TRADE_SUCCESS","total_amount":"12.30","buyer_user_id":"2088000000000002","send_pay_date":"2025-01-01 12:00:00"}`
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   string // in the error
	}{
		{"a proxy's 502", http.StatusBadGateway, "<html>Bad Gateway</html>", "HTTP 502"},
		{"a 503 with Alipay's JSON", http.StatusServiceUnavailable, signedAnswer(t, k.alipayKey, queryMethod, paid), "HTTP 503"},
		{"not JSON", http.StatusOK, "<html>maintenance</html>", "cannot be read"},
		{"another method's answer", http.StatusOK, signedAnswer(t, k.alipayKey, "alipay.trade.close", paid), "cannot be read"},
		{"signed by a stranger", http.StatusOK, signedAnswer(t, stranger, queryMethod, paid), "signature verification"},
		{"tampered after signing", http.StatusOK,
			strings.Replace(signedAnswer(t, k.alipayKey, queryMethod, paid), "12.30", "0.01", 1), "signature verification"},
		{"an unsigned success", http.StatusOK, `{"alipay_trade_query_response":` + paid + `}`, "no signature"},
		{"a signed answer without code", http.StatusOK,
			signedAnswer(t, k.alipayKey, queryMethod, `{"msg":"Success","out_trade_no":"CP20250101000000abc"}`), "answer without code"},
		{"an amount that is not two decimals", http.StatusOK,
			signedAnswer(t, k.alipayKey, queryMethod, strings.Replace(paid, `"12.30"`, `"12.3"`, 1)), "total_amount"},
		{"an unknown status", http.StatusOK,
			signedAnswer(t, k.alipayKey, queryMethod, strings.Replace(paid, "TRADE_SUCCESS", "TRADE_PENDING", 1)), "trade_status"},
		{"another order", http.StatusOK,
			signedAnswer(t, k.alipayKey, queryMethod, strings.Replace(paid, "CP20250101000000abc", "CP20250101000000xyz", 1)), "another order"},
		{"20000 service unavailable", http.StatusOK,
			`{"alipay_trade_query_response":{"code":"20000","msg":"Service Currently Unavailable","sub_code":"isp.unknow-error","sub_msg":"服务暂不可用（业务系统不可用）"}}`,
			"20000 Service Currently Unavailable: isp.unknow-error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client := answering(t, tc.status, tc.body)
			tr, err := client.Query(t.Context(), "CP20250101000000abc")
			if err == nil {
				t.Fatalf("Query accepted it: %+v", tr)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if got := cloudpay.ErrorCode(err); got != cloudpay.CodeWeChatError {
				t.Errorf("code = %s, want %s", got, cloudpay.CodeWeChatError)
			}
			if got := alipay.Classify(err); got != wechat.Unknown {
				t.Errorf("Classify = %v, want Unknown: nothing says the call did not take effect", got)
			}
		})
	}
}

// The gateway's refusals are unsigned; Alipay's official SDKs accept them
// as refusals, and so does this one. Their classification follows the codes.
func TestUnsignedRefusals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, inner string
		want        wechat.CallFailure
	}{
		{"invalid signature", `{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-signature","sub_msg":"验签出错"}`, wechat.Final},
		{"call limited", `{"code":"40005","msg":"Call Limited","sub_code":"aop.ACQ.SYSTEM_ERROR","sub_msg":"调用频次超限"}`, wechat.Retryable},
		{"system error with aop.", `{"code":"40004","msg":"Business Failed","sub_code":"aop.ACQ.SYSTEM_ERROR","sub_msg":"系统异常"}`, wechat.Retryable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client := answering(t, http.StatusOK, `{"alipay_trade_query_response":`+tc.inner+`}`)
			_, err := client.Query(t.Context(), "CP20250101000000abc")
			e, ok := alipay.ErrorOf(err)
			if !ok {
				t.Fatalf("error %v carries no alipay.Error", err)
			}
			if !strings.Contains(err.Error(), e.SubCode) || !strings.Contains(err.Error(), e.SubMsg) {
				t.Errorf("error %q lost Alipay's sub_code or sub_msg", err)
			}
			if got := alipay.Classify(err); got != tc.want {
				t.Errorf("Classify = %v, want %v", got, tc.want)
			}
		})
	}
	// error_response: what the gateway answers when it cannot tell the method.
	client := answering(t, http.StatusOK, `{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-app-id","sub_msg":"无效的AppID参数"}}`)
	_, err := client.Query(t.Context(), "CP20250101000000abc")
	if e, ok := alipay.ErrorOf(err); !ok || e.SubCode != "isv.invalid-app-id" || alipay.Classify(err) != wechat.Final {
		t.Errorf("error_response gave %v", err)
	}
}

func TestNoAnswer(t *testing.T) {
	t.Parallel()
	t.Run("in time", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// The server notices the client leaving only once the body is read.
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}))
		defer srv.Close()
		cfg := keyConfig()
		cfg.GatewayURL, cfg.Timeout = srv.URL+"/gateway.do", 200*time.Millisecond
		client, err := alipay.New(cfg, srv.Client())
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = client.Refund(t.Context(), alipay.Refund{OutTradeNo: "CP20250101000000abc", OutRequestNo: "R1", AmountFen: 100})
		if elapsed := time.Since(start); elapsed > 2*time.Second {
			t.Errorf("the call took %s despite a 200ms timeout", elapsed)
		}
		if cloudpay.ErrorCode(err) != cloudpay.CodeWeChatTimeout || alipay.Classify(err) != wechat.Unknown {
			t.Fatalf("error %v: want CodeWeChatTimeout, Unknown", err)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v does not keep the deadline as its cause", err)
		}
	})
	t.Run("at all", func(t *testing.T) {
		t.Parallel()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		_ = l.Close() // nothing listens there now
		cfg := keyConfig()
		cfg.GatewayURL = "http://" + addr + "/gateway.do"
		client, err := alipay.New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = client.Close(t.Context(), "CP20250101000000abc")
		if cloudpay.ErrorCode(err) != cloudpay.CodeWeChatError || alipay.Classify(err) != wechat.Unknown ||
			!strings.Contains(err.Error(), "could not be reached") {
			t.Fatalf("error %v: want CodeWeChatError, Unknown, could not be reached", err)
		}
	})
}

// An answer larger than anything Alipay sends is refused, not read whole.
func TestHugeAnswer(t *testing.T) {
	t.Parallel()
	client := answering(t, http.StatusOK, `{"alipay_trade_query_response":{"code":"10000","msg":"`+strings.Repeat("x", 2<<20)+`"}}`)
	_, err := client.Query(t.Context(), "CP20250101000000abc")
	if err == nil || alipay.Classify(err) != wechat.Unknown || !strings.Contains(err.Error(), "larger than 1 MiB") {
		t.Fatalf("error %v", err)
	}
}

// Bad input is refused before anything is sent.
func TestInputIsCheckedBeforeSending(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("a request reached the gateway: %s", r.URL)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()
	cfg := keyConfig()
	cfg.GatewayURL = srv.URL + "/gateway.do"
	client, err := alipay.New(cfg, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	good := alipay.Order{OutTradeNo: "CP20250101000000abc", Subject: "一杯咖啡", AmountFen: 1230}
	order := func(modify func(*alipay.Order)) alipay.Order { o := good; modify(&o); return o }
	for _, tc := range []struct {
		name, field string
		call        func() error
	}{
		{"zero amount", "amount_fen", func() error {
			_, err := client.Precreate(ctx, order(func(o *alipay.Order) { o.AmountFen = 0 }))
			return err
		}},
		{"huge amount", "amount_fen", func() error {
			_, err := client.Precreate(ctx, order(func(o *alipay.Order) { o.AmountFen = cloudpay.MaxFen + 1 }))
			return err
		}},
		{"no subject", "subject", func() error {
			_, err := client.WapPayURL(ctx, order(func(o *alipay.Order) { o.Subject = " " }), "")
			return err
		}},
		{"subject with &", "subject", func() error {
			_, err := client.Precreate(ctx, order(func(o *alipay.Order) { o.Subject = "tea & cake" }))
			return err
		}},
		{"bad order number", "out_trade_no", func() error { _, err := client.Query(ctx, "a b"); return err }},
		{"bad order number to close", "out_trade_no", func() error { _, err := client.Close(ctx, ""); return err }},
		{"relative return URL", "return_url", func() error { _, err := client.WapPayURL(ctx, good, "/paid"); return err }},
		{"bad refund number", "out_request_no", func() error {
			_, err := client.Refund(ctx, alipay.Refund{OutTradeNo: good.OutTradeNo, OutRequestNo: "R 1", AmountFen: 1})
			return err
		}},
		{"negative refund", "amount_fen", func() error {
			_, err := client.Refund(ctx, alipay.Refund{OutTradeNo: good.OutTradeNo, OutRequestNo: "R1", AmountFen: -1})
			return err
		}},
		{"refund query without number", "out_request_no", func() error {
			_, err := client.QueryRefund(ctx, good.OutTradeNo, "")
			return err
		}},
	} {
		err := tc.call()
		var ce *cloudpay.Error
		if !errors.As(err, &ce) || ce.Code != cloudpay.CodeInvalidField || ce.Field != tc.field {
			t.Errorf("%s: error %v, want CodeInvalidField on %s", tc.name, err, tc.field)
		}
	}
}
