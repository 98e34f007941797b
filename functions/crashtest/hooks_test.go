//go:build linux

package crashtest

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// allPoints are the crash points the suite knows, from its cases and the
// storm's lists.
func allPoints() []string {
	var points []string
	for _, c := range crashCases {
		points = append(points, c.point)
	}
	for _, ps := range armable {
		points = append(points, ps...)
	}
	slices.Sort(points)
	return slices.Compact(points)
}

// The deployables carry no test hooks: built exactly as make build builds
// them, no binary holds the crash points' environment variables, their
// marker or any point's name. The crashpoints builds do (each the
// variables, together every name), or this would prove nothing.
func TestShippedBinariesHaveNoCrashPoints(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every function")
	}
	t.Parallel()
	hooks := append([]string{"CLOUDPAY_CRASH_AT", "CLOUDPAY_CRASH_AFTER", "crashpoint: "}, allPoints()...)
	read := func(dir, name string) []byte {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	shipped := shippedBinaries(t)
	for _, fn := range shippedFunctions {
		bin := read(shipped, fn)
		for _, h := range hooks {
			if bytes.Contains(bin, []byte(h)) {
				t.Errorf("the shipped %s holds %q", fn, h)
			}
		}
	}
	crash := binaries(t)
	seen := map[string]bool{}
	for _, fn := range []string{createPayment, paymentCallback, refundFn, withdrawFn, crashtool} {
		bin := read(crash, fn)
		for _, h := range hooks {
			if bytes.Contains(bin, []byte(h)) {
				seen[h] = true
			} else if h == "CLOUDPAY_CRASH_AT" {
				t.Errorf("the crashpoints build of %s has no crash points", fn)
			}
		}
	}
	for _, h := range hooks {
		if !seen[h] {
			t.Errorf("no crashpoints build holds %q: a point the suite arms is not in the code", h)
		}
	}
}
