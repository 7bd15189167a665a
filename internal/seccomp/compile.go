package seccomp

import (
	"errors"
	"fmt"
	"io"
	"os"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// maxSyscall bounds the syscall numbers looked up in the compiler's table.
const maxSyscall = 1024

// Known reports whether name is a system call of this architecture, as
// the filter compiler knows them.
func Known(name string) bool {
	_, err := libseccomp.GetSyscallFromName(name)
	return err == nil
}

// Compile merges the layers (a later layer's rules for a call replace an
// earlier layer's; within a layer they add up) and compiles them for the
// native architecture alone: calls of other ABIs (i386 and x32 on x86_64)
// kill the process. Calls no rule allows fail with EPERM, and calls newer
// than the compiler knows with ENOSYS, so that libraries fall back. Names
// the compiler does not know are skipped in the default layers and an
// error in strict ones (the caller's). It returns the BPF program.
func Compile(layers [][]Rule, strict []bool) ([]byte, error) {
	return compile(layers, strict, true)
}

// compile is Compile; without usePrologue, with the unknown numbers as
// rules (what the prologue replaces; the tests compare the two).
func compile(layers [][]Rule, strict []bool, usePrologue bool) ([]byte, error) {
	byName := map[string][]Rule{}
	var order []string
	for li, layer := range layers {
		replaced := map[string]bool{}
		for _, r := range layer {
			for _, n := range r.Names {
				if !Known(n) {
					if li < len(strict) && strict[li] {
						return nil, fmt.Errorf("seccomp: unknown system call %q", n)
					}
					continue
				}
				if _, seen := byName[n]; !seen {
					order = append(order, n)
				}
				if !replaced[n] {
					byName[n], replaced[n] = nil, true
				}
				byName[n] = append(byName[n], Rule{Names: []string{n}, Action: r.Action, Args: r.Args})
			}
		}
	}
	// The filter's default is EPERM, also for a known call that matches none
	// of its conditional rules; the numbers the compiler does not know (calls
	// newer than it) get ENOSYS, so libraries fall back. Rules whose action
	// is the default are left out: libseccomp refuses them.
	f, err := libseccomp.NewFilter(libseccomp.ActErrno.SetReturnCode(int16(unix.EPERM)))
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	defer f.Release()
	if err := f.SetBadArchAction(libseccomp.ActKillProcess); err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	if err := f.SetNoNewPrivsBit(false); err != nil { // the init sets it itself
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	if err := f.SetOptimize(2); err != nil { // a binary tree, not a list, of syscall numbers
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	// Numbers the compiler does not know get ENOSYS: from the prologue
	// (prologue.go), or where it cannot be used, one rule each.
	var pro []bpf.RawInstruction
	if arch := nativeArch(); arch != 0 && usePrologue {
		pro, err = prologue(arch, holes(knownNumber, maxSyscall))
		if err != nil && !errors.Is(err, errTooManyHoles) {
			return nil, err
		}
	}
	for nr := uint32(0); pro == nil && nr < maxSyscall; nr++ {
		if !knownNumber(nr) {
			if err := f.AddRule(libseccomp.ScmpSyscall(nr), libseccomp.ActErrno.SetReturnCode(int16(unix.ENOSYS))); err != nil {
				return nil, fmt.Errorf("seccomp: %d: %w", nr, err)
			}
		}
	}
	for _, n := range order {
		sc, _ := libseccomp.GetSyscallFromName(n)
		for _, r := range byName[n] {
			if r.Action == (Action{Kind: Errno, Errno: unix.EPERM}) {
				continue // the filter's default
			}
			if err := addRule(f, sc, r); err != nil {
				return nil, fmt.Errorf("seccomp: %s: %w", n, err)
			}
		}
	}
	prog, err := export(f)
	if err != nil {
		return nil, err
	}
	return append(encode(pro), prog...), nil
}

// knownNumber reports whether the compiler knows nr on this architecture.
func knownNumber(nr uint32) bool {
	_, err := libseccomp.ScmpSyscall(nr).GetName()
	return err == nil
}

func addRule(f *libseccomp.ScmpFilter, sc libseccomp.ScmpSyscall, r Rule) error {
	var act libseccomp.ScmpAction
	switch r.Action.Kind {
	case Allow:
		act = libseccomp.ActAllow
	case Errno:
		act = libseccomp.ActErrno.SetReturnCode(int16(r.Action.Errno))
	case Kill:
		act = libseccomp.ActKillProcess
	case Log:
		act = libseccomp.ActLog
	default:
		return fmt.Errorf("unknown action %v", r.Action)
	}
	if len(r.Args) == 0 {
		return f.AddRule(sc, act)
	}
	var conds []libseccomp.ScmpCondition
	for _, a := range r.Args {
		var c libseccomp.ScmpCondition
		var err error
		if a.Op == MaskedEqual {
			c, err = libseccomp.MakeCondition(a.Index, libseccomp.CompareMaskedEqual, a.Mask, a.Value)
		} else {
			c, err = libseccomp.MakeCondition(a.Index, ops[a.Op], a.Value)
		}
		if err != nil {
			return err
		}
		conds = append(conds, c)
	}
	return f.AddRuleConditional(sc, act, conds)
}

var ops = map[Op]libseccomp.ScmpCompareOp{
	Equal: libseccomp.CompareEqual, NotEqual: libseccomp.CompareNotEqual,
	Less: libseccomp.CompareLess, LessEqual: libseccomp.CompareLessOrEqual,
	Greater: libseccomp.CompareGreater, GreaterEqual: libseccomp.CompareGreaterEqual,
}

// export returns the filter as a BPF program (struct sock_filter array).
func export(f *libseccomp.ScmpFilter) ([]byte, error) {
	fd, err := unix.MemfdCreate("corral-seccomp", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("seccomp: memfd: %w", err)
	}
	file := os.NewFile(uintptr(fd), "corral-seccomp")
	defer file.Close()
	if err := f.ExportBPF(file); err != nil {
		return nil, fmt.Errorf("seccomp: export: %w", err)
	}
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(file)
	if err == nil && (len(b) == 0 || len(b)%8 != 0) {
		err = errors.New("seccomp: export: not a BPF program")
	}
	return b, err
}

func errnoName(e unix.Errno) string {
	if n := unix.ErrnoName(e); n != "" {
		return n
	}
	return e.Error()
}
