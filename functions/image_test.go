package functions_test

import (
	"archive/tar"
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/embeddedmongo"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// The path `make image` takes where no Docker engine runs: podman builds the
// prebuilt stage of the Dockerfile from `make build`'s binaries. Both kinds
// of image are built, taken apart and run the way Cloud Hosting runs them:
// non-root on port 80, every function answering /healthz against a real
// store, the all-in-one image choosing its function by FUNCTION.
func TestImagesBuiltWithPodman(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs container images; not in -short")
	}
	for _, tool := range []string{"podman", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: the podman path of make image cannot be checked", tool)
		}
	}
	if out, err := exec.Command("podman", "info").CombinedOutput(); err != nil {
		t.Skipf("podman does not work here: podman info: %v\n%s", err, out)
	}
	t.Parallel()

	// The store listens on the host's loopback; slirp4netns with
	// allow_host_loopback shows it to the container as 10.0.2.2.
	store, err := embeddedmongo.Start(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Stop)
	storeURL, err := url.Parse(store.URI())
	if err != nil {
		t.Fatal(err)
	}
	storeURL.Host = net.JoinHostPort("10.0.2.2", storeURL.Port())
	env := map[string]string{
		"MONGODB_URI":       storeURL.String(),
		"MONGODB_DATABASE":  fmt.Sprintf("imagetest_%d", os.Getpid()),
		"ADMIN_TOKENS":      "image-test-admin",
		"JOB_TOKEN":         "image-test-job",
		"WECHAT_SUB_MCH_ID": wechatsim.DevMchID,
		// withdraw needs API v3 settings: the simulator's public development keys.
		"WECHATPAY_MCH_ID": wechatsim.DevMchID, "WECHATPAY_APPID": wechatsim.DefaultAppID,
		"WECHATPAY_MCH_SERIAL":  wechatsim.DevMerchantSerial,
		"WECHATPAY_PRIVATE_KEY": wechatsim.DevMerchantPrivateKeyPEM, "WECHATPAY_APIV3_KEY": wechatsim.DevAPIv3Key,
		"WECHATPAY_PUBLIC_KEY": wechatsim.DevPlatformPublicKeyPEM, "WECHATPAY_PUBLIC_KEY_ID": wechatsim.DevPublicKeyID,
		"WECHATPAY_NOTIFY_URL": "https://pay.example.com/callbacks/v3",
	}

	functions := deployables(t)
	var run *podmanRun // found with the first image, reused for the second
	for _, tc := range []struct {
		function string            // make image FUNCTION=
		binaries []string          // every executable in the image
		links    map[string]string // every symbolic link in the image
		serves   []string          // FUNCTION values that start (all-in-one) or the one function
	}{
		{"all", append(imagePaths("/app/", functions), "/app/launcher"), map[string]string{"/function": "app/launcher"}, functions},
		{"payment-callback", []string{"/function"}, map[string]string{}, []string{"payment-callback"}},
	} {
		t.Run(tc.function, func(t *testing.T) {
			tag := fmt.Sprintf("localhost/cloudpay-imagetest-%s:%d", tc.function, os.Getpid())
			start := time.Now()
			mk := exec.Command("make", "-C", "..", "image", "FUNCTION="+tc.function, "IMAGE="+tag, "IMAGE_BUILDER=podman")
			out, err := mk.CombinedOutput()
			t.Cleanup(func() { _ = exec.Command("podman", "rmi", "-f", tag).Run() })
			if err != nil {
				t.Fatalf("make image FUNCTION=%s: %v\n%s", tc.function, err, out)
			}
			t.Logf("make image FUNCTION=%s (make build + podman build): %s", tc.function, time.Since(start).Round(time.Millisecond))
			if tc.function == "all" {
				checkBinarySizes(t, functions)
			}

			cfg := inspectImage(t, tag)
			t.Logf("image %s: %.1f MB (%d bytes)", tag, float64(cfg.Size)/1e6, cfg.Size)
			if uid := strings.Split(cfg.Config.User, ":")[0]; uid == "" || uid == "0" || uid == "root" {
				t.Errorf("image user %q: the function must not run as root", cfg.Config.User)
			}
			for _, want := range []string{"TZ=Asia/Shanghai", "PORT=80"} {
				if !slices.Contains(cfg.Config.Env, want) {
					t.Errorf("image environment %q lacks %s", cfg.Config.Env, want)
				}
			}
			if _, ok := cfg.Config.ExposedPorts["80/tcp"]; !ok {
				t.Errorf("image exposes %v, want 80/tcp", cfg.Config.ExposedPorts)
			}
			if !slices.Equal(cfg.Config.Entrypoint, []string{"/function"}) {
				t.Errorf("entry point %q, want /function", cfg.Config.Entrypoint)
			}
			checkImageFiles(t, tag, cfg.Config.User, tc.binaries, tc.links)

			if run == nil {
				// Without settings, the image's own code refuses to start.
				want := "launcher: FUNCTION is not set"
				if tc.function != "all" {
					want = "configuration:"
				}
				run = findPodmanRun(t, tag, nil, want)
			}
			for _, name := range tc.serves {
				fenv, process := maps.Clone(env), "function" // the binary's name: /function
				if tc.function == "all" {
					fenv["FUNCTION"], process = name, name // /app/<name>, exec'd by the launcher
				}
				run.healthz(t, tag, name, process, fenv)
			}
			if tc.function == "all" {
				out, code := run.once(t, tag, map[string]string{"FUNCTION": "local"})
				want := `launcher: FUNCTION="local" is not a function in this image; set it to one of: ` + strings.Join(functions, ", ")
				if code != 2 || strings.TrimSpace(out) != want {
					t.Errorf("FUNCTION=local: exit %d, output %q; want exit 2 and %q", code, out, want)
				}
			} else {
				out, code := run.once(t, tag, map[string]string{"WECHAT_SUB_MCH_ID": wechatsim.DevMchID})
				if code != 1 || !strings.Contains(out, "MONGODB_URI") {
					t.Errorf("without MONGODB_URI: exit %d, output %q; want exit 1 naming MONGODB_URI", code, out)
				}
			}
		})
	}
}

