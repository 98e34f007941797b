//go:build crashpoints

package crashpoint

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Environment variables read by a crashpoints build.
const (
	EnvAt    = "CLOUDPAY_CRASH_AT"
	EnvAfter = "CLOUDPAY_CRASH_AFTER"
)

var armed = sync.OnceValues(func() ([]string, int64) {
	var names []string
	for n := range strings.SplitSeq(os.Getenv(EnvAt), ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	after, err := strconv.ParseInt(strings.TrimSpace(os.Getenv(EnvAfter)), 10, 64)
	if err != nil || after < 1 {
		after = 1
	}
	return names, after
})

var hits atomic.Int64

// Here kills the process with SIGKILL if name is armed and this is the hit
// CLOUDPAY_CRASH_AFTER asks for.
func Here(name string) {
	names, after := armed()
	if !slices.Contains(names, name) || hits.Add(1) != after {
		return
	}
	os.Stderr.WriteString("crashpoint: " + name + "\n")
	kill()
}
