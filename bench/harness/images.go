package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

const imageTimeout = 3 * time.Minute

// imageSizes builds each function's container image through the Makefile's
// image target (docker where an engine runs, else podman) and reports its
// size in MB; a function without an image gets the reason instead.
func imageSizes(ctx context.Context, root, tmp string, names []string) map[string]string {
	out := map[string]string{}
	na := func(why string) map[string]string {
		for _, n := range names {
			out[n] = "n/a (" + why + ")"
		}
		return out
	}
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil || !regexp.MustCompile(`(?m)^image:`).Match(mk) {
		return na("no make image")
	}
	tool := ""
	switch {
	case exec.CommandContext(ctx, "docker", "info").Run() == nil:
		tool = "docker"
	case exec.CommandContext(ctx, "podman", "info").Run() == nil:
		tool = "podman"
	default:
		return na("no docker/podman")
	}
	for _, name := range names {
		progress("image: %s with %s", name, tool)
		mb, err := imageSize(ctx, root, tmp, tool, name)
		if err != nil {
			progress("image: %s: %v", name, err)
			out[name] = "n/a (make image failed)"
			continue
		}
		out[name] = fmt.Sprintf("%.1f", mb)
	}
	return out
}

// imageSize runs make image under a tag of its own and removes the image
// once measured.
func imageSize(ctx context.Context, root, tmp, tool, name string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, imageTimeout)
	defer cancel()
	tag := "cloudpay-bench-" + name
	cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "image", "FUNCTION="+name, "IMAGE="+tag,
		"IMAGE_BUILDER="+tool, "IMAGE_CONTEXT="+filepath.Join(tmp, "image", name))
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("make image: %w\n%s", err, tail(out, 800))
	}
	defer exec.Command(tool, "rmi", "-f", tag).Run()
	raw, err := exec.CommandContext(ctx, tool, "image", "inspect", "--format", "{{.Size}}", tag).Output()
	if err != nil {
		return 0, fmt.Errorf("%s image inspect %s: %w", tool, tag, err)
	}
	size, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
	if err != nil || size <= 0 {
		return 0, errors.Join(fmt.Errorf("%s image inspect %s: size %q", tool, tag, raw), err)
	}
	return float64(size) / (1 << 20), nil
}

func tail(b []byte, n int) string {
	b = bytes.TrimSpace(b)
	if len(b) > n {
		b = append([]byte("…"), b[len(b)-n:]...)
	}
	return string(b)
}