// maxBinaryBytes is the limit on each deployable, 20 MB read as decimal megabytes
// (the stricter of the two readings; the functions are near 18.5 MB).
const maxBinaryBytes = 20_000_000

// checkBinarySizes holds make build's binaries (bin/, as deployed) to the limit.
func checkBinarySizes(t *testing.T, functions []string) {
	t.Helper()
	for _, f := range functions {
		fi, err := os.Stat("../bin/" + f)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("bin/%s: %d bytes", f, fi.Size())
		if fi.Size() > maxBinaryBytes {
			t.Errorf("bin/%s is %d bytes, over the %d-byte limit", f, fi.Size(), maxBinaryBytes)
		}
	}
}

func imagePaths(dir string, names []string) []string {
	var out []string
	for _, n := range names {
		out = append(out, dir+n)
	}
	return out
}

type imageConfig struct {
	Size   int64
	Config struct {
		User         string
		Env          []string
		Entrypoint   []string
		ExposedPorts map[string]struct{}
	}
}

func inspectImage(t *testing.T, tag string) imageConfig {
	t.Helper()
	out, err := exec.Command("podman", "image", "inspect", tag).Output()
	if err != nil {
		t.Fatalf("podman image inspect: %v", err)
	}
	var cfgs []imageConfig
	if err := json.Unmarshal(out, &cfgs); err != nil || len(cfgs) != 1 {
		t.Fatalf("podman image inspect: %v\n%s", err, out)
	}
	return cfgs[0]
}

