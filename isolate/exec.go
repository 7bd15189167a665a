package isolate

import (
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// DefaultPath is the PATH used to find a command when its environment has none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// LookPath finds file the way a shell would, using the PATH in env (or
// DefaultPath). A name with a slash is used as it is. The error wraps
// ENOENT when nothing is found and EACCES when only non-executable files are.
func LookPath(file string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil
	}
	path := DefaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	errno := unix.ENOENT
	for _, dir := range strings.Split(path, ":") {
		if dir == "" {
			dir = "."
		}
		p := dir + "/" + file
		st, err := os.Stat(p)
		if err != nil {
			continue
		}
		if st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
		errno = unix.EACCES
	}
	return "", &Error{Step: "exec", Path: file, Err: errno}
}

// Start forks and executes path in a new session, with the given
// environment, working directory and files (fd i of the command is files[i]).
// Privileges dropped on the calling thread are inherited; no other fd is.
func Start(path string, argv, env []string, dir string, files []uintptr) (int, error) {
	if dir != "" {
		st, err := os.Stat(dir)
		if err != nil {
			return 0, &Error{Step: "chdir", Path: dir, Err: unwrapErrno(err)}
		}
		if !st.IsDir() {
			return 0, &Error{Step: "chdir", Path: dir, Err: unix.ENOTDIR}
		}
	}
	pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{
		Dir:   dir,
		Env:   env,
		Files: files,
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		return 0, &Error{Step: "exec", Path: path, Err: err}
	}
	return pid, nil
}

func unwrapErrno(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
