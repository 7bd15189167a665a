package adversarial

// Escape cases: the network and IPC (loopback, unix sockets, D-Bus, SysV
// shared memory, keyrings).

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var escNetCases = []escapeCase{
	// The network: the sandbox's loopback is its own, and so are abstract
	// unix sockets; pathname sockets, D-Bus included, are not mounted.
	{name: "host-loopback-tcp", victim: escDialEach, test: func(t *testing.T, name string) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		accepted := escListener(t, ln)
		escWant(t, escAttack(t, name, escRun{args: []string{"tcp", ln.Addr().String()}}), "ECONNREFUSED")
		if n := accepted.Load(); n != 0 {
			t.Errorf("the host's loopback listener accepted %d connections", n)
		}
	}},
	{name: "host-abstract-socket", victim: escDialEach, test: func(t *testing.T, name string) {
		addr := fmt.Sprintf("@corral-escape-%d", os.Getpid())
		ln, err := net.Listen("unix", addr)
		if err != nil {
			t.Fatal(err)
		}
		accepted := escListener(t, ln)
		escWant(t, escAttack(t, name, escRun{args: []string{"unix", addr}}), "ECONNREFUSED")
		if n := accepted.Load(); n != 0 {
			t.Errorf("the host's abstract socket accepted %d connections", n)
		}
	}},
	{name: "host-unix-socket", victim: escDialEach, test: func(t *testing.T, name string) {
		addr := filepath.Join(t.TempDir(), "sock")
		ln, err := net.Listen("unix", addr)
		if err != nil {
			t.Fatal(err)
		}
		accepted := escListener(t, ln)
		escWant(t, escAttack(t, name, escRun{args: []string{"unix", addr}}), "ENOENT")
		if n := accepted.Load(); n != 0 {
			t.Errorf("the host's unix socket accepted %d connections", n)
		}
	}},
	{name: "host-dbus", victim: escDialEach, test: func(t *testing.T, name string) {
		const bus = "/run/dbus/system_bus_socket"
		if st, err := os.Stat(bus); err != nil || st.Mode()&os.ModeSocket == 0 {
			t.Skip("the host has no D-Bus system bus at " + bus)
		}
		escWant(t, escAttack(t, name, escRun{args: []string{"unix", bus}}), "ENOENT")
	}},
	{name: "host-interfaces", victim: func([]string) int {
		ifs, err := net.Interfaces()
		if err != nil {
			return escReport(escErr(err))
		}
		var names []string
		for _, i := range ifs {
			names = append(names, i.Name)
		}
		return escReport(strings.Join(names, "+"))
	}, test: func(t *testing.T, name string) {
		if ifs, _ := net.Interfaces(); len(ifs) < 2 {
			t.Skip("the host has no network interface but loopback")
		}
		escWant(t, escAttack(t, name, escRun{}), "lo")
	}},
	// SysV IPC is per IPC namespace: the host's segment is neither found by
	// its key nor attached by its id.
	{name: "host-sysv-shm", victim: func(args []string) int {
		key, _ := strconv.Atoi(args[0])
		id, _ := strconv.Atoi(args[1])
		_, e1 := unix.SysvShmGet(key, 0, 0)
		_, e2 := unix.SysvShmAttach(id, 0, unix.SHM_RDONLY)
		return escReport(escErr(e1), escErr(e2))
	}, test: func(t *testing.T, name string) {
		key := 0x43520000 | os.Getpid()&0xffff
		id, err := unix.SysvShmGet(key, 4096, unix.IPC_CREAT|unix.IPC_EXCL|0o666)
		if err != nil {
			t.Skipf("the host has no SysV shared memory: %v", err)
		}
		defer unix.SysvShmCtl(id, unix.IPC_RMID, nil)
		escWant(t, escAttack(t, name, escRun{args: []string{strconv.Itoa(key), strconv.Itoa(id)}}), "ENOENT,EINVAL")
	}},
	// The kernel keyrings are shared by a user's processes; the filter
	// refuses every keyring call, so a host key cannot be read by its id.
	{name: "host-keyring", victim: func(args []string) int {
		id, _ := strconv.Atoi(args[0])
		buf := make([]byte, 64)
		_, e1 := unix.KeyctlBuffer(unix.KEYCTL_READ, id, buf, 0)
		_, e2 := unix.KeyctlString(unix.KEYCTL_DESCRIBE, id)
		_, e3 := unix.RequestKey("user", args[1], "", unix.KEY_SPEC_PROCESS_KEYRING)
		return escReport(escErr(e1), escErr(e2), escErr(e3))
	}, test: func(t *testing.T, name string) {
		desc := fmt.Sprintf("corral-escape-%d", os.Getpid())
		id, err := unix.AddKey("user", desc, []byte("host secret"), unix.KEY_SPEC_PROCESS_KEYRING)
		if err != nil {
			t.Skipf("the host has no kernel keyrings: %v", err)
		}
		defer unix.KeyctlInt(unix.KEYCTL_INVALIDATE, id, 0, 0, 0)
		escWant(t, escAttack(t, name, escRun{args: []string{strconv.Itoa(id), desc}}), "EPERM,EPERM,EPERM")
	}},
}

// escDialEach is a victim that dials args[0] (a network) at each address after it.
func escDialEach(args []string) int {
	var r []string
	for _, a := range args[1:] {
		c, err := net.DialTimeout(args[0], a, time.Second)
		if err == nil {
			c.Close()
			r = append(r, "CONNECTED")
			continue
		}
		r = append(r, escErr(err))
	}
	return escReport(r...)
}
