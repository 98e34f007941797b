package alipaysim_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/smartwalle/alipay/v3"

	"github.com/cloudpay/cloudpay/shared/alipaysim"
)

// do calls a control route and decodes the JSON answer into out (when not nil).
func do(t *testing.T, e *env, method, path, body string, wantStatus int, out any) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+alipaysim.ControlPrefix+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s %s: status %d, want %d", method, path, resp.StatusCode, wantStatus)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: decode: %v", method, path, err)
		}
	}
}

func TestControlRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, alipaysim.Config{RetryDelays: fastRetries})
	rc := newReceiver(t)
	e.precreate(t, "C1", "9.99", rc.url())

	do(t, e, http.MethodPost, "/faults", `{"method":"notify","mode":"duplicate"}`, http.StatusCreated, nil)
	var faults struct{ Faults []alipaysim.Fault }
	do(t, e, http.MethodGet, "/faults", "", http.StatusOK, &faults)
	if len(faults.Faults) != 1 || faults.Faults[0].Mode != alipaysim.ModeDuplicate {
		t.Errorf("faults = %+v", faults)
	}
	do(t, e, http.MethodDelete, "/faults", "", http.StatusNoContent, nil)
	do(t, e, http.MethodPost, "/faults", `{"method":"notify","mode":"fail"}`, http.StatusBadRequest, nil)

	var tr alipaysim.Trade
	do(t, e, http.MethodPost, "/scan", `{"out_trade_no":"C1"}`, http.StatusOK, &tr)
	if !tr.Scanned || tr.Status != alipaysim.StatusWaitBuyerPay {
		t.Errorf("scan = %+v", tr)
	}
	do(t, e, http.MethodPost, "/pay", `{"out_trade_no":"C1"}`, http.StatusOK, &tr)
	if tr.Status != alipaysim.StatusSuccess || !tr.NotifyAcked || tr.TotalFen != 999 {
		t.Errorf("pay = %+v", tr)
	}
	do(t, e, http.MethodPost, "/pay", `{"out_trade_no":"C1"}`, http.StatusConflict, nil)
	do(t, e, http.MethodPost, "/pay", `{"out_trade_no":"NOPE"}`, http.StatusNotFound, nil)
	do(t, e, http.MethodGet, "/trades/C1", "", http.StatusOK, &tr)
	if tr.OutTradeNo != "C1" || tr.TradeNo == "" {
		t.Errorf("trade = %+v", tr)
	}
	do(t, e, http.MethodGet, "/trades/NOPE", "", http.StatusNotFound, nil)

	var d alipaysim.Delivery
	do(t, e, http.MethodPost, "/notify", `{"out_trade_no":"C1"}`, http.StatusOK, &d)
	if !d.OK || d.NotifyID != tr.NotifyID {
		t.Errorf("notify = %+v", d)
	}
	do(t, e, http.MethodPost, "/forge", `{"kind":"wrong_seller","out_trade_no":"C1"}`, http.StatusOK, &d)
	if !d.Forged || d.Form().Get("seller_id") != alipaysim.ForgedSellerID {
		t.Errorf("forge = %+v", d)
	}
	var deliveries struct{ Deliveries []alipaysim.Delivery }
	do(t, e, http.MethodGet, "/notifications?out_trade_no=C1", "", http.StatusOK, &deliveries)
	if len(deliveries.Deliveries) != 3 {
		t.Errorf("notifications = %+v", deliveries)
	}

	if rsp := e.refund(t, "C1", "1.00", "CR1"); !rsp.IsSuccess() {
		t.Fatalf("refund = %+v", rsp)
	}
	var refunds struct{ Refunds []alipaysim.Refund }
	do(t, e, http.MethodGet, "/refunds?out_trade_no=C1", "", http.StatusOK, &refunds)
	if len(refunds.Refunds) != 1 || refunds.Refunds[0].RefundFen != 100 {
		t.Errorf("refunds = %+v", refunds)
	}

	if _, err := e.client.TradeQuery(context.Background(), alipay.TradeQuery{OutTradeNo: "C1"}); err != nil {
		t.Fatal(err)
	}
	var calls struct{ Calls []alipaysim.Call }
	do(t, e, http.MethodGet, "/calls?method=alipay.trade.query", "", http.StatusOK, &calls)
	if len(calls.Calls) != 1 || calls.Calls[0].Code != "10000" || !strings.Contains(calls.Calls[0].Params["biz_content"], `"out_trade_no":"C1"`) {
		t.Errorf("calls = %+v", calls)
	}
	do(t, e, http.MethodGet, "/calls", "", http.StatusOK, &calls)
	if len(calls.Calls) != 3 || calls.Calls[0].Method != alipaysim.MethodPrecreate {
		t.Errorf("all calls = %+v", calls)
	}
}
