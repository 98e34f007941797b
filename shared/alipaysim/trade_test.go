package alipaysim_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/smartwalle/alipay/v3"

	"github.com/cloudpay/cloudpay/shared/alipaysim"
)

func TestPrecreateExistsOnlyOnceScannedOrPaid(t *testing.T) {
	t.Parallel()
	e := newEnv(t, alipaysim.Config{RetryDelays: []time.Duration{}})
	ctx := context.Background()

	pre := e.precreate(t, "P1", "12.34", "")
	if pre.OutTradeNo != "P1" || !strings.HasPrefix(pre.QRCode, "https://qr.alipay.com/") {
		t.Fatalf("precreate = %+v", pre)
	}
	if again := e.precreate(t, "P1", "12.34", ""); again.QRCode != pre.QRCode {
		t.Errorf("same precreate again: qr_code %q, want %q", again.QRCode, pre.QRCode)
	}

	q := e.query(t, "P1")
	if q.Code != alipay.CodeBusinessFailed || q.SubCode != "ACQ.TRADE_NOT_EXIST" || q.ReceiptAmount != "0.00" {
		t.Errorf("query before scan = %s %s receipt %q, want 40004 ACQ.TRADE_NOT_EXIST 0.00", q.Code, q.SubCode, q.ReceiptAmount)
	}
	cl, err := e.client.TradeClose(ctx, alipay.TradeClose{OutTradeNo: "P1"})
	if err != nil || cl.SubCode != "ACQ.TRADE_NOT_EXIST" {
		t.Errorf("close before scan = %+v, %v; want ACQ.TRADE_NOT_EXIST", cl, err)
	}

	var p alipay.TradePreCreate
	p.OutTradeNo, p.TotalAmount, p.Subject = "P1", "12.35", "测试商品 P1"
	rsp, err := e.client.TradePreCreate(ctx, p)
	if err != nil || rsp.SubCode != "ACQ.CONTEXT_INCONSISTENT" {
		t.Errorf("precreate with another total = %+v, %v; want ACQ.CONTEXT_INCONSISTENT", rsp, err)
	}

	paid := e.pay(t, "P1")
	if paid.Status != alipaysim.StatusSuccess || paid.TotalFen != 1234 || paid.BuyerID != alipaysim.DevBuyerID || paid.PaidAt.IsZero() {
		t.Fatalf("Pay = %+v", paid)
	}
	q = e.query(t, "P1")
	if !q.IsSuccess() || q.TradeStatus != alipay.TradeStatusSuccess || q.TradeNo != paid.TradeNo ||
		q.TotalAmount != "12.34" || q.ReceiptAmount != "12.34" || q.BuyerUserId != alipaysim.DevBuyerID {
		t.Errorf("query after pay = %+v", q)
	}
	byNo, err := e.client.TradeQuery(ctx, alipay.TradeQuery{TradeNo: paid.TradeNo})
	if err != nil || byNo.OutTradeNo != "P1" {
		t.Errorf("query by trade_no = %+v, %v", byNo, err)
	}

	cl, err = e.client.TradeClose(ctx, alipay.TradeClose{OutTradeNo: "P1"})
	if err != nil || cl.SubCode != "ACQ.TRADE_STATUS_ERROR" {
		t.Errorf("close after pay = %+v, %v; want ACQ.TRADE_STATUS_ERROR", cl, err)
	}
	p.TotalAmount = "12.34"
	if rsp, err = e.client.TradePreCreate(ctx, p); err != nil || rsp.SubCode != "ACQ.TRADE_HAS_SUCCESS" {
		t.Errorf("precreate of a paid trade = %+v, %v; want ACQ.TRADE_HAS_SUCCESS", rsp, err)
	}
	if _, err := e.sim.Pay(ctx, "P1"); err == nil {
		t.Error("paying a paid trade again succeeded")
	}
}

func TestScannedTradeCloses(t *testing.T) {
	t.Parallel()
	e := newEnv(t, alipaysim.Config{})
	ctx := context.Background()
	e.precreate(t, "S1", "0.01", "")
	scanned, err := e.sim.Scan("S1")
	if err != nil || !scanned.Scanned || scanned.TradeNo == "" {
		t.Fatalf("Scan = %+v, %v", scanned, err)
	}
	q := e.query(t, "S1")
	if !q.IsSuccess() || q.TradeStatus != alipay.TradeStatusWaitBuyerPay || q.ReceiptAmount != "0.00" || q.SendPayDate != "" {
		t.Errorf("query after scan = %+v", q)
	}
	cl, err := e.client.TradeClose(ctx, alipay.TradeClose{OutTradeNo: "S1"})
	if err != nil || !cl.IsSuccess() || cl.TradeNo != scanned.TradeNo {
		t.Fatalf("close after scan = %+v, %v", cl, err)
	}
	if q := e.query(t, "S1"); q.TradeStatus != alipay.TradeStatusClosed {
		t.Errorf("query after close: trade_status %q", q.TradeStatus)
	}
	if cl, err := e.client.TradeClose(ctx, alipay.TradeClose{OutTradeNo: "S1"}); err != nil || cl.SubCode != "ACQ.TRADE_STATUS_ERROR" {
		t.Errorf("close again = %+v, %v; want ACQ.TRADE_STATUS_ERROR", cl, err)
	}
	if _, err := e.sim.Pay(ctx, "S1"); err == nil {
		t.Error("paying a closed trade succeeded")
	}
	var p alipay.TradePreCreate
	p.OutTradeNo, p.TotalAmount, p.Subject = "S1", "0.01", "测试商品 S1"
	if rsp, err := e.client.TradePreCreate(ctx, p); err != nil || rsp.SubCode != "ACQ.TRADE_HAS_CLOSE" {
		t.Errorf("precreate of a closed trade = %+v, %v; want ACQ.TRADE_HAS_CLOSE", rsp, err)
	}
}