// checkImageFiles reads the image's file system (a created, never started
// container, exported): exactly the binaries wanted, CA certificates that
// parse, Asia/Shanghai zone data at +08:00, the user in /etc/passwd, the
// links wanted, and nothing else.
func checkImageFiles(t *testing.T, tag, user string, binaries []string, links map[string]string) {
	t.Helper()
	name := fmt.Sprintf("cloudpay-imagetest-files-%d", os.Getpid())
	if out, err := exec.Command("podman", "create", "--name", name, tag).CombinedOutput(); err != nil {
		t.Fatalf("podman create: %v\n%s", err, out)
	}
	defer func() { _ = exec.Command("podman", "rm", "-f", name).Run() }()
	var stderr bytes.Buffer
	export := exec.Command("podman", "export", name)
	export.Stderr = &stderr
	archive, err := export.Output()
	if err != nil {
		t.Fatalf("podman export: %v\n%s", err, stderr.String())
	}
	files, symlinks := map[string][]byte{}, map[string]string{}
	var executables []string
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read exported image: %v", err)
		}
		path := "/" + strings.TrimPrefix(h.Name, "/")
		if h.Typeflag == tar.TypeSymlink {
			symlinks[path] = h.Linkname
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		if h.Mode&0o111 != 0 {
			executables = append(executables, path)
			continue
		}
		if files[path], err = io.ReadAll(tr); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(executables)
	want := slices.Sorted(slices.Values(binaries))
	if !slices.Equal(executables, want) {
		t.Errorf("executables in the image: %q, want %q", executables, want)
	}
	if !maps.Equal(symlinks, links) {
		t.Errorf("links in the image: %q, want %q", symlinks, links)
	}
	var names []string
	for path := range files {
		names = append(names, path)
	}
	slices.Sort(names)
	wantFiles := []string{"/etc/group", "/etc/passwd", "/etc/ssl/certs/ca-certificates.crt", "/usr/share/zoneinfo/Asia/Shanghai"}
	if !slices.Equal(names, wantFiles) {
		t.Errorf("other files in the image: %q, want %q", names, wantFiles)
	}
	if pool := x509.NewCertPool(); !pool.AppendCertsFromPEM(files["/etc/ssl/certs/ca-certificates.crt"]) {
		t.Error("/etc/ssl/certs/ca-certificates.crt holds no certificate")
	}
	if loc, err := time.LoadLocationFromTZData("Asia/Shanghai", files["/usr/share/zoneinfo/Asia/Shanghai"]); err != nil {
		t.Errorf("zone data: %v", err)
	} else if _, off := time.Date(2026, 7, 1, 0, 0, 0, 0, loc).Zone(); off != 8*3600 {
		t.Errorf("zone data: offset %d s, want +08:00", off)
	}
	uid := strings.Split(user, ":")[0]
	if !strings.Contains(string(files["/etc/passwd"]), ":x:"+uid+":") {
		t.Errorf("/etc/passwd has no user %s:\n%s", uid, files["/etc/passwd"])
	}
}

// podmanRun is how containers run on this machine. Sandboxes differ: crun
// may refuse a cgroup layout, and a root podman raises rlimits that a
// process without CAP_SYS_RESOURCE may not.
type podmanRun struct {
	flags []string
}

// findPodmanRun tries the ways to run a container and keeps the first that
// runs the image's own code, which, given env, must stop at once saying want;
// none working is a skip with every error.
func findPodmanRun(t *testing.T, tag string, env map[string]string, want string) *podmanRun {
	t.Helper()
	limits := []string{"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"}
	var tried []string
	for _, flags := range [][]string{nil, limits, append([]string{"--runtime", "runc"}, limits...)} {
		r := &podmanRun{flags: flags}
		out, code := r.once(t, tag, env)
		// Exit 125-127 is podman or the OCI runtime failing, not the image.
		if code >= 125 && code <= 127 {
			tried = append(tried, fmt.Sprintf("podman run %s: exit %d: %s", strings.Join(flags, " "), code, strings.TrimSpace(out)))
			continue
		}
		if !strings.Contains(out, want) {
			t.Fatalf("podman run %s: exit %d, output %q; want the image to refuse to start (%q)", strings.Join(flags, " "), code, out, want)
		}
		if len(tried) > 0 {
			t.Logf("podman run needs %q here; before that:\n%s", flags, strings.Join(tried, "\n"))
		}
		return r
	}
	t.Skipf("podman cannot run containers here:\n%s", strings.Join(tried, "\n"))
	return nil
}

// once runs the image to completion and returns its output and exit status.
func (r *podmanRun) once(t *testing.T, tag string, env map[string]string) (string, int) {
	t.Helper()
	args := append(append([]string{"run", "--rm"}, r.flags...), imageEnvArgs(env)...)
	cmd := exec.Command("podman", append(args, tag)...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	}
	t.Fatalf("podman run: %v", err)
	return "", 0
}

