package wechatsim_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// persistent is a simulator on a state file that a test can crash and start again on
// the same file, with the same callback targets and clock.
type persistent struct {
	path string
	svc  *service
	sink *notifySink
	clk  *clock
	mod  func(*wechatsim.Config)
	cur  *v3env
}

func newPersistent(t *testing.T, mod func(*wechatsim.Config)) *persistent {
	t.Helper()
	p := &persistent{
		path: filepath.Join(t.TempDir(), "data", "wechatsim.jsonl"),
		svc:  newService(t), sink: newNotifySink(t),
		clk: &clock{t: time.Date(2025, 3, 1, 4, 5, 6, 0, time.UTC)},
		mod: mod,
	}
	p.start(t)
	return p
}

func (p *persistent) config() wechatsim.Config {
	cfg := wechatsim.Config{
		SubMchID:          merchant,
		Services:          map[string]string{"payment-callback": p.svc.srv.URL + "/payment-callback"},
		RetryDelays:       []time.Duration{},
		Now:               p.clk.Now,
		RefundSettleDelay: -1,
		StateFile:         p.path,
	}
	if p.mod != nil {
		p.mod(&cfg)
	}
	return cfg
}

// start opens a simulator on the state file; its handler serves WeChat's paths at
// the root and under /sim/ (where the SDK client sends).
func (p *persistent) start(t *testing.T) *v3env {
	t.Helper()
	sim, err := wechatsim.Open(p.config())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() {
		sim.Close()
		srv.Close()
	})
	p.cur = &v3env{env: &env{sim: sim, srv: srv, svc: p.svc, clock: p.clk}, pre: srv,
		sdk: sdkClient(t, srv.URL, 10*time.Second), sink: p.sink}
	return p.cur
}

// crash kills the running simulator as kill -9 would.
func (p *persistent) crash() {
	wechatsim.Crash(p.cur.sim)
	p.cur.srv.CloseClientConnections()
	p.cur.srv.Close()
}

// restart crashes the running simulator and starts a new one on the same state file.
func (p *persistent) restart(t *testing.T) *v3env {
	t.Helper()
	p.crash()
	return p.start(t)
}

func without(m map[string]any, keys ...string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if !slices.Contains(keys, k) {
			out[k] = v
		}
	}
	return out
}

