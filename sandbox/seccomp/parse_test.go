package seccomp_test

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"testing/iotest"

	"github.com/corral-dev/corral/sandbox/seccomp"
)

func TestParseProfile(t *testing.T) {
	tests := []struct {
		name, in string
		want     seccomp.Profile
	}{
		{"empty", "", seccomp.Profile{}},
		{"comments and blank lines", "# nothing\n\n   \t\n  # indented\n", seccomp.Profile{}},
		{"disable", "# off\ndisable # for gdb\n", seccomp.Profile{Disabled: true}},
		{"disable twice", "disable\ndisable\n", seccomp.Profile{Disabled: true}},
		{"no final newline", "allow ptrace", seccomp.Profile{Rules: []seccomp.Rule{
			{Syscalls: []string{"ptrace"}, Action: seccomp.Allow}}}},
		{"the documented example", `
# applied over the default profile, in order
allow ptrace
errno EXDEV getcwd                      # errno takes a name (EPERM, EXDEV, ...) or a number 1-4095
kill getppid, bpf                       # several syscalls: comma-separated
log openat
errno EAFNOSUPPORT socket arg0 == 2     # conditions: argN OP VALUE
allow personality arg0 &= 0xffffffff == 0
`, seccomp.Profile{Rules: []seccomp.Rule{
			{Syscalls: []string{"ptrace"}, Action: seccomp.Allow},
			{Syscalls: []string{"getcwd"}, Action: seccomp.Errno(syscall.EXDEV)},
			{Syscalls: []string{"getppid", "bpf"}, Action: seccomp.Kill},
			{Syscalls: []string{"openat"}, Action: seccomp.Log},
			{Syscalls: []string{"socket"}, Action: seccomp.Errno(syscall.EAFNOSUPPORT),
				Args: []seccomp.Arg{{Index: 0, Op: seccomp.Equal, Value: 2}}},
			{Syscalls: []string{"personality"}, Action: seccomp.Allow,
				Args: []seccomp.Arg{{Index: 0, Op: seccomp.MaskedEqual, Mask: 0xffffffff, Value: 0}}},
		}}},
		{"every operator and argument", "allow mmap arg0 == 0 arg1 != 0x10 arg2 < 3 arg3 <= 0XfF arg4 > 18446744073709551615 arg5 >= 0\n" +
			"allow ioctl arg1 &= 0xff00 == 0x5400\n", seccomp.Profile{Rules: []seccomp.Rule{
			{Syscalls: []string{"mmap"}, Action: seccomp.Allow, Args: []seccomp.Arg{
				{Index: 0, Op: seccomp.Equal, Value: 0},
				{Index: 1, Op: seccomp.NotEqual, Value: 0x10},
				{Index: 2, Op: seccomp.Less, Value: 3},
				{Index: 3, Op: seccomp.LessEqual, Value: 0xff},
				{Index: 4, Op: seccomp.Greater, Value: 1<<64 - 1},
				{Index: 5, Op: seccomp.GreaterEqual, Value: 0},
			}},
			{Syscalls: []string{"ioctl"}, Action: seccomp.Allow, Args: []seccomp.Arg{
				{Index: 1, Op: seccomp.MaskedEqual, Mask: 0xff00, Value: 0x5400}}},
		}}},
		{"errno numbers, aliases and case", "errno 18 getcwd\nerrno 0x1 getpid\nerrno 4094 getppid\n" +
			"errno eperm getuid\nerrno EWOULDBLOCK getgid\nerrno ENOTSUP geteuid\nALLOW getegid\n",
			seccomp.Profile{Rules: []seccomp.Rule{
				{Syscalls: []string{"getcwd"}, Action: seccomp.Errno(syscall.EXDEV)},
				{Syscalls: []string{"getpid"}, Action: seccomp.Errno(syscall.EPERM)},
				{Syscalls: []string{"getppid"}, Action: seccomp.Errno(4094)},
				{Syscalls: []string{"getuid"}, Action: seccomp.Errno(syscall.EPERM)},
				{Syscalls: []string{"getgid"}, Action: seccomp.Errno(syscall.EAGAIN)},
				{Syscalls: []string{"geteuid"}, Action: seccomp.Errno(syscall.EOPNOTSUPP)},
				{Syscalls: []string{"getegid"}, Action: seccomp.Allow},
			}}},
		{"comma spacing", "kill getpid,getppid\nkill getpid , getppid\nkill getpid ,getppid,\tgetuid arg0 == 1\n",
			seccomp.Profile{Rules: []seccomp.Rule{
				{Syscalls: []string{"getpid", "getppid"}, Action: seccomp.Kill},
				{Syscalls: []string{"getpid", "getppid"}, Action: seccomp.Kill},
				{Syscalls: []string{"getpid", "getppid", "getuid"}, Action: seccomp.Kill,
					Args: []seccomp.Arg{{Index: 0, Op: seccomp.Equal, Value: 1}}},
			}}},
		{"tabs and a comment glued to a word", "\tallow\tptrace#why\n", seccomp.Profile{Rules: []seccomp.Rule{
			{Syscalls: []string{"ptrace"}, Action: seccomp.Allow}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := seccomp.ParseProfile(strings.NewReader(tt.in))
			if err != nil {
				t.Fatalf("ParseProfile(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseProfile(%q)\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
			// The validation and the filter compiler take what the parser
			// gives (package sandbox runs both before anything starts).
			if err := got.Validate(); err != nil {
				t.Errorf("Validate of %+v: %v", got, err)
			}
			if _, err := got.Compile(nil); err != nil {
				t.Errorf("Compile of %+v: %v", got, err)
			}
		})
	}
}

func TestParseProfileErrors(t *testing.T) {
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
		_, err := seccomp.ParseProfile(strings.NewReader(tt.in))
		var pe *seccomp.ProfileError
		if !errors.As(err, &pe) {
			t.Errorf("ParseProfile(%.40q) = %v; want a *ProfileError", tt.in, err)
			continue
		}
		msg := pe.Error()
		if pe.Line != tt.line || pe.Field != tt.field || pe.Text != tt.text {
			t.Errorf("ParseProfile(%.40q): line %d, field %d, text %q; want %d, %d, %q (%s)",
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
			t.Errorf("ParseProfile(%.40q): error %q; want it to start with %q and contain %q", tt.in, msg, where, tt.reason)
		}
	}
}

func TestParseProfileMessage(t *testing.T) {
	_, err := seccomp.ParseProfile(strings.NewReader("allow ptrace\n\nkill getppid, fooo\n"))
	want := `seccomp profile line 3, field 3 ("fooo"): unknown system call on this architecture; ` +
		`check the name (e.g. "openat"; some, such as open, exist only on some architectures)`
	if err == nil || err.Error() != want {
		t.Errorf("error %v; want %s", err, want)
	}
}

func TestParseProfileReadError(t *testing.T) {
	boom := errors.New("boom")
	_, err := seccomp.ParseProfile(iotest.ErrReader(boom))
	if !errors.Is(err, boom) {
		t.Errorf("error %v; want one that wraps the read error", err)
	}
}

func TestValidate(t *testing.T) {
	ok := seccomp.Rule{Syscalls: []string{"getcwd"}, Action: seccomp.Log}
	for _, tc := range []struct {
		rule  seccomp.Rule
		field string
	}{
		{seccomp.Rule{Syscalls: []string{"no_such_call"}, Action: seccomp.Allow}, "Syscalls[0]"},
		{seccomp.Rule{Syscalls: []string{"getcwd", "nope"}, Action: seccomp.Allow}, "Syscalls[1]"},
		{seccomp.Rule{Action: seccomp.Allow}, "Syscalls"},
		{seccomp.Rule{Syscalls: []string{"getcwd"}, Action: seccomp.Errno(0)}, "Action"},
		{seccomp.Rule{Syscalls: []string{"getcwd"}, Action: seccomp.Errno(4096)}, "Action"},
		{seccomp.Rule{Syscalls: []string{"socket"}, Args: []seccomp.Arg{{Index: 7}}}, "Args[0].Index"},
		{seccomp.Rule{Syscalls: []string{"socket"}, Args: []seccomp.Arg{{Op: 99}}}, "Args[0].Op"},
	} {
		err := seccomp.Profile{Rules: []seccomp.Rule{ok, tc.rule}}.Validate()
		var re *seccomp.RuleError
		if !errors.As(err, &re) || re.Rule != 1 || re.Field != tc.field || re.Reason == "" {
			t.Errorf("rule %+v: %v, want a *RuleError for Rules[1].%s", tc.rule, err, tc.field)
		}
	}
	if err := (seccomp.Profile{Rules: []seccomp.Rule{ok}}).Validate(); err != nil {
		t.Errorf("valid rule: %v", err)
	}
}

func TestRefuses(t *testing.T) {
	p := seccomp.Profile{Rules: []seccomp.Rule{
		{Syscalls: []string{"unshare"}, Action: seccomp.Log},
		{Syscalls: []string{"getpid"}, Action: seccomp.Allow},
		{Syscalls: []string{"setns", "unshare"}, Action: seccomp.Errno(syscall.EPERM)},
		{Syscalls: []string{"unshare"}, Action: seccomp.Kill},
	}}
	if i, ok := p.Refuses("unshare"); i != 2 || !ok {
		t.Errorf("Refuses(unshare) = %d, %t; want 2, true", i, ok)
	}
	if i, ok := p.Refuses("getpid"); i != -1 || ok {
		t.Errorf("Refuses(getpid) = %d, %t; want -1, false", i, ok)
	}
}

func TestCompile(t *testing.T) {
	if f, err := (seccomp.Profile{Disabled: true}).Compile(nil); f != nil || err != nil {
		t.Errorf("Disabled: Compile = %d bytes, %v; want nil, nil", len(f), err)
	}
	def, err := seccomp.Profile{}.Compile(nil)
	if err != nil || len(def) == 0 || len(def)%8 != 0 {
		t.Fatalf("default: Compile = %d bytes, %v; want a sock_filter array", len(def), err)
	}
	more, err := seccomp.Profile{Rules: []seccomp.Rule{{Syscalls: []string{"getcwd"}, Action: seccomp.Errno(syscall.EXDEV)}}}.Compile(nil)
	if err != nil || bytes.Equal(more, def) {
		t.Errorf("with a rule: Compile = %d bytes, %v; want a filter other than the default's", len(more), err)
	}
}
