package deploy_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func load(t *testing.T) *bundle {
	t.Helper()
	b, files, err := loadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	// The manifests the README lists; a file renamed or gone fails here
	// rather than leaving its checks out.
	want := []string{"deployment.yaml", "hpa.yaml", "namespace.yaml", "prometheus-adapter.yaml", "runtimeclass.yaml", "service.yaml"}
	var got []string
	for _, f := range files {
		got = append(got, filepath.Base(f))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("manifests: got %v, want %v", got, want)
	}
	return b
}

// TestManifests decodes every manifest strictly into the Kubernetes API
// types and finds no problem in the settings that matter.
func TestManifests(t *testing.T) {
	b := load(t)
	for _, p := range check(b) {
		t.Error(p)
	}
	// What the checks read must be there, so that they cannot pass on an
	// empty object.
	c := container(b)
	if c == nil || len(c.Args) == 0 || c.ReadinessProbe == nil || b.deploy.Spec.Template.Spec.HostUsers == nil {
		t.Fatalf("decoded Deployment lacks what the checks read: %+v", b.deploy.Spec.Template.Spec)
	}
	if len(b.rc) != 1 || b.rc[0].Handler == "" {
		t.Errorf("RuntimeClass: want one with a handler, got %v", b.rc)
	}
	t.Logf("checked Deployment %s/%s (%d args, uid %d), Service %s, HPA %s (%d metrics), %d adapter rules' ConfigMap %s/%s",
		b.deploy.Namespace, b.deploy.Name, len(c.Args), *b.deploy.Spec.Template.Spec.SecurityContext.RunAsUser,
		b.svc.Name, b.hpa.Name, len(b.hpa.Spec.Metrics), strings.Count(b.adapter.Data["config.yaml"], "seriesQuery"),
		b.adapter.Namespace, b.adapter.Name)
}

