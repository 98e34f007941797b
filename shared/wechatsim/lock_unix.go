//go:build unix

package wechatsim

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// lockFile opens (creating it) and locks path exclusively. The lock lasts until the
// returned file is closed or the process ends, however it ends.
//
// A lock just released may still be held for a moment by a child process this
// process forked (a fork copies every descriptor, close-on-exec ones until the
// exec), so a held lock is tried again for lockPatience before it counts as
// another simulator's.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(lockPatience)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			_ = f.Close()
			return nil, fmt.Errorf("in use by another simulator (%s is locked)", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const lockPatience = 2 * time.Second
