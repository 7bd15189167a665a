package pid1

// What a reused sandbox (Spec.Reuse) is reset to between runs.

import (
	"bytes"
	"errors"
	"os"

	"github.com/corral-dev/corral/isolate"
)

// builtState is a reusable sandbox as it was built: its mount table,
// what its writable tmpfs mounts held, and the state of the init that a
// command could change and later commands would inherit.
type builtState struct {
	mountinfo []byte
	tmpfs     []isolate.Mount
	trees     []*isolate.Tree
	inherited *isolate.Inherited
}

// recordBuilt notes, for a reused sandbox, the state of the sandbox just
// built, with the scheduling state of the launcher thread (read by its id,
// from an unconfined thread).
func (s *state) recordBuilt() error {
	if !s.spec.Reuse {
		return nil
	}
	b := &builtState{}
	var err error
	if b.inherited, err = isolate.RecordInherited(s.launcher.tid); err != nil {
		return err
	}
	for _, m := range s.mounts {
		// The devpts instance too: its root's mode and times, and ptmx's.
		if m.Kind != isolate.Tmpfs && m.Kind != isolate.Devpts || m.ReadOnly {
			continue
		}
		t, err := isolate.Record(m.Target)
		if err != nil {
			return err
		}
		t.Private = true // a filesystem of its own
		b.tmpfs, b.trees = append(b.tmpfs, m), append(b.trees, t)
	}
	if b.mountinfo, err = os.ReadFile("/proc/self/mountinfo"); err != nil {
		return err
	}
	s.built = b
	return nil
}

// reset returns a reused sandbox whose run has ended to the state it was
// built in (builtState.reset). The reset walks the tmpfs mounts, which the
// launcher's confinement may keep from it: another, unconfined, thread
// does it.
func (s *state) reset() error {
	return onOtherThread(func() error { return s.built.reset(s.applied) })
}

// reset returns a sandbox whose run has ended to the state it was built
// in: the init's inherited state as recorded (but for the limits in
// applied, which the launcher set on the init itself for the commands),
// its writable tmpfs mounts emptied but for what they held then, and its
// mount table unchanged; or it fails, and the sandbox is not reused.
// It reads the launcher thread's state by its id: it runs on another
// thread, which Landlock does not confine.
func (b *builtState) reset(applied []isolate.Rlimit) error {
	if err := b.inherited.Restore(applied); err != nil {
		return err
	}
	for i, m := range b.tmpfs {
		if err := isolate.Clear(m.Target, b.trees[i]); err != nil {
			return err
		}
	}
	now, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	if !bytes.Equal(now, b.mountinfo) {
		return errors.New("the mount table changed during the run")
	}
	return nil
}
