// Package functions_test checks properties of the deployable functions as a set.
package functions_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudpay/cloudpay/shared/funcbuild"
)

// The tests that run the functions as processes share one build of each
// (funcbuild), removed when they are done.
func TestMain(m *testing.M) { funcbuild.Main(m) }

// deployables are the functions that ship: every folder with a main.go but local.
func deployables(t *testing.T) []string {
	t.Helper()
	mains, err := filepath.Glob("*/main.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range mains {
		if name := filepath.Dir(m); name != "local" {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		t.Fatal("no deployable functions found")
	}
	return out
}

// The embedded store is for development and tests only: a deployed function
// that linked it could silently run on a local SQLite file. Nor may one link a
// simulator, whose development keys are public.
func TestDeployablesDoNotLinkFerretDB(t *testing.T) {
	t.Parallel()
	for _, name := range deployables(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out, err := exec.Command("go", "list", "-deps", "./"+name).CombinedOutput()
			if err != nil {
				t.Fatalf("go list: %v\n%s", err, out)
			}
			for _, pkg := range strings.Fields(string(out)) {
				if strings.Contains(strings.ToLower(pkg), "ferretdb") || strings.HasSuffix(pkg, "/embeddedmongo") || strings.HasSuffix(pkg, "/storetest") ||
					strings.HasSuffix(pkg, "/wechatsim") || strings.HasSuffix(pkg, "/alipaysim") || strings.HasSuffix(pkg, "/testkit") {
					t.Errorf("%s links %s", name, pkg)
				}
			}
		})
	}
}

// The local stack does link it: if this fails the check above proves nothing.
func TestCheckWouldSeeFerretDB(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "./local").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "github.com/FerretDB/FerretDB") {
		t.Fatal("functions/local does not list FerretDB: the dependency check is blind")
	}
}
