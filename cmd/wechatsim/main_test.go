package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/serve"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/wechatpay"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// wechatsim serves WeChat's paths at the root and its control routes under /sim/,
// delivers Cloud Hosting callbacks to the service WECHATSIM_SERVICES names, and
// keeps WeChat's state across a restart.
func TestRunSimulatorKeepsStateAcrossRestarts(t *testing.T) {
	var mu sync.Mutex
	var callbacks []string
	merchant := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		callbacks = append(callbacks, r.URL.Path)
		mu.Unlock()
		_, _ = io.WriteString(w, `{"errcode":0,"errmsg":"ok"}`)
	}))
	defer merchant.Close()
	state := filepath.Join(t.TempDir(), "data", "wechatsim.jsonl")

	start := func() (base string, stop func()) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, config{State: state, Services: map[string]string{"payment-callback": merchant.URL + "/payment-callback"},
				SubMchID: "1900000109", RefundSettleDelay: -time.Second, Signing: wechatsim.SignPublicKey}, ln, slog.New(slog.DiscardHandler))
		}()
		base = "http://" + ln.Addr().String()
		deadline := time.Now().Add(testkit.Patience)
		for {
			resp, err := http.Get(base + "/")
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if !strings.Contains(string(body), state) {
					t.Errorf("usage does not name the state file:\n%s", body)
				}
				break
			}
			select {
			case err := <-done:
				t.Fatalf("run: %v", err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("the simulator did not come up: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		return base, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		}
	}
	post := func(url, body string) map[string]any {
		t.Helper()
		resp, err := http.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatalf("POST %s: %v", url, err)
		}
		return out
	}

	base, stop := start()
	out := post(base+"/_/pay/unifiedOrder", `{"sub_mch_id":"1900000109","body":"sim","out_trade_no":"SIMRUN1","total_fee":100,
		"spbill_create_ip":"127.0.0.1","openid":"oUser","env_id":"local-env","callback_type":2,
		"container":{"service":"payment-callback","path":"/callbacks/pay"}}`)
	if rd, _ := out["respdata"].(map[string]any); rd["result_code"] != "SUCCESS" {
		t.Fatalf("unifiedOrder: %v", out)
	}
	if out := post(base+"/sim/pay", `{"out_trade_no":"SIMRUN1"}`); out["trade_state"] != "SUCCESS" {
		t.Fatalf("pay: %v", out)
	}
	mu.Lock()
	got := strings.Join(callbacks, ",")
	mu.Unlock()
	if got != "/payment-callback/callbacks/pay" {
		t.Errorf("callbacks went to %q, want /payment-callback/callbacks/pay", got)
	}
	stop()

	base, stop = start()
	defer stop()
	out = post(base+"/_/pay/refund", `{"sub_mch_id":"1900000109","out_trade_no":"SIMRUN1","out_refund_no":"SIMRUN1R",
		"total_fee":100,"refund_fee":100}`)
	if rd, _ := out["respdata"].(map[string]any); rd["result_code"] != "SUCCESS" {
		t.Fatalf("refund of an order paid before the restart: %v", out)
	}
	resp, err := http.Get(base + "/sim/orders/SIMRUN1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var order map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&order)
	if order["trade_state"] != "SUCCESS" || order["callback_acked"] != true {
		t.Errorf("order after the restart: %v", order)
	}
}

// The process as an SDK meets it: cloudpay's API v3 client (the official
// wechatpay-go SDK) configured from GET /sim/devkeys alone prepays, queries and
// closes at the root and through a /sim base URL (signed over the path it sent),
// and a reverse proxy that strips its own prefix and says so is verified too.
func TestSDKConfiguredFromDevKeysAtEveryBaseURL(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, config{State: "memory", SubMchID: "1900000109", Signing: wechatsim.SignPublicKey}, ln, slog.New(slog.DiscardHandler))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	base := "http://" + ln.Addr().String()
	if resp, err := http.Get(base + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz: %v %v", resp, err)
	}
	resp, err := http.Get(base + "/sim/devkeys")
	if err != nil {
		t.Fatal(err)
	}
	var keys wechatsim.DevKeys
	err = json.NewDecoder(resp.Body).Decode(&keys)
	resp.Body.Close()
	if err != nil || keys.Custom || keys.MerchantPrivateKeyPEM == "" {
		t.Fatalf("GET /sim/devkeys: %+v %v", keys, err)
	}

	// A proxy mounting the simulator under /wechat/, stripping the prefix and
	// telling it in X-Forwarded-Prefix.
	target, _ := url.Parse(base)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxied := httptest.NewServer(http.StripPrefix("/wechat", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set("X-Forwarded-Prefix", "/wechat")
		proxy.ServeHTTP(w, r)
	})))
	t.Cleanup(proxied.Close)

	for i, apiURL := range []string{base, base + "/sim", proxied.URL + "/wechat"} {
		gw, err := wechatpay.New(context.Background(), wechatpay.Config{
			MchID: keys.MchID, AppID: keys.AppID, MchSerial: keys.MerchantSerial, PrivateKey: keys.MerchantPrivateKeyPEM,
			APIv3Key: keys.APIv3Key, PublicKey: keys.PublicKeyPEM, PublicKeyID: keys.PublicKeyID,
			NotifyURL: "https://merchant.example/callbacks/v3", APIURL: apiURL, Timeout: 10 * time.Second,
		}, &http.Client{})
		if err != nil {
			t.Fatal(err)
		}
		no := fmt.Sprintf("SDKBASE%d", i)
		now := time.Now()
		order := cloudpay.Order{OutTradeNo: no, OpenID: "oUser0001", AmountFen: 100, Description: "sdk", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if _, _, err := gw.Prepay(context.Background(), wechat.PrepayRequest{Order: order, ClientIP: "203.0.113.7"}); err != nil {
			t.Fatalf("base URL %s: prepay: %v", apiURL, err)
		}
		if tx, err := gw.QueryOrder(context.Background(), no); err != nil || tx.State != wechat.TradeNotPay {
			t.Fatalf("base URL %s: query: %+v %v", apiURL, tx, err)
		}
		if err := gw.CloseOrder(context.Background(), no); err != nil {
			t.Fatalf("base URL %s: close: %v", apiURL, err)
		}
	}
}

