// Package funcbuild builds the deployable functions (functions/<name>) for
// tests that run them as processes: for this machine, as they ship
// (CGO_ENABLED=0 and the Makefile's BUILDFLAGS, never -race), and once per
// test process however many tests ask.
//
// A package using it calls Main from its TestMain, which removes the
// binaries when its tests are done:
//
//	func TestMain(m *testing.M) { funcbuild.Main(m) }
package funcbuild

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Flags are the Makefile's BUILDFLAGS as go build arguments; the functions
// package's template test keeps the two equal.
var Flags = []string{"-trimpath", "-ldflags", "-s -w", "-tags", "nomsgpack"}

var state struct {
	mu     sync.Mutex // held for a whole build: a second test waits for the first's
	main   bool       // Main is running the tests
	dir    string     // the binaries, removed by Main
	root   string     // the module's directory
	built  map[string]string
	failed map[string]error
}

// Main runs the tests of m, removes the binaries built for them and exits
// with the tests' status.
func Main(m *testing.M) {
	state.mu.Lock()
	state.main = true
	state.mu.Unlock()
	code := m.Run()
	state.mu.Lock()
	if state.dir != "" {
		_ = os.RemoveAll(state.dir)
	}
	state.mu.Unlock()
	os.Exit(code)
}

// Binary is the path of functions/<name>'s binary; see Binaries.
func Binary(t testing.TB, name string) string {
	t.Helper()
	return Binaries(t, name)[name]
}

// Binaries returns the path of each named function's binary. Those this
// process has not built yet are built now in one go build, so the packages
// they share compile once and they link in parallel. Tests may ask at the
// same time: one builds, the others wait for it. A failed build fails every
// test asking for one of its functions, without building again.
func Binaries(t testing.TB, names ...string) map[string]string {
	t.Helper()
	state.mu.Lock()
	defer state.mu.Unlock()
	if !state.main {
		t.Fatal("funcbuild: the package's TestMain must call funcbuild.Main (it removes the binaries)")
	}
	var missing []string
	for _, n := range names {
		if err := state.failed[n]; err != nil {
			t.Fatal(err)
		}
		if _, ok := state.built[n]; !ok && !slices.Contains(missing, n) {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		if err := build(missing); err != nil {
			if state.failed == nil {
				state.failed = map[string]error{}
			}
			for _, n := range missing {
				state.failed[n] = err
			}
			t.Fatal(err)
		}
	}
	out := make(map[string]string, len(names))
	for _, n := range names {
		out[n] = state.built[n]
	}
	return out
}

// build builds functions/<name> for each of names into state.dir; the
// caller holds state.mu.
func build(names []string) error {
	if state.root == "" {
		gomod, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			return fmt.Errorf("funcbuild: go env GOMOD: %w", err)
		}
		p := strings.TrimSpace(string(gomod))
		if p == "" || p == os.DevNull {
			return fmt.Errorf("funcbuild: not inside the cloudpay module")
		}
		state.root = filepath.Dir(p)
	}
	if state.dir == "" {
		dir, err := os.MkdirTemp("", "cloudpay-functions-")
		if err != nil {
			return fmt.Errorf("funcbuild: %w", err)
		}
		state.dir = dir
	}
	// -o dir/ with several main packages writes each as dir/<last element>.
	args := append(append([]string{"build"}, Flags...), "-o", state.dir+string(filepath.Separator))
	for _, n := range names {
		if n == "" || strings.ContainsAny(n, `/\.`) {
			return fmt.Errorf("funcbuild: %q is not a function's directory name", n)
		}
		args = append(args, "./functions/"+n)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = state.root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	// Test processes of several packages build functions at the same time;
	// one at a time, the later ones find the packages the functions share
	// compiled in the build cache instead of compiling them again alongside
	// (on a cold cache, a minute of CPU each).
	unlock := lockMachine()
	out, err := cmd.CombinedOutput()
	unlock()
	if err != nil {
		return fmt.Errorf("funcbuild: go build %s: %v\n%s", strings.Join(names, " "), err, out)
	}
	if state.built == nil {
		state.built = map[string]string{}
	}
	for _, n := range names {
		bin := filepath.Join(state.dir, n)
		if _, err := os.Stat(bin); err != nil {
			return fmt.Errorf("funcbuild: go build left no binary for %s: %w", n, err)
		}
		state.built[n] = bin
	}
	return nil
}
