package sandbox

// The default root's /etc.
//
// It is the host's /etc, bound read-only as a whole: toolchains keep their
// configuration there (Debian's OpenJDK in /etc/java-17-openjdk, Python in
// /etc/python3.11) and scripts read /etc/os-release, so a hand-picked list
// of files is never complete. One bind is also cheaper than one per entry
// (/etc holds about 140 on a Debian host).
//
// Hidden in it, each by a mask (isolate.Mask: an unopenable /dev/null over
// a file, an empty read-only tmpfs over a directory):
//   - every entry an unprivileged local user could not read: a file without
//     read permission for others, a directory without read and search
//     permission for others, at any depth (what lies beneath a hidden
//     directory needs no mask of its own). For a caller that is root the
//     sandbox's uid 0 is the host's uid 0, which owns /etc/shadow and the
//     like, so permissions alone would not hide them; for an unprivileged
//     caller they would, and the masks cost nothing more.
//   - etcSecrets, whatever their permissions (a host may have loosened them).
//
// The masks are found when New runs, once per Sandbox (a walk of /etc:
// 1,200 entries, ~900 of them symlinks that need no stat, cost 4 to 5 ms of
// CPU on the 2-core CI machine): a file that
// appears in the host's /etc later without read permission for others is
// not masked in the sandboxes of a Sandbox made before it; for a root
// caller its content is readable there (for an unprivileged caller,
// permissions still protect it). etcSecrets are masked whenever they
// exist when a sandbox is built, so ssh host keys generated later are.
//
// Over the host's files, the sandbox's own (each a file bound read-only
// over the host's, which is never written): passwd and group (root and
// nobody), hostname and hosts (the sandbox's host name), and machine-id (a
// random one per Sandbox, where the host has one: the host's would
// identify the machine to every command).
//
// A symlink in /etc resolves inside the sandbox, as the command would
// resolve it (/etc/os-release -> ../usr/lib/os-release works; one into
// /var does not). resolv.conf and localtime are the exception: where the
// host's leads out of the sandbox's view (systemd-resolved's
// /etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf), the file
// it leads to is bound over the link.
//
// A mount of the caller's at a path the host's /etc lacks (a file bound
// at /etc/myapp.conf) needs a directory that can hold a new mountpoint,
// which a read-only bind cannot. Then /etc, and each directory on the way
// to that path, is a directory of the sandbox's root instead, holding one
// bind (or symlink) per entry of the host's directory: slower to build
// (a mount per entry), with the same entries hidden (simply left out).
// The same happens where the host lacks one of the generated files, and
// where the command keeps CAP_SYS_ADMIN: with it, and the mount calls
// (allowed by the caller's seccomp rules) and no Landlock, it could lift a
// mask, so every directory on the way to a hidden entry or one of
// etcSecrets is expanded, and nothing in /etc lies beneath a mask.

import (
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/corral-dev/corral/internal/paths"
	"github.com/corral-dev/corral/isolate"
	"golang.org/x/sys/unix"
)

// hostEtc is the host directory the default root's /etc shows; tests
// point it at a fixture.
var hostEtc = "/etc"

// etcSecrets are masked in /etc (relative paths) whatever their
// permissions, whenever they exist.
var etcSecrets = []string{
	"shadow", "shadow-", "gshadow", "gshadow-", "sudoers", "sudoers.d", "security/opasswd",
	"ssh/ssh_host_rsa_key", "ssh/ssh_host_dsa_key", "ssh/ssh_host_ecdsa_key", "ssh/ssh_host_ed25519_key",
	"ssl/private", "krb5.keytab",
}

// etcFollowed are the entries of /etc that, where the host's is a symlink
// leading out of the sandbox's view, show the file it leads to.
var etcFollowed = []string{"resolv.conf", "localtime"}

// etcView is what New learned of the host's /etc.
type etcView struct {
	fsys   fs.FS
	exists bool
	masked []string // entries to hide (relative paths), parents before children
}

// scanEtc walks the host's /etc as fsys and finds what to hide.
func scanEtc(fsys fs.FS) *etcView {
	v := &etcView{fsys: fsys}
	st, err := fs.Stat(fsys, ".")
	if err != nil || !st.IsDir() {
		return v
	}
	v.exists = true
	var walk func(dir string)
	walk = func(dir string) {
		entries, err := fs.ReadDir(fsys, dir)
		if err != nil {
			v.masked = append(v.masked, dir) // unreadable: hidden whole
			return
		}
		for _, e := range entries {
			p := path.Join(dir, e.Name())
			if e.Type()&fs.ModeSymlink != 0 {
				continue // resolved inside the sandbox, where the masks are
			}
			info, err := e.Info()
			if err != nil {
				continue // gone meanwhile
			}
			perm := info.Mode().Perm()
			switch {
			case info.IsDir() && perm&0o005 != 0o005:
				v.masked = append(v.masked, p)
			case info.IsDir():
				walk(p)
			case perm&0o004 == 0:
				v.masked = append(v.masked, p)
			}
		}
	}
	walk(".")
	if len(v.masked) > 0 && v.masked[0] == "." {
		v.exists, v.masked = false, nil
	}
	return v
}

