package functions_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/funcbuild"
	"github.com/cloudpay/cloudpay/shared/outbox"
	"github.com/cloudpay/cloudpay/shared/storetest"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// The secrets the log test feeds through configuration: each one
// recognisable, none of them a development default.
const (
	mongoPassword = "Mongo pw/7f3a@Secret!"
	adminOld      = "adm-old-Secret-0b5c2d7e"
	adminToken    = "adm-Secret-5b1d9e0c7a"
	jobToken      = "job-Secret-a93c51e2f4"
	notifySecret  = "biz-notify-Secret-4e8f61"
)

// Every deployable, started as shipped with secrets in its configuration and
// exercised over HTTP (health, a wrong token, the right one, a bad body, and
// through WeChat Pay's simulator the paths that sign, verify and decrypt),
// logs JSON lines on stdout — an access line per request with its id,
// function, route, status and latency — and never a secret, in any of the
// forms a log could carry it.
func TestLogsAreJSONLinesWithoutSecrets(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts every function")
	}
	t.Parallel()
	bins := funcbuild.Binaries(t, deployables(t)...)
	store := storetest.Config(t)
	sim := wechatsim.New(wechatsim.Config{SubMchID: wechatsim.DevMchID, RetryDelays: []time.Duration{}, TransferNoConfirm: true})
	t.Cleanup(sim.Close)
	simSrv := httptest.NewServer(sim.Handler())
	t.Cleanup(simSrv.Close)
	var delivered atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := outbox.Verify(notifySecret, r.Header.Get(outbox.SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		delivered.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)

	ports := map[string]int{}
	for _, name := range deployables(t) {
		ports[name] = freePort(t)
	}
	env := secretEnv(t, store.URI, store.Database)
	for k, v := range map[string]string{
		"PAY_CHANNEL":                     "v3",
		"WECHATPAY_API_URL":               simSrv.URL,
		"WECHATPAY_NOTIFY_URL":            fmt.Sprintf("http://127.0.0.1:%d/callbacks/v3", ports["payment-callback"]),
		"WECHATPAY_TRANSFER_REPORT_INFOS": "活动名称=余额提现;奖励说明=用户提现",
		"BUSINESS_NOTIFY_URL":             receiver.URL,
		"LOG_LEVEL":                       "debug", // the most a function ever logs
	} {
		env[k] = v
	}
	// Started together, then each waited for: the start-ups overlap.
	procs := map[string]*running{}
	for _, name := range deployables(t) {
		e := maps.Clone(env)
		e["PORT"] = strconv.Itoa(ports[name])
		procs[name] = launchFunction(t, bins[name], name, e)
	}
	for _, name := range deployables(t) {
		procs[name].waitHealthy(t)
	}

	// what each function was asked, by the request ids it answered with
	sent := map[string][]exchange{}
	call := func(name, method, path, route, body string, header map[string]string, want int) reply {
		t.Helper()
		r := procs[name].do(t, method, path, body, header)
		if r.status != want {
			t.Errorf("%s %s %s = %d %s, want %d", name, method, path, r.status, r.body, want)
		}
		sent[name] = append(sent[name], exchange{id: r.header.Get("X-Request-Id"), route: route, status: r.status})
		return r
	}
	bearer := func(token string) map[string]string { return map[string]string{"Authorization": "Bearer " + token} }
	const openid = "oLogsUser_0123456789abc"
	user := map[string]string{"X-WX-OPENID": openid, "X-WX-SOURCE": "wx_client", "X-Forwarded-For": "203.0.113.7"}
	const badBody = `{"out_trade_no": "LOGS`

	for _, name := range deployables(t) {
		call(name, "GET", "/healthz", "/healthz", "", nil, http.StatusOK)
	}

	order := `{"out_trade_no":"LOGS0001","openid":"` + openid + `","amount_fen":990,"description":"logs"}`
	call("create-payment", "POST", "/orders", "/orders", order, bearer("adm-wrong-token"), http.StatusUnauthorized)
	call("create-payment", "POST", "/orders", "/orders", order, bearer(adminToken), http.StatusCreated)
	call("create-payment", "POST", "/orders", "/orders", badBody, bearer(adminOld), http.StatusBadRequest)
	call("create-payment", "POST", "/payments", "/payments", `{"out_trade_no":"LOGS0001"}`, user, http.StatusOK) // signed prepay

	// A genuine notification: verified and decrypted with the APIv3 key.
	paid, err := sim.Pay(context.Background(), "LOGS0001")
	if err != nil || !paid.Callback.OK {
		t.Fatalf("pay: %v %+v", err, paid.Callback)
	}
	forged, err := sim.ForgeV3(context.Background(), wechatsim.ForgeV3Request{OutTradeNo: "LOGS0001", Kind: wechatsim.ForgeBadSignature})
	if err != nil || forged.Status != http.StatusUnauthorized {
		t.Errorf("forged notification: %v %+v", err, forged)
	}
	call("payment-callback", "POST", "/callbacks/v3", "/callbacks/v3", "{not json", nil, http.StatusUnauthorized)
	call("payment-callback", "POST", "/callbacks/pay", "/callbacks/pay", badBody, nil, http.StatusBadRequest)

	refund := `{"out_trade_no":"LOGS0001","amount_fen":100,"reason":"logs","idempotency_key":"logs-refund-1"}`
	call("refund", "GET", "/refunds?out_trade_no=LOGS0001", "/refunds", "", bearer("adm-wrong-token"), http.StatusUnauthorized)
	call("refund", "POST", "/refunds", "/refunds", refund, bearer(adminToken), http.StatusAccepted) // signed refund call
	call("refund", "GET", "/refunds?out_trade_no=LOGS0001", "/refunds", "", bearer(adminToken), http.StatusOK)
	call("refund", "POST", "/refunds", "/refunds", badBody, bearer(adminToken), http.StatusBadRequest)

	credit := `{"credit_id":"logs-credit-1","amount_fen":500,"memo":"logs"}`
	call("withdraw", "POST", "/wallets/"+openid+"/credits", "/wallets/:openid/credits", credit, bearer("adm-wrong-token"), http.StatusUnauthorized)
	call("withdraw", "POST", "/wallets/"+openid+"/credits", "/wallets/:openid/credits", credit, bearer(adminToken), http.StatusCreated)
	call("withdraw", "POST", "/wallets/"+openid+"/credits", "/wallets/:openid/credits", badBody, bearer(adminToken), http.StatusBadRequest)
	call("withdraw", "POST", "/withdrawals", "/withdrawals", `{"amount_fen":200,"idempotency_key":"logs-w-1"}`, user, http.StatusCreated) // transfer bill
	call("withdraw", "GET", "/wallet", "/wallet", "", user, http.StatusOK)

	call("close-expired", "POST", "/run", "/run", "", bearer(adminToken), http.StatusUnauthorized) // an admin token is not the job's
	call("close-expired", "POST", "/run", "/run", "", bearer(jobToken), http.StatusOK)             // delivers signed notifications
	call("close-expired", "POST", "/run", "/run", "{not json", bearer(jobToken), http.StatusBadRequest)
	call("close-expired", "GET", "/dead-letters", "/dead-letters", "", bearer(adminToken), http.StatusOK)

	// The secrets were in use: WeChat's side and the receiver verified them.
	if delivered.Load() == 0 {
		t.Error("the merchant's back end received no verified business notification")
	}
	if views := sim.Transfers(openid); len(views) != 1 || views[0].State != "SUCCESS" {
		t.Errorf("transfer bills: %+v", views)
	}

	for _, name := range deployables(t) {
		procs[name].stop(t)
	}
	secrets := secretForms(t, env)
	for _, name := range deployables(t) {
		t.Run(name, func(t *testing.T) {
			p := procs[name]
			checkNoSecret(t, "stdout", p.stdout.String(), secrets)
			checkNoSecret(t, "stderr", p.stderr.String(), secrets)
			if s := strings.TrimSpace(p.stderr.String()); s != "" {
				t.Errorf("stderr is not empty (logs belong on stdout, as JSON):\n%s", s)
			}
			checkAccessLog(t, name, p.stdout.String(), sent[name])
		})
	}
}

