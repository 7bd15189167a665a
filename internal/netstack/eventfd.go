package netstack

import (
	"reflect"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// StopFDs returns the eventfds fdbased's dispatchers wait on besides the
// link: fdbased never closes them (one per endpoint), so the Stack closes
// them once the link has stopped. It reads the unexported fields by
// reflection, read-only; if gVisor's layout changes it finds none, and the
// leak tests say so.
func StopFDs(link stack.LinkEndpoint) []int {
	v := reflect.ValueOf(link)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	ds := v.Elem().FieldByName("inboundDispatchers")
	if !ds.IsValid() || ds.Kind() != reflect.Slice {
		return nil
	}
	var fds []int
	for i := range ds.Len() {
		d := ds.Index(i)
		for d.Kind() == reflect.Interface || d.Kind() == reflect.Pointer {
			d = d.Elem()
		}
		if d.Kind() != reflect.Struct {
			continue
		}
		s := d.FieldByName("StopFD")
		if !s.IsValid() || s.Kind() != reflect.Struct {
			continue
		}
		if efd := s.FieldByName("EFD"); efd.IsValid() && efd.CanInt() && efd.Int() >= 0 {
			fds = append(fds, int(efd.Int()))
		}
	}
	return fds
}

// CloseFDs closes fds, ignoring errors (they are ours, and unused).
func CloseFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
