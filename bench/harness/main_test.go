package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestKeptSections(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "results.md")
	if got := keptSections(path); got != "" {
		t.Errorf("no file: kept %q", got)
	}
	for _, tc := range []struct{ file, want string }{
		{"# cloudpay benchmarks\n\n| a |\n", ""},
		{"# cloudpay benchmarks\n\nHarness wall time: 1s.\n\n## Store round trips\n\n| op | n |\n", "## Store round trips\n\n| op | n |\n"},
		// Only the heading itself starts the kept part.
		{"# x\n\n## Store round trips, elsewhere\n", ""},
	} {
		if err := os.WriteFile(path, []byte(tc.file), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := keptSections(path); got != tc.want {
			t.Errorf("keptSections(%q) = %q, want %q", tc.file, got, tc.want)
		}
	}
}

func TestDeployables(t *testing.T) {
	root := t.TempDir()
	for _, dir := range []string{"refund", "create-payment", "local", "crashtest"} {
		if err := os.MkdirAll(filepath.Join(root, "functions", dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, dir := range []string{"refund", "create-payment", "local"} {
		if err := os.WriteFile(filepath.Join(root, "functions", dir, "main.go"), []byte("package main\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := deployables(root)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"create-payment", "refund"}; !slices.Equal(got, want) {
		t.Errorf("deployables = %v, want %v", got, want)
	}
}
