package sandbox

// SocketDir returns the mount that is the sandbox's channel to the host: the
// host directory dir, bound writable into the sandbox at the same path, for
// unix sockets that the host and the command both reach. Either side may
// listen on a socket in dir and the other connect to it, and since the path
// is the same on both sides, a socket path one side prints (go-plugin's
// handshake line carries one) works as it is on the other.
//
// Pathname sockets work across the sandbox's own network namespace (a unix
// socket is a file, found by its path, not by a network); abstract sockets
// (a name starting with a NUL byte) belong to a network namespace, so the
// host's are out of the sandbox's reach, and the sandbox's out of the host's.
//
// The bind is an ordinary writable one: under Landlock the directory gets
// every right of a writable mount, not only the one to make a socket
// (LANDLOCK_ACCESS_FS_MAKE_SOCK), because the common user needs more:
// go-plugin's server makes a temporary file in the directory to choose the
// socket's name, removes it, binds the socket there and removes the socket
// when it closes. Nothing else of the host becomes visible. Give each
// sandbox a directory of its own that holds nothing else (os.MkdirTemp):
// whatever the directory holds can be read, written and replaced from
// inside, and, when the caller is root, with the host root's rights there
// (see the security notes of the README).
//
// A socket's path must fit in the 107 bytes of a unix socket address
// (binding a longer one fails with EINVAL): keep dir short, as
// os.MkdirTemp("", ...) under a short TMPDIR is.
//
// To connect to a socket of the host's, and never listen, a read-only Bind
// of its directory is enough: the kernel lets a read-only mount's sockets
// be connected to.
//
// Passing a connected socket as one of Cmd.ExtraFiles (one end of a
// socketpair) is the other way to talk to the host: it needs no directory.
func SocketDir(dir string) Mount {
	return BindWritable(dir, dir)
}
