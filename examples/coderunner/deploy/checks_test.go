package deploy_test

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// serverFlags are the code runner's flags (the shared contract of issue 15,
// and -cgroup-parent, which examples/coderunner/main.go adds); the
// container's args may use only these. TestArgsAreServerFlags checks them
// against main.go where it is present.
var serverFlags = []string{
	"addr", "backend", "pool", "reuse", "concurrency", "queue",
	"max-wall", "max-cpu", "max-memory", "max-pids", "max-output", "max-source",
	"token", "rate", "shutdown-timeout", "cgroup-parent",
}

const (
	queueMetric   = "coderunner_queue_depth"
	containerName = "coderunner"
)

// check returns every problem of b; none for manifests that work.
func check(b *bundle) []string {
	var p problems
	checkPod(&p, b)
	checkService(&p, b)
	checkHPA(&p, b)
	checkAdapter(&p, b)
	checkNamespaces(&p, b)
	return p
}

type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// container returns the code runner's container of the Deployment.
func container(b *bundle) *corev1.Container {
	for i := range b.deploy.Spec.Template.Spec.Containers {
		if c := &b.deploy.Spec.Template.Spec.Containers[i]; c.Name == containerName {
			return c
		}
	}
	return nil
}

// args parses the container's args ("-name=value", "--name=value", or a
// bare "-name" for a boolean) into a map, reporting the malformed ones.
func args(p *problems, c *corev1.Container) map[string]string {
	m := map[string]string{}
	for _, a := range append(slices.Clone(c.Command), c.Args...) {
		if !strings.HasPrefix(a, "-") {
			if len(c.Command) == 0 || a != c.Command[0] {
				p.add("container arg %q: not a -flag=value (a flag taking a value must be written -flag=value here)", a)
			}
			continue
		}
		name, val, ok := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !ok {
			val = "true"
		}
		if _, dup := m[name]; dup {
			p.add("container arg -%s given twice", name)
		}
		m[name] = val
	}
	return m
}

