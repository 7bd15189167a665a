//go:build !amd64

package sandbox_test

// legacySetidCalls: this architecture has no chmod, mkdir, mknod, creat
// or open, only their *at forms.
var legacySetidCalls []setidCall