// After a crash, every query of either channel and every control view answers what it
// answered before.
func TestPersistQueriesAnswerTheSameState(t *testing.T) {
	t.Parallel()
	p := newPersistent(t, nil)
	e := p.cur
	e.create(t, "PNOTPAY")
	e.paidOrder(t, "PPAID")
	e.create(t, "PCLOSED")
	if got := resultOf(e.api(t, "/_/pay/closeorder", map[string]any{"sub_mch_id": merchant, "out_trade_no": "PCLOSED"})); got != "SUCCESS" {
		t.Fatalf("closeorder: %s", got)
	}
	e.prepay(t, "V3PAID01")
	e.pay(t, "V3PAID01")
	for _, no := range []string{"R1", "R1", "R2"} { // R1 twice: its request count must survive
		fee := 30
		if no == "R2" {
			fee = 20
		}
		if got := resultOf(e.refund(t, refundReq("PPAID", no, fee))); got != "SUCCESS" {
			t.Fatalf("refund %s: %s", no, got)
		}
	}
	if status, out := e.control(t, "POST", "/refunds/R1/settle", map[string]any{"status": "SUCCESS"}); status != 200 {
		t.Fatalf("settle R1: %d %v", status, out)
	}
	e.createRefund(t, "V3PAID01", "VR1", 50)
	for _, no := range []string{"T1", "T2", "T3"} {
		e.createTransfer(t, e.transferReq(no, 100))
	}
	if status, out := e.control(t, "POST", "/transfers/T2/confirm", nil); status != 200 {
		t.Fatalf("confirm T2: %d %v", status, out)
	}
	if status, out := e.control(t, "POST", "/transfers/T3/decline", nil); status != 200 {
		t.Fatalf("decline T3: %d %v", status, out)
	}

	queries := []struct {
		name string
		ask  func(t *testing.T, e *v3env) any
	}{
		{"view orders", func(t *testing.T, e *v3env) any {
			var out []wechatsim.OrderView
			for _, no := range []string{"PNOTPAY", "PPAID", "PCLOSED", "V3PAID01"} {
				v, ok := e.sim.Order(no)
				if !ok {
					t.Errorf("order %s is gone", no)
				}
				out = append(out, v)
			}
			return out
		}},
		{"view refunds", func(t *testing.T, e *v3env) any { return e.sim.Refunds("") }},
		{"view transfers", func(t *testing.T, e *v3env) any { return e.sim.Transfers("") }},
		{"control GET /orders/PPAID", func(t *testing.T, e *v3env) any {
			_, out := e.control(t, "GET", "/orders/PPAID", nil)
			return out
		}},
		{"control GET /refunds/R1", func(t *testing.T, e *v3env) any {
			_, out := e.control(t, "GET", "/refunds/R1", nil)
			return out
		}},
		{"control GET /transfers/T1", func(t *testing.T, e *v3env) any {
			_, out := e.control(t, "GET", "/transfers/T1", nil)
			return out
		}},
		{"queryorder", func(t *testing.T, e *v3env) any {
			var out []any
			for _, no := range []string{"PNOTPAY", "PPAID", "PCLOSED", "V3PAID01"} {
				env := e.api(t, "/_/pay/queryorder", map[string]any{"sub_mch_id": merchant, "out_trade_no": no})
				out = append(out, without(env.Respdata, "nonce_str", "sign"))
			}
			return out
		}},
		{"queryrefund", func(t *testing.T, e *v3env) any {
			env := e.env.queryRefund(t, map[string]any{"sub_mch_id": merchant, "out_trade_no": "PPAID"})
			return without(env.Respdata, "nonce_str", "sign")
		}},
		{"v3 query orders", func(t *testing.T, e *v3env) any {
			return []any{e.query(t, "V3PAID01"), e.query(t, "PPAID"), e.query(t, "PCLOSED")}
		}},
		{"v3 query refund", func(t *testing.T, e *v3env) any { return e.queryRefund(t, "VR1") }},
		{"v3 query transfers", func(t *testing.T, e *v3env) any {
			return []any{e.queryTransfer(t, "T1"), e.queryTransfer(t, "T2"), e.queryTransfer(t, "T3")}
		}},
	}
	before := make([]any, len(queries))
	for i, q := range queries {
		before[i] = q.ask(t, e)
	}
	e = p.restart(t)
	for i, q := range queries {
		t.Run(q.name, func(t *testing.T) {
			after := q.ask(t, e)
			if !reflect.DeepEqual(before[i], after) {
				t.Errorf("before the crash:\n%s\nafter:\n%s", jsonString(before[i]), jsonString(after))
			}
		})
	}
	// Nothing was redelivered: every callback had been acknowledged before the crash.
	time.Sleep(100 * time.Millisecond)
	if d := e.sim.Deliveries(""); len(d) != 0 {
		t.Errorf("after the restart the simulator delivered %s", jsonString(d))
	}
}

