package alipaysim_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/smartwalle/alipay/v3"

	"github.com/cloudpay/cloudpay/shared/alipaysim"
	"github.com/cloudpay/cloudpay/shared/testkit"
)

// env is a simulator behind a real HTTP server and the real SDK pointed at it.
type env struct {
	sim    *alipaysim.Simulator
	srv    *httptest.Server
	client *alipay.Client
}

// fastRetries is a redelivery schedule for tests.
var fastRetries = []time.Duration{5 * time.Millisecond, 5 * time.Millisecond, 5 * time.Millisecond, 5 * time.Millisecond, 5 * time.Millisecond}

func newEnv(t *testing.T, cfg alipaysim.Config) *env {
	t.Helper()
	sim := alipaysim.New(cfg)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(sim.Close) // first: releases replies held by timeout faults
	return &env{sim: sim, srv: srv, client: newClient(t, srv, alipaysim.DevAppID, alipaysim.DevAppPrivateKeyPEM, nil)}
}

// newClient is the merchant's SDK client, configured as production code would be:
// public-key mode, the simulator as the production gateway.
func newClient(t *testing.T, srv *httptest.Server, appID, privateKey string, hc *http.Client) *alipay.Client {
	t.Helper()
	c, err := alipay.New(appID, privateKey, true,
		alipay.WithProductionGateway(srv.URL+alipaysim.GatewayPath), alipay.WithHTTPClient(hc))
	if err != nil {
		t.Fatalf("alipay.New: %v", err)
	}
	if err := c.LoadAliPayPublicKey(alipaysim.DevAlipayPublicKeyPEM); err != nil {
		t.Fatalf("LoadAliPayPublicKey: %v", err)
	}
	return c
}

func (e *env) precreate(t *testing.T, outTradeNo, total, notifyURL string) *alipay.TradePreCreateRsp {
	t.Helper()
	var p alipay.TradePreCreate
	p.OutTradeNo, p.TotalAmount, p.Subject, p.NotifyURL = outTradeNo, total, "测试商品 "+outTradeNo, notifyURL
	p.ProductCode = "FACE_TO_FACE_PAYMENT"
	rsp, err := e.client.TradePreCreate(context.Background(), p)
	if err != nil {
		t.Fatalf("TradePreCreate(%s): %v", outTradeNo, err)
	}
	if !rsp.IsSuccess() {
		t.Fatalf("TradePreCreate(%s) = %s %s %s", outTradeNo, rsp.Code, rsp.SubCode, rsp.SubMsg)
	}
	return rsp
}

func (e *env) query(t *testing.T, outTradeNo string) *alipay.TradeQueryRsp {
	t.Helper()
	rsp, err := e.client.TradeQuery(context.Background(), alipay.TradeQuery{OutTradeNo: outTradeNo})
	if err != nil {
		t.Fatalf("TradeQuery(%s): %v", outTradeNo, err)
	}
	return rsp
}

func (e *env) pay(t *testing.T, outTradeNo string) alipaysim.Trade {
	t.Helper()
	tr, err := e.sim.Pay(context.Background(), outTradeNo)
	if err != nil {
		t.Fatalf("Pay(%s): %v", outTradeNo, err)
	}
	return tr
}

// gatewayError returns the *alipay.Error the SDK made of an unsigned gateway refusal.
func gatewayError(t *testing.T, err error) *alipay.Error {
	t.Helper()
	var aerr *alipay.Error
	if !errors.As(err, &aerr) {
		t.Fatalf("err = %v (%T), want an *alipay.Error", err, err)
	}
	return aerr
}

// receiver is the merchant's notify_url: it records what arrives and replies with the
// scripted replies in order, then "success".
type receiver struct {
	srv *httptest.Server

	mu      sync.Mutex
	forms   []url.Values
	replies []string
}

func newReceiver(t *testing.T, replies ...string) *receiver {
	t.Helper()
	rc := &receiver{replies: replies}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		rc.forms = append(rc.forms, r.PostForm)
		reply := "success"
		if len(rc.replies) > 0 {
			reply, rc.replies = rc.replies[0], rc.replies[1:]
		}
		rc.mu.Unlock()
		_, _ = w.Write([]byte(reply))
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) url() string { return rc.srv.URL + "/alipay/notify" }

func (rc *receiver) received() []url.Values {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]url.Values{}, rc.forms...)
}

// waitFor waits until cond holds (testkit.Eventually: a deadline sized for a
// loaded machine).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testkit.Eventually(t, func() error {
		if !cond() {
			return fmt.Errorf("waiting for %s", what)
		}
		return nil
	})
}
