package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/testkit"
)

// A small W3C WebDriver client: enough of the protocol to drive Debian's
// Chromium through chromedriver from a Go test, with nothing from npm.

const (
	chromiumPath     = "/usr/bin/chromium"
	chromedriverPath = "/usr/bin/chromedriver"
	// elementKey is how the protocol names an element reference.
	elementKey = "element-6066-11e4-a52e-4f735466cecf"
)

// chromiumArgs are the flags Chromium needs on a machine without a display
// and without a network beyond loopback.
var chromiumArgs = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--disable-dev-shm-usage", "--window-size=1280,900", "--lang=zh-CN",
}

type browser struct {
	t       *testing.T
	base    string // chromedriver's URL
	session string
	client  *http.Client
	logs    []logEntry
}

// startBrowser starts chromedriver on a free port and opens a session in a
// fresh profile; both end when the test does.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	logs := &lockedBuffer{}
	cmd := exec.Command(chromedriverPath, "--port="+strconv.Itoa(port), "--allowed-ips=127.0.0.1")
	cmd.Stdout, cmd.Stderr = logs, logs
	// Chromium runs as chromedriver's children in its process group: they
	// go with it, and a child still holding the output pipe cannot keep
	// Wait (and the test) waiting.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromedriver: %v", err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		if t.Failed() && logs.Len() > 0 {
			t.Logf("chromedriver:\n%s", tail(logs.String(), 4000))
		}
	})
	b := &browser{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port), client: &http.Client{Timeout: 30 * time.Second}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var st struct {
			Ready bool `json:"ready"`
		}
		if err := b.call(http.MethodGet, "/status", nil, &st); err == nil && st.Ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("chromedriver did not become ready:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	args := append([]string{"--user-data-dir=" + filepath.Join(t.TempDir(), "profile")}, chromiumArgs...)
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName": "chrome",
		"goog:chromeOptions": map[string]any{
			"binary": chromiumPath, "args": args,
			"prefs": map[string]any{"intl.accept_languages": "zh-CN"},
		},
		"goog:loggingPrefs": map[string]any{"browser": "ALL"},
		"timeouts":          map[string]any{"script": 10000, "pageLoad": 15000, "implicit": 0},
	}}}
	var sess struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call(http.MethodPost, "/session", caps, &sess); err != nil {
		t.Fatalf("new session: %v\n%s", err, logs.String())
	}
	b.session = sess.SessionID
	t.Cleanup(func() { _ = b.call(http.MethodDelete, "/session/"+b.session, nil, nil) })
	return b
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// wdError is an error the WebDriver remote end reported.
type wdError struct {
	Code    string `json:"error"`
	Message string `json:"message"`
}

func (e *wdError) Error() string { return e.Code + ": " + firstLine(e.Message) }

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// call sends one command and decodes the "value" of the answer into out.
func (b *browser) call(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, b.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var env struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return fmt.Errorf("%s %s: HTTP %d, undecodable answer: %w", method, path, resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		var we wdError
		_ = json.Unmarshal(env.Value, &we)
		return &we
	}
	if out != nil {
		return json.Unmarshal(env.Value, out)
	}
	return nil
}

func (b *browser) must(err error, what string) {
	b.t.Helper()
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *browser) sess(path string) string { return "/session/" + b.session + path }

func (b *browser) navigate(url string) {
	b.t.Helper()
	b.must(b.call(http.MethodPost, b.sess("/url"), map[string]string{"url": url}, nil), "navigate to "+url)
}

