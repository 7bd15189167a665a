package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/corral-dev/corral/isolate"
	"golang.org/x/sys/unix"
)

// probeUserns, when set, starts a child in all the namespaces a sandbox uses
// and reports whether that worked. nil means Check runs no live probe.
var probeUserns func() error

// Report says what this host supports. Build one with Check.
type Report struct {
	Features []Feature
}

// Feature is one thing a sandbox needs or can use, and whether this host has it.
type Feature struct {
	Name      string // short and stable, e.g. "user namespaces", "landlock"
	Available bool
	Required  bool   // a sandbox cannot run at all without it
	Detail    string // what was found, e.g. "Landlock ABI 6", "kernel 6.18"
	Fix       string // what to do when !Available; empty otherwise
}

var checkOnce = sync.OnceValue(runChecks)

// Check reports what this host supports. The probes run once per process.
func Check() *Report { return checkOnce() }

func runChecks() *Report {
	var u unix.Utsname
	release := ""
	if unix.Uname(&u) == nil {
		release = unix.ByteSliceToString(u.Release[:])
	}
	major, minor, ok := parseKernelRelease(release)
	atLeast := func(a, b int) bool { return ok && (major > a || major == a && minor >= b) }
	kernel := fmt.Sprintf("kernel %d.%d", major, minor)
	if !ok {
		kernel = fmt.Sprintf("cannot parse kernel release %q", release)
	}
	features := []Feature{
		checkUserns(),
		{Name: "mount API", Required: true, Available: atLeast(5, 12), Detail: kernel,
			Fix: "upgrade to Linux 5.12 or newer (open_tree, move_mount, mount_setattr; openat2 needs 5.6)"},
		checkCgroups(),
		checkSeccomp(),
		checkLandlock(),
		checkOverlay(kernel, atLeast(5, 11)),
		checkTun(), // egress_link.go
	}
	for i := range features {
		if features[i].Available {
			features[i].Fix = ""
		}
	}
	return &Report{Features: features}
}

// Err returns nil if every required feature is available, and otherwise a
// *FeatureError, matching ErrNotSupported, for the first one that is not.
func (r *Report) Err() error {
	for _, f := range r.Features {
		if f.Required && !f.Available {
			return &FeatureError{Feature: f.Name, Reason: f.Detail, Fix: f.Fix}
		}
	}
	return nil
}

// Feature returns the feature with the given name.
func (r *Report) Feature(name string) (Feature, bool) {
	for _, f := range r.Features {
		if f.Name == name {
			return f, true
		}
	}
	return Feature{}, false
}

// String formats the report with one line per feature.
func (r *Report) String() string {
	var b strings.Builder
	for i, f := range r.Features {
		if i > 0 {
			b.WriteByte('\n')
		}
		switch {
		case f.Available:
			fmt.Fprintf(&b, "ok      %s: %s", f.Name, f.Detail)
		case f.Required:
			fmt.Fprintf(&b, "MISSING %s (required): %s (fix: %s)", f.Name, f.Detail, f.Fix)
		default:
			fmt.Fprintf(&b, "missing %s: %s (fix: %s)", f.Name, f.Detail, f.Fix)
		}
	}
	return b.String()
}

// parseKernelRelease returns the major and minor version of a kernel release
// such as "6.18.44-fc-v782".
func parseKernelRelease(s string) (major, minor int, ok bool) {
	maj, rest, found := strings.Cut(s, ".")
	end := len(rest) - len(strings.TrimLeft(rest, "0123456789"))
	major, err1 := strconv.Atoi(maj)
	minor, err2 := strconv.Atoi(rest[:end])
	if !found || err1 != nil || err2 != nil || strings.Trim(maj, "0123456789") != "" {
		return 0, 0, false
	}
	return major, minor, true
}

// usernsSysctls holds the sysctls that restrict user namespaces, trimmed;
// "" means the file does not exist.
type usernsSysctls struct {
	maxUserNamespaces, unprivilegedClone, apparmorRestrict string
}

func readUsernsSysctls() usernsSysctls {
	return usernsSysctls{
		maxUserNamespaces: checkRead("/proc/sys/user/max_user_namespaces"),
		unprivilegedClone: checkRead("/proc/sys/kernel/unprivileged_userns_clone"),
		apparmorRestrict:  checkRead("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"),
	}
}