// The defect: a paid order could not be refunded after a restart (ORDERNOTEXIST).
func TestPersistRefundAfterRestart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		pay    func(t *testing.T, e *v3env, no string)
		refund func(t *testing.T, e *v3env, no string) string // the new refund's status
	}{
		{"cloud hosting",
			func(t *testing.T, e *v3env, no string) { e.paidOrder(t, no) },
			func(t *testing.T, e *v3env, no string) string {
				env := e.refund(t, refundReq(no, "RF"+no, 100))
				if got := resultOf(env); got != "SUCCESS" {
					t.Fatalf("refund after restart: %s %v", got, env.Respdata)
				}
				v, _ := e.sim.Refund("RF" + no)
				return v.Status
			}},
		{"api v3",
			func(t *testing.T, e *v3env, no string) {
				e.prepay(t, no)
				e.pay(t, no)
			},
			func(t *testing.T, e *v3env, no string) string {
				return string(*e.createRefund(t, no, "RF"+no, 100).Status)
			}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newPersistent(t, nil)
			no := fmt.Sprintf("PAID%04d", i)
			tc.pay(t, p.cur, no)
			e := p.restart(t)
			if st := tc.refund(t, e, no); st != wechatsim.RefundProcessing {
				t.Fatalf("refund after restart is %s, want PROCESSING", st)
			}
			if _, out := e.control(t, "POST", "/refunds/RF"+no+"/settle", map[string]any{"status": "SUCCESS"}); out["status"] != "SUCCESS" {
				t.Fatalf("settle: %v", out)
			}
			e = p.restart(t)
			if v, _ := e.sim.Order(no); v.TradeState != "REFUND" {
				t.Errorf("order after refund and restart is %s, want REFUND", v.TradeState)
			}
		})
	}
}

// A refund left PROCESSING by the crash settles after the restart, by its persisted
// creation time.
func TestPersistProcessingRefundSettlesAfterRestart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		delay     time.Duration
		downtime  time.Duration // how far the clock moves while the simulator is down
		settleBy  string        // "own": on its own after the restart; "test": only when settled
		stillProc bool          // PROCESSING right after the restart
	}{
		{"delay still running", 300 * time.Millisecond, 0, "own", true},
		{"delay passed while down", time.Hour, 2 * time.Hour, "own", false},
		{"settled by the test", -1, 0, "test", true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newPersistent(t, func(c *wechatsim.Config) { c.RefundSettleDelay = tc.delay })
			e := p.cur
			no, rno := fmt.Sprintf("SETTLE%02d", i), fmt.Sprintf("RS%02d", i)
			e.paidOrder(t, no)
			if got := resultOf(e.refund(t, refundReq(no, rno, 40))); got != "SUCCESS" {
				t.Fatalf("refund: %s", got)
			}
			p.crash()
			p.clk.Add(tc.downtime)
			e = p.start(t)
			if v, _ := e.sim.Refund(rno); tc.stillProc && v.Status != wechatsim.RefundProcessing {
				t.Fatalf("right after the restart the refund is %s", v.Status)
			}
			if tc.settleBy == "test" {
				time.Sleep(50 * time.Millisecond)
				if v, _ := e.sim.Refund(rno); v.Status != wechatsim.RefundProcessing {
					t.Fatalf("a refund without RefundSettleDelay settled on its own: %s", v.Status)
				}
				if status, out := e.control(t, "POST", "/refunds/"+rno+"/settle", map[string]any{"status": "SUCCESS"}); status != 200 {
					t.Fatalf("settle: %d %v", status, out)
				}
			}
			eventually(t, "the refund to settle and its callback to be acknowledged", func() bool {
				v, _ := e.sim.Refund(rno)
				return v.Status == wechatsim.RefundSuccess && v.CallbackAcked
			})
			var got []string
			for _, b := range refundCallbacks(p.svc.received()) {
				got = append(got, fmt.Sprint(b["outRefundNo"], " ", b["refundStatus"]))
			}
			if want := []string{rno + " SUCCESS"}; !slices.Equal(got, want) {
				t.Errorf("refund callbacks %v, want %v", got, want)
			}
			if v, _ := e.sim.Order(no); v.TradeState != "REFUND" {
				t.Errorf("order is %s, want REFUND", v.TradeState)
			}
		})
	}
}