// find returns the element css selects, or "" if there is none.
func (b *browser) find(css string) (string, error) {
	var ref map[string]string
	err := b.call(http.MethodPost, b.sess("/element"), map[string]string{"using": "css selector", "value": css}, &ref)
	if we, ok := err.(*wdError); ok && we.Code == "no such element" {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return ref[elementKey], nil
}

func (b *browser) findAll(css string) []string {
	b.t.Helper()
	var refs []map[string]string
	b.must(b.call(http.MethodPost, b.sess("/elements"), map[string]string{"using": "css selector", "value": css}, &refs), "find "+css)
	ids := make([]string, len(refs))
	for i, r := range refs {
		ids[i] = r[elementKey]
	}
	return ids
}

// waitFor polls cond until it holds, for as long as testkit.Patience:
// a slow machine makes the test slower, never fail.
func (b *browser) waitFor(what string, cond func() (bool, error)) {
	b.t.Helper()
	timeout := testkit.Patience
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ok, err := cond()
		if ok {
			return
		}
		last = err
		if time.Now().After(deadline) {
			b.dumpConsole()
			b.t.Fatalf("timed out after %s waiting for %s (last error: %v); page text:\n%s", timeout, what, last, tail(b.pageText(), 3000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// el waits for a displayed element and returns its reference.
func (b *browser) el(css string) string {
	b.t.Helper()
	var id string
	b.waitFor("element "+css, func() (bool, error) {
		var err error
		id, err = b.find(css)
		if id == "" || err != nil {
			return false, err
		}
		var shown bool
		err = b.call(http.MethodGet, b.sess("/element/"+id+"/displayed"), nil, &shown)
		return shown, err
	})
	return id
}

func (b *browser) click(css string) {
	b.t.Helper()
	id := b.el(css)
	b.waitFor("click on "+css, func() (bool, error) {
		err := b.call(http.MethodPost, b.sess("/element/"+id+"/click"), map[string]any{}, nil)
		return err == nil, err
	})
}

// typeInto replaces an input's value by typing text, as a person would.
func (b *browser) typeInto(css, text string) {
	b.t.Helper()
	id := b.el(css)
	b.must(b.call(http.MethodPost, b.sess("/element/"+id+"/clear"), map[string]any{}, nil), "clear "+css)
	b.must(b.call(http.MethodPost, b.sess("/element/"+id+"/value"), map[string]any{"text": text}, nil), "type into "+css)
}

func (b *browser) text(css string) string {
	b.t.Helper()
	id := b.el(css)
	var s string
	b.must(b.call(http.MethodGet, b.sess("/element/"+id+"/text"), nil, &s), "text of "+css)
	return s
}

// waitText waits until the element's text contains want.
func (b *browser) waitText(css, want string) {
	b.t.Helper()
	b.waitFor(fmt.Sprintf("%q in %s", want, css), func() (bool, error) {
		id, err := b.find(css)
		if id == "" || err != nil {
			return false, err
		}
		var s string
		err = b.call(http.MethodGet, b.sess("/element/"+id+"/text"), nil, &s)
		return strings.Contains(s, want), err
	})
}

func (b *browser) exec(script string, args ...any) any {
	b.t.Helper()
	if args == nil {
		args = []any{}
	}
	var out any
	b.must(b.call(http.MethodPost, b.sess("/execute/sync"), map[string]any{"script": script, "args": args}, &out), "execute script")
	return out
}

// execAsync runs a script whose last argument is the callback to call with
// the result.
func (b *browser) execAsync(script string, out any, args ...any) {
	b.t.Helper()
	if args == nil {
		args = []any{}
	}
	b.must(b.call(http.MethodPost, b.sess("/execute/async"), map[string]any{"script": script, "args": args}, out), "execute async script")
}

func (b *browser) pageText() string {
	var s string
	if err := b.call(http.MethodPost, b.sess("/execute/sync"), map[string]any{"script": "return document.body ? document.body.innerText : ''", "args": []any{}}, &s); err != nil {
		return "(page text unavailable: " + err.Error() + ")"
	}
	return s
}

// screenshot writes the viewport as a PNG.
func (b *browser) screenshot(path string) {
	b.t.Helper()
	var enc string
	b.must(b.call(http.MethodGet, b.sess("/screenshot"), nil, &enc), "screenshot")
	png, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

type logEntry struct {
	Level   string `json:"level"`
	Message string `json:"message"`
}

// readLog moves what the page wrote to its console since the last read
// into b.logs (chromedriver hands each entry out once).
func (b *browser) readLog() {
	var entries []logEntry
	if err := b.call(http.MethodPost, b.sess("/se/log"), map[string]string{"type": "browser"}, &entries); err != nil {
		b.t.Logf("read the browser's console: %v", err)
		return
	}
	b.logs = append(b.logs, entries...)
}

// dumpConsole logs everything the page wrote to its console.
func (b *browser) dumpConsole() {
	b.readLog()
	for _, e := range b.logs {
		b.t.Logf("browser console %s: %s", e.Level, e.Message)
	}
}

// consoleErrors returns the page's console entries at level SEVERE.
func (b *browser) consoleErrors() []string {
	b.readLog()
	var errs []string
	for _, e := range b.logs {
		if e.Level == "SEVERE" {
			errs = append(errs, e.Message)
		}
	}
	return errs
}

// browserTools says why a browser test cannot run here, or "".
func browserTools() string {
	for _, p := range []string{chromiumPath, chromedriverPath} {
		if _, err := os.Stat(p); err != nil {
			return p + " is missing (apt-get install chromium chromium-driver)"
		}
	}
	return ""
}

// lockedBuffer is chromedriver's output, written by its copying goroutines
// while a failing test may read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *lockedBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}
