package wechatpay_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// A payment made outside cloudpay is found by its transaction_id, and a
// refund made in the merchant platform is notified to the URL configured
// there and counts against what the order can still refund.
func TestOutsidePaymentAndRefund(t *testing.T) {
	platform := &inbox{} // the notify URL configured in the merchant platform
	platformSrv := httptest.NewServer(platform)
	t.Cleanup(platformSrv.Close)
	s := newStack(t, wechatsim.Config{OutsideNotifyURL: platformSrv.URL + "/callbacks/v3"}, 5*time.Second)
	platform.mu.Lock()
	platform.gw = s.gw
	platform.mu.Unlock()
	ctx := context.Background()

	paid, err := s.sim.OutsidePayment(wechatsim.OutsidePaymentRequest{AmountFen: 300, OpenID: "oOther0001", Channel: wechatsim.ChannelV3})
	if err != nil {
		t.Fatal(err)
	}
	want := wechat.Transaction{OutTradeNo: paid.OutTradeNo, TransactionID: paid.TransactionID, State: wechat.TradeSuccess,
		TotalFen: 300, MchID: wechatsim.DevMchID, OpenID: "oOther0001", PaidAt: paid.PaidAt.UTC(), TradeType: "JSAPI"}

	tx, err := s.gw.QueryTransaction(ctx, paid.TransactionID)
	if err != nil || tx.PaidAt.Location() != time.UTC || !tx.PaidAt.Equal(want.PaidAt.Truncate(time.Second)) {
		t.Fatalf("by transaction_id: %+v %v", tx, err)
	}
	want.PaidAt = tx.PaidAt // RFC 3339 to the second
	if tx != want {
		t.Fatalf("by transaction_id\n got %+v\nwant %+v", tx, want)
	}
	if c, body := lastCall(t, s.sim, "queryorder"); c.Path != "/v3/pay/transactions/id/"+paid.TransactionID+"?mchid="+wechatsim.DevMchID || body != nil {
		t.Fatalf("query %q with body %v", c.Path, body)
	}
	if tx, err := s.gw.QueryOrder(ctx, paid.OutTradeNo); err != nil || tx != want {
		t.Fatalf("by out_trade_no: %+v %v", tx, err)
	}
	if platform.count() != 0 || s.inbox.count() != 0 {
		t.Fatal("a payment made outside cloudpay was notified")
	}

	t.Run("unknown", func(t *testing.T) {
		_, err := s.gw.QueryTransaction(ctx, "4200000000202501010000000000")
		var ce *cloudpay.Error
		if !errors.As(err, &ce) || ce.Code != cloudpay.CodeTransactionNotFound {
			t.Fatalf("err = %v, want TRANSACTION_NOT_FOUND", err)
		}
		if we, ok := wechat.ErrorOf(err); !ok || we.Code != "ORDER_NOT_EXIST" || we.HTTPStatus != http.StatusNotFound {
			t.Fatalf("cause %+v", we)
		}
	})
	t.Run("malformed, never sent", func(t *testing.T) {
		before := len(s.sim.Calls("queryorder"))
		for _, id := range []string{"", "42000000002025010100000000a0", strings.Repeat("4", 33), "4200/0000", "../out-trade-no/X"} {
			_, err := s.gw.QueryTransaction(ctx, id)
			var ce *cloudpay.Error
			if !errors.As(err, &ce) || ce.Code != cloudpay.CodeInvalidField || ce.Field != "transaction_id" {
				t.Fatalf("%q: err = %v, want INVALID_FIELD transaction_id", id, err)
			}
		}
		if n := len(s.sim.Calls("queryorder")); n != before {
			t.Fatalf("%d malformed queries reached WeChat", n-before)
		}
	})
	t.Run("a refund made in the merchant platform", func(t *testing.T) {
		rf, err := s.sim.OutsideRefund(wechatsim.OutsideRefundRequest{TransactionID: paid.TransactionID, AmountFen: 120})
		if err != nil || rf.Status != wechatsim.RefundProcessing || rf.Source != wechatsim.RefundSourceVendorPlatform {
			t.Fatalf("outside refund %+v %v", rf, err)
		}
		if _, err := s.sim.SettleRefund(ctx, rf.OutRefundNo, wechatsim.RefundSuccess); err != nil {
			t.Fatal(err)
		}
		got := platform.last(t)
		if got.err != nil || got.n.EventType != "REFUND.SUCCESS" || got.n.Refund == nil {
			t.Fatalf("notification %+v", got)
		}
		if r := *got.n.Refund; r.OutRefundNo != rf.OutRefundNo || r.OutTradeNo != paid.OutTradeNo || r.TransactionID != paid.TransactionID ||
			r.RefundID != rf.RefundID || r.State != wechat.RefundSuccess || r.RefundFen != 120 || r.TotalFen != 300 ||
			r.MchID != wechatsim.DevMchID || r.SucceededAt.IsZero() {
			t.Fatalf("notified refund %+v", r)
		}
		q, err := s.gw.QueryRefund(ctx, rf.OutRefundNo)
		if err != nil || q.State != wechat.RefundSuccess || q.RefundFen != 120 || q.TransactionID != paid.TransactionID {
			t.Fatalf("query refund %+v %v", q, err)
		}
		// 180 fen are left to refund.
		_, err = s.gw.Refund(ctx, wechat.RefundRequest{OutTradeNo: paid.OutTradeNo, OutRefundNo: "OS-R-181", TotalFen: 300, RefundFen: 181})
		if we, ok := wechat.ErrorOf(err); !ok || we.Code != "INVALID_REQUEST" {
			t.Fatalf("refund beyond what is left: %v", err)
		}
		res, err := s.gw.Refund(ctx, wechat.RefundRequest{OutTradeNo: paid.OutTradeNo, OutRefundNo: "OS-R-180", TotalFen: 300, RefundFen: 180})
		if err != nil || res.TransactionID != paid.TransactionID || res.State != wechat.RefundProcessing {
			t.Fatalf("refund of the rest: %+v %v", res, err)
		}
	})
}
