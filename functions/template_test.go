package functions_test

import (
	"debug/buildinfo"
	"debug/elf"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/cloudpay/cloudpay/shared/funcbuild"
	"github.com/cloudpay/cloudpay/shared/storetest"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// samFunctions is what template.yaml must deploy: every deployable, by the
// logical id whose Makefile target SAM calls (build-<LogicalId>).
var samFunctions = map[string]struct {
	dir  string // functions/<dir>
	http bool   // behind a Function URL; otherwise on a schedule
}{
	"CreatePaymentFunction":   {"create-payment", true},
	"PaymentCallbackFunction": {"payment-callback", true},
	"RefundFunction":          {"refund", true},
	"WithdrawFunction":        {"withdraw", true},
	"CloseExpiredFunction":    {"close-expired", false},
}

// secretParameters hold values that must never be in the file nor echoed
// by CloudFormation.
var secretParameters = []string{"MongoDBURI", "AdminTokens", "JobToken", "WeChatPayPrivateKey", "WeChatPayAPIv3Key", "BusinessNotifySecret",
	"AlipayAppPrivateKey", "Operators"}

// secretVariables are the settings that carry those values.
var secretVariables = []string{"MONGODB_URI", "ADMIN_TOKENS", "JOB_TOKEN", "WECHATPAY_PRIVATE_KEY", "WECHATPAY_APIV3_KEY", "BUSINESS_NOTIFY_SECRET",
	"MINIPROGRAM_SECRET", "CHECKOUT_KEY", "ALIPAY_APP_PRIVATE_KEY", "OPERATORS"}

func TestTemplateDeploysEveryFunction(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t)
	var ids []string
	for id := range tpl.functions {
		ids = append(ids, id)
	}
	var want, dirs []string
	for id, f := range samFunctions {
		want = append(want, id)
		dirs = append(dirs, f.dir)
	}
	slices.Sort(ids)
	slices.Sort(want)
	slices.Sort(dirs)
	if !slices.Equal(ids, want) {
		t.Errorf("template.yaml deploys %v, want %v", ids, want)
	}
	if got := deployables(t); !slices.Equal(got, dirs) {
		t.Errorf("functions/ holds %v but the template is checked for %v: add the new function to template.yaml and samFunctions", got, dirs)
	}

	mk := readMakefile(t)
	for id, f := range samFunctions {
		fn := tpl.functions[id]
		if fn == nil {
			continue
		}
		t.Run(id, func(t *testing.T) {
			for prop, want := range map[string]string{"Runtime": "provided.al2023", "Handler": "bootstrap"} {
				if got := scalar(tpl.property(fn, prop)); got != want {
					t.Errorf("%s = %q, want %q", prop, got, want)
				}
			}
			if got := scalars(tpl.property(fn, "Architectures")); !slices.Equal(got, []string{"arm64"}) {
				t.Errorf("Architectures = %v, want [arm64]", got)
			}
			if got := scalar(get(fn, "Metadata", "BuildMethod")); got != "makefile" {
				t.Errorf("Metadata.BuildMethod = %q, want makefile", got)
			}
			// SAM runs make in CodeUri.
			codeURI := scalar(get(fn, "Properties", "CodeUri"))
			if _, err := os.Stat(filepath.Join("..", codeURI, "Makefile")); codeURI == "" || err != nil {
				t.Errorf("CodeUri %q holds no Makefile", codeURI)
			}
			recipe, ok := mk.targets["build-"+id]
			if !ok {
				t.Fatalf("Makefile has no target build-%s", id)
			}
			for _, part := range []string{"GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0", "$(BUILDFLAGS)", "-o $(ARTIFACTS_DIR)/bootstrap", "./functions/" + f.dir} {
				if !strings.Contains(recipe, part) {
					t.Errorf("build-%s does not contain %q: %s", id, part, recipe)
				}
			}
			if m := regexp.MustCompile(`\./functions/([a-z0-9-]+)`).FindAllStringSubmatch(recipe, -1); len(m) != 1 || m[0][1] != f.dir {
				t.Errorf("build-%s builds %v, want exactly ./functions/%s", id, m, f.dir)
			}

			url := get(fn, "Properties", "FunctionUrlConfig")
			schedules := 0
			for _, ev := range mapValues(get(fn, "Properties", "Events")) {
				if scalar(get(ev, "Type")) == "Schedule" {
					schedules++
					if s := scalar(get(ev, "Properties", "Schedule")); !regexp.MustCompile(`^(rate|cron)\(.+\)$`).MatchString(s) {
						t.Errorf("schedule expression %q", s)
					}
				}
			}
			if f.http {
				if got := scalar(get(url, "InvokeMode")); got != "RESPONSE_STREAM" {
					t.Errorf("FunctionUrlConfig.InvokeMode = %q, want RESPONSE_STREAM (lambdaurl streams)", got)
				}
				if scalar(get(url, "AuthType")) == "" {
					t.Error("FunctionUrlConfig has no AuthType")
				}
				return
			}
			if schedules == 0 {
				t.Error("no Schedule event")
			}
			if url != nil {
				t.Error("a scheduled function has a Function URL")
			}
			// Anything else makes it serve /run on Lambda and never answer EventBridge.
			if trigger, _, err := tpl.resolve(tpl.variables(fn)["JOB_TRIGGER"], nil); trigger != "schedule" {
				t.Errorf("JOB_TRIGGER = %q (%v), want schedule", trigger, err)
			}
		})
	}
	if got, want := mk.vars["BUILDFLAGS"], shellWords(funcbuild.Flags); got != want {
		t.Errorf("Makefile BUILDFLAGS = %q; the tests build with %q: update funcbuild.Flags", got, want)
	}
}

