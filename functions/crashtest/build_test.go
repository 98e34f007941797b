//go:build linux

package crashtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/cloudpay/cloudpay/shared/funcbuild"
)

// The processes the suite runs: four deployables built with their crash
// points armed (-tags crashpoints), and crashtool, which serves the
// simulator and runs close-expired with a clock that can run ahead.
const (
	createPayment   = "create-payment"
	paymentCallback = "payment-callback"
	refundFn        = "refund"
	withdrawFn      = "withdraw"
	closeExpired    = "close-expired" // crashtool job
	crashtool       = "crashtool"
)

// crashPackages are built with -tags crashpoints, once per test process.
var crashPackages = []string{
	"./functions/" + createPayment, "./functions/" + paymentCallback, "./functions/" + refundFn,
	"./functions/" + withdrawFn, "./functions/crashtest/crashtool",
}

// shippedFunctions are the deployables as make build builds them.
var shippedFunctions = []string{createPayment, paymentCallback, refundFn, withdrawFn, "close-expired"}

var built struct {
	once    sync.Once
	dir     string
	crash   string // the crashpoints builds
	shipped string // the deployables as shipped, built on first use
	err     error

	shippedOnce sync.Once
	shippedErr  error
}

// TestMain removes the binaries when the tests are done.
func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// crashFlags are funcbuild.Flags (the Makefile's BUILDFLAGS) with the
// crashpoints tag added: the binaries differ from the shipped ones only by
// their crash points.
func crashFlags() []string {
	flags := slices.Clone(funcbuild.Flags)
	i := slices.Index(flags, "-tags")
	if i < 0 || i+1 >= len(flags) {
		return append(flags, "-tags", "crashpoints")
	}
	flags[i+1] += ",crashpoints"
	return flags
}

// binaries returns the directory of the crashpoints builds: one per
// function, named after it, and crashtool.
func binaries(t testing.TB) string {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "cloudpay-crashtest-")
		if built.err != nil {
			return
		}
		built.crash = filepath.Join(built.dir, "crash")
		built.err = goBuild(crashFlags(), built.crash, crashPackages)
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.crash
}

// shippedBinaries returns the directory of the deployables built exactly as
// make build builds them.
func shippedBinaries(t testing.TB) string {
	t.Helper()
	binaries(t)
	built.shippedOnce.Do(func() {
		built.shipped = filepath.Join(built.dir, "shipped")
		var pkgs []string
		for _, f := range shippedFunctions {
			pkgs = append(pkgs, "./functions/"+f)
		}
		built.shippedErr = goBuild(funcbuild.Flags, built.shipped, pkgs)
	})
	if built.shippedErr != nil {
		t.Fatal(built.shippedErr)
	}
	return built.shipped
}

// goBuild builds pkgs (from the module's root) into dir, static, in one go
// build so the packages they share compile once and they link in parallel.
func goBuild(flags []string, dir string, pkgs []string) error {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	args := append(append([]string{"build"}, flags...), "-o", dir+string(filepath.Separator))
	cmd := exec.Command("go", append(args, pkgs...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	unlock := lockMachine()
	out, err := cmd.CombinedOutput()
	unlock()
	if err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(cmd.Args[1:], " "), err, out)
	}
	return nil
}

// lockMachine takes funcbuild's machine-wide build lock (the same file):
// test processes of several packages build at once, and one at a time the
// later ones find the shared packages compiled.
func lockMachine() (unlock func()) {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "cloudpay-funcbuild.lock"), os.O_CREATE|os.O_RDONLY, 0o666)
	if err != nil {
		return func() {}
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return func() {}
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}
}