func checkPod(p *problems, b *bundle) {
	d := b.deploy
	spec := &d.Spec.Template.Spec
	c := container(b)
	if c == nil {
		p.add("Deployment %s: no container named %q", d.Name, containerName)
		return
	}
	// User namespace.
	if spec.HostUsers == nil || *spec.HostUsers {
		p.add("pod hostUsers: want false (a user namespace for the pod), got %v", fmtBool(spec.HostUsers))
	}
	if spec.HostPID || spec.HostIPC || spec.HostNetwork {
		p.add("pod shares a host namespace (hostPID/hostIPC/hostNetwork): not allowed with hostUsers false, and not wanted")
	}
	// Effective security settings: the container's, else the pod's.
	sc := c.SecurityContext
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	psc := spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil {
		seccomp = psc.SeccompProfile
	}
	switch {
	case seccomp == nil:
		p.add("seccompProfile: unset (the kubelet may apply RuntimeDefault, which refuses namespace creation without CAP_SYS_ADMIN); want Unconfined or Localhost")
	case seccomp.Type == corev1.SeccompProfileTypeLocalhost && (seccomp.LocalhostProfile == nil || *seccomp.LocalhostProfile == ""):
		p.add("seccompProfile Localhost: localhostProfile must name the profile file")
	case seccomp.Type != corev1.SeccompProfileTypeUnconfined && seccomp.Type != corev1.SeccompProfileTypeLocalhost:
		p.add("seccompProfile type %q: RuntimeDefault refuses clone/unshare of namespaces and mount without CAP_SYS_ADMIN; want Unconfined or Localhost", seccomp.Type)
	}
	apparmor := sc.AppArmorProfile
	if apparmor == nil {
		apparmor = psc.AppArmorProfile
	}
	switch {
	case apparmor == nil:
		p.add("appArmorProfile: unset (RuntimeDefault on AppArmor nodes, which denies mount); want Unconfined or Localhost")
	case apparmor.Type == corev1.AppArmorProfileTypeLocalhost && (apparmor.LocalhostProfile == nil || *apparmor.LocalhostProfile == ""):
		p.add("appArmorProfile Localhost: localhostProfile must name the loaded profile")
	case apparmor.Type != corev1.AppArmorProfileTypeUnconfined && apparmor.Type != corev1.AppArmorProfileTypeLocalhost:
		p.add("appArmorProfile type %q: the runtime's default profile denies mount; want Unconfined or Localhost", apparmor.Type)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		p.add("allowPrivilegeEscalation: want false, got %s", fmtBool(sc.AllowPrivilegeEscalation))
	}
	if sc.Privileged != nil && *sc.Privileged {
		p.add("privileged: true; Corral needs no privilege (a privileged pod is the last resort the README describes, not this manifest)")
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		p.add("capabilities.drop: want ALL")
	} else if len(sc.Capabilities.Add) > 0 {
		p.add("capabilities.add %v: Corral needs none", sc.Capabilities.Add)
	}
	nonRoot := sc.RunAsNonRoot
	if nonRoot == nil {
		nonRoot = psc.RunAsNonRoot
	}
	uid := sc.RunAsUser
	if uid == nil {
		uid = psc.RunAsUser
	}
	if nonRoot == nil || !*nonRoot {
		p.add("runAsNonRoot: want true, got %s", fmtBool(nonRoot))
	}
	if uid == nil || *uid == 0 {
		p.add("runAsUser: want a non-zero uid")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		p.add("readOnlyRootFilesystem: want true")
	}
	if sc.ProcMount == nil || *sc.ProcMount != corev1.UnmaskedProcMount {
		p.add("procMount: want Unmasked (the runtime's masks over /proc make the kernel refuse the sandbox's proc mount)")
	} else if spec.HostUsers == nil || *spec.HostUsers {
		p.add("procMount Unmasked with hostUsers not false: the API server refuses it")
	}
	checkTmp(p, spec, c)
	checkResources(p, c)

	// Flags, port, probes, shutdown.
	flags := args(p, c)
	for name := range flags {
		if !slices.Contains(serverFlags, name) {
			p.add("container arg -%s: the server has no such flag (it has %s)", name, strings.Join(serverFlags, ", "))
		}
	}
	port := containerPort(p, c, flags)
	checkProbe(p, c, "readinessProbe", c.ReadinessProbe, "/readyz", port)
	checkProbe(p, c, "livenessProbe", c.LivenessProbe, "/healthz", port)
	checkGrace(p, spec, c, flags)
	checkScrape(p, d.Spec.Template.Annotations, port)
	if rcn := spec.RuntimeClassName; rcn != nil && !slices.ContainsFunc(b.rc, func(rc *nodev1.RuntimeClass) bool { return rc.Name == *rcn }) {
		p.add("runtimeClassName %q: no RuntimeClass of that name in the manifests", *rcn)
	}
}

func fmtBool(b *bool) string {
	if b == nil {
		return "unset"
	}
	return strconv.FormatBool(*b)
}

// checkTmp: a read-only root needs a writable /tmp, from an emptyDir.
func checkTmp(p *problems, spec *corev1.PodSpec, c *corev1.Container) {
	for _, m := range c.VolumeMounts {
		if m.MountPath != "/tmp" {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name == m.Name && v.EmptyDir != nil && !m.ReadOnly {
				return
			}
		}
	}
	p.add("no writable emptyDir mounted at /tmp (the root filesystem is read-only; Corral and the toolchains need a writable TMPDIR)")
}

// checkResources: requests and limits of CPU and memory, requests <= limits.
func checkResources(p *problems, c *corev1.Container) {
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := c.Resources.Requests[r]
		lim, okLim := c.Resources.Limits[r]
		if !okReq || !okLim {
			p.add("resources: %s needs both a request and a limit (the pool and -concurrency are sized against them)", r)
			continue
		}
		if req.Cmp(lim) > 0 {
			p.add("resources: %s request %s is over its limit %s", r, req.String(), lim.String())
		}
	}
}

// containerPort returns the port -addr listens on, checking that the
// container declares it and that -addr listens on all interfaces.
func containerPort(p *problems, c *corev1.Container, flags map[string]string) int32 {
	addr, ok := flags["addr"]
	if !ok {
		p.add("container args: no -addr (the default 127.0.0.1:8080 is unreachable from the kubelet and the Service)")
		return 0
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		p.add("-addr=%s: %v", addr, err)
		return 0
	}
	if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
		p.add("-addr=%s: a loopback address is unreachable from the kubelet and the Service; use :%s", addr, portStr)
	}
	port, err := strconv.ParseInt(portStr, 10, 32)
	if err != nil {
		p.add("-addr=%s: port %q is not a number", addr, portStr)
		return 0
	}
	if !slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.ContainerPort == int32(port) }) {
		p.add("-addr=%s: the container declares no port %d", addr, port)
	}
	return int32(port)
}

