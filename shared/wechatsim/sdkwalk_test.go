package wechatsim_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// The non-Go SDK walk: testdata/sdkwalk/walk.mjs drives the npm SDK wechatpay-axios-plugin
// (pinned at sdkWalkSDKVersion by testdata/sdkwalk/package.json and package-lock.json)
// against an in-process simulator, once with the SDK's base URL at the simulator's root
// and once at <root>/sim (the SDK signs its base URL's path too). The script prints a JSON
// summary of what it observed; the test checks it, then checks WeChat's side of the truth
// through the Go API, so the script cannot pass by doing nothing.
//
// It needs node (>= 18) on PATH and the script's node_modules:
//
//	cd shared/wechatsim/testdata/sdkwalk && npm ci --no-audit --no-fund
//
// Without them the test skips, unless CLOUDPAY_REQUIRE_SDKWALK=1 (CI), when it fails.

const (
	sdkWalkSDK        = "wechatpay-axios-plugin"
	sdkWalkSDKVersion = "0.9.6"
	sdkWalkDir        = "testdata/sdkwalk"
	sdkWalkUserName   = "张三丰"
	sdkWalkTimeout    = 2 * time.Minute
	// Amounts the script uses (walk.mjs TOTAL, REFUND, TRANSFER), in fen.
	sdkWalkTotalFen    = 100
	sdkWalkRefundFen   = 40
	sdkWalkTransferFen = 30
)

// sdkWalkSummary is what walk.mjs prints.
type sdkWalkSummary struct {
	OK                bool   `json:"ok"`
	Error             string `json:"error"`
	SDK               string `json:"sdk"`
	Node              string `json:"node"`
	Base              string `json:"base"`
	ID                string `json:"id"`
	VerifiedResponses int    `json:"verified_responses"`
	Steps             struct {
		Devkeys struct {
			MchID       string `json:"mchid"`
			PublicKeyID string `json:"public_key_id"`
			Custom      bool   `json:"custom"`
		} `json:"devkeys"`
		Prepay struct {
			Status     int    `json:"status"`
			OutTradeNo string `json:"out_trade_no"`
			PrepayID   string `json:"prepay_id"`
			Serial     string `json:"serial"`
		} `json:"prepay"`
		Query       sdkWalkTrade `json:"query"`
		Close       sdkWalkTrade `json:"close"`
		QueryClosed sdkWalkTrade `json:"query_closed"`
		QueryMiss   struct {
			Status int    `json:"status"`
			Code   string `json:"code"`
		} `json:"query_missing"`
		Refusals map[string]string `json:"refusals"`
		Forged   map[string]struct {
			Reason string `json:"reason"`
			Status int    `json:"status"`
		} `json:"forged"`
		Pay struct {
			TradeState    string `json:"trade_state"`
			TransactionID string `json:"transaction_id"`
			CallbackOK    bool   `json:"callback_ok"`
		} `json:"pay"`
		PayNotification struct {
			Verified      bool   `json:"verified"`
			Serial        string `json:"serial"`
			EventType     string `json:"event_type"`
			ResourceType  string `json:"resource_type"`
			OriginalType  string `json:"original_type"`
			TradeState    string `json:"trade_state"`
			OutTradeNo    string `json:"out_trade_no"`
			TransactionID string `json:"transaction_id"`
			Total         int64  `json:"total"`
			PayerOpenID   string `json:"payer_openid"`
		} `json:"pay_notification"`
		QueryPaid   sdkWalkTrade  `json:"query_paid"`
		QueryByTxn  sdkWalkTrade  `json:"query_by_transaction_id"`
		Refund      sdkWalkRefund `json:"refund"`
		RefundQuery sdkWalkRefund `json:"refund_query"`
		RefundNote  struct {
			Verified     bool   `json:"verified"`
			Serial       string `json:"serial"`
			EventType    string `json:"event_type"`
			OriginalType string `json:"original_type"`
			RefundStatus string `json:"refund_status"`
			OutRefundNo  string `json:"out_refund_no"`
			RefundID     string `json:"refund_id"`
			Refund       int64  `json:"refund"`
		} `json:"refund_notification"`
		RefundSettled sdkWalkRefund `json:"refund_query_settled"`
		QueryRefunded sdkWalkTrade  `json:"query_refunded"`
		Transfer      struct {
			Status         int    `json:"status"`
			State          string `json:"state"`
			TransferBillNo string `json:"transfer_bill_no"`
			PackageInfo    bool   `json:"package_info"`
		} `json:"transfer"`
		TransferQuery   sdkWalkBill `json:"transfer_query"`
		TransferConfirm struct {
			State      string `json:"state"`
			CallbackOK bool   `json:"callback_ok"`
		} `json:"transfer_confirm"`
		TransferNote struct {
			Verified       bool   `json:"verified"`
			Serial         string `json:"serial"`
			EventType      string `json:"event_type"`
			OriginalType   string `json:"original_type"`
			State          string `json:"state"`
			OutBillNo      string `json:"out_bill_no"`
			TransferBillNo string `json:"transfer_bill_no"`
			TransferAmount int64  `json:"transfer_amount"`
		} `json:"transfer_notification"`
		TransferFinal sdkWalkBill `json:"transfer_query_final"`
		TransferByID  sdkWalkBill `json:"transfer_query_by_id"`
	} `json:"steps"`
	Notifications []struct {
		Path      string `json:"path"`
		OK        bool   `json:"ok"`
		Reason    string `json:"reason"`
		EventType string `json:"event_type"`
	} `json:"notifications"`
}

