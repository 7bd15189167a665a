package sandbox_test

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"testing/iotest"

	"github.com/corral-dev/corral/sandbox"
)

func TestParseSeccompProfile(t *testing.T) {
	tests := []struct {
		name, in string
		want     sandbox.Seccomp
	}{
		{"empty", "", sandbox.Seccomp{}},
		{"comments and blank lines", "# nothing\n\n   \t\n  # indented\n", sandbox.Seccomp{}},
		{"disable", "# off\ndisable # for gdb\n", sandbox.Seccomp{Disabled: true}},
		{"disable twice", "disable\ndisable\n", sandbox.Seccomp{Disabled: true}},
		{"no final newline", "allow ptrace", sandbox.Seccomp{Rules: []sandbox.SeccompRule{
			{Syscalls: []string{"ptrace"}, Action: sandbox.SeccompAllow}}}},
		{"the documented example", `
# applied over the default profile, in order
allow ptrace
errno EXDEV getcwd                      # errno takes a name (EPERM, EXDEV, ...) or a number 1-4095
kill getppid, bpf                       # several syscalls: comma-separated
log openat
errno EAFNOSUPPORT socket arg0 == 2     # conditions: argN OP VALUE
allow personality arg0 &= 0xffffffff == 0
`, sandbox.Seccomp{Rules: []sandbox.SeccompRule{
			{Syscalls: []string{"ptrace"}, Action: sandbox.SeccompAllow},
			{Syscalls: []string{"getcwd"}, Action: sandbox.SeccompErrno(syscall.EXDEV)},
			{Syscalls: []string{"getppid", "bpf"}, Action: sandbox.SeccompKill},
			{Syscalls: []string{"openat"}, Action: sandbox.SeccompLog},
			{Syscalls: []string{"socket"}, Action: sandbox.SeccompErrno(syscall.EAFNOSUPPORT),
				Args: []sandbox.SeccompArg{{Index: 0, Op: sandbox.SeccompEqual, Value: 2}}},
			{Syscalls: []string{"personality"}, Action: sandbox.SeccompAllow,
				Args: []sandbox.SeccompArg{{Index: 0, Op: sandbox.SeccompMaskedEqual, Mask: 0xffffffff, Value: 0}}},
		}}},
		{"every operator and argument", "allow mmap arg0 == 0 arg1 != 0x10 arg2 < 3 arg3 <= 0XfF arg4 > 18446744073709551615 arg5 >= 0\n" +
			"allow ioctl arg1 &= 0xff00 == 0x5400\n", sandbox.Seccomp{Rules: []sandbox.SeccompRule{
			{Syscalls: []string{"mmap"}, Action: sandbox.SeccompAllow, Args: []sandbox.SeccompArg{
				{Index: 0, Op: sandbox.SeccompEqual, Value: 0},
				{Index: 1, Op: sandbox.SeccompNotEqual, Value: 0x10},
				{Index: 2, Op: sandbox.SeccompLess, Value: 3},
				{Index: 3, Op: sandbox.SeccompLessEqual, Value: 0xff},
				{Index: 4, Op: sandbox.SeccompGreater, Value: 1<<64 - 1},
				{Index: 5, Op: sandbox.SeccompGreaterEqual, Value: 0},
			}},
			{Syscalls: []string{"ioctl"}, Action: sandbox.SeccompAllow, Args: []sandbox.SeccompArg{
				{Index: 1, Op: sandbox.SeccompMaskedEqual, Mask: 0xff00, Value: 0x5400}}},
		}}},
		{"errno numbers, aliases and case", "errno 18 getcwd\nerrno 0x1 getpid\nerrno 4094 getppid\n" +
			"errno eperm getuid\nerrno EWOULDBLOCK getgid\nerrno ENOTSUP geteuid\nALLOW getegid\n",
			sandbox.Seccomp{Rules: []sandbox.SeccompRule{
				{Syscalls: []string{"getcwd"}, Action: sandbox.SeccompErrno(syscall.EXDEV)},
				{Syscalls: []string{"getpid"}, Action: sandbox.SeccompErrno(syscall.EPERM)},
				{Syscalls: []string{"getppid"}, Action: sandbox.SeccompErrno(4094)},
				{Syscalls: []string{"getuid"}, Action: sandbox.SeccompErrno(syscall.EPERM)},
				{Syscalls: []string{"getgid"}, Action: sandbox.SeccompErrno(syscall.EAGAIN)},
				{Syscalls: []string{"geteuid"}, Action: sandbox.SeccompErrno(syscall.EOPNOTSUPP)},
				{Syscalls: []string{"getegid"}, Action: sandbox.SeccompAllow},
			}}},
		{"comma spacing", "kill getpid,getppid\nkill getpid , getppid\nkill getpid ,getppid,\tgetuid arg0 == 1\n",
			sandbox.Seccomp{Rules: []sandbox.SeccompRule{
				{Syscalls: []string{"getpid", "getppid"}, Action: sandbox.SeccompKill},
				{Syscalls: []string{"getpid", "getppid"}, Action: sandbox.SeccompKill},
				{Syscalls: []string{"getpid", "getppid", "getuid"}, Action: sandbox.SeccompKill,
					Args: []sandbox.SeccompArg{{Index: 0, Op: sandbox.SeccompEqual, Value: 1}}},
			}}},
		{"tabs and a comment glued to a word", "\tallow\tptrace#why\n", sandbox.Seccomp{Rules: []sandbox.SeccompRule{
			{Syscalls: []string{"ptrace"}, Action: sandbox.SeccompAllow}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sandbox.ParseSeccompProfile(strings.NewReader(tt.in))
			if err != nil {
				t.Fatalf("ParseSeccompProfile(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseSeccompProfile(%q)\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
			// The filter compiler takes what the parser gives: a compile error
			// fails Run before anything starts.
			_, err = newSandbox(t, sandbox.Options{Seccomp: got}).Run(sandbox.Command("/no/such/corral-test-command"))
			if err == nil || strings.Contains(err.Error(), "Seccomp") {
				t.Errorf("running a command under %+v: %v; want only an exec error", got, err)
			}
		})
	}
}

func TestParseSeccompProfileErrors(t *testing.T) {
	tests := []struct {
		in          string
		line, field int
		text        string // ProfileError.Text, and in the message
		reason      string // in the message
	}{
		{"bogus getpid", 1, 1, "bogus", "unknown action: want allow, errno, kill or log"},
		{"# comment\n\nallow ptrace\ndeny getpid", 4, 1, "deny", "unknown action"},
		{"errno", 1, 2, "", "missing errno"},
		{"errno # EPERM getpid", 1, 2, "", "missing errno"},
		{"errno EFOO getpid", 1, 2, "EFOO", "unknown errno: want a name such as EPERM"},
		{"errno getcwd", 1, 2, "getcwd", `before the system calls (e.g. "errno EPERM getcwd")`},
		{"errno 0 getpid", 1, 2, "0", "errno out of range: want 1 to 4094"},
		{"errno 4095 getpid", 1, 2, "4095", "errno out of range: want 1 to 4094 (libseccomp refuses 4095 and up)"},
		{"errno 0x1000 getpid", 1, 2, "0x1000", "errno out of range"},
		{"errno 99999999999999999999 getpid", 1, 2, "99999999999999999999", "bad number"},
		{"errno 1x getpid", 1, 2, "1x", "bad number"},
		{"allow fooo", 1, 2, "fooo", `unknown system call on this architecture; check the name (e.g. "openat"`},
		{"kill getppid, fooo", 1, 3, "fooo", "unknown system call"},
		{"kill getppid,fooo", 1, 2, "fooo", "unknown system call"},
		{"kill getppid ,fooo", 1, 3, "fooo", "unknown system call"},
		{"errno EPERM getpid,GetPPid", 1, 3, "GetPPid", `system-call names are lowercase: write "getppid"`},
		{"allow", 1, 2, "", "missing system call"},
		{"errno EPERM", 1, 3, "", "missing system call"},
		{"allow ,", 1, 2, ",", "empty system call list"},
		{"allow , ,", 1, 3, ",", "empty system call list"},
		{"allow getpid,,getppid", 1, 2, "getpid,,getppid", "empty system call name"},
		{"allow getpid,", 1, 2, "getpid,", "empty system call name"},
		{"allow ,getpid", 1, 2, ",getpid", "empty system call name"},
		{"allow getpid , , getppid", 1, 4, ",", "empty system call name"},
		{"allow getpid getppid", 1, 3, "getppid", "bad condition: want argN OP VALUE, with spaces between the words (e.g. \"arg0 == 2\"); to name several system calls, separate them with commas"},
		{"allow getpid arg0==1", 1, 3, "arg0==1", "with spaces between the words"},
		{"allow getpid argx == 1", 1, 3, "argx", "bad condition"},
		{"allow getpid arg == 1", 1, 3, "arg", "bad condition"},
		{"allow getpid arg-1 == 1", 1, 3, "arg-1", "bad condition"},
		{"allow getpid arg6 == 1", 1, 3, "arg6", "argument index out of range: system calls have arguments arg0 to arg5"},
		{"allow getpid arg0 == 1 arg1 == 2 arg0 != 3", 1, 9, "arg0", "one condition per argument per rule; split it into two rules"},
		{"allow getpid arg2 &= 1 == 1 arg2 == 2", 1, 8, "arg2", "one condition per argument per rule"},
		{"allow getpid arg0", 1, 4, "", "want an operator after arg0: one of == != < <= > >= &="},
		{"allow getpid arg0 =~ 1", 1, 4, "=~", "want an operator after arg0: one of"},
		{"allow getpid arg0 ==", 1, 5, "", "missing value: want a decimal or 0x hexadecimal number"},
		{"allow getpid arg0 == 0xg", 1, 5, "0xg", "bad number: want a decimal or 0x hexadecimal number from 0 to 2^64-1"},
		{"allow getpid arg0 == 0x", 1, 5, "0x", "bad number"},
		{"allow getpid arg0 == 18446744073709551616", 1, 5, "18446744073709551616", "bad number"},
		{"allow getpid arg0 == -1", 1, 5, "-1", "bad number"},
		{"allow getpid arg0 == +1", 1, 5, "+1", "bad number"},
		{"allow getpid arg0 == 1_000", 1, 5, "1_000", "bad number"},
		{"allow getpid arg0 == 010", 1, 5, "010", "a leading 0 does not mean octal here"},
		{"allow getpid arg0 &= 0xff", 1, 6, "", "want == here: a masked condition reads argN &= MASK == VALUE"},
		{"allow getpid arg0 &= 0xff != 1", 1, 6, "!=", "want == here"},
		{"allow getpid arg0 &= zz == 1", 1, 5, "zz", "bad number"},
		{"allow getpid arg0 &= 0xff ==", 1, 7, "", "missing value"},
		{"allow getpid arg0 &= 0xff == 0x100", 1, 7, "0x100", "value has bits outside the mask"},
		{"disable now", 1, 2, "now", "disable stands alone on its line"},
		{"allow getpid\n# then\ndisable", 3, 1, "disable", "but line 1 has a rule; remove the rules or this line"},
		{"disable\nallow getpid", 2, 1, "allow", "line 1 disables the filter, so the profile can have no rules"},
		{"allow getpid\n" + strings.Repeat("#", 70000) + "\n", 2, 0, "", "line longer than 64 KiB"},
	}
	for _, tt := range tests {
		_, err := sandbox.ParseSeccompProfile(strings.NewReader(tt.in))
		var pe *sandbox.ProfileError
		if !errors.As(err, &pe) {
			t.Errorf("ParseSeccompProfile(%.40q) = %v; want a *ProfileError", tt.in, err)
			continue
		}
		msg := pe.Error()
		if pe.Line != tt.line || pe.Field != tt.field || pe.Text != tt.text {
			t.Errorf("ParseSeccompProfile(%.40q): line %d, field %d, text %q; want %d, %d, %q (%s)",
				tt.in, pe.Line, pe.Field, pe.Text, tt.line, tt.field, tt.text, msg)
		}
		where := fmt.Sprintf("seccomp profile line %d", tt.line)
		if tt.field > 0 {
			where += fmt.Sprintf(", field %d", tt.field)
		}
		if tt.text != "" {
			where += fmt.Sprintf(" (%q)", tt.text)
		}
		if !strings.HasPrefix(msg, where+": ") || !strings.Contains(msg, tt.reason) {
			t.Errorf("ParseSeccompProfile(%.40q): error %q; want it to start with %q and contain %q", tt.in, msg, where, tt.reason)
		}
	}
}

func TestParseSeccompProfileMessage(t *testing.T) {
	_, err := sandbox.ParseSeccompProfile(strings.NewReader("allow ptrace\n\nkill getppid, fooo\n"))
	want := `seccomp profile line 3, field 3 ("fooo"): unknown system call on this architecture; ` +
		`check the name (e.g. "openat"; some, such as open, exist only on some architectures)`
	if err == nil || err.Error() != want {
		t.Errorf("error %v; want %s", err, want)
	}
}

func TestParseSeccompProfileReadError(t *testing.T) {
	boom := errors.New("boom")
	_, err := sandbox.ParseSeccompProfile(iotest.ErrReader(boom))
	if !errors.Is(err, boom) {
		t.Errorf("error %v; want one that wraps the read error", err)
	}
}

func ExampleParseSeccompProfile() {
	profile := `
# applied over the default profile, in order
allow kcmp                          # compare file descriptors
errno EXDEV getcwd
kill getppid, bpf
errno EAFNOSUPPORT socket arg0 == 2 # no AF_INET sockets
allow personality arg0 &= 0xffffffff == 0
`
	sc, err := sandbox.ParseSeccompProfile(strings.NewReader(profile))
	if err != nil {
		fmt.Println(err)
		return
	}
	// Print it back in the profile format.
	ops := map[sandbox.SeccompOp]string{sandbox.SeccompEqual: "==", sandbox.SeccompNotEqual: "!=",
		sandbox.SeccompLess: "<", sandbox.SeccompLessEqual: "<=", sandbox.SeccompGreater: ">",
		sandbox.SeccompGreaterEqual: ">="}
	for _, r := range sc.Rules {
		line := r.Action.String() + " " + strings.Join(r.Syscalls, ",")
		for _, a := range r.Args {
			if a.Op == sandbox.SeccompMaskedEqual {
				line += fmt.Sprintf(" arg%d &= %#x == %d", a.Index, a.Mask, a.Value)
			} else {
				line += fmt.Sprintf(" arg%d %s %d", a.Index, ops[a.Op], a.Value)
			}
		}
		fmt.Println(line)
	}

	// Run a command under it: realpath needs getcwd.
	cmd := sandbox.Command("realpath", ".")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stdout
	p, err := sandbox.New(sandbox.Options{Seccomp: sc}).Run(cmd)
	if err != nil {
		fmt.Println(err)
		return
	}
	res, _ := p.Wait()
	fmt.Println(res)
	// Output:
	// allow kcmp
	// errno EXDEV getcwd
	// kill getppid,bpf
	// errno EAFNOSUPPORT socket arg0 == 2
	// allow personality arg0 &= 0xffffffff == 0
	// realpath: .: Invalid cross-device link
	// exit status 1
}

func TestSeccompValidation(t *testing.T) {
	requireSandbox(t)
	ok := sandbox.SeccompRule{Syscalls: []string{"getcwd"}, Action: sandbox.SeccompLog}
	for _, tc := range []struct {
		rule  sandbox.SeccompRule
		field string
	}{
		{sandbox.SeccompRule{Syscalls: []string{"no_such_call"}, Action: sandbox.SeccompAllow}, "Syscalls[0]"},
		{sandbox.SeccompRule{Syscalls: []string{"getcwd", "nope"}, Action: sandbox.SeccompAllow}, "Syscalls[1]"},
		{sandbox.SeccompRule{Action: sandbox.SeccompAllow}, "Syscalls"},
		{sandbox.SeccompRule{Syscalls: []string{"getcwd"}, Action: sandbox.SeccompErrno(0)}, "Action"},
		{sandbox.SeccompRule{Syscalls: []string{"getcwd"}, Action: sandbox.SeccompErrno(4096)}, "Action"},
		{sandbox.SeccompRule{Syscalls: []string{"socket"}, Args: []sandbox.SeccompArg{{Index: 7}}}, "Args[0].Index"},
		{sandbox.SeccompRule{Syscalls: []string{"socket"}, Args: []sandbox.SeccompArg{{Op: 99}}}, "Args[0].Op"},
	} {
		_, err := newSandbox(t, sandbox.Options{Seccomp: sandbox.Seccomp{Rules: []sandbox.SeccompRule{ok, tc.rule}}}).Run(sandbox.Command("/bin/true"))
		var oe *sandbox.OptionError
		if want := "Options.Seccomp.Rules[1]." + tc.field; !errors.As(err, &oe) || oe.Field != want {
			t.Errorf("rule %+v: %v, want an *OptionError for %s", tc.rule, err, want)
		}
	}
	if _, _, res := run(t, sandbox.Options{Seccomp: sandbox.Seccomp{Rules: []sandbox.SeccompRule{ok}}}, sandbox.Command("/bin/true")); !res.Success() {
		t.Errorf("valid rule: %v", res)
	}
}