// resolvePort turns a probe's or Service's port (a number or a container
// port's name) into a number; 0 if the name is not one of the container's.
func resolvePort(c *corev1.Container, port intstr.IntOrString) int32 {
	if port.Type == intstr.Int {
		return port.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == port.StrVal {
			return cp.ContainerPort
		}
	}
	return 0
}

func checkProbe(p *problems, c *corev1.Container, what string, pr *corev1.Probe, path string, port int32) {
	if pr == nil || pr.HTTPGet == nil {
		p.add("%s: want an httpGet probe of %s", what, path)
		return
	}
	if pr.HTTPGet.Path != path {
		p.add("%s: path %q, want %q", what, pr.HTTPGet.Path, path)
	}
	if got := resolvePort(c, pr.HTTPGet.Port); got == 0 || got != port {
		p.add("%s: port %s is %d, not the server's port %d", what, pr.HTTPGet.Port.String(), got, port)
	}
}

// checkGrace: the grace period covers the preStop sleep plus the server's
// -shutdown-timeout, or the kubelet's SIGKILL cuts the shutdown short.
func checkGrace(p *problems, spec *corev1.PodSpec, c *corev1.Container, flags map[string]string) {
	v, ok := flags["shutdown-timeout"]
	if !ok {
		p.add("container args: no -shutdown-timeout (the grace period is sized against it)")
		return
	}
	timeout, err := time.ParseDuration(v)
	if err != nil || timeout <= 0 {
		p.add("-shutdown-timeout=%s: want a positive duration", v)
		return
	}
	var preStop time.Duration
	if lc := c.Lifecycle; lc != nil && lc.PreStop != nil && lc.PreStop.Sleep != nil {
		preStop = time.Duration(lc.PreStop.Sleep.Seconds) * time.Second
	}
	grace := 30 * time.Second // the API's default
	if spec.TerminationGracePeriodSeconds != nil {
		grace = time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
	}
	if grace < preStop+timeout {
		p.add("terminationGracePeriodSeconds %v is less than the preStop sleep %v plus -shutdown-timeout %v", grace, preStop, timeout)
	}
}

func checkScrape(p *problems, ann map[string]string, port int32) {
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/path"] != "/metrics" ||
		ann["prometheus.io/port"] != strconv.Itoa(int(port)) {
		p.add("pod annotations: want prometheus.io/scrape \"true\", path /metrics, port %d; got %q, %q, %q", port,
			ann["prometheus.io/scrape"], ann["prometheus.io/path"], ann["prometheus.io/port"])
	}
}

// checkService: the Service selects the Deployment's pods, and only them,
// on the server's port.
func checkService(p *problems, b *bundle) {
	labels := b.deploy.Spec.Template.Labels
	sel := b.svc.Spec.Selector
	if len(sel) == 0 {
		p.add("Service %s: no selector", b.svc.Name)
	}
	for k, v := range sel {
		if labels[k] != v {
			p.add("Service selector %s=%s: the pod template's label %s is %q", k, v, k, labels[k])
		}
	}
	if d := b.deploy.Spec.Selector; d == nil || len(d.MatchLabels) == 0 {
		p.add("Deployment selector: no matchLabels")
	} else {
		for k, v := range d.MatchLabels {
			if labels[k] != v {
				p.add("Deployment selector %s=%s: the pod template's label %s is %q", k, v, k, labels[k])
			}
		}
	}
	c := container(b)
	if c == nil {
		return
	}
	flags := args(&problems{}, c)
	_, portStr, _ := net.SplitHostPort(flags["addr"])
	if len(b.svc.Spec.Ports) == 0 {
		p.add("Service: no ports")
	}
	for _, sp := range b.svc.Spec.Ports {
		if got := resolvePort(c, sp.TargetPort); strconv.Itoa(int(got)) != portStr {
			p.add("Service port %d: targetPort %s is %d, not the server's port %s", sp.Port, sp.TargetPort.String(), got, portStr)
		}
	}
}

