//go:build linux

package crashtest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Deadlines are sized for a loaded machine (make test runs every package at
// once on two cores); they only bound what hangs, nothing waits for them.
const (
	startTimeout = 30 * time.Second // a process answers /healthz
	crashTimeout = 30 * time.Second // an armed process reaches its crash point
)

// proc is one process of a world: a function, the job or the simulator. It
// keeps its port across restarts, as a container's address stays.
type proc struct {
	name string
	bin  string
	args []string
	port int

	mu    sync.Mutex
	env   []string // of the running (or last) process
	cmd   *exec.Cmd
	done  chan struct{}
	out   *tail
	state string // how the last process ended
	logs  []string
}

func (p *proc) url() string { return fmt.Sprintf("http://127.0.0.1:%d", p.port) }

// start starts the process with env and waits until it answers /healthz.
func (p *proc) start(t testing.TB, env []string) {
	t.Helper()
	if err := p.launch(env); err != nil {
		t.Fatal(err)
	}
}

// launch is start for goroutines other than the test's: it returns what
// went wrong.
func (p *proc) launch(env []string) error {
	p.mu.Lock()
	if p.cmd != nil {
		p.mu.Unlock()
		return fmt.Errorf("%s: started twice", p.name)
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = env
	out := &tail{max: 32 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	// The process dies with the test binary, whatever kills it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		p.mu.Unlock()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.out, p.env = cmd, done, out, env
	p.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		p.mu.Lock()
		p.state = cmd.ProcessState.String()
		p.logs = append(p.logs, fmt.Sprintf("--- %s (%s):\n%s", p.name, p.state, out.String()))
		if len(p.logs) > 8 {
			p.logs = p.logs[len(p.logs)-8:]
		}
		p.mu.Unlock()
		close(done)
	}()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(startTimeout)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		select {
		case <-done:
			return fmt.Errorf("%s exited while starting: %s", p.name, p.output())
		default:
		}
		if resp, err := client.Get(p.url() + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not healthy after %s: %s", p.name, startTimeout, p.output())
		}
		time.Sleep(wait)
	}
}

// running reports whether the process is up (or starting).
func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL (if it still runs) and waits for the process to end.
func (p *proc) kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// stop ends the process gracefully (SIGTERM: in-flight requests finish),
// or kills it after a while.
func (p *proc) stop() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
}

// awaitCrash waits for the process to die at the crash point point: killed
// by SIGKILL after printing the point's name (package crashpoint). It
// leaves the process stopped.
func (p *proc) awaitCrash(t testing.TB, point string) {
	t.Helper()
	p.mu.Lock()
	cmd, done, out := p.cmd, p.done, p.out
	p.mu.Unlock()
	if cmd == nil {
		t.Fatalf("%s is not running", p.name)
	}
	select {
	case <-done:
	case <-time.After(crashTimeout):
		t.Fatalf("%s did not crash at %s within %s: %s", p.name, point, crashTimeout, p.output())
	}
	p.mu.Lock()
	p.cmd = nil
	p.mu.Unlock()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("%s ended with %s, not SIGKILL at %s: %s", p.name, cmd.ProcessState, point, p.output())
	}
	if !strings.Contains(out.String(), "crashpoint: "+point+"\n") {
		t.Fatalf("%s was killed, but not at %s: %s", p.name, point, p.output())
	}
}

// output is what the last processes wrote, for failure messages.
func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for _, l := range p.logs {
		b.WriteString(l)
		b.WriteString("\n")
	}
	if p.cmd != nil {
		fmt.Fprintf(&b, "--- %s (running):\n%s", p.name, p.out.String())
	}
	return b.String()
}

// tail keeps the last max bytes a process wrote (the crash marker is among
// its last words).
type tail struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (b *tail) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tail) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(bytes.Clone(b.buf))
}

// ports hands out ports for the processes to listen on, never the same
// twice in this test process: a world's processes keep their ports across
// restarts, and while one is down nothing else may take its port. They
// come from below the kernel's ephemeral range, which every outgoing
// connection on the machine draws its local port from (a listener cannot
// bind a port a connection holds).
var ports struct {
	mu   sync.Mutex
	used map[int]bool
	rng  *rand.Rand
}

func freePort(t testing.TB) int {
	t.Helper()
	ports.mu.Lock()
	defer ports.mu.Unlock()
	if ports.used == nil {
		ports.used = map[int]bool{}
		ports.rng = rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid())))
	}
	lo, hi := 10000, ephemeralStart()-1
	if hi-lo < 1000 {
		lo, hi = 1024, 65535 // an unusual range: any port will do
	}
	for range 1000 {
		port := lo + ports.rng.IntN(hi-lo+1)
		if ports.used[port] {
			continue
		}
		// The functions listen on every interface, the simulator on
		// loopback: the port must be free for both.
		ln, err := net.Listen("tcp", ":"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		ln.Close()
		ports.used[port] = true
		return port
	}
	t.Fatal("no free port")
	return 0
}

// ephemeralStart is where the kernel's range of ports for outgoing
// connections begins (32768 if it cannot be read).
func ephemeralStart() int {
	raw, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(raw))
	if len(f) < 1 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return n
}
