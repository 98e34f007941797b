package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudhosting"
	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/funcbuild"
	"github.com/cloudpay/cloudpay/shared/mongostore"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/storetest"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// The binary is built once, as shipped, and removed after the tests.
func TestMain(m *testing.M) { funcbuild.Main(m) }

// processDeadline bounds each wait on the process (to answer /healthz, to
// exit after SIGTERM), sized for a loaded machine; a process that works is
// waited for only as long as it needs.
const processDeadline = 90 * time.Second

// The deployed binary, stopped and started again on the same store, takes a
// replayed callback as already recorded and changes nothing.
func TestCallbackReplayedToARestartedProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	bin := funcbuild.Binary(t, "payment-callback")
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	sim := wechatsim.New(wechatsim.Config{SubMchID: "1900000109", Services: map[string]string{"payment-callback": base}})
	t.Cleanup(sim.Close)
	simSrv := httptest.NewServer(sim.Handler())
	t.Cleanup(simSrv.Close)

	cfg := storetest.Config(t)
	ctx := context.Background()
	store, err := mongostore.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close(ctx) })
	gw := cloudhosting.New(cloudhosting.Config{APIURL: simSrv.URL, SubMchID: "1900000109", EnvID: "e1",
		CallbackService: "payment-callback", CallbackPath: "/callbacks/pay"}, nil)
	svc := payment.New(store, gw, payment.Config{})
	if _, _, err := svc.CreateOrder(ctx, payment.NewOrder{OutTradeNo: "PROC001", OpenID: "oProcUser01", AmountFen: 321, Description: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreatePayment(ctx, "oProcUser01", "PROC001", "127.0.0.1", ""); err != nil {
		t.Fatal(err)
	}

	env := append(os.Environ(), "PORT="+fmt.Sprint(port), "MONGODB_URI="+cfg.URI, "MONGODB_DATABASE="+cfg.Database,
		"WECHAT_SUB_MCH_ID=1900000109", "CLOUDHOSTING_API_URL="+simSrv.URL, "LOG_LEVEL=error")
	stop := start(t, bin, env, base)
	paid, err := sim.Pay(ctx, "PROC001")
	if err != nil || !paid.Callback.OK {
		t.Fatalf("first delivery: %+v %v", paid.Callback, err)
	}
	stop()

	stop = start(t, bin, env, base)
	defer stop()
	replay, err := sim.Notify(ctx, "PROC001")
	if err != nil || !replay.OK {
		t.Fatalf("replay to the restarted process: %+v %v", replay, err)
	}
	resp, err := http.Post(base+"/callbacks/pay", "application/json", bytes.NewReader(paid.Callback.Body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if v := resp.Header.Get("X-Cloudpay-Verdict"); v != "already_recorded" {
		t.Fatalf("replay verdict %q, want already_recorded", v)
	}
	n, _ := store.Database().Collection("settlements").CountDocuments(ctx, map[string]any{})
	evs, _ := store.Events(ctx, "PROC001")
	o, _ := store.Order(ctx, "PROC001")
	if n != 1 || len(evs) != 1 || o.Status != cloudpay.OrderPaid || o.TransactionID != paid.TransactionID {
		t.Fatalf("after replay: settlements %d, events %d, order %+v", n, len(evs), o)
	}
}

// start runs the binary and waits for its first 200; stop sends SIGTERM and
// expects a clean exit (graceful shutdown).
func start(t *testing.T, bin string, env []string, base string) (stop func()) {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = env
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{}) // closed when the process has exited, with exitErr
	var exitErr error
	go func() { exitErr = cmd.Wait(); close(done) }()
	stopped := false
	t.Cleanup(func() { // a test that failed before stopping it
		if !stopped {
			stopped = true
			_ = cmd.Process.Kill()
			<-done
		}
	})
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(processDeadline)
	for {
		resp, err := client.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			t.Fatalf("payment-callback did not become healthy within %s: %v", processDeadline, err)
		}
		select {
		case <-done:
			t.Fatalf("payment-callback exited before it answered: %v", exitErr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
			if exitErr != nil {
				t.Errorf("payment-callback exited with %v after SIGTERM", exitErr)
			}
		case <-time.After(processDeadline):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("payment-callback still running %s after SIGTERM", processDeadline)
		}
	}
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
