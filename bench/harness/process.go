package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

const (
	pollEvery     = 2 * time.Millisecond
	healthTimeout = 15 * time.Second
	stopTimeout   = 10 * time.Second
)

// baseEnv is what the functions are given, as template.yaml gives it on the
// Cloud Hosting channel, pointed at the harness's store and simulator.
type baseEnv struct {
	storeURI, simURL string
	callbackURL      string // payment-callback's base URL
}

// v3Keys are the functions deployed with the merchant's API v3 keys on the
// Cloud Hosting channel: withdraw transfers with them, payment-callback
// verifies transfer notifications, close-expired settles withdrawals.
var v3Keys = map[string]bool{"withdraw": true, "payment-callback": true, "close-expired": true}

// vars is the complete environment of a function process: nothing is
// inherited, so a PAY_CHANNEL or AWS_LAMBDA_RUNTIME_API in the caller's
// shell cannot change what is measured.
func (e baseEnv) vars(name string, port int, database string) []string {
	vars := []string{
		"PORT=" + strconv.Itoa(port),
		"MONGODB_URI=" + e.storeURI,
		"MONGODB_DATABASE=" + database,
		"ADMIN_TOKENS=" + adminToken,
		"WECHAT_SUB_MCH_ID=" + subMchID,
		"CLOUDHOSTING_API_URL=" + e.simURL,
		"CLOUDHOSTING_ENV_ID=" + envID,
		"LOG_LEVEL=error",
	}
	if v3Keys[name] {
		// The simulator's development keys; its v3 side signs with them.
		vars = append(vars,
			"WECHATPAY_MCH_ID="+wechatsim.DevMchID,
			"WECHATPAY_APPID="+wechatsim.DefaultAppID,
			"WECHATPAY_MCH_SERIAL="+wechatsim.DevMerchantSerial,
			"WECHATPAY_PRIVATE_KEY="+wechatsim.DevMerchantPrivateKeyPEM,
			"WECHATPAY_APIV3_KEY="+wechatsim.DevAPIv3Key,
			"WECHATPAY_PUBLIC_KEY="+wechatsim.DevPlatformPublicKeyPEM,
			"WECHATPAY_PUBLIC_KEY_ID="+wechatsim.DevPublicKeyID,
			"WECHATPAY_API_URL="+e.simURL,
			"WECHATPAY_NOTIFY_URL="+e.callbackURL+"/callbacks/v3",
			"WECHATPAY_TRANSFER_REPORT_INFOS=活动名称=余额提现;奖励说明=用户提现",
		)
	}
	if name == "close-expired" {
		vars = append(vars, "JOB_TOKEN="+jobToken)
	}
	return vars
}

// freePort asks the kernel for a loopback port nobody uses right now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// proc is a running function.
type proc struct {
	name string
	cmd  *exec.Cmd
	url  string // http://127.0.0.1:PORT
	done chan struct{}
	out  *limitedBuffer
}

// start execs bin; started is taken just before the exec.
func start(bin, name string, port int, env []string) (p *proc, started time.Time, err error) {
	p = &proc{name: name, url: fmt.Sprintf("http://127.0.0.1:%d", port), done: make(chan struct{}),
		out: &limitedBuffer{max: 16 << 10}}
	p.cmd = exec.Command(bin)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	started = time.Now()
	if err := p.cmd.Start(); err != nil {
		return nil, started, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	return p, started, nil
}

// waitHealthy polls GET /healthz every 2 ms until a 200, and returns the
// time from started to that answer.
func (p *proc) waitHealthy(ctx context.Context, started time.Time) (time.Duration, error) {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	defer client.CloseIdleConnections()
	deadline := started.Add(healthTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return 0, fmt.Errorf("%s exited before it was healthy: %s", p.name, p.output())
		case <-ctx.Done():
			return 0, ctx.Err()
		default:
		}
		if resp, err := client.Get(p.url + "/healthz"); err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(started), nil
			}
		}
		time.Sleep(pollEvery)
	}
	return 0, fmt.Errorf("%s not healthy after %s: %s", p.name, healthTimeout, p.output())
}

// stop sends SIGTERM and waits; a process that ignores it is killed.
func (p *proc) stop() error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop %s: %w", p.name, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s ignored SIGTERM for %s and was killed", p.name, stopTimeout)
	}
}

func (p *proc) output() string {
	s := strings.TrimSpace(p.out.String())
	if s == "" {
		return "(no output)"
	}
	return s
}

// rssMB reads VmRSS of the process in MB.
func (p *proc) rssMB() (float64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(raw)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest) // "12345 kB"
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseFloat(f[0], 64)
				return kb / 1024, err
			}
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

type startupRow struct {
	name                             string
	image                            string // MB, or why there is none
	binaryMB, medianMS, p90MS, rssMB float64
}

// measureStartup starts bin runs+1 times (the first is a warm-up) and
// measures exec to first healthy answer; the idle RSS is read 1 s after the
// last one answered.
func measureStartup(ctx context.Context, bin, name string, env baseEnv, runs int) (startupRow, error) {
	row := startupRow{name: name}
	var ms []float64
	for i := range runs + 1 {
		port, err := freePort()
		if err != nil {
			return row, err
		}
		p, started, err := start(bin, name, port, env.vars(name, port, "bench_startup"))
		if err != nil {
			return row, err
		}
		took, err := p.waitHealthy(ctx, started)
		if err == nil && i > 0 {
			ms = append(ms, float64(took.Microseconds())/1000)
		}
		if err == nil && i == runs {
			time.Sleep(time.Second)
			row.rssMB, err = p.rssMB()
		}
		if serr := p.stop(); err == nil {
			err = serr
		}
		if err != nil {
			return row, err
		}
	}
	row.medianMS, row.p90MS = percentile(ms, 50), percentile(ms, 90)
	return row, nil
}

// percentile is the nearest-rank percentile of xs (which it sorts).
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	slices.Sort(xs)
	rank := int(math.Ceil(p / 100 * float64(len(xs))))
	return xs[max(rank-1, 0)]
}

// limitedBuffer keeps the first max bytes a child writes, safely for the
// copying goroutines exec starts.
type limitedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
