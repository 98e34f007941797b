package alipaysim_test

import (
	"context"
	"crypto/rsa"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/smartwalle/alipay/v3"

	"github.com/cloudpay/cloudpay/shared/alipaysim"
)

func addFault(t *testing.T, sim *alipaysim.Simulator, f alipaysim.Fault) {
	t.Helper()
	if err := sim.AddFault(f); err != nil {
		t.Fatalf("AddFault(%+v): %v", f, err)
	}
}

func TestFailFaults(t *testing.T) {
	t.Parallel()
	e := newEnv(t, alipaysim.Config{})
	e.precreate(t, "FF1", "3.00", "")
	e.pay(t, "FF1")

	// Default: a signed 40004 ACQ.SYSTEM_ERROR, nothing done.
	addFault(t, e.sim, alipaysim.Fault{Method: alipaysim.MethodRefund, Mode: alipaysim.ModeFail})
	if rsp := e.refund(t, "FF1", "1.00", "A"); rsp.Code != alipay.CodeBusinessFailed || rsp.SubCode != "ACQ.SYSTEM_ERROR" {
		t.Errorf("failed refund = %s %s", rsp.Code, rsp.SubCode)
	}
	if rs := e.sim.Refunds("FF1"); len(rs) != 0 {
		t.Errorf("a failed refund took effect: %+v", rs)
	}
	if rsp := e.refund(t, "FF1", "1.00", "A"); !rsp.IsSuccess() {
		t.Errorf("refund after the fault was used up = %s %s", rsp.Code, rsp.SubCode)
	}

	// A gateway code: unsigned, an *alipay.Error from the SDK.
	addFault(t, e.sim, alipaysim.Fault{Method: alipaysim.MethodQuery, Mode: alipaysim.ModeFail, Code: "20000", Count: 2})
	for range 2 {
		_, err := e.client.TradeQuery(context.Background(), alipay.TradeQuery{OutTradeNo: "FF1"})
		if aerr := gatewayError(t, err); aerr.Code != alipay.CodeUnknowError || aerr.SubCode != "isp.unknow-error" {
			t.Errorf("query under a 20000 fault = %+v", aerr)
		}
	}
	if q := e.query(t, "FF1"); !q.IsSuccess() {
		t.Errorf("query after two faults = %s %s", q.Code, q.SubCode)
	}
	calls := e.sim.Calls(alipaysim.MethodQuery)
	if len(calls) != 3 || calls[0].Fault != alipaysim.ModeFail || calls[2].Fault != "" {
		t.Errorf("calls = %+v", calls)
	}

	addFault(t, e.sim, alipaysim.Fault{Method: alipaysim.MethodClose, Mode: alipaysim.ModeFail, Code: "40004", SubCode: "ACQ.TRADE_NOT_EXIST"})
	if fs := e.sim.Faults(); len(fs) != 1 || fs[0].Count != 1 {
		t.Errorf("faults = %+v", fs)
	}
	e.sim.ClearFaults()
	if fs := e.sim.Faults(); len(fs) != 0 {
		t.Errorf("faults after ClearFaults = %+v", fs)
	}
}

func TestTimeoutFaultActsButNeverAnswers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, alipaysim.Config{})
	e.precreate(t, "TO1", "3.00", "")
	e.pay(t, "TO1")
	addFault(t, e.sim, alipaysim.Fault{Method: alipaysim.MethodRefund, Mode: alipaysim.ModeTimeout})

	impatient := newClient(t, e.srv, alipaysim.DevAppID, alipaysim.DevAppPrivateKeyPEM, &http.Client{Timeout: 300 * time.Millisecond})
	_, err := impatient.TradeRefund(context.Background(), alipay.TradeRefund{OutTradeNo: "TO1", RefundAmount: "1.00", OutRequestNo: "A"})
	if err == nil {
		t.Fatal("refund under a timeout fault was answered")
	}
	// The refund took effect although no answer came.
	waitFor(t, "the timed-out refund", func() bool { return len(e.sim.Refunds("TO1")) == 1 })
	if rs := e.sim.Refunds("TO1"); rs[0].RefundFen != 100 {
		t.Fatalf("the timed-out refund = %+v", rs)
	}
	// The merchant retries with the same out_request_no: answered, refunded once.
	if rsp := e.refund(t, "TO1", "1.00", "A"); !rsp.IsSuccess() || rsp.FundChange != "N" || rsp.RefundFee != "1.00" {
		t.Errorf("retry after the timeout = %+v", rsp)
	}
}