// Transfer bills keep their state machine across a crash.
func TestPersistTransfersAfterRestart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		noConfirm  bool
		before     func(t *testing.T, e *v3env, no string) // after the create call, before the crash
		after      func(t *testing.T, e *v3env, no string) // after the restart
		state      string
		failReason string
	}{
		{name: "user confirms after the restart",
			after: func(t *testing.T, e *v3env, no string) {
				if status, out := e.control(t, "POST", "/transfers/"+no+"/confirm", nil); status != 200 {
					t.Fatalf("confirm: %d %v", status, out)
				}
			},
			state: wechatsim.TransferSuccess},
		{name: "user declines after the restart",
			after: func(t *testing.T, e *v3env, no string) {
				if status, out := e.control(t, "POST", "/transfers/"+no+"/decline", nil); status != 200 {
					t.Fatalf("decline: %d %v", status, out)
				}
			},
			state: wechatsim.TransferFail, failReason: wechatsim.TransferUserRefused},
		{name: "confirm window ends while down",
			after: func(t *testing.T, e *v3env, no string) { e.clock.Add(25 * time.Hour) },
			state: wechatsim.TransferFail, failReason: wechatsim.TransferOverdueClose},
		{name: "cancel under way at the crash",
			before: func(t *testing.T, e *v3env, no string) {
				if _, err := cancelTransfer(context.Background(), e.sdk, no); err != nil {
					t.Fatalf("cancel: %v", err)
				}
			},
			state: wechatsim.TransferCancelled},
		{name: "no-confirm bill under way at the crash", noConfirm: true, state: wechatsim.TransferSuccess},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newPersistent(t, func(c *wechatsim.Config) { c.TransferNoConfirm = tc.noConfirm })
			e := p.cur
			no := fmt.Sprintf("TB%02d", i)
			created := e.createTransfer(t, e.transferReq(no, 100))
			if tc.before != nil {
				tc.before(t, e, no)
			}
			e = p.restart(t)
			if tc.before == nil && !tc.noConfirm { // still waiting for the user
				if v := e.view(t, no); v.State != wechatsim.TransferWaitUserConfirm || v.PackageInfo != created.PackageInfo {
					t.Errorf("after the restart the bill is %s with package_info %q, want WAIT_USER_CONFIRM with %q",
						v.State, v.PackageInfo, created.PackageInfo)
				}
			}
			if tc.after != nil {
				tc.after(t, e, no)
			}
			eventually(t, "the bill to reach "+tc.state+" and its notification to be acknowledged", func() bool {
				v := e.view(t, no)
				return v.State == tc.state && v.CallbackAcked
			})
			bill := e.queryTransfer(t, no)
			if bill.State != tc.state || bill.FailReason != tc.failReason || bill.TransferBillNo != created.TransferBillNo {
				t.Errorf("query after the restart: %+v, want %s %q %s", bill, tc.state, tc.failReason, created.TransferBillNo)
			}
			n := e.lastNotify(t)
			if n.content["out_bill_no"] != no || n.content["state"] != tc.state {
				t.Errorf("last notification %v, want %s %s", n.content, no, tc.state)
			}
		})
	}
}

