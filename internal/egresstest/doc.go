// Package egresstest holds the end-to-end tests of NetworkEgress: real
// programs (curl, python3) in real sandboxes whose network is an
// egress.Policy of the test process, against test servers on the host's
// loopback (the Policy's Dial maps allowed names to them). It has no
// code of its own; the tests run as root and as an unprivileged user.
package egresstest
