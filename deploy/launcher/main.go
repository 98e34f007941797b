// Command launcher is the entry point of the all-in-one image (Dockerfile,
// FUNCTION=all), where /function links to /app/launcher: it runs the function
// named by the FUNCTION environment variable, one of the binaries beside it in
// /app. Cloud Hosting sets environment variables per service but may not pass
// build arguments, so one image serves as every service.
//
// It execs rather than starting a child: the function becomes PID 1 and gets
// the platform's SIGTERM itself, so its graceful shutdown works unchanged.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

func main() {
	// The real path, not the /function link: the functions sit beside it.
	self, err := os.Executable()
	if err != nil {
		self = "/app/launcher"
	}
	path, err := resolve(filepath.Dir(self), filepath.Base(self), os.Getenv("FUNCTION"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "launcher:", err)
		os.Exit(2)
	}
	argv := append([]string{filepath.Base(path)}, os.Args[1:]...)
	err = syscall.Exec(path, argv, os.Environ())
	// Exec returns only when it failed.
	fmt.Fprintf(os.Stderr, "launcher: exec %s: %v\n", path, err)
	os.Exit(1)
}

// resolve returns the binary in dir named name. Only names listed in dir are
// accepted, so a FUNCTION such as "../bin/sh" or the launcher's own name
// (self) can never run.
func resolve(dir, self, name string) (string, error) {
	names, err := functions(dir, self)
	if err != nil {
		return "", err
	}
	if len(names) == 0 {
		return "", fmt.Errorf("no function binaries in %s", dir)
	}
	choices := strings.Join(names, ", ")
	switch {
	case name == "":
		return "", fmt.Errorf("FUNCTION is not set; set it to one of: %s", choices)
	case !slices.Contains(names, name):
		return "", fmt.Errorf("FUNCTION=%q is not a function in this image; set it to one of: %s", name, choices)
	}
	return filepath.Join(dir, name), nil
}

// functions lists the executable files in dir other than self, sorted.
func functions(dir, self string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list functions: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.Name() == self || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list functions: %w", err)
		}
		if info.Mode()&0o111 != 0 {
			names = append(names, e.Name())
		}
	}
	return names, nil
}