// A callback that was not acknowledged before the crash is redelivered after the
// restart, unless WeChat's retry schedule had run out meanwhile.
func TestPersistRedeliversUnacknowledgedCallbacks(t *testing.T) {
	t.Parallel()
	payRefused := func(no string) func(t *testing.T, p *persistent) {
		return func(t *testing.T, p *persistent) {
			p.svc.set(reply{500, "down"})
			p.cur.create(t, no)
			p.cur.pay(t, no)
			p.svc.set(reply{200, `{"errcode":0,"errmsg":"ok"}`}) // the merchant is back for the restart
		}
	}
	orderAcked := func(no string) func(e *v3env) bool {
		return func(e *v3env) bool { v, _ := e.sim.Order(no); return v.CallbackAcked }
	}
	tests := []struct {
		name     string
		no       string
		act      func(t *testing.T, p *persistent) // leaves one callback unacknowledged
		acked    func(e *v3env) bool
		downtime time.Duration
		resumed  bool
	}{
		{name: "pay callback", no: "CBPAY1", act: payRefused("CBPAY1"), acked: orderAcked("CBPAY1"), resumed: true},
		{name: "pay callback after the schedule ran out", no: "CBPAY2", act: payRefused("CBPAY2"), acked: orderAcked("CBPAY2"),
			downtime: 3 * time.Hour, resumed: false},
		{name: "v3 refund notification", no: "CBV3RF1",
			act: func(t *testing.T, p *persistent) {
				e := p.cur
				e.prepay(t, "CBV3RF1")
				e.pay(t, "CBV3RF1")
				e.createRefund(t, "CBV3RF1", "CBV3RF1R", 100)
				p.sink.reply(500) // the refund notification only
				if status, out := e.control(t, "POST", "/refunds/CBV3RF1R/settle", map[string]any{"status": "SUCCESS"}); status != 200 {
					t.Fatalf("settle: %d %v", status, out)
				}
			},
			acked:   func(e *v3env) bool { v, _ := e.sim.Refund("CBV3RF1R"); return v.CallbackAcked },
			resumed: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newPersistent(t, func(c *wechatsim.Config) { c.RetryDelays = []time.Duration{time.Hour, time.Hour} })
			tc.act(t, p)
			if tc.acked(p.cur) {
				t.Fatal("the callback was acknowledged before the crash")
			}
			p.crash()
			p.clk.Add(tc.downtime)
			e := p.start(t)
			if !tc.resumed {
				time.Sleep(150 * time.Millisecond)
				if d := e.sim.Deliveries(""); len(d) != 0 {
					t.Fatalf("redelivered after the schedule ran out: %s", jsonString(d))
				}
				return
			}
			eventually(t, "the callback to be redelivered and acknowledged", func() bool { return tc.acked(e) })
			d := e.sim.Deliveries(tc.no)
			if len(d) != 1 || d[0].Trigger != wechatsim.TriggerResume || !d[0].OK {
				t.Errorf("deliveries after the restart: %s, want one acknowledged with trigger %s", jsonString(d), wechatsim.TriggerResume)
			}
			// The acknowledgement is durable too: another crash redelivers nothing.
			e = p.restart(t)
			time.Sleep(150 * time.Millisecond)
			if d := e.sim.Deliveries(""); len(d) != 0 {
				t.Errorf("an acknowledged callback was redelivered: %s", jsonString(d))
			}
			if !tc.acked(e) {
				t.Error("the acknowledgement did not survive the second crash")
			}
		})
	}
}

// A final line cut short by a crash was never answered: Open drops it. Any other damage
// stops Open, which must not overwrite a file it does not understand.
func TestPersistDamagedStateFile(t *testing.T) {
	t.Parallel()
	ghost, _ := json.Marshal(map[string]any{"orders": []map[string]any{{
		"out_trade_no": "GHOST", "channel": "cloudhosting", "sub_mch_id": merchant, "sub_appid": wechatsim.DefaultAppID,
		"body": "x", "openid": "o", "trade_type": "JSAPI", "total_fee": 1, "prepay_id": "wx1", "state": "NOTPAY",
		"created_at": time.Now()}}})
	tests := []struct {
		name    string
		damage  func(data []byte) []byte
		wantErr string // "" : Open works and the state is intact
	}{
		{"torn JSON", func(d []byte) []byte { return append(d, ghost[:len(ghost)/2]...) }, ""},
		{"whole record without its newline", func(d []byte) []byte { return append(d, ghost...) }, ""},
		{"zeros", func(d []byte) []byte { return append(d, make([]byte, 4096)...) }, ""},
		{"damaged line in the middle", func(d []byte) []byte {
			lines := bytes.SplitAfter(d, []byte("\n"))
			lines[1] = []byte("{\"orders\":[{\"out_tr\n")
			return bytes.Join(lines, nil)
		}, "line 2"},
		{"unknown field", func(d []byte) []byte { return append(d, "{\"bills\":[]}\n"...) }, "unknown field"},
		{"not a state file", func(d []byte) []byte { return []byte("hello\nworld\n") }, "not a wechatsim state file"},
		{"not a state file, no newline", func(d []byte) []byte { return []byte("hello") }, "not a wechatsim state file"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newPersistent(t, nil)
			no := fmt.Sprintf("DMG%02d", i)
			p.cur.paidOrder(t, no)
			p.cur.create(t, no+"B")
			p.crash()
			data, err := os.ReadFile(p.path)
			if err != nil {
				t.Fatal(err)
			}
			damaged := tc.damage(data)
			if err := os.WriteFile(p.path, damaged, 0o600); err != nil {
				t.Fatal(err)
			}
			if tc.wantErr != "" {
				_, err := wechatsim.Open(p.config())
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Open: %v, want an error with %q", err, tc.wantErr)
				}
				if after, _ := os.ReadFile(p.path); !bytes.Equal(after, damaged) {
					t.Error("Open changed a file it refused")
				}
				return
			}
			e := p.start(t)
			if v, ok := e.sim.Order(no); !ok || v.TradeState != "SUCCESS" || !v.CallbackAcked {
				t.Fatalf("order %s after the restart: %+v %v", no, v, ok)
			}
			if _, ok := e.sim.Order("GHOST"); ok {
				t.Fatal("the unterminated line was applied")
			}
			// The file is whole again: what follows is appended after a complete line.
			if got := resultOf(e.refund(t, refundReq(no, "R"+no, 10))); got != "SUCCESS" {
				t.Fatalf("refund: %s", got)
			}
			e = p.restart(t)
			if _, ok := e.sim.Refund("R" + no); !ok {
				t.Fatal("the refund made after the repair is gone")
			}
			if _, ok := e.sim.Order(no + "B"); !ok {
				t.Fatal("the unpaid order is gone")
			}
		})
	}
}