// diagnoseUserns says which sysctls keep this process (root or not) from
// creating user namespaces, and how to fix that. Both are "" when none do.
func diagnoseUserns(s usernsSysctls, root bool) (reason, fix string) {
	var reasons, fixes []string
	if s.maxUserNamespaces == "0" {
		reasons = append(reasons, "user.max_user_namespaces=0")
		fixes = append(fixes, "sysctl -w user.max_user_namespaces=15000")
	}
	if s.unprivilegedClone == "0" && !root {
		reasons = append(reasons, "kernel.unprivileged_userns_clone=0")
		fixes = append(fixes, "sysctl -w kernel.unprivileged_userns_clone=1")
	}
	if s.apparmorRestrict == "1" && !root {
		reasons = append(reasons, "kernel.apparmor_restrict_unprivileged_userns=1")
		fixes = append(fixes, "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 or an AppArmor profile granting userns for this binary")
	}
	return strings.Join(reasons, ", "), strings.Join(fixes, "; ")
}

const usernsGenericFix = "allow unprivileged user namespaces (container runtimes often block clone(CLONE_NEWUSER) with seccomp; run the container with a seccomp profile allowing it)"

// usernsError explains err, the failure to start a child in new user
// namespaces, with what the host's sysctls say.
func usernsError(err error) error {
	return usernsFeatureError(readUsernsSysctls(), os.Geteuid() == 0, err)
}

func usernsFeatureError(s usernsSysctls, root bool, err error) *FeatureError {
	reason, fix := diagnoseUserns(s, root)
	if reason == "" && errors.Is(err, unix.ENOSPC) {
		reason, fix = "user.max_user_namespaces limit reached", "raise user.max_user_namespaces with sysctl -w, or end other sandboxes"
	}
	if fix == "" {
		fix = usernsGenericFix
	}
	return &FeatureError{Feature: "user namespaces", Reason: reason, Fix: fix, Err: err}
}

func checkUserns() Feature {
	f := Feature{Name: "user namespaces", Required: true}
	s, root := readUsernsSysctls(), os.Geteuid() == 0
	if reason, fix := diagnoseUserns(s, root); reason != "" {
		f.Detail, f.Fix = reason, fix
		return f
	}
	f.Detail = "not restricted by sysctls"
	if s.maxUserNamespaces != "" {
		f.Detail = "user.max_user_namespaces=" + s.maxUserNamespaces
	}
	if probeUserns != nil {
		if err := probeUserns(); err != nil {
			fe := usernsFeatureError(s, root, err)
			f.Detail, f.Fix = "cannot start a child in new namespaces: "+err.Error(), fe.Fix
			if fe.Reason != "" {
				f.Detail = fe.Reason + "; " + f.Detail
			}
			return f
		}
		f.Detail += "; started a child in new namespaces"
	}
	f.Available = true
	return f
}

// parseProcCgroup maps each controller in /proc/self/cgroup to its cgroup
// path. The cgroup v2 entry ("0::/path") has the key "".
func parseProcCgroup(data string) map[string]string {
	m := make(map[string]string)
	for line := range strings.Lines(data) {
		parts := strings.SplitN(strings.TrimRight(line, "\n"), ":", 3)
		if len(parts) != 3 {
			continue
		}
		for c := range strings.SplitSeq(parts[1], ",") {
			m[c] = parts[2]
		}
	}
	return m
}

const cgroupFix = "run as root, or delegate a cgroup v2 subtree (systemd Delegate=yes, or chown a cgroup directory to this user)"

func checkCgroups() Feature {
	f := Feature{Name: "cgroups", Fix: cgroupFix}
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil {
		f.Detail = "/sys/fs/cgroup: " + err.Error()
		return f
	}
	own := parseProcCgroup(checkRead("/proc/self/cgroup"))
	switch st.Type {
	case unix.CGROUP2_SUPER_MAGIC:
		dir := filepath.Join("/sys/fs/cgroup", own[""])
		procs := unix.Access(filepath.Join(dir, "cgroup.procs"), unix.W_OK) == nil
		subtree := unix.Access(filepath.Join(dir, "cgroup.subtree_control"), unix.W_OK) == nil
		f.Available = procs && subtree
		f.Detail = fmt.Sprintf("cgroup v2; cgroup %s; cgroup.procs writable: %t, cgroup.subtree_control writable: %t; controllers: %s",
			own[""], procs, subtree, checkRead(filepath.Join(dir, "cgroup.controllers")))
	case unix.TMPFS_MAGIC:
		mode := "v1"
		if unix.Statfs("/sys/fs/cgroup/unified", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			mode = "hybrid"
		}
		writable := unix.Access(filepath.Join("/sys/fs/cgroup/memory", own["memory"]), unix.W_OK) == nil
		f.Available = os.Geteuid() == 0 && writable
		f.Detail = fmt.Sprintf("cgroup %s; memory cgroup %s (writable: %t); pids cgroup %s",
			mode, own["memory"], writable, own["pids"])
	default:
		f.Detail = fmt.Sprintf("no cgroup file system at /sys/fs/cgroup (type %#x)", st.Type)
	}
	return f
}