type sdkWalkTrade struct {
	Status        int    `json:"status"`
	TradeState    string `json:"trade_state"`
	OutTradeNo    string `json:"out_trade_no"`
	TransactionID string `json:"transaction_id"`
}

type sdkWalkRefund struct {
	Status       int    `json:"status"`
	RefundStatus string `json:"refund_status"`
	RefundID     string `json:"refund_id"`
	Refund       int64  `json:"refund"`
}

type sdkWalkBill struct {
	Status    int    `json:"status"`
	State     string `json:"state"`
	OutBillNo string `json:"out_bill_no"`
}

// sdkWalkPrereqs returns node and the script's directory, or skips (fails with
// CLOUDPAY_REQUIRE_SDKWALK=1) when they are not ready.
func sdkWalkPrereqs(t *testing.T) (node, dir string) {
	t.Helper()
	required := os.Getenv("CLOUDPAY_REQUIRE_SDKWALK") == "1"
	const install = "cd shared/wechatsim/testdata/sdkwalk && npm ci --no-audit --no-fund"
	unavailable := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if required {
			t.Fatalf("%s (CLOUDPAY_REQUIRE_SDKWALK=1 requires the SDK walk; install node >= 18, then: %s)", msg, install)
		}
		t.Skipf("skipping the %s SDK walk: %s (to run it: %s; CLOUDPAY_REQUIRE_SDKWALK=1 makes this a failure)", sdkWalkSDK, msg, install)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		unavailable("node is not on PATH")
	}
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		unavailable("node --version: %v", err)
	}
	ver := strings.TrimSpace(string(out))
	major, _ := strconv.Atoi(strings.SplitN(strings.TrimPrefix(ver, "v"), ".", 2)[0])
	if major < 18 {
		unavailable("node %s is older than 18 (the script needs fetch)", ver)
	}
	dir, err = filepath.Abs(sdkWalkDir)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "node_modules", sdkWalkSDK, "package.json"))
	if err != nil {
		unavailable("%s is not installed in %s/node_modules", sdkWalkSDK, sdkWalkDir)
	}
	var pkg struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(raw, &pkg); err != nil || pkg.Version != sdkWalkSDKVersion {
		// Installed, but not what package-lock.json pins: a stale install, not a missing tool.
		t.Fatalf("%s/node_modules holds %s %q, want %s: run %s", sdkWalkDir, sdkWalkSDK, pkg.Version, sdkWalkSDKVersion, install)
	}
	return node, dir
}

// TestSDKWalkWechatpayAxiosPlugin walks the npm SDK through prepay, query, close, pay,
// notifications, refund and a transfer bill, with its base URL at the simulator's root
// and under /sim.
func TestSDKWalkWechatpayAxiosPlugin(t *testing.T) {
	node, dir := sdkWalkPrereqs(t)
	for _, tc := range []struct{ name, prefix string }{
		{"root", ""},
		{"prefix", wechatsim.ControlPrefix},
	} {
		t.Run(tc.name, func(t *testing.T) { runSDKWalk(t, node, dir, tc.prefix) })
	}
}

