package wechatpay_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/wechatpay"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func parsePublicKey(t *testing.T, text string) *rsa.PublicKey {
	t.Helper()
	block, _ := pem.Decode([]byte(text))
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return key.(*rsa.PublicKey)
}

func platformKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	block, _ := pem.Decode([]byte(wechatsim.DevPlatformPrivateKeyPEM))
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return key.(*rsa.PrivateKey)
}

// envelope seals plaintext the way WeChat Pay does, under the development
// APIv3 key; nonce lets a test break it.
func envelope(t *testing.T, eventType, plaintext, nonce string) string {
	t.Helper()
	block, err := aes.NewCipher([]byte(wechatsim.DevAPIv3Key))
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	sealNonce := nonce
	if len(sealNonce) != gcm.NonceSize() {
		sealNonce = "0123456789ab"
	}
	ct := gcm.Seal(nil, []byte(sealNonce), []byte(plaintext), []byte("mch_payment"))
	raw, err := json.Marshal(map[string]any{
		"id": "EV-1", "create_time": "2026-01-02T08:04:05+08:00", "resource_type": "encrypt-resource",
		"event_type": eventType, "summary": "s",
		"resource": map[string]string{"original_type": "mch_payment", "algorithm": "AEAD_AES_256_GCM",
			"ciphertext": base64.StdEncoding.EncodeToString(ct), "associated_data": "mch_payment", "nonce": nonce},
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// signed is a notification request whose body is signed with the
// development WeChat Pay key, as genuine ones are.
func signed(t *testing.T, body string) *http.Request {
	t.Helper()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	nonce := "r4nd0mn0nce"
	sum := sha256.Sum256([]byte(ts + "\n" + nonce + "\n" + body + "\n"))
	sig, err := rsa.SignPKCS1v15(rand.Reader, platformKey(t), crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/callbacks/v3", strings.NewReader(body))
	r.Header.Set("Wechatpay-Serial", wechatsim.DevPublicKeyID)
	r.Header.Set("Wechatpay-Timestamp", ts)
	r.Header.Set("Wechatpay-Nonce", nonce)
	r.Header.Set("Wechatpay-Signature", base64.StdEncoding.EncodeToString(sig))
	r.Header.Set("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048")
	return r
}

// Bodies genuine WeChat Pay would not send, but which must not crash or
// fool the parser: what is verified but unreadable is INVALID_JSON, what
// cannot be verified or decrypted is BAD_SIGNATURE.
func TestParseNotificationEdgeCases(t *testing.T) {
	gw, err := wechatpay.New(context.Background(), devConfig("http://127.0.0.1:1", "https://pay.example.com/callbacks/v3"), nil)
	if err != nil {
		t.Fatal(err)
	}
	const nonce = "abcdefghijkl"
	transfer := `{"mchid":"1900000109","out_bill_no":"W1","transfer_bill_no":"T1","state":"SUCCESS","transfer_amount":30,"openid":"oUser0001",` +
		`"create_time":"2026-01-02T08:04:05+08:00","update_time":"2026-01-02T08:05:06+08:00"}`
	batch := `{"out_batch_no":"B1","batch_id":"BT1","batch_status":"FINISHED"}`
	for _, tc := range []struct {
		name string
		req  func() *http.Request
		want cloudpay.Code
		// check runs on a parsed notification.
		check func(*testing.T, wechatpay.Notification)
	}{
		{"transfer finished", func() *http.Request { return signed(t, envelope(t, "MCHTRANSFER.BILL.FINISHED", transfer, nonce)) }, "",
			func(t *testing.T, n wechatpay.Notification) {
				if n.EventType != "MCHTRANSFER.BILL.FINISHED" || n.ID != "EV-1" || n.Transfer == nil || n.Resource != nil || n.Transaction != nil || n.Refund != nil {
					t.Fatalf("%+v", n)
				}
				want := wechat.TransferResult{OutBillNo: "W1", TransferBillNo: "T1", State: wechat.TransferSuccess, AmountFen: 30,
					OpenID: "oUser0001", MchID: "1900000109",
					CreatedAt: time.Date(2026, 1, 2, 0, 4, 5, 0, time.UTC), UpdatedAt: time.Date(2026, 1, 2, 0, 5, 6, 0, time.UTC)}
				if *n.Transfer != want {
					t.Fatalf("transfer %+v, want %+v", *n.Transfer, want)
				}
			}},
		{"transfer failed", func() *http.Request {
			return signed(t, envelope(t, "MCHTRANSFER.BILL.FINISHED",
				`{"mchid":"1900000109","out_bill_no":"W2","state":"FAIL","fail_reason":"ACCOUNT_FROZEN","transfer_amount":30}`, nonce))
		}, "", func(t *testing.T, n wechatpay.Notification) {
			if n.Transfer == nil || n.Transfer.State != wechat.TransferFail || n.Transfer.FailReason != "ACCOUNT_FROZEN" || n.Transfer.OutBillNo != "W2" {
				t.Fatalf("%+v", n.Transfer)
			}
		}},
		{"old batch transfer kept as plaintext", func() *http.Request {
			return signed(t, envelope(t, "MCHTRANSFER.BATCH.FINISHED", batch, nonce))
		}, "", func(t *testing.T, n wechatpay.Notification) {
			if string(n.Resource) != batch || n.Transfer != nil {
				t.Fatalf("%+v", n)
			}
		}},
		{"signed, transfer in an unknown state", func() *http.Request {
			return signed(t, envelope(t, "MCHTRANSFER.BILL.FINISHED", `{"out_bill_no":"W1","state":"MAYBE"}`, nonce))
		}, cloudpay.CodeInvalidJSON, nil},
		{"signed, transfer without bill", func() *http.Request {
			return signed(t, envelope(t, "MCHTRANSFER.BILL.FINISHED", `{"state":"SUCCESS","transfer_amount":30}`, nonce))
		}, cloudpay.CodeInvalidJSON, nil},
		{"signed, transfer time not RFC 3339", func() *http.Request {
			return signed(t, envelope(t, "MCHTRANSFER.BILL.FINISHED", `{"out_bill_no":"W1","state":"SUCCESS","update_time":"2026-01-02 08:05:06"}`, nonce))
		}, cloudpay.CodeInvalidJSON, nil},
		{"refund status from the event type", func() *http.Request {
			return signed(t, envelope(t, "REFUND.ABNORMAL", `{"out_refund_no":"R1","out_trade_no":"ORDER1","amount":{"refund":3,"total":9}}`, nonce))
		}, "", func(t *testing.T, n wechatpay.Notification) {
			if n.Refund == nil || *n.Refund != (wechat.RefundResult{OutRefundNo: "R1", OutTradeNo: "ORDER1", State: wechat.RefundAbnormal, RefundFen: 3, TotalFen: 9}) {
				t.Fatalf("%+v", n.Refund)
			}
		}},
		{"unsigned", func() *http.Request {
			return httptest.NewRequest(http.MethodPost, "/callbacks/v3", strings.NewReader(envelope(t, "TRANSACTION.SUCCESS", `{}`, nonce)))
		}, cloudpay.CodeBadSignature, nil},
		{"other signature type", func() *http.Request {
			r := signed(t, envelope(t, "MCHTRANSFER.BILL.FINISHED", transfer, nonce))
			r.Header.Set("Wechatpay-Signature-Type", "WECHATPAY2-SM2-WITH-SM3")
			return r
		}, cloudpay.CodeBadSignature, nil},
		{"too large", func() *http.Request {
			return signed(t, `{"pad":"`+strings.Repeat("x", 64<<10)+`"}`)
		}, cloudpay.CodeBodyTooLarge, nil},
		{"signed, not JSON", func() *http.Request { return signed(t, "id=1&event_type=TRANSACTION.SUCCESS") }, cloudpay.CodeInvalidJSON, nil},
		{"signed, no resource", func() *http.Request { return signed(t, `{"id":"EV-1","event_type":"TRANSACTION.SUCCESS"}`) }, cloudpay.CodeInvalidJSON, nil},
		{"signed, null resource", func() *http.Request { return signed(t, `{"id":"EV-1","resource":null}`) }, cloudpay.CodeInvalidJSON, nil},
		{"signed, other algorithm", func() *http.Request {
			return signed(t, strings.Replace(envelope(t, "MCHTRANSFER.BILL.FINISHED", transfer, nonce), "AEAD_AES_256_GCM", "AEAD_SM4_GCM", 1))
		}, cloudpay.CodeInvalidJSON, nil},
		{"signed, short nonce", func() *http.Request { return signed(t, envelope(t, "MCHTRANSFER.BILL.FINISHED", transfer, "abc")) }, cloudpay.CodeBadSignature, nil},
		{"signed, ciphertext not base64", func() *http.Request {
			body := envelope(t, "MCHTRANSFER.BILL.FINISHED", transfer, nonce)
			var m map[string]any
			_ = json.Unmarshal([]byte(body), &m)
			m["resource"].(map[string]any)["ciphertext"] = "%%%"
			raw, _ := json.Marshal(m)
			return signed(t, string(raw))
		}, cloudpay.CodeBadSignature, nil},
		{"signed, plaintext not JSON", func() *http.Request {
			return signed(t, envelope(t, "MCHTRANSFER.BILL.FINISHED", "state=SUCCESS", nonce))
		}, cloudpay.CodeInvalidJSON, nil},
		{"signed, transaction without order", func() *http.Request {
			return signed(t, envelope(t, "TRANSACTION.SUCCESS", `{"trade_state":"SUCCESS","amount":{"total":1}}`, nonce))
		}, cloudpay.CodeInvalidJSON, nil},
		{"signed, transaction amount out of range", func() *http.Request {
			return signed(t, envelope(t, "TRANSACTION.SUCCESS", `{"out_trade_no":"ORDER1","trade_state":"SUCCESS","amount":{"total":-1}}`, nonce))
		}, cloudpay.CodeInvalidJSON, nil},
		{"signed, unknown refund status", func() *http.Request {
			return signed(t, envelope(t, "REFUND.SUCCESS", `{"out_refund_no":"R1","refund_status":"MAYBE"}`, nonce))
		}, cloudpay.CodeInvalidJSON, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := gw.ParseNotification(tc.req())
			if got := cloudpay.ErrorCode(err); got != tc.want {
				t.Fatalf("code %q (%v), want %q", got, err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "Wechatpay-Signature:") {
				t.Fatalf("the error dumps the request: %v", err)
			}
			if tc.check != nil {
				tc.check(t, n)
			}
		})
	}
}

// The handler may read the body again after parsing (to store it, say).
func TestParseNotificationLeavesTheBodyReadable(t *testing.T) {
	gw, err := wechatpay.New(context.Background(), devConfig("http://127.0.0.1:1", "https://pay.example.com/callbacks/v3"), nil)
	if err != nil {
		t.Fatal(err)
	}
	body := envelope(t, "MCHTRANSFER.BILL.FINISHED", `{"out_bill_no":"W1","state":"CANCELLED"}`, "abcdefghijkl")
	r := signed(t, body)
	if _, err := gw.ParseNotification(r); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if _, err := again.ReadFrom(r.Body); err != nil || again.String() != body {
		t.Fatalf("body after parsing: %q %v", again.String(), err)
	}
}