func TestTemplateSecretsAreParametersWithoutValues(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t)
	for _, name := range secretParameters {
		p := get(tpl.root, "Parameters", name)
		if p == nil {
			t.Errorf("no parameter %s", name)
			continue
		}
		if scalar(get(p, "NoEcho")) != "true" {
			t.Errorf("parameter %s is not NoEcho", name)
		}
		// An empty default leaves an optional secret off; a value would be in git.
		if d := get(p, "Default"); d != nil && scalar(d) != "" {
			t.Errorf("parameter %s has a default value", name)
		}
	}
	noEcho := func(param string) bool { return scalar(get(tpl.root, "Parameters", param, "NoEcho")) == "true" }
	for id, fn := range tpl.functions {
		for name, value := range tpl.variables(fn) {
			if !slices.Contains(secretVariables, name) {
				continue
			}
			// Every way the value can resolve must be a NoEcho parameter.
			for _, leaf := range leaves(value) {
				fn, arg := intrinsic(leaf)
				switch {
				case fn == "Ref" && arg.Value == "AWS::NoValue":
				case fn == "Ref" && noEcho(arg.Value):
				default:
					t.Errorf("%s: %s is %s %q, not a reference to a NoEcho parameter", id, name, leaf.Tag, leaf.Value)
				}
			}
		}
	}
	// Every reference resolves: a typo would reach CloudFormation only.
	walk(tpl.root, func(n *yaml.Node) {
		if fn, arg := intrinsic(n); fn == "Ref" && !strings.HasPrefix(arg.Value, "AWS::") &&
			get(tpl.root, "Parameters", arg.Value) == nil && get(tpl.root, "Resources", arg.Value) == nil {
			t.Errorf("line %d: !Ref %s names no parameter or resource", n.Line, arg.Value)
		}
	})
}