// checkHPA: it scales this Deployment on the queue metric, as a Pods metric.
func checkHPA(p *problems, b *bundle) {
	h := b.hpa
	ref := h.Spec.ScaleTargetRef
	if ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" || ref.Name != b.deploy.Name {
		p.add("HPA scaleTargetRef %s %s %q: want apps/v1 Deployment %q", ref.APIVersion, ref.Kind, ref.Name, b.deploy.Name)
	}
	if h.Spec.MinReplicas != nil && *h.Spec.MinReplicas < 1 || h.Spec.MaxReplicas < 1 ||
		h.Spec.MinReplicas != nil && *h.Spec.MinReplicas > h.Spec.MaxReplicas {
		p.add("HPA replicas: min %v, max %d", h.Spec.MinReplicas, h.Spec.MaxReplicas)
	}
	found := false
	for _, m := range h.Spec.Metrics {
		if m.Type != autoscalingv2.PodsMetricSourceType || m.Pods == nil || m.Pods.Metric.Name != queueMetric {
			continue
		}
		found = true
		t := m.Pods.Target
		if t.Type != autoscalingv2.AverageValueMetricType || t.AverageValue == nil || t.AverageValue.Sign() <= 0 {
			p.add("HPA metric %s: want an AverageValue target above 0", queueMetric)
		}
	}
	if !found {
		p.add("HPA: no Pods metric %s", queueMetric)
	}
}

// adapterRule is one rule of prometheus-adapter's config (its docs/config.md).
type adapterRule struct {
	SeriesQuery   string `json:"seriesQuery"`
	SeriesFilters []any  `json:"seriesFilters,omitempty"`
	Resources     struct {
		Overrides map[string]struct {
			Group    string `json:"group,omitempty"`
			Resource string `json:"resource"`
		} `json:"overrides,omitempty"`
		Template string `json:"template,omitempty"`
	} `json:"resources"`
	Name struct {
		Matches string `json:"matches"`
		As      string `json:"as,omitempty"`
	} `json:"name"`
	MetricsQuery string `json:"metricsQuery"`
}

// checkAdapter: the adapter's rules serve every Pods metric the HPA uses,
// per pod.
func checkAdapter(p *problems, b *bundle) {
	cfg, ok := b.adapter.Data["config.yaml"]
	if !ok {
		p.add("ConfigMap %s: no config.yaml", b.adapter.Name)
		return
	}
	js, err := yaml.YAMLToJSONStrict([]byte(cfg))
	if err != nil {
		p.add("adapter config.yaml: %v", err)
		return
	}
	var conf struct {
		Rules []adapterRule `json:"rules"`
	}
	if strict, err := sigsjson.UnmarshalStrict(js, &conf); err != nil || len(strict) > 0 {
		p.add("adapter config.yaml: %v %v", err, strict)
		return
	}
	for _, m := range b.hpa.Spec.Metrics {
		if m.Pods == nil {
			continue
		}
		name := m.Pods.Metric.Name
		if !slices.ContainsFunc(conf.Rules, func(r adapterRule) bool {
			return r.Name.As == name && strings.Contains(r.SeriesQuery, name) &&
				r.Resources.Overrides["pod"].Resource == "pod" &&
				r.Resources.Overrides["namespace"].Resource == "namespace" &&
				strings.Contains(r.MetricsQuery, "<<.LabelMatchers>>") && strings.Contains(r.MetricsQuery, "<<.GroupBy>>")
		}) {
			p.add("adapter config.yaml: no rule serves %s per pod (seriesQuery naming it, name.as %q, pod and namespace overrides, a metricsQuery with <<.LabelMatchers>> and <<.GroupBy>>)", name, name)
		}
	}
}

// checkNamespaces: the namespaced objects live in the Namespace of the
// manifests, whose Pod Security level admits the pod.
func checkNamespaces(p *problems, b *bundle) {
	for what, ns := range map[string]string{
		"Deployment": b.deploy.Namespace, "Service": b.svc.Namespace, "HorizontalPodAutoscaler": b.hpa.Namespace,
	} {
		if ns != b.ns.Name {
			p.add("%s: namespace %q, want %q", what, ns, b.ns.Name)
		}
	}
	// Unconfined seccomp or AppArmor and an Unmasked /proc are all outside
	// the baseline Pod Security Standard.
	if level := b.ns.Labels["pod-security.kubernetes.io/enforce"]; level != "privileged" {
		p.add("Namespace %s: pod-security.kubernetes.io/enforce is %q; the baseline and restricted levels refuse the pod's Unconfined seccomp/AppArmor and Unmasked procMount, want privileged", b.ns.Name, level)
	}
}