// The settings as the environment gives them: the defaults, and a service map
// whose URLs hold colons.
func TestSettingsFromTheEnvironment(t *testing.T) {
	for _, name := range []string{"HOST", "PORT", "WECHATSIM_STATE", "WECHATSIM_SERVICES", "WECHATSIM_SIGNING", "WECHATSIM_OUTSIDE_REFUND_CALLBACK_URL"} {
		t.Setenv(name, "") // empty is unset (serve.Load)
	}
	var cfg config
	if err := serve.Load(context.Background(), &cfg); err != nil {
		t.Fatal(err)
	}
	sim, err := simConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := sim.Services["payment-callback"]; got != "http://127.0.0.1:8080/payment-callback" || len(sim.Services) != 1 ||
		sim.OutsideRefundCallbackURL != "http://127.0.0.1:8080/payment-callback/callbacks/refund" {
		t.Errorf("defaults: services %q, outside refunds to %q", sim.Services, sim.OutsideRefundCallbackURL)
	}
	if cfg.Host != "127.0.0.1" || cfg.Port != 8090 || sim.StateFile != ".data/wechatsim.jsonl" || sim.Signing != wechatsim.SignPublicKey {
		t.Errorf("defaults: %+v", cfg)
	}

	t.Setenv("WECHATSIM_SERVICES", "pay=http://10.0.0.2:8080/p,refunds=https://merchant.example:8443/r")
	t.Setenv("WECHATSIM_STATE", "memory")
	t.Setenv("WECHATSIM_SIGNING", "certificate")
	cfg = config{}
	if err := serve.Load(context.Background(), &cfg); err != nil {
		t.Fatal(err)
	}
	if sim, err = simConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if sim.Services["pay"] != "http://10.0.0.2:8080/p" || sim.Services["refunds"] != "https://merchant.example:8443/r" ||
		sim.StateFile != "" || sim.Signing != wechatsim.SignCertificate || sim.OutsideRefundCallbackURL != "" {
		t.Errorf("from the environment: %+v", sim)
	}

	t.Setenv("WECHATSIM_SIGNING", "rsa")
	cfg = config{}
	if err := serve.Load(context.Background(), &cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := simConfig(cfg); err == nil || !strings.Contains(err.Error(), "WECHATSIM_SIGNING") {
		t.Errorf("a bad signing mode: %v", err)
	}
}