// A function that cannot start says why on stderr without the secrets it
// was given: here the store refuses, with a password in MONGODB_URI.
func TestStartUpErrorsHoldNoSecret(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts every function")
	}
	t.Parallel()
	bins := funcbuild.Binaries(t, deployables(t)...)
	// Nothing listens on port 1; the driver's timeouts keep this short.
	env := secretEnv(t, "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300&connectTimeoutMS=300", "cloudpay")
	env["PAY_CHANNEL"] = "v3"
	env["WECHATPAY_NOTIFY_URL"] = "https://pay.example.com/callbacks/v3"
	env["BUSINESS_NOTIFY_URL"] = "https://shop.example.com/hooks/cloudpay"
	secrets := secretForms(t, env)
	for _, name := range deployables(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			bin := bins[name]
			e := maps.Clone(env)
			e["PORT"] = strconv.Itoa(freePort(t))
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(bin)
			cmd.Env = environ(e)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			done := make(chan error, 1)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() != 1 {
					t.Fatalf("exit: %v, want status 1\nstderr: %s", err, stderr.String())
				}
			case <-time.After(processDeadline):
				_ = cmd.Process.Kill()
				<-done
				t.Fatalf("still running %s after start with an unreachable store\nstderr: %s", processDeadline, stderr.String())
			}
			if !strings.Contains(stderr.String(), name+": ") || !strings.Contains(stderr.String(), "mongodb") {
				t.Errorf("stderr does not say why: %q", stderr.String())
			}
			checkNoSecret(t, "stdout", stdout.String(), secrets)
			checkNoSecret(t, "stderr", stderr.String(), secrets)
		})
	}
}