// hidden reports whether the entry p (a relative path) is masked or lies
// beneath a masked directory; beneath says it lies strictly beneath.
func (v *etcView) hidden(p string) (at, beneath bool) {
	for _, m := range v.masked {
		if p == m {
			at = true
		} else if paths.Beneath(p, m) {
			beneath = true
		}
	}
	for _, s := range etcSecrets {
		if p == s {
			at = true
		} else if paths.Beneath(p, s) {
			beneath = true
		}
	}
	return at, beneath
}

// lstat returns what the host's /etc holds at p, or nil.
func (v *etcView) lstat(p string) fs.FileInfo {
	if !v.exists {
		return nil
	}
	st, err := fs.Lstat(v.fsys, p)
	if err != nil {
		return nil
	}
	return st
}

// outOfView reports whether the host's entry p, a symlink, leads out of
// what the sandbox shows of the host (its /etc and system directories).
func (v *etcView) outOfView(p string) bool {
	target, err := fs.ReadLink(v.fsys, p)
	if err != nil {
		return false
	}
	if !path.IsAbs(target) {
		target = path.Join("/etc", path.Dir(p), target)
	}
	for _, d := range append([]string{"/etc"}, systemDirs...) {
		if target == d || paths.Beneath(target, d) {
			return false
		}
	}
	return true
}

// etcGenerated returns the files the sandbox has of its own in /etc.
func etcGenerated(hostname string, v *etcView) []isolate.Mount {
	file := func(name, data string) isolate.Mount {
		return isolate.Mount{Kind: isolate.File, Target: "/etc/" + name, Mode: 0o644, Data: data, Optional: true}
	}
	ms := []isolate.Mount{
		file("passwd", "root:x:0:0:root:"+WorkDir+":/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"),
		file("group", "root:x:0:\nnogroup:x:65534:\n"),
		file("hostname", hostname+"\n"),
		file("hosts", "127.0.0.1\tlocalhost "+hostname+"\n::1\tlocalhost ip6-localhost ip6-loopback\n"),
	}
	if v.lstat("machine-id") != nil {
		ms = append(ms, file("machine-id", machineID()+"\n"))
	}
	return ms
}

// machineID returns a random machine id in systemd's format.
func machineID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// planEtc returns the entries of the default root's /etc, given the
// host's (fsys) and the sandbox's host name. A caller's mount at /etc
// replaces them all (see replaceDefaults); one beneath it comes after them.
func (o *Options) planEtc(hostname string, fsys fs.FS) []isolate.Mount {
	etc := isolate.Mount{Kind: isolate.Bind, Source: hostEtc, Target: "/etc", ReadOnly: true}
	for _, m := range o.Mounts {
		if m.Destination == "/etc" {
			return []isolate.Mount{etc} // replaced
		}
	}
	v := scanEtc(fsys)
	gen := etcGenerated(hostname, v)
	if o.Network == NetworkEgress {
		// The host's end of the link answers DNS (egress_link.go).
		gen = append(gen, isolate.Mount{Kind: isolate.File, Target: "/etc/resolv.conf", Mode: 0o644, Data: egressResolvConf, Optional: true})
	}
	// The paths that need a new mountpoint in /etc.
	var missing []string
	if !v.exists {
		missing = append(missing, ".")
	}
	for _, g := range gen {
		if p := strings.TrimPrefix(g.Target, "/etc/"); v.lstat(p) == nil {
			missing = append(missing, p)
		}
	}
	for _, m := range o.Mounts {
		if !paths.Beneath(m.Destination, "/etc") || slices.ContainsFunc(o.Mounts, func(u Mount) bool { return paths.Beneath(m.Destination, u.Destination) }) {
			continue // not in /etc, or in a mount of the caller's
		}
		p := strings.TrimPrefix(m.Destination, "/etc/")
		if _, beneath := v.hidden(p); beneath || v.lstat(p) == nil {
			missing = append(missing, p)
		}
	}
	if o.keepsSysAdmin() {
		// The command could lift a mask (umount), or bind /etc again
		// without them, wherever its filter and Landlock let it: nothing
		// in /etc is masked, each hidden entry is left out of an expanded
		// /etc instead, and so is each of etcSecrets.
		missing = append(missing, v.masked...)
		missing = append(missing, etcSecrets...)
	}
	if len(missing) == 0 {
		ms := []isolate.Mount{etc}
		ms = append(ms, v.masks("")...)
		ms = append(ms, gen...)
		for _, f := range etcFollowed {
			if f == "resolv.conf" && o.Network == NetworkEgress {
				continue // generated
			}
			if st := v.lstat(f); st != nil && st.Mode()&fs.ModeSymlink != 0 && v.outOfView(f) {
				ms = append(ms, isolate.Mount{Kind: isolate.Bind, Source: path.Join(hostEtc, f), Target: "/etc/" + f,
					ReadOnly: true, Optional: true, NoFollow: true})
			}
		}
		return ms
	}
	// Expanded: the directories on the way to the missing paths are the
	// root's own, holding an entry per host entry.
	dirs := map[string]bool{}
	for _, p := range missing {
		for d := path.Dir(p); ; d = path.Dir(d) {
			dirs[d] = true
			if d == "." {
				break
			}
		}
	}
	for i := range gen {
		gen[i].Optional = false // written in the root: nothing to miss
	}
	skip := map[string]bool{}
	for _, g := range gen {
		skip[strings.TrimPrefix(g.Target, "/etc/")] = true
	}
	ms := v.expand(".", dirs, skip)
	return append(ms, gen...)
}