// The template's environment, with every parameter given, is enough for
// each function to start and answer, on either channel; and payment-callback
// can verify the transfer notifications withdraw asks WeChat to send.
func TestTemplateEnvironmentStartsEachFunction(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts every function")
	}
	t.Parallel()
	var dirs []string
	for _, f := range samFunctions {
		dirs = append(dirs, f.dir)
	}
	bins := funcbuild.Binaries(t, dirs...)
	tpl := loadTemplate(t)
	store := storetest.Config(t)
	channels := []string{"cloudhosting", "v3"}
	// Every function on both channels is launched first, then each is
	// waited for and checked: the ten start-ups overlap.
	procs := map[string]map[string]*running{}
	for _, channel := range channels {
		params := tpl.defaults()
		for k, v := range map[string]string{
			"MongoDBURI": store.URI, "AdminTokens": "template-admin-token", "JobToken": "template-job-token",
			"WeChatSubMchID": wechatsim.DevMchID, "PayChannel": channel,
			"WeChatPayMchID": wechatsim.DevMchID, "WeChatPayAppID": wechatsim.DefaultAppID,
			"WeChatPayMchSerial": wechatsim.DevMerchantSerial, "WeChatPayPrivateKey": wechatsim.DevMerchantPrivateKeyPEM,
			"WeChatPayAPIv3Key": wechatsim.DevAPIv3Key, "WeChatPayPublicKey": wechatsim.DevPlatformPublicKeyPEM,
			"WeChatPayPublicKeyID": wechatsim.DevPublicKeyID, "WeChatPayNotifyURL": "https://pay.example.com/callbacks/v3",
		} {
			params[k] = v
		}
		for p := range mapKeys(get(tpl.root, "Parameters")) {
			if _, ok := params[p]; !ok {
				t.Fatalf("parameter %s has neither a default nor a value in this test", p)
			}
		}
		procs[channel] = map[string]*running{}
		for id, f := range samFunctions {
			env := tpl.environment(t, tpl.functions[id], params)
			procs[channel][f.dir] = launchFunction(t, bins[f.dir], f.dir, env)
		}
	}
	for _, channel := range channels {
		t.Run(channel, func(t *testing.T) {
			for _, f := range samFunctions {
				t.Run(f.dir, func(t *testing.T) {
					p := procs[channel][f.dir]
					p.waitHealthy(t)
					if f.dir == "payment-callback" {
						// Unsigned, so refused; 404 would mean the v3 side is off.
						r := p.do(t, "POST", "/callbacks/v3", `{"id":"x"}`, nil)
						if r.status == http.StatusNotFound || r.status/100 != 4 {
							t.Errorf("POST /callbacks/v3 = %d %s, want a refusal by the v3 verifier", r.status, r.body)
						}
					}
					p.stop(t)
				})
			}
		})
	}
}

// Each build-<LogicalId> target, run the way `sam build` runs it, leaves a
// bootstrap for Lambda's arm64 provided.al2023: static, built as shipped.
func TestTemplateFunctionsBuildForLambda(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles every function")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	t.Parallel()
	tpl := loadTemplate(t)
	ids := slices.Sorted(maps.Keys(tpl.functions))
	for i, id := range ids {
		t.Run(id, func(t *testing.T) {
			// The first build compiles the packages all functions share for
			// arm64, once; the others then find them in the build cache and
			// only compile their main package and link, in parallel. Started
			// together, each would compile the shared packages itself.
			if i > 0 {
				t.Parallel()
			}
			dir := t.TempDir()
			cmd := exec.Command("make", "--no-print-directory", "-C", "..", "build-"+id, "ARTIFACTS_DIR="+dir)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("make build-%s: %v\n%s", id, err, out)
			}
			bootstrap := filepath.Join(dir, "bootstrap")
			f, err := elf.Open(bootstrap)
			if err != nil {
				t.Fatalf("bootstrap: %v", err)
			}
			defer f.Close()
			if f.Machine != elf.EM_AARCH64 {
				t.Errorf("bootstrap is for %v, want arm64", f.Machine)
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Error("bootstrap is dynamically linked")
				}
			}
			info, err := buildinfo.ReadFile(bootstrap)
			if err != nil {
				t.Fatal(err)
			}
			if want := "github.com/cloudpay/cloudpay/functions/" + samFunctions[id].dir; info.Path != want {
				t.Errorf("bootstrap is %s, want %s", info.Path, want)
			}
			settings := map[string]string{}
			for _, s := range info.Settings {
				settings[s.Key] = s.Value
			}
			for k, v := range map[string]string{"GOOS": "linux", "GOARCH": "arm64", "CGO_ENABLED": "0", "-trimpath": "true", "-tags": "nomsgpack"} {
				if settings[k] != v {
					t.Errorf("built with %s=%q, want %q", k, settings[k], v)
				}
			}
			// -ldflags is not recorded under -trimpath; "-s -w" shows as no
			// symbol table and no DWARF.
			for _, s := range f.Sections {
				if s.Name == ".symtab" || strings.HasPrefix(s.Name, ".debug_") || strings.HasPrefix(s.Name, ".zdebug_") {
					t.Errorf("bootstrap is not stripped: it has %s", s.Name)
				}
			}
		})
	}
}