// secretEnv is a complete v3 configuration of every function with every
// secret set; storeURI gets mongoPassword (FerretDB takes any PLAIN login).
func secretEnv(t *testing.T, storeURI, database string) map[string]string {
	t.Helper()
	u, err := url.Parse(storeURI)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("cloudpay", mongoPassword)
	q := u.Query()
	q.Set("authMechanism", "PLAIN")
	u.RawQuery = q.Encode()
	return map[string]string{
		"MONGODB_URI": u.String(), "MONGODB_DATABASE": database,
		"ADMIN_TOKENS": adminOld + "," + adminToken, "JOB_TOKEN": jobToken,
		"BUSINESS_NOTIFY_SECRET": notifySecret,
		"WECHAT_SUB_MCH_ID":      wechatsim.DevMchID,
		"WECHATPAY_MCH_ID":       wechatsim.DevMchID, "WECHATPAY_APPID": wechatsim.DefaultAppID,
		"WECHATPAY_MCH_SERIAL":  wechatsim.DevMerchantSerial,
		"WECHATPAY_PRIVATE_KEY": wechatsim.DevMerchantPrivateKeyPEM, "WECHATPAY_APIV3_KEY": wechatsim.DevAPIv3Key,
		"WECHATPAY_PUBLIC_KEY": wechatsim.DevPlatformPublicKeyPEM, "WECHATPAY_PUBLIC_KEY_ID": wechatsim.DevPublicKeyID,
		"MINIPROGRAM_APPID": wechatsim.DefaultAppID, "MINIPROGRAM_SECRET": wechatsim.DevAppSecret,
		"CHECKOUT_KEY": "checkout-key-never-logged-0123456789",
	}
}

