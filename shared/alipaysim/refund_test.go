package alipaysim_test

import (
	"context"
	"testing"

	"github.com/smartwalle/alipay/v3"

	"github.com/cloudpay/cloudpay/shared/alipaysim"
)

func (e *env) refund(t *testing.T, outTradeNo, amount, requestNo string) *alipay.TradeRefundRsp {
	t.Helper()
	rsp, err := e.client.TradeRefund(context.Background(), alipay.TradeRefund{OutTradeNo: outTradeNo, RefundAmount: amount, OutRequestNo: requestNo})
	if err != nil {
		t.Fatalf("TradeRefund(%s, %s, %s): %v", outTradeNo, amount, requestNo, err)
	}
	return rsp
}

func (e *env) refundQuery(t *testing.T, outTradeNo, requestNo string) *alipay.TradeFastPayRefundQueryRsp {
	t.Helper()
	rsp, err := e.client.TradeFastPayRefundQuery(context.Background(), alipay.TradeFastPayRefundQuery{OutTradeNo: outTradeNo, OutRequestNo: requestNo})
	if err != nil {
		t.Fatalf("TradeFastPayRefundQuery(%s, %s): %v", outTradeNo, requestNo, err)
	}
	return rsp
}

func TestRefunds(t *testing.T) {
	t.Parallel()
	e := newEnv(t, alipaysim.Config{})
	e.precreate(t, "R1", "1.00", "")
	paid := e.pay(t, "R1")

	first := e.refund(t, "R1", "0.30", "RQ1")
	if !first.IsSuccess() || first.FundChange != "Y" || first.RefundFee != "0.30" || first.TradeNo != paid.TradeNo {
		t.Fatalf("first refund = %+v", first)
	}
	again := e.refund(t, "R1", "0.30", "RQ1")
	if !again.IsSuccess() || again.FundChange != "N" || again.RefundFee != "0.30" {
		t.Errorf("same refund again = %+v, want success, fund_change N, refund_fee 0.30", again)
	}
	if rs := e.sim.Refunds("R1"); len(rs) != 1 || rs[0].RefundFen != 30 || rs[0].Requests != 2 || rs[0].OutRequestNo != "RQ1" {
		t.Errorf("refunds after a repeat = %+v", rs)
	}
	if rsp := e.refund(t, "R1", "0.20", "RQ1"); rsp.SubCode != "ACQ.DISCORDANT_REPEAT_REQUEST" {
		t.Errorf("RQ1 with another amount = %s %s", rsp.Code, rsp.SubCode)
	}
	if rsp := e.refund(t, "R1", "0.71", "RQ2"); rsp.SubCode != "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL" || rsp.RefundFee != "0.00" {
		t.Errorf("refund past the total = %+v", rsp)
	}
	if tr, _ := e.sim.Trade("R1"); tr.RefundedFen != 30 || tr.Status != alipaysim.StatusSuccess {
		t.Errorf("trade after a partial refund = %+v", tr)
	}
	last := e.refund(t, "R1", "0.70", "RQ2")
	if !last.IsSuccess() || last.FundChange != "Y" || last.RefundFee != "1.00" {
		t.Errorf("refund of the rest = %+v", last)
	}
	if q := e.query(t, "R1"); q.TradeStatus != alipay.TradeStatusClosed {
		t.Errorf("after a full refund: trade_status %q, want TRADE_CLOSED", q.TradeStatus)
	}
	if rsp := e.refund(t, "R1", "0.70", "RQ2"); !rsp.IsSuccess() || rsp.FundChange != "N" {
		t.Errorf("repeat after the trade closed = %+v", rsp)
	}
	if rsp := e.refund(t, "R1", "0.01", "RQ3"); rsp.SubCode != "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL" {
		t.Errorf("refund of a fully refunded trade = %s %s", rsp.Code, rsp.SubCode)
	}

	q := e.refundQuery(t, "R1", "RQ1")
	if !q.IsSuccess() || q.RefundStatus != "REFUND_SUCCESS" || q.RefundAmount != "0.30" || q.TotalAmount != "1.00" || q.OutRequestNo != "RQ1" {
		t.Errorf("refund query RQ1 = %+v", q)
	}
	if q := e.refundQuery(t, "R1", "RQ9"); !q.IsSuccess() || q.RefundStatus != "" || q.RefundAmount != "" || q.OutRequestNo != "" {
		t.Errorf("refund query of an unknown request = %+v, want 10000 and no refund", q)
	}
	if q := e.refundQuery(t, "NOPE", "RQ1"); q.SubCode != "ACQ.TRADE_NOT_EXIST" {
		t.Errorf("refund query of an unknown trade = %s %s", q.Code, q.SubCode)
	}
}

func TestRefundRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, alipaysim.Config{})
	e.precreate(t, "U1", "2.00", "")
	if rsp := e.refund(t, "U1", "1.00", "X"); rsp.SubCode != "ACQ.TRADE_NOT_EXIST" {
		t.Errorf("refund of an unscanned trade = %s %s", rsp.Code, rsp.SubCode)
	}
	if _, err := e.sim.Scan("U1"); err != nil {
		t.Fatal(err)
	}
	if rsp := e.refund(t, "U1", "1.00", "X"); rsp.SubCode != "ACQ.TRADE_STATUS_ERROR" {
		t.Errorf("refund of an unpaid trade = %s %s", rsp.Code, rsp.SubCode)
	}
	e.pay(t, "U1")
	for _, amount := range []string{"0.5", "0.00", "1,00", ""} {
		if rsp := e.refund(t, "U1", amount, "X"); rsp.SubCode != "ACQ.INVALID_PARAMETER" {
			t.Errorf("refund of %q = %s %s, want ACQ.INVALID_PARAMETER", amount, rsp.Code, rsp.SubCode)
		}
	}
	// Without out_request_no only the full amount goes, under the out_trade_no.
	if rsp := e.refund(t, "U1", "1.00", ""); rsp.SubCode != "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL" {
		t.Errorf("partial refund without out_request_no = %s %s", rsp.Code, rsp.SubCode)
	}
	if rsp := e.refund(t, "U1", "2.00", ""); !rsp.IsSuccess() || rsp.RefundFee != "2.00" {
		t.Errorf("full refund without out_request_no = %+v", rsp)
	}
	if rs := e.sim.Refunds("U1"); len(rs) != 1 || rs[0].OutRequestNo != "U1" {
		t.Errorf("refunds = %+v, want one under the out_trade_no", rs)
	}
	if q := e.refundQuery(t, "U1", "U1"); q.RefundStatus != "REFUND_SUCCESS" {
		t.Errorf("refund query by out_trade_no = %+v", q)
	}
	if rsp := e.refund(t, "NOPE", "1.00", "X"); rsp.SubCode != "ACQ.TRADE_NOT_EXIST" {
		t.Errorf("refund of an unknown trade = %s %s", rsp.Code, rsp.SubCode)
	}
}
