package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// `local sim` serves the simulator alone under /sim/, delivers Cloud Hosting callbacks
// to -callback-base, and keeps WeChat's state across a restart.
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
		addr := ln.Addr().String()
		ln.Close()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- runSimulator(ctx, []string{"-addr", addr, "-state", state,
				"-callback-base", merchant.URL + "/payment-callback", "-sub-mch-id", "1900000109", "-refund-settle-delay", "-1s"})
		}()
		base = "http://" + addr
		deadline := time.Now().Add(10 * time.Second)
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
				t.Fatalf("runSimulator: %v", err)
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
				t.Errorf("runSimulator: %v", err)
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
	out := post(base+"/sim/_/pay/unifiedOrder", `{"sub_mch_id":"1900000109","body":"sim","out_trade_no":"SIMRUN1","total_fee":100,
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
	out = post(base+"/sim/_/pay/refund", `{"sub_mch_id":"1900000109","out_trade_no":"SIMRUN1","out_refund_no":"SIMRUN1R",
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
