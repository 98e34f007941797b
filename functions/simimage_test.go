package functions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/wechatpay"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// The simulator's image, as merchants' CI runs it (make image FUNCTION=wechatsim,
// podman building the Dockerfile's wechatsim-prebuilt stage): non-root, its one
// binary, listening on 8090 for any client; an unmodified SDK configured from its
// GET /sim/devkeys prepays at its root, the user pays through /sim/pay, and the
// order it paid is still there after the container restarts on the same /data.
func TestSimulatorImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a container image; not in -short")
	}
	for _, tool := range []string{"podman", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: the simulator's image cannot be checked", tool)
		}
	}
	if out, err := exec.Command("podman", "info").CombinedOutput(); err != nil {
		t.Skipf("podman does not work here: podman info: %v\n%s", err, out)
	}
	t.Parallel()

	tag := fmt.Sprintf("localhost/cloudpay-imagetest-wechatsim:%d", os.Getpid())
	out, err := exec.Command("make", "-C", "..", "image", "FUNCTION=wechatsim", "IMAGE="+tag, "IMAGE_BUILDER=podman").CombinedOutput()
	t.Cleanup(func() { _ = exec.Command("podman", "rmi", "-f", tag).Run() })
	if err != nil {
		t.Fatalf("make image FUNCTION=wechatsim: %v\n%s", err, out)
	}
	cfg := inspectImage(t, tag)
	t.Logf("image %s: %.1f MB", tag, float64(cfg.Size)/1e6)
	if uid := strings.Split(cfg.Config.User, ":")[0]; uid == "" || uid == "0" || uid == "root" {
		t.Errorf("image user %q: the simulator must not run as root", cfg.Config.User)
	}
	for _, want := range []string{"HOST=0.0.0.0", "PORT=8090", "WECHATSIM_STATE=/data/wechatsim.jsonl", "TZ=Asia/Shanghai"} {
		if !slices.Contains(cfg.Config.Env, want) {
			t.Errorf("image environment %q lacks %s", cfg.Config.Env, want)
		}
	}
	if _, ok := cfg.Config.ExposedPorts["8090/tcp"]; !ok || !slices.Equal(cfg.Config.Entrypoint, []string{"/wechatsim"}) {
		t.Errorf("image exposes %v with entry point %q, want 8090/tcp and /wechatsim", cfg.Config.ExposedPorts, cfg.Config.Entrypoint)
	}

	run := findPodmanRun(t, tag, map[string]string{"WECHATSIM_SIGNING": "nope"}, "WECHATSIM_SIGNING")
	volume := fmt.Sprintf("cloudpay-imagetest-wechatsim-data-%d", os.Getpid())
	t.Cleanup(func() { _ = exec.Command("podman", "volume", "rm", "-f", volume).Run() })
	// -v name:/data by way of the env map is not possible; the flag goes with the run's own.
	run = &podmanRun{flags: append(slices.Clone(run.flags), "-v", volume+":/data")}

	base, _, logs, stop := run.start(t, tag, "wechatsim", 8090, nil)
	keys := getJSON[wechatsim.DevKeys](t, base+"/sim/devkeys")
	gw := sdkFromDevKeys(t, keys, base)
	now := time.Now()
	order := cloudpay.Order{OutTradeNo: "IMGSIM0001", OpenID: "oImageUser", AmountFen: 100, Description: "image", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if _, _, err := gw.Prepay(context.Background(), wechat.PrepayRequest{Order: order, ClientIP: "203.0.113.7"}); err != nil {
		t.Fatalf("prepay at the image's root: %v\n%s", err, logs())
	}
	resp, err := http.Post(base+"/sim/pay", "application/json", strings.NewReader(`{"out_trade_no":"IMGSIM0001"}`))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /sim/pay: %v %v", resp, err)
	}
	resp.Body.Close()
	stop()

	base, _, _, stop = run.start(t, tag, "wechatsim", 8090, nil)
	defer stop()
	gw = sdkFromDevKeys(t, keys, base)
	if tx, err := gw.QueryOrder(context.Background(), "IMGSIM0001"); err != nil || tx.State != wechat.TradeSuccess || tx.TotalFen != 100 {
		t.Errorf("the order paid before the restart: %+v %v", tx, err)
	}
}

// sdkFromDevKeys is cloudpay's API v3 client (the official SDK) configured from
// a simulator's GET /sim/devkeys alone, sending to base.
func sdkFromDevKeys(t *testing.T, keys wechatsim.DevKeys, base string) *wechatpay.Client {
	t.Helper()
	gw, err := wechatpay.New(context.Background(), wechatpay.Config{
		MchID: keys.MchID, AppID: keys.AppID, MchSerial: keys.MerchantSerial, PrivateKey: keys.MerchantPrivateKeyPEM,
		APIv3Key: keys.APIv3Key, PublicKey: keys.PublicKeyPEM, PublicKeyID: keys.PublicKeyID,
		NotifyURL: "https://merchant.example/callbacks/v3", APIURL: base, Timeout: 30 * time.Second,
	}, &http.Client{})
	if err != nil {
		t.Fatal(err)
	}
	return gw
}

func getJSON[T any](t *testing.T, url string) T {
	t.Helper()
	var v T
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return v
}