// sdkWalkPaths records the paths of the requests a server received.
type sdkWalkPaths struct {
	mu    sync.Mutex
	paths []string
}

func (l *sdkWalkPaths) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.paths = append(l.paths, r.URL.Path)
		l.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

// v3 returns the recorded paths that hold an API v3 path.
func (l *sdkWalkPaths) v3() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, p := range l.paths {
		if strings.Contains(p, "/v3/") {
			out = append(out, p)
		}
	}
	return out
}

// sdkWalkTamper serves h, then rewrites "trade_state":"NOTPAY" in the reply to SUCCESS,
// keeping the simulator's signature headers: a man in the middle claiming an unpaid order
// is paid.
func sdkWalkTamper(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		body := bytes.ReplaceAll(rec.Body.Bytes(), []byte(`"trade_state":"NOTPAY"`), []byte(`"trade_state":"SUCCESS"`))
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	})
}

func runSDKWalk(t *testing.T, node, dir, prefix string) {
	sim := wechatsim.New(wechatsim.Config{
		RefundSettleDelay: 0,                                       // refunds settle right after the create reply
		RetryDelays:       []time.Duration{},                       // a rejected genuine notification fails the walk at once
		HTTPClient:        &http.Client{Timeout: 30 * time.Second}, // a busy machine's node may answer slowly
	})
	var direct, tampered sdkWalkPaths
	srv := httptest.NewServer(direct.wrap(sim.Handler()))
	tamper := httptest.NewServer(tampered.wrap(sdkWalkTamper(sim.Handler())))
	t.Cleanup(func() {
		sim.Close()
		srv.Close()
		tamper.Close()
	})

	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	id := fmt.Sprintf("SW%X", rnd[:])
	payNo, closeNo, refundNo, billNo := id+"PAY", id+"CLS", id+"RF1", id+"TB1"
	base := srv.URL + prefix

	ctx, cancel := context.WithTimeout(context.Background(), sdkWalkTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "walk.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"SIM_ROOT="+srv.URL, "SIM_BASE="+base, "SIM_TAMPER_BASE="+tamper.URL+prefix,
		"WALK_ID="+id, "WALK_USER_NAME="+sdkWalkUserName, "WALK_TIMEOUT_MS=60000",
		"NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	runErr := cmd.Run()
	t.Logf("node walk.mjs with base %s took %v", base, time.Since(start).Round(time.Millisecond))

	var sum sdkWalkSummary
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		t.Fatalf("walk.mjs printed no summary (%v; run error %v)\nstdout:\n%s\nstderr:\n%s", err, runErr, stdout.String(), stderr.String())
	}
	if runErr != nil || !sum.OK {
		t.Fatalf("walk.mjs failed (%v): %s\nstderr:\n%s\nsummary: %s", runErr, sum.Error, stderr.String(), lines[len(lines)-1])
	}
	if testing.Verbose() {
		t.Logf("summary: %s", lines[len(lines)-1])
	}

	// What the script observed.
	s := sum.Steps
	if want := sdkWalkSDK + "@" + sdkWalkSDKVersion; sum.SDK != want || sum.Base != base || sum.ID != id {
		t.Errorf("summary sdk %q base %q id %q, want %q %q %q", sum.SDK, sum.Base, sum.ID, want, base, id)
	}
	if s.Devkeys.MchID != wechatsim.DevMchID || s.Devkeys.PublicKeyID != wechatsim.DevPublicKeyID || s.Devkeys.Custom {
		t.Errorf("devkeys %+v", s.Devkeys)
	}
	if s.Prepay.Status != http.StatusOK || s.Prepay.OutTradeNo != payNo || s.Prepay.Serial != wechatsim.DevPublicKeyID {
		t.Errorf("prepay %+v", s.Prepay)
	}
	if s.Query.TradeState != "NOTPAY" || s.Close.Status != http.StatusNoContent || s.QueryClosed.TradeState != "CLOSED" {
		t.Errorf("query %+v, close %+v, query closed %+v", s.Query, s.Close, s.QueryClosed)
	}
	if s.QueryMiss.Status != http.StatusNotFound || s.QueryMiss.Code != "ORDER_NOT_EXIST" {
		t.Errorf("query of an unknown order: %+v", s.QueryMiss)
	}
	wantRefusals := map[string]string{
		"unknown_serial": "EV3_RES_HEADER_PLATFORM_SERIAL",
		"wrong_key":      "EV3_RES_HEADER_SIGNATURE_DIGEST",
		"tampered":       "EV3_RES_HEADER_SIGNATURE_DIGEST",
	}
	for k, want := range wantRefusals {
		if got := s.Refusals[k]; got != want {
			t.Errorf("the SDK's refusal of a %s response: %q, want %q", k, got, want)
		}
	}
	wantForged := map[string]string{
		wechatsim.ForgeBadSignature: "signature", wechatsim.ForgeSignTest: "signature", wechatsim.ForgeStale: "stale",
		wechatsim.ForgeTampered: "signature", wechatsim.ForgeUnknownSerial: "unknown_serial", wechatsim.ForgeBadResource: "decrypt",
	}
	for kind, reason := range wantForged {
		if got, ok := s.Forged[kind]; !ok || got.Reason != reason || got.Status != http.StatusUnauthorized {
			t.Errorf("forged %s notification: %+v (seen %v), want refused for %s with 401", kind, got, ok, reason)
		}
	}
	pn := s.PayNotification
	if s.Pay.TradeState != "SUCCESS" || !s.Pay.CallbackOK || !pn.Verified || pn.Serial != wechatsim.DevPublicKeyID ||
		pn.EventType != wechatsim.EventTransactionSuccess || pn.ResourceType != "encrypt-resource" || pn.OriginalType != "transaction" ||
		pn.TradeState != "SUCCESS" || pn.OutTradeNo != payNo || pn.Total != sdkWalkTotalFen || pn.PayerOpenID == "" ||
		pn.TransactionID == "" || pn.TransactionID != s.Pay.TransactionID {
		t.Errorf("pay %+v, its notification %+v", s.Pay, pn)
	}
	if s.QueryPaid.TradeState != "SUCCESS" || s.QueryPaid.TransactionID != pn.TransactionID ||
		s.QueryByTxn.TradeState != "SUCCESS" || s.QueryByTxn.OutTradeNo != payNo {
		t.Errorf("query paid %+v, by transaction_id %+v", s.QueryPaid, s.QueryByTxn)
	}
	rn := s.RefundNote
	if s.Refund.Status != http.StatusOK || s.Refund.RefundID == "" || s.Refund.Refund != sdkWalkRefundFen ||
		(s.Refund.RefundStatus != "PROCESSING" && s.Refund.RefundStatus != "SUCCESS") ||
		!rn.Verified || rn.Serial != wechatsim.DevPublicKeyID || rn.EventType != wechatsim.EventRefundSuccess ||
		rn.OriginalType != "refund" || rn.RefundStatus != "SUCCESS" || rn.OutRefundNo != refundNo ||
		rn.RefundID != s.Refund.RefundID || rn.Refund != sdkWalkRefundFen || s.RefundSettled.RefundStatus != "SUCCESS" ||
		s.QueryRefunded.TradeState != "REFUND" {
		t.Errorf("refund %+v, query %+v, notification %+v, query after it %+v, order query after it %+v",
			s.Refund, s.RefundQuery, rn, s.RefundSettled, s.QueryRefunded)
	}
	tn := s.TransferNote
	if s.Transfer.Status != http.StatusOK || s.Transfer.State != wechatsim.TransferWaitUserConfirm || !s.Transfer.PackageInfo ||
		s.TransferQuery.State != wechatsim.TransferWaitUserConfirm || s.TransferConfirm.State != wechatsim.TransferSuccess ||
		!s.TransferConfirm.CallbackOK || !tn.Verified || tn.Serial != wechatsim.DevPublicKeyID ||
		tn.EventType != wechatsim.EventTransferFinished || tn.OriginalType != "mch_payment" || tn.State != wechatsim.TransferSuccess ||
		tn.OutBillNo != billNo || tn.TransferBillNo != s.Transfer.TransferBillNo || tn.TransferAmount != sdkWalkTransferFen ||
		s.TransferFinal.State != wechatsim.TransferSuccess || s.TransferByID.State != wechatsim.TransferSuccess || s.TransferByID.OutBillNo != billNo {
		t.Errorf("transfer %+v, query %+v, confirm %+v, notification %+v, query after %+v, by id %+v",
			s.Transfer, s.TransferQuery, s.TransferConfirm, tn, s.TransferFinal, s.TransferByID)
	}

	// The SDK's requests went to the base URL it was given, and the simulator verified
	// their signatures over that path (every verified response is a 2xx; SIGN_ERROR is 401).
	v3 := direct.v3()
	// verified responses + the unknown order (404) + the two refused clients' queries
	if want := sum.VerifiedResponses + 3; len(v3) != want {
		t.Errorf("the simulator received %d v3 requests, want %d (%d verified responses + 3): %q", len(v3), want, sum.VerifiedResponses, v3)
	}
	if sum.VerifiedResponses < 15 {
		t.Errorf("only %d SDK responses were verified", sum.VerifiedResponses)
	}
	for _, p := range append(v3, tampered.v3()...) {
		if !strings.HasPrefix(p, prefix+"/v3/") {
			t.Errorf("the SDK requested %s, not under its base URL %s", p, base)
		}
	}
	if got := tampered.v3(); len(got) != 1 {
		t.Errorf("the tampering proxy saw %d v3 requests, want 1: %q", len(got), got)
	}

	// WeChat's side of the truth.
	// Paid, then partly refunded: WeChat's trade_state says REFUND (转入退款) from the
	// first refund on, as the script's last query saw.
	if o, ok := sim.Order(payNo); !ok || o.TradeState != "REFUND" || o.PaidAt == nil || o.TransactionID != pn.TransactionID ||
		!o.CallbackAcked || o.Channel != wechatsim.ChannelV3 || o.TotalFee != sdkWalkTotalFen || o.PrepayID != s.Prepay.PrepayID {
		t.Errorf("order %s at WeChat: %+v (found %v)", payNo, o, ok)
	}
	if o, ok := sim.Order(closeNo); !ok || o.TradeState != "CLOSED" {
		t.Errorf("order %s at WeChat: %+v (found %v)", closeNo, o, ok)
	}
	forged, genuine := 0, 0
	for _, d := range sim.Deliveries(payNo) {
		switch {
		case d.OutRefundNo != "": // the refund's, checked below
		case d.Forged && !d.OK && d.Status == http.StatusUnauthorized:
			forged++
		case !d.Forged && d.OK && d.EventType == wechatsim.EventTransactionSuccess:
			genuine++
		default:
			t.Errorf("unexpected delivery for %s: %s %s forged=%v (%s) HTTP %d ok=%v %s", payNo, d.Trigger, d.EventType, d.Forged, d.ForgeKind, d.Status, d.OK, d.Error)
		}
	}
	if forged != len(wantForged) || genuine != 1 {
		t.Errorf("deliveries for %s: %d forged refused, %d genuine acknowledged; want %d and 1", payNo, forged, genuine, len(wantForged))
	}
	// The refund settles after its create reply and its notification is acknowledged
	// after the script saw it: wait for WeChat to record the acknowledgement.
	var r wechatsim.RefundView
	testkit.Eventually(t, func() error {
		var ok bool
		if r, ok = sim.Refund(refundNo); !ok || !r.CallbackAcked {
			return fmt.Errorf("refund %s: its notification not acknowledged yet: %+v", refundNo, r)
		}
		return nil
	})
	if r.Status != wechatsim.RefundSuccess || r.RefundID != s.Refund.RefundID || r.RefundFee != sdkWalkRefundFen ||
		r.TotalFee != sdkWalkTotalFen || r.OutTradeNo != payNo {
		t.Errorf("refund %s at WeChat: %+v", refundNo, r)
	}
	b, ok := sim.Transfer(billNo)
	if !ok || b.State != wechatsim.TransferSuccess || b.UserName != sdkWalkUserName || b.AmountFen != sdkWalkTransferFen ||
		b.TransferBillNo != s.Transfer.TransferBillNo || !b.CallbackAcked {
		t.Errorf("transfer bill %s at WeChat: %+v (found %v)", billNo, b, ok)
	}
}