func TestDelayFault(t *testing.T) {
	t.Parallel()
	e := newEnv(t, alipaysim.Config{})
	addFault(t, e.sim, alipaysim.Fault{Method: alipaysim.MethodPrecreate, Mode: alipaysim.ModeDelay, DelayMS: 150})
	start := time.Now()
	e.precreate(t, "D1", "1.00", "")
	if elapsed := time.Since(start); elapsed < 150*time.Millisecond {
		t.Errorf("precreate under a 150 ms delay answered in %v", elapsed)
	}
}

func TestNotifyFaults(t *testing.T) {
	t.Parallel()
	t.Run("duplicate", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, alipaysim.Config{RetryDelays: []time.Duration{}})
		rc := newReceiver(t)
		e.precreate(t, "ND1", "1.00", rc.url())
		addFault(t, e.sim, alipaysim.Fault{Method: alipaysim.FaultNotify, Mode: alipaysim.ModeDuplicate})
		e.pay(t, "ND1")
		ds := e.sim.Deliveries("ND1")
		if len(ds) != 2 || ds[0].NotifyID != ds[1].NotifyID || ds[0].Duplicate == ds[1].Duplicate {
			t.Errorf("deliveries = %+v, want the attempt twice", ds)
		}
		if got := rc.received(); len(got) != 2 {
			t.Errorf("receiver got %d copies, want 2", len(got))
		}
	})
	t.Run("drop", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, alipaysim.Config{RetryDelays: fastRetries})
		rc := newReceiver(t)
		e.precreate(t, "ND2", "1.00", rc.url())
		addFault(t, e.sim, alipaysim.Fault{Method: alipaysim.FaultNotify, Mode: alipaysim.ModeDrop})
		e.pay(t, "ND2")
		e.sim.Close() // nothing was scheduled; Close waits for whatever was
		ds := e.sim.Deliveries("ND2")
		if len(ds) != 1 || !ds[0].Dropped || ds[0].OK {
			t.Errorf("deliveries = %+v, want one dropped", ds)
		}
		if got := rc.received(); len(got) != 0 {
			t.Errorf("a dropped notification arrived: %v", got)
		}
	})
	t.Run("forge", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, alipaysim.Config{})
		rc := newReceiver(t)
		addFault(t, e.sim, alipaysim.Fault{Method: alipaysim.FaultNotify, Mode: alipaysim.ModeForge})
		e.precreate(t, "NF1", "1.00", rc.url())
		waitFor(t, "the forged notification", func() bool { return len(e.sim.Deliveries("NF1")) == 1 })
		_, err := e.client.DecodeNotification(context.Background(), rc.received()[0])
		if !errors.Is(err, rsa.ErrVerification) {
			t.Errorf("forged notification: SDK err = %v, want rsa.ErrVerification", err)
		}
		ds := e.sim.Deliveries("NF1")
		if len(ds) != 1 || !ds[0].Forged || ds[0].Trigger != alipaysim.TriggerForgeFault {
			t.Errorf("deliveries = %+v", ds)
		}
		if tr, _ := e.sim.Trade("NF1"); tr.Status != alipaysim.StatusWaitBuyerPay {
			t.Errorf("trade after a forged notification = %+v", tr)
		}
	})
}

func TestAddFaultValidates(t *testing.T) {
	t.Parallel()
	sim := alipaysim.New(alipaysim.Config{})
	defer sim.Close()
	for _, f := range []alipaysim.Fault{
		{Method: "alipay.trade.pay", Mode: alipaysim.ModeFail},
		{Method: alipaysim.MethodQuery, Mode: alipaysim.ModeDrop},
		{Method: alipaysim.FaultNotify, Mode: alipaysim.ModeFail},
		{Method: alipaysim.MethodQuery, Mode: alipaysim.ModeDelay},
		{Method: alipaysim.MethodQuery, Mode: alipaysim.ModeFail, Code: "10000"},
		{Method: alipaysim.FaultNotify, Mode: alipaysim.ModeForge, Code: "nonsense"},
		{Method: alipaysim.MethodQuery, Mode: alipaysim.ModeFail, Count: -1},
	} {
		var e *alipaysim.Error
		if err := sim.AddFault(f); !errors.As(err, &e) || e.Status != http.StatusBadRequest {
			t.Errorf("AddFault(%+v) = %v, want a 400 *Error", f, err)
		}
	}
	if fs := sim.Faults(); len(fs) != 0 {
		t.Errorf("invalid faults were queued: %+v", fs)
	}
}