// Without StateFile the simulator keeps everything in memory and writes nothing.
func TestPersistOffWritesNothing(t *testing.T) {
	t.Parallel()
	list := func() []string {
		entries, err := os.ReadDir(".")
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names
	}
	before := list()
	e := newV3Env(t, nil)
	if wechatsim.Journaled(e.sim) {
		t.Fatal("a simulator without StateFile keeps a journal")
	}
	e.paidOrder(t, "OFF1")
	e.refund(t, refundReq("OFF1", "OFFR1", 10))
	e.createTransfer(t, e.transferReq("OFFT1", 100))
	if after := list(); !slices.Equal(before, after) {
		t.Errorf("the package directory changed from %v to %v", before, after)
	}
	// And a new simulator knows nothing of the old one's state.
	other := newEnv(t, nil)
	if _, ok := other.sim.Order("OFF1"); ok {
		t.Error("an in-memory simulator shared its state")
	}
}

// When the state file cannot be written, the simulator answers 500 rather than tell
// what it may forget, and keeps doing so, reads included.
func TestPersistWriteFailureIsNeverAnswered(t *testing.T) {
	t.Parallel()
	p := newPersistent(t, nil)
	e := p.cur
	e.create(t, "WF1")
	wechatsim.BreakStateFile(e.sim)
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/_/pay/unifiedOrder", jsonString(orderReq("WF2"))},
		{"POST", "/pay", `{"out_trade_no":"WF1"}`},
		{"GET", "/orders/WF1", ""},
	} {
		status, out := e.control(t, c.method, c.path, c.body)
		if status != http.StatusInternalServerError || !strings.HasPrefix(errorCode(out), "STATE_NOT_PERSISTED") {
			t.Errorf("%s %s with a broken state file: %d %v", c.method, c.path, status, out)
		}
	}
	if got := p.svc.received(); len(got) != 0 {
		t.Errorf("a callback told of a payment the file does not hold: %v", got)
	}
	e = p.restart(t)
	if v, ok := e.sim.Order("WF1"); !ok || v.TradeState != "NOTPAY" {
		t.Errorf("WF1 after the restart: %+v %v, want NOTPAY", v, ok)
	}
	if _, ok := e.sim.Order("WF2"); ok {
		t.Error("WF2 was never answered, yet it is there")
	}
}