func TestAmounts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, alipaysim.Config{})
	for i, tc := range []struct {
		total       string
		wantSubCode string // "" for success
		wantFen     int64
	}{
		{"0.01", "", 1},
		{"100000000.00", "", 100_000_000_00},
		{"19.90", "", 1990},
		{"0.1", "ACQ.INVALID_PARAMETER", 0},
		{"1", "ACQ.INVALID_PARAMETER", 0},
		{"0.001", "ACQ.INVALID_PARAMETER", 0},
		{"01.00", "ACQ.INVALID_PARAMETER", 0},
		{"-1.00", "ACQ.INVALID_PARAMETER", 0},
		{"1e2", "ACQ.INVALID_PARAMETER", 0},
		{"0.00", "ACQ.TOTAL_FEE_EXCEED", 0},
		{"100000000.01", "ACQ.TOTAL_FEE_EXCEED", 0},
	} {
		t.Run(tc.total, func(t *testing.T) {
			no := "AMT" + string(rune('A'+i))
			var p alipay.TradePreCreate
			p.OutTradeNo, p.TotalAmount, p.Subject = no, tc.total, "amount"
			rsp, err := e.client.TradePreCreate(context.Background(), p)
			if err != nil {
				t.Fatalf("TradePreCreate: %v", err)
			}
			if rsp.SubCode != tc.wantSubCode {
				t.Fatalf("sub_code = %q (%s), want %q", rsp.SubCode, rsp.SubMsg, tc.wantSubCode)
			}
			tr, ok := e.sim.Trade(no)
			if tc.wantSubCode != "" {
				if ok {
					t.Errorf("a refused precreate left a trade: %+v", tr)
				}
				return
			}
			if !ok || tr.TotalFen != tc.wantFen {
				t.Errorf("trade = %+v, want total_fen %d", tr, tc.wantFen)
			}
		})
	}
}

// pkcs8 returns a fresh RSA key as a PKCS#8 PEM: a merchant key Alipay does not know.
func pkcs8(t *testing.T) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func TestGatewayRefusesUnsignedAnswers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, alipaysim.Config{})
	for _, tc := range []struct {
		name        string
		client      *alipay.Client
		wantSubCode string
	}{
		{"bad signature", newClient(t, e.srv, alipaysim.DevAppID, pkcs8(t), nil), "isv.invalid-signature"},
		{"unknown app", newClient(t, e.srv, "2021000000000099", alipaysim.DevAppPrivateKeyPEM, nil), "isv.invalid-app-id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.client.TradeQuery(context.Background(), alipay.TradeQuery{OutTradeNo: "X"})
			aerr := gatewayError(t, err)
			if aerr.Code != alipay.CodeInvalidParam || aerr.SubCode != tc.wantSubCode {
				t.Errorf("refusal = %+v, want 40002 %s", aerr, tc.wantSubCode)
			}
		})
	}
	calls := e.sim.Calls(alipaysim.MethodQuery)
	if len(calls) != 2 || calls[0].SubCode != "isv.invalid-signature" || calls[1].SubCode != "isv.invalid-app-id" {
		t.Errorf("calls = %+v", calls)
	}
}

// tamper rewrites every response body on its way to the SDK.
type tamper struct{ old, new string }

func (tp tamper) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	body = bytes.ReplaceAll(body, []byte(tp.old), []byte(tp.new))
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}

func TestTamperedAnswerIsRefusedBySDK(t *testing.T) {
	t.Parallel()
	e := newEnv(t, alipaysim.Config{})
	e.precreate(t, "T1", "1.00", "")
	e.pay(t, "T1")
	if q := e.query(t, "T1"); q.TotalAmount != "1.00" {
		t.Fatalf("untampered query: total %q", q.TotalAmount)
	}
	evil := newClient(t, e.srv, alipaysim.DevAppID, alipaysim.DevAppPrivateKeyPEM,
		&http.Client{Transport: tamper{old: `"total_amount":"1.00"`, new: `"total_amount":"9.00"`}})
	_, err := evil.TradeQuery(context.Background(), alipay.TradeQuery{OutTradeNo: "T1"})
	if !errors.Is(err, rsa.ErrVerification) {
		t.Errorf("tampered query: err = %v, want rsa.ErrVerification", err)
	}
}