// healthz starts the image as function name with env, on port 80 in its own
// network namespace as Cloud Hosting does, and waits for GET /healthz → 200.
// It also checks the one process in the container is process (the binary's
// name) running as non-root, and that it logs in Beijing time.
func (r *podmanRun) healthz(t *testing.T, tag, name, process string, env map[string]string) {
	t.Helper()
	_, container, logs, stop := r.start(t, tag, name, 80, env)
	defer stop()

	// "user" is the name /etc/passwd of the image gives the process's uid.
	out, err := exec.Command("podman", "top", container, "user", "comm").CombinedOutput()
	if err != nil {
		t.Fatalf("podman top: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 {
		t.Fatalf("podman top: want one process, the function itself (the launcher execs it):\n%s", out)
	}
	if f := strings.Fields(lines[1]); len(f) != 2 || f[0] != "nonroot" || !strings.HasPrefix(process, f[1]) { // comm is cut at 15 bytes
		t.Errorf("%s: process %q, want %s as nonroot (uid 65532)", name, lines[1], process)
	}
	// slog writes local time: +08:00 proves TZ and the zone data work.
	if l := logs(); !strings.Contains(l, `+08:00"`) {
		t.Errorf("%s logs no Beijing time:\n%s", name, l)
	}
}

// start runs the image as name with env until the test ends, its port
// (containerPort inside) published on the host's loopback, and waits for GET
// /healthz → 200. It returns the base URL, the container's name, its logs and
// what removes it.
func (r *podmanRun) start(t *testing.T, tag, name string, containerPort int, env map[string]string) (base, container string, logs func() string, stop func()) {
	t.Helper()
	container = fmt.Sprintf("cloudpay-imagetest-%s-%d", name, os.Getpid())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	args := append([]string{"run", "-d", "--name", container}, r.flags...)
	args = append(args,
		"--network", "slirp4netns:allow_host_loopback=true",
		"-p", "127.0.0.1:"+strconv.Itoa(port)+":"+strconv.Itoa(containerPort),
		// What Docker (>= 20.10) does by default: a non-root process may bind port 80.
		"--sysctl", "net.ipv4.ip_unprivileged_port_start=80")
	args = append(append(args, imageEnvArgs(env)...), tag)
	if out, err := exec.Command("podman", args...).CombinedOutput(); err != nil {
		t.Fatalf("podman run %s: %v\n%s", name, err, out)
	}
	stop = func() { _ = exec.Command("podman", "rm", "-f", "-t", "0", container).Run() }
	logs = func() string {
		out, _ := exec.Command("podman", "logs", container).CombinedOutput()
		return string(out)
	}

	started := time.Now()
	healthURL := "http://127.0.0.1:" + strconv.Itoa(port) + "/healthz"
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(healthURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if state, _ := exec.Command("podman", "inspect", "--format", "{{.State.Status}}", container).Output(); strings.TrimSpace(string(state)) == "exited" {
			l := logs()
			stop()
			t.Fatalf("%s exited:\n%s", name, l)
		}
		if time.Since(started) > processDeadline {
			l := logs()
			stop()
			t.Fatalf("%s: GET /healthz within %s: %v\nlogs:\n%s", name, processDeadline, err, l)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%s: GET /healthz 200 %s after podman run returned", name, time.Since(started).Round(time.Millisecond))
	return "http://127.0.0.1:" + strconv.Itoa(port), container, logs, stop
}

func imageEnvArgs(env map[string]string) []string {
	var args []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		args = append(args, "-e", k+"="+env[k])
	}
	return args
}

// chSettings is container.config.json: the fields Cloud Hosting's template
// deploy reads (wechatpay-facts.md §4.2); an unknown field is a typo.
type chSettings struct {
	ContainerPort       int               `json:"containerPort"`
	DockerfilePath      string            `json:"dockerfilePath"`
	BuildDir            string            `json:"buildDir"`
	MinNum              int               `json:"minNum"`
	MaxNum              int               `json:"maxNum"`
	CPU                 float64           `json:"cpu"`
	Mem                 float64           `json:"mem"`
	PolicyType          string            `json:"policyType"`
	PolicyThreshold     int               `json:"policyThreshold"`
	CustomLogs          string            `json:"customLogs"`
	InitialDelaySeconds int               `json:"initialDelaySeconds"`
	Remark              string            `json:"remark"`
	EnvParams           map[string]string `json:"envParams"`
}

// container.config.json seeds a Cloud Hosting service with the all-in-one
// image: port 80, the smallest spec, logs from stdout, and every variable the
// functions read listed by name, with no secret or required value filled in
// and no default other than the code's.
func TestContainerConfig(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../container.config.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var cfg chSettings
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("container.config.json: %v", err)
	}
	if cfg.ContainerPort != 80 {
		t.Errorf("containerPort %d, want 80 (the image's PORT)", cfg.ContainerPort)
	}
	if cfg.CPU != 0.25 || cfg.Mem != 0.5 {
		t.Errorf("cpu %v, mem %v: want the smallest spec, 0.25 core and 0.5 GB", cfg.CPU, cfg.Mem)
	}
	if cfg.MinNum < 0 || cfg.MaxNum < max(cfg.MinNum, 1) || cfg.MaxNum > 50 {
		t.Errorf("minNum %d, maxNum %d: want 0 <= minNum <= maxNum, 1 <= maxNum <= 50", cfg.MinNum, cfg.MaxNum)
	}
	if cfg.CustomLogs != "stdout" {
		t.Errorf("customLogs %q, want stdout", cfg.CustomLogs)
	}
	if _, err := os.Stat("../" + cfg.BuildDir + cfg.DockerfilePath); err != nil {
		t.Errorf("dockerfilePath: %v", err)
	}

	vars := chVariables(t)
	delete(vars, "CBR_ENV_ID")  // injected by Cloud Hosting itself
	delete(vars, "JOB_TRIGGER") // AWS Lambda only
	vars["FUNCTION"] = chVariable{required: true}
	for name, v := range vars {
		value, ok := cfg.EnvParams[name]
		switch {
		case !ok:
			t.Errorf("envParams lacks %s, which a function reads", name)
		case value == "":
		case v.required || v.secret:
			t.Errorf("envParams %s = %q: a required or secret value must be left empty", name, value)
		case value != v.def:
			t.Errorf("envParams %s = %q, but the code's default is %q", name, value, v.def)
		}
	}
	for name := range cfg.EnvParams {
		if _, ok := vars[name]; !ok {
			t.Errorf("envParams lists %s, which no deployable function reads", name)
		}
	}
}

type chVariable struct {
	def              string
	required, secret bool
}

// chTag is an env struct tag, `env:"NAME, required, default=x"`, and the
// json tag beside it (`json:"-"` marks a secret).
var chTag = regexp.MustCompile("env:\"([A-Z0-9_]+)((?:,[^\"]*)?)\"(\\s+json:\"-\")?")

// chVariables reads the env tags of the cloudpay packages the deployable
// functions link. Secrets: those kept out of JSON, and the ones carrying
// credentials (a MongoDB URI holds a password; tokens).
func chVariables(t *testing.T) map[string]chVariable {
	t.Helper()
	args := []string{"list", "-deps", "-f", `{{with .Module}}{{if eq .Path "github.com/cloudpay/cloudpay"}}{{$.Dir}}{{range $.GoFiles}} {{.}}{{end}}{{end}}{{end}}`}
	for _, name := range deployables(t) {
		args = append(args, "./"+name)
	}
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	vars := map[string]chVariable{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		for _, file := range f[1:] {
			src, err := os.ReadFile(f[0] + "/" + file)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range chTag.FindAllStringSubmatch(string(src), -1) {
				v := vars[m[1]]
				v.secret = v.secret || m[3] != ""
				for _, opt := range strings.Split(m[2], ",") {
					opt = strings.TrimSpace(opt)
					switch {
					case opt == "required":
						v.required = true
					case strings.HasPrefix(opt, "default="):
						if d := strings.TrimPrefix(opt, "default="); v.def != "" && v.def != d {
							t.Errorf("%s has two defaults, %q and %q", m[1], v.def, d)
						} else {
							v.def = d
						}
					}
				}
				vars[m[1]] = v
			}
		}
	}
	for _, name := range []string{"MONGODB_URI", "ADMIN_TOKENS", "JOB_TOKEN", "BUSINESS_NOTIFY_SECRET", "WECHATPAY_PRIVATE_KEY", "WECHATPAY_APIV3_KEY",
		"MINIPROGRAM_SECRET", "CHECKOUT_KEY"} {
		v, ok := vars[name]
		if !ok {
			t.Errorf("no function reads %s any more: update the list of secrets", name)
		}
		v.secret = true
		vars[name] = v
	}
	if len(vars) < 20 {
		t.Fatalf("found only %d variables: the tag pattern no longer matches the code", len(vars))
	}
	return vars
}
