package sandbox

import (
	"io"
	"os"
	"os/exec"
)

// Cmd is a command to run in a sandbox. Its fields mean what they mean in
// os/exec.Cmd, with two differences that make the sandbox strict by default:
// a nil Env gives the command a login's environment (see Env), not the
// host's, and Path is looked up inside the sandbox when it has no slash.
//
// # What a command can do with a host file it is given
//
// An *os.File in Stdin, Stdout, Stderr or ExtraFiles is passed as it is,
// as os/exec passes it: the command holds the same open file as the
// caller, not a copy. It can then do whatever the kernel lets any holder
// of that file do:
//   - read and write its data as the open mode allows, at the shared
//     offset (a seek moves the caller's offset too), and change the shared
//     status flags (O_APPEND, O_NONBLOCK: a terminal or pipe left
//     non-blocking affects the caller);
//   - truncate or allocate it when it is open for writing;
//   - lock it (flock, fcntl locks), which can make the caller's programs
//     wait;
//   - when the caller owns the file (the command's uid 0 is the caller's
//     uid): change its mode (the default seccomp profile refuses set-uid
//     and set-gid bits), its times, its group to the caller's group, its
//     POSIX ACLs and inode flags; and set user extended attributes when the
//     caller may write it;
//   - reopen it by its path in /proc/self/fd (which /dev/stdin,
//     /dev/stdout and /dev/stderr name) with the access the fd has:
//     where Landlock is on, each command's Landlock domain, made as it
//     starts, has a rule for each regular file or device passed to it
//     that grants reading for an fd open for reading, writing and
//     truncating for one open for writing, device ioctls on a device, and
//     nothing for an O_PATH fd (rules on one file add up, and O_APPEND is
//     not told apart: its holder can truncate and write anyway); where
//     Landlock is off or missing, with any mode the file's permissions
//     give the caller. Landlock does not judge files on the kernel's own
//     mounts (a memfd): those reopen as their permissions allow, so a
//     memfd passed read-only reopens for writing unless it is sealed
//     (F_SEAL_WRITE);
//   - on a terminal: change its modes and window size (TIOCSTI and
//     TIOCLINUX are refused; the command is in a session of its own and
//     cannot take it as its controlling terminal while another session
//     has it);
//   - on a socket: send, receive and shut it down.
//
// Corral keeps os/exec's way on purpose: callers pass sockets, pipes and
// files for what they are (a plugin's channel, seekable input, a file the
// command fills), which a copy would lose. So pass a file only to a
// command you would trust with those changes. To
// give the command data and nothing else, pass an io.Reader or io.Writer
// that is not an *os.File (wrapping os.Stdin in a struct is enough): the
// command then gets a pipe, and the file stays the caller's. Under
// Limits.Output that is what Stdin, Stdout and Stderr get anyway.
//
// A directory is refused (an *OptionError): its fd would open the host's
// file tree around it (openat(fd, "..")) whatever the mounts say, stopped
// only by Landlock where it is on; bind the directory instead.
type Cmd struct {
	// Path is the program to run: an absolute path inside the sandbox, or a
	// name looked up in the PATH of Env (default isolate.DefaultPath).
	//
	// With Options.Image, Path may be empty, and the image's configuration
	// applies as docker run applies it: an empty Path and empty Args run
	// the image's Entrypoint followed by its Cmd; an empty Path with Args
	// runs the Entrypoint followed by Args (docker run IMAGE ARGS...: Args
	// holds no program name unless the image has no Entrypoint); a Path
	// runs that program with Args as usual (docker run --entrypoint). With
	// no Entrypoint, no Cmd and no Path, Run returns an *OptionError for
	// Cmd.Path. The program is looked up in the PATH of the final
	// environment: the image's Env, with Env's entries in place of those
	// of the same key, then the login defaults below for keys still
	// missing. Dir defaults to the image's WorkingDir (made, empty, when
	// the image lacks it, as container runtimes do; not a Dir of the
	// Cmd's), then /work. The command still runs as uid 0 inside (the
	// sandbox maps one id: the caller's), whatever the image's User says;
	// but when the image's /etc/passwd has an entry for User (a name or
	// uid), HOME, USER and LOGNAME default to that entry's home and name
	// (HOME stays /work under Options.Reuse, whose root is read-only), and
	// LANG=C.UTF-8 is set by default where the image has that locale.
	Path string
	// Args holds the arguments, including the program name as Args[0].
	// Empty means []string{Path}. (With Options.Image and no Path, see
	// Path.)
	Args []string
	// Env is the environment, as KEY=value strings. Nothing of the
	// caller's environment is passed. To it, nil or not, the variables a
	// login sets (login, su -, systemd's User=) are added when it lacks
	// them: PATH=isolate.DefaultPath, HOME=/work (WorkDir: the home the
	// generated /etc/passwd gives root, and the sandbox's writable
	// directory, also with an Options.Root whose own passwd names another
	// home, since the image is read-only), USER=root and LOGNAME=root (the
	// command is uid 0 inside), and LANG=C.UTF-8 where the sandbox's
	// /usr/lib/locale has that locale (glibc's; elsewhere setting it would
	// make programs warn). A variable Env sets, even to "", is left as it
	// is. SHELL, TERM and the rest are not set: programs fall back to
	// /bin/sh and a dumb terminal.
	Env []string
	// Dir is the working directory inside the sandbox; empty means /work.
	Dir string
	// Stdin, Stdout and Stderr are the command's standard streams. As in
	// os/exec, nil means the null device, an *os.File is passed as it is,
	// and anything else is copied through a pipe. Under Limits.Output, both
	// outputs and an *os.File Stdin are copied through pipes as well.
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// ExtraFiles are passed to the command as fds 3, 4, ... No other fd of
	// the host reaches the sandbox.
	ExtraFiles []*os.File

	// CopyIn, when not nil, is a tar stream (archive/tar) extracted into the
	// sandbox before the command starts, beneath Dir (default /work), as
	// the sandbox's uid 0: the entries' owners are ignored, their modes
	// keep the permission bits only. Every name resolves beneath Dir
	// through no symlink and no mount point (isolate.ExtractTar), so no
	// entry reaches a file outside Dir's mount: ".." and absolute names are
	// refused, a symlink entry is created as it is and never followed,
	// devices and fifos are refused. The files are bounded by the mount's
	// size (Tmpfs with a Size). A failure ends the run before the command
	// starts: Start returns a *SetupError whose Step is "Cmd.CopyIn" and
	// whose Path names the entry (errors.Is(err, syscall.ENOSPC) for a full
	// mount). With Options.Reuse, the reset between runs empties what the
	// run left, copies included.
	CopyIn io.Reader
	// CopyOut names files and directories beneath Dir to archive once the
	// command's processes are all dead, before Wait returns: the tar stream
	// goes to CopyOutTo. Names resolve as CopyIn's do, and are read
	// without following any symlink (one is stored as a symlink) and
	// without opening anything but regular files and directories (a fifo,
	// socket or device fails the copy): what the command planted cannot
	// point the copy at another file. A failure does not fail the run: Wait
	// returns its Result with a *SetupError whose Step is "Cmd.CopyOut" and
	// whose Path names the entry; the stream is then cut short.
	CopyOut []string
	// CopyOutTo receives the tar stream of CopyOut; it is required with
	// CopyOut.
	CopyOutTo io.Writer
	// TTY, when set, gives the command a terminal of the sandbox's own as
	// its stdin, stdout and stderr (see TTY): Stdin is copied to it and
	// its output to Stdout; Stderr must be nil.
	TTY *TTY
}

// Command returns a Cmd that runs name with the given arguments.
func Command(name string, arg ...string) *Cmd {
	return &Cmd{Path: name, Args: append([]string{name}, arg...)}
}

// FromExec converts an *exec.Cmd (as hashicorp/go-plugin and others build
// them) to a Cmd. Its SysProcAttr, Cancel and WaitDelay are ignored: the
// sandbox decides those. A nil Env does not inherit the host's environment:
// the command gets the defaults Cmd.Env describes, as with any Env.
func FromExec(c *exec.Cmd) *Cmd {
	return &Cmd{
		Path:       c.Path,
		Args:       c.Args,
		Env:        c.Env,
		Dir:        c.Dir,
		Stdin:      c.Stdin,
		Stdout:     c.Stdout,
		Stderr:     c.Stderr,
		ExtraFiles: c.ExtraFiles,
	}
}