// shellWords writes args as a shell command line would: those with a space
// in double quotes.
func shellWords(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " \t") {
			a = `"` + a + `"`
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

// samTemplate is template.yaml as YAML nodes: CloudFormation's short tags
// (!Ref, !If, …) stay on the nodes.
type samTemplate struct {
	root      *yaml.Node
	functions map[string]*yaml.Node // logical id → resource
}

func loadTemplate(t *testing.T) samTemplate {
	t.Helper()
	raw, err := os.ReadFile("../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		t.Fatal("template.yaml is not a mapping")
	}
	tpl := samTemplate{root: doc.Content[0], functions: map[string]*yaml.Node{}}
	for id, res := range mapEntries(get(tpl.root, "Resources")) {
		if scalar(get(res, "Type")) == "AWS::Serverless::Function" {
			tpl.functions[id] = res
		}
	}
	return tpl
}

// property is a function's property, or the Globals' when it sets none.
func (tpl samTemplate) property(fn *yaml.Node, name string) *yaml.Node {
	if n := get(fn, "Properties", name); n != nil {
		return n
	}
	return get(tpl.root, "Globals", "Function", name)
}

// variables are a function's environment variables as written: the
// Globals' merged with its own (SAM merges them, the function's winning).
func (tpl samTemplate) variables(fn *yaml.Node) map[string]*yaml.Node {
	vars := mapEntries(get(tpl.root, "Globals", "Function", "Environment", "Variables"))
	for k, v := range mapEntries(get(fn, "Properties", "Environment", "Variables")) {
		vars[k] = v
	}
	return vars
}

// defaults are the parameters' default values.
func (tpl samTemplate) defaults() map[string]string {
	out := map[string]string{}
	for name, p := range mapEntries(get(tpl.root, "Parameters")) {
		if d := get(p, "Default"); d != nil {
			out[name] = scalar(d)
		}
	}
	return out
}

// environment resolves a function's variables as CloudFormation would with
// these parameter values; a variable resolving to AWS::NoValue is left out.
func (tpl samTemplate) environment(t *testing.T, fn *yaml.Node, params map[string]string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for name, n := range tpl.variables(fn) {
		v, ok, err := tpl.resolve(n, params)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if ok {
			env[name] = v
		}
	}
	return env
}

// resolve evaluates the intrinsic functions the template uses; an unknown
// one is an error, so a new construct gets taught here, not skipped.
func (tpl samTemplate) resolve(n *yaml.Node, params map[string]string) (string, bool, error) {
	fn, arg := intrinsic(n)
	switch fn {
	case "":
		if n.Kind != yaml.ScalarNode {
			return "", false, fmt.Errorf("line %d: not a scalar", n.Line)
		}
		return n.Value, true, nil
	case "Ref":
		if arg.Value == "AWS::NoValue" {
			return "", false, nil
		}
		v, ok := params[arg.Value]
		if !ok {
			return "", false, fmt.Errorf("line %d: no value for parameter %s", n.Line, arg.Value)
		}
		return v, true, nil
	case "Fn::If":
		if arg.Kind != yaml.SequenceNode || len(arg.Content) != 3 {
			return "", false, fmt.Errorf("line %d: !If takes [condition, then, else]", n.Line)
		}
		cond := get(tpl.root, "Conditions", arg.Content[0].Value)
		if cond == nil {
			return "", false, fmt.Errorf("line %d: no condition %s", n.Line, arg.Content[0].Value)
		}
		holds, err := tpl.condition(cond, params)
		if err != nil {
			return "", false, err
		}
		if holds {
			return tpl.resolve(arg.Content[1], params)
		}
		return tpl.resolve(arg.Content[2], params)
	}
	return "", false, fmt.Errorf("line %d: %s is not understood by this test", n.Line, fn)
}

func (tpl samTemplate) condition(n *yaml.Node, params map[string]string) (bool, error) {
	fn, arg := intrinsic(n)
	switch fn {
	case "Fn::Equals":
		if arg.Kind != yaml.SequenceNode || len(arg.Content) != 2 {
			return false, fmt.Errorf("line %d: !Equals takes two values", n.Line)
		}
		a, _, err := tpl.resolve(arg.Content[0], params)
		if err != nil {
			return false, err
		}
		b, _, err := tpl.resolve(arg.Content[1], params)
		return a == b, err
	case "Fn::Not":
		if arg.Kind != yaml.SequenceNode || len(arg.Content) != 1 {
			return false, fmt.Errorf("line %d: !Not takes one condition", n.Line)
		}
		holds, err := tpl.condition(arg.Content[0], params)
		return !holds, err
	}
	return false, fmt.Errorf("line %d: condition %s is not understood by this test", n.Line, fn)
}

// intrinsic names the CloudFormation function a node calls, short form
// (!Ref X, !If […]) or long ({Ref: X}, {Fn::If: […]}), and its argument.
func intrinsic(n *yaml.Node) (string, *yaml.Node) {
	if n == nil {
		return "", nil
	}
	if tag, ok := strings.CutPrefix(n.Tag, "!"); ok && !strings.HasPrefix(tag, "!") {
		if tag == "Ref" || tag == "Condition" {
			return tag, n
		}
		return "Fn::" + tag, n
	}
	if n.Kind == yaml.MappingNode && len(n.Content) == 2 {
		if k := n.Content[0].Value; k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::") {
			return k, n.Content[1]
		}
	}
	return "", nil
}