// Two simulators must not write one state file; the lock goes with the first one.
func TestPersistStateFileIsLocked(t *testing.T) {
	t.Parallel()
	p := newPersistent(t, nil)
	p.cur.create(t, "LOCK1")
	if _, err := wechatsim.Open(p.config()); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second Open on a file in use: %v", err)
	}
	p.cur.sim.Close()
	sim, err := wechatsim.Open(p.config())
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	defer sim.Close()
	if _, ok := sim.Order("LOCK1"); !ok {
		t.Error("order LOCK1 is gone after a clean Close")
	}
}

// The file stays small: Open compacts it to one line per entity.
func TestPersistCompactsOnOpen(t *testing.T) {
	t.Parallel()
	p := newPersistent(t, nil)
	e := p.cur
	for i := range 5 {
		no := fmt.Sprintf("CMP%d", i)
		e.paidOrder(t, no)
		e.refund(t, refundReq(no, "R"+no, 10))
	}
	e = p.restart(t)
	data, err := os.ReadFile(p.path)
	if err != nil {
		t.Fatal(err)
	}
	if lines := bytes.Count(data, []byte("\n")); lines != 1+5+5 {
		t.Errorf("compacted file has %d lines, want a header and 10 records:\n%s", lines, data)
	}
	if len(e.sim.Refunds("")) != 5 {
		t.Errorf("refunds after compaction: %d", len(e.sim.Refunds("")))
	}
}

// The real thing: a simulator process under concurrent load is killed with SIGKILL at a
// random instant; every create, pay and refund it answered is in the state file.
func TestPersistSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	t.Parallel()
	dir := t.TempDir()
	state := filepath.Join(dir, "wechatsim.jsonl")
	svc := newService(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestPersistHelperProcess$")
	cmd.Env = append(os.Environ(), "WECHATSIM_HELPER_STATE="+state, "WECHATSIM_HELPER_CALLBACK="+svc.srv.URL+"/payment-callback")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = cmd.Process.Kill()
		}
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	base := strings.TrimSpace(line)

	type answered struct {
		created       bool
		transactionID string
		refundID      string
	}
	var mu sync.Mutex
	got := map[string]*answered{}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second}
	post := func(path string, body any) (int, map[string]any, bool) {
		raw, _ := json.Marshal(body)
		resp, err := client.Post(base+wechatsim.Route(path), "application/json", bytes.NewReader(raw))
		if err != nil {
			return 0, nil, false
		}
		defer resp.Body.Close()
		var out map[string]any
		if json.NewDecoder(resp.Body).Decode(&out) != nil {
			return 0, nil, false // cut off mid-reply: not answered
		}
		return resp.StatusCode, out, true
	}
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				no := fmt.Sprintf("K%dN%d", w, i)
				a := &answered{}
				mu.Lock()
				got[no] = a
				mu.Unlock()
				status, out, ok := post("/_/pay/unifiedOrder", orderReq(no))
				if !ok || status != 200 || respdata(out)["result_code"] != "SUCCESS" {
					return
				}
				mu.Lock()
				a.created = true
				mu.Unlock()
				status, out, ok = post("/pay", map[string]any{"out_trade_no": no})
				if !ok || status != 200 {
					return
				}
				mu.Lock()
				a.transactionID, _ = out["transaction_id"].(string)
				mu.Unlock()
				status, out, ok = post("/_/pay/refund", refundReq(no, "R"+no, 10))
				if !ok || status != 200 || respdata(out)["result_code"] != "SUCCESS" {
					return
				}
				mu.Lock()
				a.refundID, _ = respdata(out)["refund_id"].(string)
				mu.Unlock()
			}
		})
	}
	time.Sleep(time.Duration(150+rand.IntN(250)) * time.Millisecond)
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	killed = true
	_ = cmd.Wait()
	stop()
	wg.Wait()

	sim, err := wechatsim.Open(wechatsim.Config{SubMchID: merchant, StateFile: state, RetryDelays: []time.Duration{}, RefundSettleDelay: -1})
	if err != nil {
		t.Fatalf("Open after SIGKILL: %v", err)
	}
	defer sim.Close()
	var creates, pays, refunds int
	for no, a := range got {
		o, ok := sim.Order(no)
		if a.created {
			creates++
			if !ok {
				t.Errorf("order %s was answered, then forgotten", no)
				continue
			}
		}
		if a.transactionID != "" {
			pays++
			if o.TransactionID != a.transactionID {
				t.Errorf("order %s was paid as %s, after the kill it has %q (%s)", no, a.transactionID, o.TransactionID, o.TradeState)
			}
		}
		if a.refundID != "" {
			refunds++
			if r, ok := sim.Refund("R" + no); !ok || r.RefundID != a.refundID {
				t.Errorf("refund R%s was answered as %s, after the kill: %+v %v", no, a.refundID, r, ok)
			}
		}
	}
	if refunds == 0 {
		t.Fatalf("the load did not get far enough before the kill (%d creates, %d pays)", creates, pays)
	}
	t.Logf("killed after %d answered creates, %d pays and %d refunds", creates, pays, refunds)
}

