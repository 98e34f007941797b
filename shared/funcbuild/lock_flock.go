//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package funcbuild

import (
	"os"
	"path/filepath"
	"syscall"
)

// lockMachine takes a lock shared by every test process on this machine
// (go test runs several packages' tests at once) and returns its release.
// Without one nothing is serialised: the lock only saves work.
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
