package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	for name, mode := range map[string]os.FileMode{
		"launcher":       0o755,
		"create-payment": 0o755,
		"refund":         0o755,
		"README":         0o644, // not executable: not a function
	} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "withdraw"), 0o755); err != nil { // a directory is not a function
		t.Fatal(err)
	}
	for _, tc := range []struct {
		function string
		want     string // the path, or a fragment of the error
		ok       bool
	}{
		{"refund", filepath.Join(dir, "refund"), true},
		{"create-payment", filepath.Join(dir, "create-payment"), true},
		{"", "FUNCTION is not set; set it to one of: create-payment, refund", false},
		{"local", `FUNCTION="local" is not a function in this image; set it to one of: create-payment, refund`, false},
		{"launcher", `FUNCTION="launcher" is not`, false},
		{"README", `FUNCTION="README" is not`, false},
		{"withdraw", `FUNCTION="withdraw" is not`, false},
		{"../" + filepath.Base(dir) + "/refund", "is not a function", false},
		{"/bin/sh", "is not a function", false},
		{"Refund", "is not a function", false},
	} {
		t.Run(tc.function, func(t *testing.T) {
			got, err := resolve(dir, "launcher", tc.function)
			switch {
			case tc.ok && (err != nil || got != tc.want):
				t.Fatalf("resolve(%q) = %q, %v; want %q", tc.function, got, err, tc.want)
			case !tc.ok && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("resolve(%q) = %q, %v; want an error containing %q", tc.function, got, err, tc.want)
			}
		})
	}
}

func TestResolveEmptyDir(t *testing.T) {
	if _, err := resolve(t.TempDir(), "launcher", "refund"); err == nil || !strings.Contains(err.Error(), "no function binaries") {
		t.Fatalf("err = %v, want one saying there are no function binaries", err)
	}
}

// The built launcher replaces itself with the function: same process id,
// same arguments and environment, the function's exit status.
func TestLauncherExecsTheFunction(t *testing.T) {
	dir := t.TempDir()
	launcher := filepath.Join(dir, "launcher")
	build := exec.Command("go", "build", "-o", launcher, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	fake := "#!/bin/sh\necho \"pid=$$ name=$0 args=$* token=$JOB_TOKEN\"\nexit 7\n"
	if err := os.WriteFile(filepath.Join(dir, "close-expired"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}

	// Started through a link elsewhere, as /function links to /app/launcher.
	link := filepath.Join(t.TempDir(), "function")
	if err := os.Symlink(launcher, link); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(link, "a", "b")
	cmd.Env = append(os.Environ(), "FUNCTION=close-expired", "JOB_TOKEN=tok")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 7 {
		t.Fatalf("run: %v (want the function's exit status 7)\n%s", err, out.String())
	}
	want := "pid=" + strconv.Itoa(cmd.Process.Pid) + " name=" + filepath.Join(dir, "close-expired") + " args=a b token=tok"
	if got := strings.TrimSpace(out.String()); got != want {
		t.Fatalf("function printed %q, want %q", got, want)
	}

	cmd = exec.Command(launcher)
	cmd.Env = append(os.Environ(), "FUNCTION=payment-callback")
	out.Reset()
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("unknown function: %v, want exit status 2\n%s", err, out.String())
	}
	if want := `launcher: FUNCTION="payment-callback" is not a function in this image; set it to one of: close-expired`; strings.TrimSpace(out.String()) != want {
		t.Fatalf("unknown function printed %q, want %q", out.String(), want)
	}
}
