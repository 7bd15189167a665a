package main

import (
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/corral-dev/corral/sandbox"
)

func TestFormatDenial(t *testing.T) {
	for _, tc := range []struct {
		d    sandbox.Denial
		want string
	}{
		{sandbox.Denial{Syscall: "mount", Args: [6]uint64{0x10, 0x20, 0x30}, Errno: syscall.EPERM, Pid: 3},
			"corral: refused mount(0x10, 0x20, 0x30, 0x0, 0x0, 0x0) = EPERM (pid 3)"},
		{sandbox.Denial{Syscall: "syscall_1000", Errno: syscall.ENOSYS},
			"corral: refused syscall_1000(0x0, 0x0, 0x0, 0x0, 0x0, 0x0) = ENOSYS (pid unknown)"},
		{sandbox.Denial{Syscall: "getpriority", Args: [6]uint64{^uint64(0)}, Errno: 4000, Pid: 12},
			"corral: refused getpriority(0xffffffffffffffff, 0x0, 0x0, 0x0, 0x0, 0x0) = errno 4000 (pid 12)"},
	} {
		if got := formatDenial(tc.d); got != tc.want {
			t.Errorf("formatDenial(%+v)\n = %q\nwant %q", tc.d, got, tc.want)
		}
	}
}

// TestLogDenials: --log-denials names the refused call on stderr, and
// changes nothing the command sees (the control runs without it); a
// command without refused calls logs nothing.
func TestLogDenials(t *testing.T) {
	script := `unshare -U true 2>/dev/null; echo $?`
	line := regexp.MustCompile(`(?m)^corral: refused unshare\(0x10000000, (0x[0-9a-f]+, ){4}0x[0-9a-f]+\) = EPERM \(pid [0-9]+\)$`)
	with := corral(t, "", "--log-denials", "--", "sh", "-c", script)
	with.expect(t, 0)
	if !line.MatchString(with.stderr) || strings.Count(with.stderr, "refused") != 1 {
		t.Errorf("--log-denials: stderr %q, want one line matching %s", with.stderr, line)
	}
	without := corral(t, "", "--", "sh", "-c", script)
	without.expect(t, 0)
	if with.stdout != "1\n" || without.stdout != with.stdout {
		t.Errorf("unshare's status: %q with --log-denials, %q without; want \"1\\n\" both", with.stdout, without.stdout)
	}
	if strings.Contains(without.stderr, "refused") {
		t.Errorf("without --log-denials: stderr %q", without.stderr)
	}
	quiet := corral(t, "", "--log-denials", "--", "sh", "-c", "echo hi >&2; ls / >/dev/null")
	quiet.expect(t, 0)
	if quiet.stderr != "hi\n" {
		t.Errorf("no refused call: stderr %q, want the command's own \"hi\\n\"", quiet.stderr)
	}
	corral(t, "", "--log-denials", "--seccomp", "off", "--", "true").expect(t, exitSetup, "--log-denials", "--seccomp off")
}