// secretForms lists each secret of env in the forms a log line could carry
// it: as is, JSON-escaped, URL-escaped, hex, and base64 (both alphabets, at
// every alignment inside a longer encoded text); the private key also by
// each line of its PEM body and as its DER in base64.
func secretForms(t *testing.T, env map[string]string) map[string][]string {
	t.Helper()
	u, err := url.Parse(env["MONGODB_URI"])
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := u.User.Password()
	// and as written in the URI, escaped its own way
	userinfo, _, _ := strings.Cut(strings.TrimPrefix(env["MONGODB_URI"], u.Scheme+"://"), "@")
	_, written, _ := strings.Cut(userinfo, ":")
	raw := map[string][]string{
		"MONGODB_URI password":   {pw, written},
		"ADMIN_TOKENS":           strings.Split(env["ADMIN_TOKENS"], ","),
		"JOB_TOKEN":              {env["JOB_TOKEN"]},
		"BUSINESS_NOTIFY_SECRET": {env["BUSINESS_NOTIFY_SECRET"]},
		"WECHATPAY_APIV3_KEY":    {env["WECHATPAY_APIV3_KEY"]},
		"WECHATPAY_PRIVATE_KEY":  {env["WECHATPAY_PRIVATE_KEY"]},
		"MINIPROGRAM_SECRET":     {env["MINIPROGRAM_SECRET"]},
		"CHECKOUT_KEY":           {env["CHECKOUT_KEY"]},
	}
	out := map[string][]string{}
	for name, values := range raw {
		for _, v := range values {
			out[name] = append(out[name], encodings(v)...)
		}
	}
	block, _ := pem.Decode([]byte(env["WECHATPAY_PRIVATE_KEY"]))
	if block == nil {
		t.Fatal("WECHATPAY_PRIVATE_KEY is not PEM")
	}
	for line := range strings.Lines(env["WECHATPAY_PRIVATE_KEY"]) {
		if line = strings.TrimSpace(line); !strings.HasPrefix(line, "-----") && len(line) >= 16 {
			out["WECHATPAY_PRIVATE_KEY"] = append(out["WECHATPAY_PRIVATE_KEY"], line)
		}
	}
	out["WECHATPAY_PRIVATE_KEY"] = append(out["WECHATPAY_PRIVATE_KEY"], encodings(string(block.Bytes))...)
	return out
}

func encodings(s string) []string {
	j, _ := json.Marshal(s)
	forms := []string{s, string(j[1 : len(j)-1]), url.QueryEscape(s), url.PathEscape(s), hex.EncodeToString([]byte(s))}
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		for off := range 3 {
			// The characters that depend on s alone, wherever it starts.
			e := enc.EncodeToString(append(make([]byte, off), s...))
			from, to := (off*8+5)/6, (off+len(s))*8/6
			forms = append(forms, e[from:to])
		}
	}
	slices.Sort(forms)
	return slices.Compact(forms)
}

func checkNoSecret(t *testing.T, stream, text string, secrets map[string][]string) {
	t.Helper()
	for name, forms := range secrets {
		for _, f := range forms {
			if i := strings.Index(text, f); i >= 0 {
				t.Errorf("%s holds %s (as %q): …%s…", stream, name, f, text[max(i-80, 0):min(i+len(f)+20, len(text))])
			}
		}
	}
}

// exchange is one request the test made and what the function answered.
type exchange struct {
	id, route string
	status    int
}

