package cloudhosting_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudhosting"
	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// simControl posts a control request to the simulator and decodes its answer.
func simControl(t *testing.T, base, path string, body, out any) {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(base+wechatsim.Route(path), "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: HTTP %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

// A payment made outside cloudpay is found by its transaction_id, and a
// refund made in the merchant platform is called back and counts against
// what the order can still refund.
func TestOutsidePaymentAgainstTheSimulator(t *testing.T) {
	sink, cbSrv := newCallbackSink(t)
	sim := wechatsim.New(wechatsim.Config{SubMchID: "1900000109", RefundSettleDelay: -1,
		Services:                 map[string]string{"payment-callback": cbSrv.URL},
		OutsideRefundCallbackURL: cbSrv.URL + "/callbacks/refund"})
	t.Cleanup(sim.Close)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	gw := cloudhosting.New(cloudhosting.Config{APIURL: srv.URL, SubMchID: "1900000109", EnvID: "e",
		CallbackService: "payment-callback", CallbackPath: "/callbacks/pay", RefundCallbackPath: "/callbacks/refund"}, nil)
	ctx := context.Background()

	var paid struct {
		OutTradeNo    string `json:"out_trade_no"`
		TransactionID string `json:"transaction_id"`
	}
	simControl(t, srv.URL, "/outside/payments", map[string]any{"amount_fen": 300, "openid": "oOther0001"}, &paid)
	want := wechat.Transaction{OutTradeNo: paid.OutTradeNo, TransactionID: paid.TransactionID, State: wechat.TradeSuccess,
		TotalFen: 300, MchID: "1900000109", OpenID: "oOther0001", TradeType: "JSAPI"}

	tx, err := gw.QueryTransaction(ctx, paid.TransactionID)
	if err != nil || time.Since(tx.PaidAt).Abs() > time.Minute || tx.PaidAt.Location() != time.UTC {
		t.Fatalf("by transaction_id: %+v %v", tx, err)
	}
	paidAt := tx.PaidAt
	tx.PaidAt = time.Time{}
	if tx != want {
		t.Fatalf("by transaction_id\n got %+v\nwant %+v", tx, want)
	}
	var sent map[string]any
	calls := sim.Calls("queryorder")
	if err := json.Unmarshal(calls[len(calls)-1].Body, &sent); err != nil {
		t.Fatal(err)
	}
	if len(sent) != 2 || sent["transaction_id"] != paid.TransactionID || sent["sub_mch_id"] != "1900000109" {
		t.Fatalf("queryorder request %v", sent)
	}
	byNo, err := gw.QueryOrder(ctx, paid.OutTradeNo)
	if err != nil || !byNo.PaidAt.Equal(paidAt) {
		t.Fatalf("by out_trade_no: %+v %v", byNo, err)
	}
	if byNo.PaidAt = (time.Time{}); byNo != want {
		t.Fatalf("by out_trade_no\n got %+v\nwant %+v", byNo, want)
	}

	t.Run("unknown", func(t *testing.T) {
		_, err := gw.QueryTransaction(ctx, "4200000000202501010000000000")
		var ce *cloudpay.Error
		if !errors.As(err, &ce) || ce.Code != cloudpay.CodeTransactionNotFound {
			t.Fatalf("err = %v, want TRANSACTION_NOT_FOUND", err)
		}
		if we, ok := wechat.ErrorOf(err); !ok || we.Code != "ORDERNOTEXIST" {
			t.Fatalf("cause %+v", we)
		}
	})
	t.Run("malformed, never sent", func(t *testing.T) {
		before := len(sim.Calls("queryorder"))
		for _, id := range []string{"", "42000000002025010100000000a0", strings.Repeat("4", 33), "4200 0000", "-1"} {
			_, err := gw.QueryTransaction(ctx, id)
			var ce *cloudpay.Error
			if !errors.As(err, &ce) || ce.Code != cloudpay.CodeInvalidField || ce.Field != "transaction_id" {
				t.Fatalf("%q: err = %v, want INVALID_FIELD transaction_id", id, err)
			}
		}
		if n := len(sim.Calls("queryorder")); n != before {
			t.Fatalf("%d malformed queries reached WeChat", n-before)
		}
	})
	t.Run("a refund made in the merchant platform", func(t *testing.T) {
		var rf struct {
			OutRefundNo string `json:"out_refund_no"`
			Status      string `json:"status"`
		}
		simControl(t, srv.URL, "/outside/refunds", map[string]any{"transaction_id": paid.TransactionID, "amount_fen": 120}, &rf)
		if rf.OutRefundNo == "" || rf.Status != "PROCESSING" {
			t.Fatalf("outside refund %+v", rf)
		}
		if _, err := sim.SettleRefund(ctx, rf.OutRefundNo, "SUCCESS"); err != nil {
			t.Fatal(err)
		}
		bodies := sink.received("/callbacks/refund")
		if len(bodies) != 1 {
			t.Fatalf("%d refund callbacks, want 1", len(bodies))
		}
		hint, err := cloudhosting.ParseRefundCallback(bodies[0])
		if err != nil || hint != (wechat.RefundHint{OutRefundNo: rf.OutRefundNo, OutTradeNo: paid.OutTradeNo, MchID: "1900000109", State: wechat.RefundSuccess}) {
			t.Fatalf("hint %+v %v", hint, err)
		}
		var cb struct {
			RefundFee     int64  `json:"refundFee"`
			TransactionID string `json:"transactionId"`
		}
		if err := json.Unmarshal(bodies[0], &cb); err != nil || cb.RefundFee != 120 || cb.TransactionID != paid.TransactionID {
			t.Fatalf("callback %s", bodies[0])
		}
		q, err := gw.QueryRefund(ctx, rf.OutRefundNo)
		if err != nil || q.State != wechat.RefundSuccess || q.RefundFen != 120 || q.TotalFen != 300 ||
			q.TransactionID != paid.TransactionID || q.OutTradeNo != paid.OutTradeNo {
			t.Fatalf("query refund %+v %v", q, err)
		}
		// 180 fen are left to refund.
		_, err = gw.Refund(ctx, wechat.RefundRequest{OutTradeNo: paid.OutTradeNo, OutRefundNo: "OS-R-181", TotalFen: 300, RefundFen: 181})
		if we, ok := wechat.ErrorOf(err); !ok || we.Code != "INVALID_REQUEST" {
			t.Fatalf("refund beyond what is left: %v", err)
		}
		res, err := gw.Refund(ctx, wechat.RefundRequest{OutTradeNo: paid.OutTradeNo, OutRefundNo: "OS-R-180", TotalFen: 300, RefundFen: 180})
		if err != nil || res.TransactionID != paid.TransactionID || res.State != wechat.RefundProcessing {
			t.Fatalf("refund of the rest: %+v %v", res, err)
		}
	})
}