func respdata(envelope map[string]any) map[string]any {
	m, _ := envelope["respdata"].(map[string]any)
	return m
}

// TestPersistHelperProcess is the simulator process TestPersistSurvivesKill9 kills.
func TestPersistHelperProcess(t *testing.T) {
	state := os.Getenv("WECHATSIM_HELPER_STATE")
	if state == "" {
		t.Skip("run by TestPersistSurvivesKill9")
	}
	sim, err := wechatsim.Open(wechatsim.Config{
		SubMchID: merchant, StateFile: state, RetryDelays: []time.Duration{}, RefundSettleDelay: -1,
		Services: map[string]string{"payment-callback": os.Getenv("WECHATSIM_HELPER_CALLBACK")},
	})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	srv := httptest.NewServer(sim.Handler())
	fmt.Println(srv.URL)
	select {} // until killed
}

// BenchmarkPersistPayRefund is one order's create, pay (with its callback) and refund
// through the HTTP handler, in memory and with a state file (in TMPDIR), one client at a
// time and from parallel clients (which share fsyncs).
func BenchmarkPersistPayRefund(b *testing.B) {
	for _, mode := range []string{"memory", "statefile", "memory-parallel", "statefile-parallel"} {
		b.Run(mode, func(b *testing.B) {
			merchantSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write([]byte(`{"errcode":0,"errmsg":"ok"}`))
			}))
			defer merchantSrv.Close()
			cfg := wechatsim.Config{SubMchID: merchant, RetryDelays: []time.Duration{}, RefundSettleDelay: -1,
				Services: map[string]string{"payment-callback": merchantSrv.URL}}
			if strings.HasPrefix(mode, "statefile") {
				cfg.StateFile = filepath.Join(b.TempDir(), "wechatsim.jsonl")
			}
			sim, err := wechatsim.Open(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer sim.Close()
			srv := httptest.NewServer(sim.Handler())
			defer srv.Close()
			call := func(path string, body any) {
				raw, _ := json.Marshal(body)
				resp, err := http.Post(srv.URL+wechatsim.Route(path), "application/json", bytes.NewReader(raw))
				if err != nil {
					b.Error(err)
					return
				}
				if resp.StatusCode != 200 {
					b.Errorf("%s: %d", path, resp.StatusCode)
				}
				_ = resp.Body.Close()
			}
			order := func(no string) {
				call("/_/pay/unifiedOrder", orderReq(no))
				call("/pay", map[string]any{"out_trade_no": no})
				call("/_/pay/refund", refundReq(no, "R"+no, 10))
			}
			b.ResetTimer()
			if !strings.HasSuffix(mode, "parallel") {
				for i := 0; i < b.N; i++ {
					order(fmt.Sprintf("B%d", i))
				}
				return
			}
			var mu sync.Mutex
			n := 0
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					mu.Lock()
					n++
					no := fmt.Sprintf("B%d", n)
					mu.Unlock()
					order(no)
				}
			})
		})
	}
}