// masks returns the masks of the entries beneath dir ("" for all),
// and of etcSecrets there, which are checked again at each build.
func (v *etcView) masks(dir string) []isolate.Mount {
	var ms []isolate.Mount
	in := func(p string) bool { return dir == "" || paths.Beneath(p, dir) }
	for _, p := range v.masked {
		if in(p) {
			ms = append(ms, isolate.Mount{Kind: isolate.Mask, Target: "/etc/" + p, Optional: true})
		}
	}
	for _, s := range etcSecrets {
		// Not beneath a masked directory, whose mask hides it already.
		if _, beneath := v.hidden(s); in(s) && !beneath && !slices.Contains(v.masked, s) {
			ms = append(ms, isolate.Mount{Kind: isolate.Mask, Target: "/etc/" + s, Optional: true})
		}
	}
	return ms
}

// expand returns the entries that make dir (a relative path) a directory
// of the root with the host's entries in it: the directories in dirs are
// expanded in turn, those in skip left out (generated or mounted later),
// hidden ones left out too.
func (v *etcView) expand(dir string, dirs, skip map[string]bool) []isolate.Mount {
	var ms []isolate.Mount
	if at, beneath := v.hidden(dir); at || beneath || !v.exists {
		return nil
	}
	entries, err := fs.ReadDir(v.fsys, dir)
	if err != nil {
		return nil
	}
	for _, e := range entries {
		p := path.Join(dir, e.Name())
		target := "/etc/" + p
		if at, _ := v.hidden(p); at || skip[p] {
			continue
		}
		if dirs[p] {
			ms = append(ms, v.expand(p, dirs, skip)...)
			continue
		}
		switch t := e.Type(); {
		case t&fs.ModeSymlink != 0 && slices.Contains(etcFollowed, p) && v.outOfView(p):
			ms = append(ms, isolate.Mount{Kind: isolate.Bind, Source: path.Join(hostEtc, p), Target: target, ReadOnly: true, Optional: true})
		case t&fs.ModeSymlink != 0:
			if link, err := fs.ReadLink(v.fsys, p); err == nil {
				ms = append(ms, isolate.Mount{Kind: isolate.Symlink, Target: target, Data: link})
			}
		case t.IsDir() || t.IsRegular():
			ms = append(ms, isolate.Mount{Kind: isolate.Bind, Source: path.Join(hostEtc, p), Target: target, ReadOnly: true, Optional: true})
			if t.IsDir() {
				ms = append(ms, v.masks(p)...)
			}
		}
	}
	return ms
}

// keepsSysAdmin reports whether the command keeps CAP_SYS_ADMIN, which
// lets it unmount and bind in its own mount namespace.
func (o *Options) keepsSysAdmin() bool {
	for _, c := range o.Capabilities {
		if capability(c) == unix.CAP_SYS_ADMIN {
			return true
		}
	}
	return false
}

// etcFS returns the host's /etc as a file system.
func etcFS() fs.FS { return os.DirFS(hostEtc) }