// checkAccessLog checks every stdout line is a JSON record of this function
// and each access line has the fields operators filter on; every exchange
// has its line.
func checkAccessLog(t *testing.T, name, stdout string, sent []exchange) {
	t.Helper()
	type line struct {
		Msg       string   `json:"msg"`
		Level     string   `json:"level"`
		Function  *string  `json:"function"`
		RequestID *string  `json:"request_id"`
		Route     *string  `json:"route"`
		Status    *int     `json:"status"`
		LatencyMS *float64 `json:"latency_ms"`
	}
	logged := map[string]line{}
	n := 0
	for text := range strings.Lines(stdout) {
		if strings.TrimSpace(text) == "" {
			continue
		}
		n++
		var l line
		if err := json.Unmarshal([]byte(text), &l); err != nil {
			t.Errorf("not a JSON line: %q", text)
			continue
		}
		if l.Function == nil || *l.Function != name || l.Msg == "" || l.Level == "" {
			t.Errorf("line without msg, level or function %q: %q", name, text)
		}
		if l.Msg != "request" {
			continue
		}
		if l.RequestID == nil || *l.RequestID == "" || l.Route == nil || l.Status == nil || l.LatencyMS == nil || *l.LatencyMS < 0 {
			t.Errorf("access line without request_id, route, status or latency_ms: %q", text)
			continue
		}
		logged[*l.RequestID] = l
	}
	if n == 0 {
		t.Fatal("nothing on stdout")
	}
	for _, ex := range sent {
		l, ok := logged[ex.id]
		switch {
		case ex.id == "":
			t.Errorf("a %s request was answered without X-Request-Id", ex.route)
		case !ok:
			t.Errorf("no access line for request %s (%s)", ex.id, ex.route)
		case *l.Route != ex.route || *l.Status != ex.status:
			t.Errorf("request %s logged as %s %d, answered as %s %d", ex.id, *l.Route, *l.Status, ex.route, ex.status)
		}
	}
}

// processDeadline bounds each wait on a function's process: to answer
// /healthz after its start, to exit after SIGTERM or after failing to start.
// Sized for a loaded machine (two cores, every package's tests and builds
// running at once, the test store race-instrumented); a process that works
// is waited for only as long as it needs.
const processDeadline = 90 * time.Second

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// environ is env and nothing else: the caller's shell (a PAY_CHANNEL, an
// AWS_LAMBDA_RUNTIME_API) must not change what is tested.
func environ(env map[string]string) []string {
	var out []string
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// running is a function started from its binary.
type running struct {
	name           string
	url            string
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{}
	exitErr        error
}

// launchFunction runs bin with exactly env (PORT chosen when env has none);
// waitHealthy then waits for it to answer. Launching several before waiting
// for any lets their start-ups overlap. The process is killed after the
// test unless stopped.
func launchFunction(t *testing.T, bin, name string, env map[string]string) *running {
	t.Helper()
	env = maps.Clone(env)
	if env["PORT"] == "" {
		env["PORT"] = strconv.Itoa(freePort(t))
	}
	p := &running{name: name, url: "http://127.0.0.1:" + env["PORT"], stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin)
	p.cmd.Env = environ(env)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.exitErr = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitHealthy waits for GET /healthz to answer 200, failing the test if
// the process exits first or processDeadline passes.
func (p *running) waitHealthy(t *testing.T) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(processDeadline)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("%s exited before it answered: %v\nstderr: %s\nstdout: %s", p.name, p.exitErr, p.stderr, p.stdout)
		default:
		}
		resp, err := client.Get(p.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
		select {
		case <-p.done:
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("%s did not answer /healthz within %s (last: %v)\nstderr: %s\nstdout: %s", p.name, processDeadline, last, p.stderr, p.stdout)
}

type reply struct {
	status int
	header http.Header
	body   string
}

func (p *running) do(t *testing.T, method, path, body string, header map[string]string) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, p.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s %s: %v", p.name, method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: string(raw)}
}

// stop sends SIGTERM, as Cloud Hosting and Lambda do, and expects a clean exit.
func (p *running) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM %s: %v", p.name, err)
	}
	select {
	case <-p.done:
		if p.exitErr != nil {
			t.Errorf("%s exited with %v after SIGTERM\nstderr: %s", p.name, p.exitErr, p.stderr)
		}
	case <-time.After(processDeadline):
		t.Errorf("%s still running %s after SIGTERM", p.name, processDeadline)
	}
}

// syncBuffer collects a child's output for the goroutines exec starts.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