// leaves are the values a node can resolve to: the branches of !If,
// recursively; anything else is its own leaf.
func leaves(n *yaml.Node) []*yaml.Node {
	if fn, arg := intrinsic(n); fn == "Fn::If" && arg.Kind == yaml.SequenceNode && len(arg.Content) == 3 {
		return append(leaves(arg.Content[1]), leaves(arg.Content[2])...)
	}
	return []*yaml.Node{n}
}

// get follows mapping keys; nil when any is missing.
func get(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		n = next
	}
	return n
}

func mapEntries(n *yaml.Node) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	if n != nil && n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			out[n.Content[i].Value] = n.Content[i+1]
		}
	}
	return out
}

func mapKeys(n *yaml.Node) map[string]bool {
	out := map[string]bool{}
	for k := range mapEntries(n) {
		out[k] = true
	}
	return out
}

func mapValues(n *yaml.Node) []*yaml.Node {
	var out []*yaml.Node
	for _, v := range mapEntries(n) {
		out = append(out, v)
	}
	return out
}

func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

func scalars(n *yaml.Node) []string {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	var out []string
	for _, c := range n.Content {
		out = append(out, scalar(c))
	}
	return out
}

func walk(n *yaml.Node, visit func(*yaml.Node)) {
	if n == nil {
		return
	}
	visit(n)
	for _, c := range n.Content {
		walk(c, visit)
	}
}

// makefile is the repository's Makefile: its variables and each target's
// recipe, joined.
type makefile struct {
	vars    map[string]string
	targets map[string]string
}

func readMakefile(t *testing.T) makefile {
	t.Helper()
	raw, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	mk := makefile{vars: map[string]string{}, targets: map[string]string{}}
	target := ""
	assign := regexp.MustCompile(`^([A-Z_]+)\s*[?:]?=\s*(.*)$`)
	rule := regexp.MustCompile(`^([A-Za-z0-9_.-]+):([^=]|$)`)
	for line := range strings.Lines(string(raw)) {
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, "\t") && target != "":
			mk.targets[target] += strings.TrimSpace(line) + "\n"
		case assign.MatchString(line):
			m := assign.FindStringSubmatch(line)
			mk.vars[m[1]] = strings.TrimSpace(m[2])
			target = ""
		case rule.MatchString(line):
			target = rule.FindStringSubmatch(line)[1]
			mk.targets[target] += ""
		default:
			target = ""
		}
	}
	return mk
}