func checkSeccomp() Feature {
	f := Feature{Name: "seccomp"}
	mode, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0)
	if err != nil {
		f.Detail = "prctl(PR_GET_SECCOMP): " + err.Error()
		f.Fix = "use a kernel built with CONFIG_SECCOMP_FILTER"
		return f
	}
	f.Available = true
	f.Detail = fmt.Sprintf("mode %d", mode)
	if actions := checkRead("/proc/sys/kernel/seccomp/actions_avail"); actions != "" {
		f.Detail += "; actions: " + actions
		if slices.Contains(strings.Fields(actions), "user_notif") {
			f.Detail += "; user notification available"
		}
	}
	return f
}

func checkLandlock() Feature {
	abi, err := isolate.LandlockABI()
	errno, _ := err.(unix.Errno) // 0 when the kernel has Landlock
	return landlockFeature(abi, errno)
}

// landlockFeature interprets the result of landlock_create_ruleset(NULL, 0,
// LANDLOCK_CREATE_RULESET_VERSION).
func landlockFeature(abi int, errno unix.Errno) Feature {
	f := Feature{Name: "landlock"}
	switch {
	case errno == 0 && abi > 0:
		f.Available, f.Detail = true, fmt.Sprintf("Landlock ABI %d", abi)
		if isolate.LandlockScopes(abi)&isolate.ScopeSignal != 0 {
			f.Detail += "; signal scoping: the command cannot signal its init"
		} else {
			f.Detail += "; no signal scoping (ABI 6, Linux 6.12): the init's CPU time counts in the command's"
		}
	case errno == unix.ENOSYS:
		f.Detail, f.Fix = "kernel lacks Landlock", "use Linux 5.13 or newer built with CONFIG_SECURITY_LANDLOCK"
	case errno == unix.EOPNOTSUPP:
		f.Detail, f.Fix = "Landlock is disabled at boot", "add landlock to the lsm= kernel parameter"
	default:
		f.Detail = fmt.Sprintf("landlock_create_ruleset: returned %d, %v", abi, errno)
		f.Fix = "allow the landlock_* system calls (e.g. in the container's seccomp profile)"
	}
	return f
}

// probeOverlay, when set, mounts an overlay in new namespaces the way an
// image's root is built and returns why it could not. nil means Check
// runs no live probe.
var probeOverlay func() error

// checkOverlay says how an image's root (Options.Image) is built here: an
// overlay where overlayfs mounts in a user namespace (probed where the
// program called Main), else a tmpfs copy of the image. Images run either
// way; the copy costs the time and memory of copying the image.
func checkOverlay(kernel string, newEnough bool) Feature {
	f := Feature{Name: "overlay", Detail: kernel,
		Fix: "image roots are tmpfs copies: for overlays, use Linux 5.11 or newer with overlayfs (modprobe overlay)"}
	data, _ := os.ReadFile("/proc/filesystems") // lines like "nodev\toverlay\n"
	listed := strings.Contains(string(data), "\toverlay\n")
	switch {
	case !newEnough:
		f.Detail += "; overlayfs mounts in a user namespace since 5.11: image roots are tmpfs copies"
		return f
	case probeOverlay != nil && mainCalled:
		err := probeOverlay()
		switch {
		case errors.Is(err, isolate.ErrOverlayNoXattr):
			f.Detail += "; mounted an overlay in a user namespace: image roots are overlays, but " + isolate.ErrOverlayNoXattr.Error()
		case err != nil:
			f.Detail += "; an overlay in a user namespace failed (" + err.Error() + "): image roots are tmpfs copies"
			return f
		default:
			f.Detail += "; mounted an overlay in a user namespace: image roots are overlays"
		}
	case !listed:
		f.Detail += "; overlay not in /proc/filesystems (the module may still load on first use): image roots are tmpfs copies"
		return f
	default:
		f.Detail += "; overlay in /proc/filesystems (not probed): image roots are overlays"
	}
	f.Available = true
	return f
}

// checkRead returns the content of a file without surrounding space, or ""
// if it cannot be read.
func checkRead(name string) string {
	b, err := os.ReadFile(name)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