// TestChecksRejectMutations is the control: each change that breaks the
// server in a pod (or the scaling) is caught, by the problem it causes.
func TestChecksRejectMutations(t *testing.T) {
	base := load(t)
	podSC := func(b *bundle) *corev1.PodSecurityContext { return b.deploy.Spec.Template.Spec.SecurityContext }
	sc := func(b *bundle) *corev1.SecurityContext { return container(b).SecurityContext }
	setArg := func(b *bundle, name, val string) {
		c := container(b)
		for i, a := range c.Args {
			if strings.HasPrefix(a, "-"+name+"=") {
				c.Args[i] = "-" + name + "=" + val
				return
			}
		}
		c.Args = append(c.Args, "-"+name+"="+val)
	}
	tests := []struct {
		name   string
		mutate func(*bundle)
		want   string // a substring of one problem
	}{
		{"host user namespace", func(b *bundle) { b.deploy.Spec.Template.Spec.HostUsers = ptrTo(true) }, "hostUsers: want false"},
		{"hostUsers unset", func(b *bundle) { b.deploy.Spec.Template.Spec.HostUsers = nil }, "hostUsers: want false"},
		{"seccomp RuntimeDefault", func(b *bundle) {
			podSC(b).SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
		}, `seccompProfile type "RuntimeDefault"`},
		{"seccomp unset", func(b *bundle) { podSC(b).SeccompProfile = nil }, "seccompProfile: unset"},
		{"seccomp container override", func(b *bundle) {
			sc(b).SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
		}, `seccompProfile type "RuntimeDefault"`},
		{"seccomp Localhost without a file", func(b *bundle) {
			podSC(b).SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost}
		}, "localhostProfile must name"},
		{"AppArmor RuntimeDefault", func(b *bundle) {
			podSC(b).AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeRuntimeDefault}
		}, `appArmorProfile type "RuntimeDefault"`},
		{"privilege escalation", func(b *bundle) { sc(b).AllowPrivilegeEscalation = ptrTo(true) }, "allowPrivilegeEscalation"},
		{"privileged", func(b *bundle) { sc(b).Privileged = ptrTo(true) }, "privileged: true"},
		{"capabilities kept", func(b *bundle) { sc(b).Capabilities.Drop = []corev1.Capability{"NET_RAW"} }, "capabilities.drop: want ALL"},
		{"capability added", func(b *bundle) { sc(b).Capabilities.Add = []corev1.Capability{"SYS_ADMIN"} }, "capabilities.add"},
		{"root", func(b *bundle) { podSC(b).RunAsNonRoot = ptrTo(false) }, "runAsNonRoot"},
		{"uid 0", func(b *bundle) { podSC(b).RunAsUser = ptrTo[int64](0) }, "runAsUser"},
		{"writable root", func(b *bundle) { sc(b).ReadOnlyRootFilesystem = nil }, "readOnlyRootFilesystem"},
		{"no /tmp", func(b *bundle) { container(b).VolumeMounts = nil }, "emptyDir mounted at /tmp"},
		{"proc masked", func(b *bundle) { sc(b).ProcMount = ptrTo(corev1.DefaultProcMount) }, "procMount: want Unmasked"},
		{"readiness path", func(b *bundle) { container(b).ReadinessProbe.HTTPGet.Path = "/healthz" }, `readinessProbe: path "/healthz"`},
		{"liveness missing", func(b *bundle) { container(b).LivenessProbe = nil }, "livenessProbe: want an httpGet"},
		{"probe port", func(b *bundle) { container(b).ReadinessProbe.HTTPGet.Port = intstr.FromInt32(9090) }, "readinessProbe: port"},
		{"probe port name", func(b *bundle) { container(b).LivenessProbe.HTTPGet.Port = intstr.FromString("metrics") }, "livenessProbe: port"},
		{"loopback addr", func(b *bundle) { setArg(b, "addr", "127.0.0.1:8080") }, "loopback"},
		{"addr port undeclared", func(b *bundle) { setArg(b, "addr", ":9000") }, "declares no port 9000"},
		{"unknown flag", func(b *bundle) { setArg(b, "workers", "4") }, "-workers: the server has no such flag"},
		{"flag twice", func(b *bundle) { container(b).Args = append(container(b).Args, "-pool=2") }, "-pool given twice"},
		{"positional arg", func(b *bundle) { container(b).Args = append(container(b).Args, "8") }, `container arg "8"`},
		{"short grace", func(b *bundle) { b.deploy.Spec.Template.Spec.TerminationGracePeriodSeconds = ptrTo[int64](20) }, "terminationGracePeriodSeconds"},
		{"long shutdown", func(b *bundle) { setArg(b, "shutdown-timeout", "2m") }, "terminationGracePeriodSeconds"},
		{"no shutdown flag", func(b *bundle) {
			c := container(b)
			c.Args = slices.DeleteFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "-shutdown-timeout") })
		}, "no -shutdown-timeout"},
		{"no memory limit", func(b *bundle) { delete(container(b).Resources.Limits, corev1.ResourceMemory) }, "memory needs both"},
		{"request over limit", func(b *bundle) { container(b).Resources.Requests[corev1.ResourceCPU] = resource.MustParse("8") }, "cpu request 8 is over"},
		{"scrape port", func(b *bundle) { b.deploy.Spec.Template.Annotations["prometheus.io/port"] = "9090" }, "prometheus.io/scrape"},
		{"runtime class missing", func(b *bundle) { b.rc = nil }, "no RuntimeClass of that name"},
		{"service selector", func(b *bundle) { b.svc.Spec.Selector["app.kubernetes.io/name"] = "other" }, "Service selector"},
		{"service target port", func(b *bundle) { b.svc.Spec.Ports[0].TargetPort = intstr.FromInt32(80) }, "targetPort"},
		{"deployment selector", func(b *bundle) { b.deploy.Spec.Selector.MatchLabels["tier"] = "x" }, "Deployment selector tier=x"},
		{"hpa target", func(b *bundle) { b.hpa.Spec.ScaleTargetRef.Name = "coderunner-old" }, "HPA scaleTargetRef"},
		{"hpa target kind", func(b *bundle) { b.hpa.Spec.ScaleTargetRef.Kind = "StatefulSet" }, "HPA scaleTargetRef"},
		{"hpa metric renamed", func(b *bundle) { b.hpa.Spec.Metrics[0].Pods.Metric.Name = "coderunner_queue" }, "HPA: no Pods metric coderunner_queue_depth"},
		{"hpa target zero", func(b *bundle) { b.hpa.Spec.Metrics[0].Pods.Target.AverageValue = ptrTo(resource.MustParse("0")) }, "AverageValue target above 0"},
		{"adapter rule renamed", func(b *bundle) {
			b.adapter.Data["config.yaml"] = strings.ReplaceAll(b.adapter.Data["config.yaml"], `as: "coderunner_queue_depth"`, `as: "queue"`)
		}, "no rule serves coderunner_queue_depth"},
		{"adapter unknown field", func(b *bundle) {
			b.adapter.Data["config.yaml"] = strings.Replace(b.adapter.Data["config.yaml"], "metricsQuery:", "metricQuery:", 1)
		}, "adapter config.yaml"},
		{"namespace baseline", func(b *bundle) { b.ns.Labels["pod-security.kubernetes.io/enforce"] = "baseline" }, "want privileged"},
		{"service elsewhere", func(b *bundle) { b.svc.Namespace = "default" }, `Service: namespace "default"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := base.deepCopy()
			tt.mutate(b)
			ps := check(b)
			if !slices.ContainsFunc(ps, func(p string) bool { return strings.Contains(p, tt.want) }) {
				t.Errorf("no problem containing %q; got %q", tt.want, ps)
			}
		})
	}
	// The copies did not reach the base.
	if ps := check(base); len(ps) > 0 {
		t.Errorf("base bundle changed by the cases: %q", ps)
	}
}

// TestDecodeStrict: what the API server's strict field validation refuses
// does not decode: an unknown or misspelt field, a field in the wrong case,
// a duplicate key, a kind these manifests do not use. The real Deployment
// decodes (the control of the control).
func TestDecodeStrict(t *testing.T) {
	data, err := os.ReadFile("deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeAll(data); err != nil {
		t.Fatalf("deployment.yaml: %v", err)
	}
	doc := string(data)
	const hostUsers = "\n      hostUsers: false\n" // the field, not a comment naming it
	for _, tt := range []struct{ name, old, new, want string }{
		{"misspelt field", hostUsers, "\n      hostUser: false\n", `unknown field "spec.template.spec.hostUser"`},
		{"wrong case", hostUsers, "\n      HostUsers: false\n", `unknown field "spec.template.spec.HostUsers"`},
		{"duplicate key", hostUsers, hostUsers + "      hostUsers: true\n", `key "hostUsers" already set`},
		{"bad value type", hostUsers, "\n      hostUsers: \"no\"\n", "hostUsers"},
		{"unknown kind", "\nkind: Deployment\n", "\nkind: DaemonSett\n", `kind "DaemonSett"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(doc, tt.old) {
				t.Fatalf("deployment.yaml has no %q to change", tt.old)
			}
			_, err := decodeAll([]byte(strings.Replace(doc, tt.old, tt.new, 1)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestArgsAreServerFlags checks the container's flag names against the
// flags the server's source defines (flag.Int("pool", ...), fs.DurationVar(&x,
// "shutdown-timeout", ...)), and serverFlags against them too, when the
// server's source is here; the contract's list is checked by TestManifests
// in any case.
func TestArgsAreServerFlags(t *testing.T) {
	defined := flagsDefinedIn(t, "..")
	if len(defined) == 0 {
		t.Skip("no flag definitions found in ../*.go (the server's main package is not on this branch, or defines its flags in a way this scanner does not read); the args were checked against the contract's list only")
	}
	b := load(t)
	c := container(b)
	for name := range args(&problems{}, c) {
		if !defined[name] {
			t.Errorf("container arg -%s: not a flag the server defines (it defines %v)", name, defined)
		}
	}
	for _, name := range serverFlags {
		if !defined[name] {
			t.Errorf("serverFlags lists -%s, which the server does not define", name)
		}
	}
}

// TestFlagScanner is TestArgsAreServerFlags' control: the scanner finds
// flags defined in each of the flag package's ways, and nothing else.
func TestFlagScanner(t *testing.T) {
	dir := t.TempDir()
	src := `package main

import ("flag"; "time")

func main() {
	fs := flag.NewFlagSet("x", flag.ExitOnError)
	var d time.Duration
	var n int
	_ = flag.Int("pool", 2, "warm sandboxes")
	fs.DurationVar(&d, "shutdown-timeout", time.Second, "grace")
	flag.IntVar(&n, "queue", 1, "waiting")
	flag.Func("max-memory", "maximum", func(string) error { return nil })
	println("not-a-flag")
}
`
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main_test.go"), []byte("package main\nvar _ = flag.Bool(\"test-only\", false, \"\")\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := flagsDefinedIn(t, dir)
	want := map[string]bool{"pool": true, "shutdown-timeout": true, "queue": true, "max-memory": true}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for name := range want {
		if !got[name] {
			t.Errorf("flag %q not found; got %v", name, got)
		}
	}
}

// flagsDefinedIn returns the names of the flags the non-test Go files of dir
// define with the flag package's functions (or a FlagSet's methods).
func flagsDefinedIn(t *testing.T, dir string) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	// The definers, and the index of the name among their arguments.
	nameArg := map[string]int{
		"Bool": 0, "Int": 0, "Int64": 0, "Uint": 0, "Uint64": 0, "String": 0, "Float64": 0, "Duration": 0, "Func": 0, "BoolFunc": 0,
		"BoolVar": 1, "IntVar": 1, "Int64Var": 1, "UintVar": 1, "Uint64Var": 1, "StringVar": 1, "Float64Var": 1, "DurationVar": 1,
		"Var": 1, "TextVar": 1,
	}
	defined := map[string]bool{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			i, ok := nameArg[sel.Sel.Name]
			if !ok || len(call.Args) <= i {
				return true
			}
			if lit, ok := call.Args[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if name, err := strconv.Unquote(lit.Value); err == nil && name != "" && !strings.ContainsAny(name, " =") {
					defined[name] = true
				}
			}
			return true
		})
	}
	return defined
}

func ptrTo[T any](v T) *T { return &v }
