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
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudhosting"
	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/mongostore"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/storetest"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// The deployed binary, stopped and started again on the same store, takes a
// replayed callback as already recorded and changes nothing.
func TestCallbackReplayedToARestartedProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(t.TempDir(), "payment-callback")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
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
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("payment-callback did not become healthy: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stopped := false
	return func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("payment-callback exited with %v after SIGTERM", err)
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
