package protocol

import "math"

// Each wire type's fields, in the order its declaration gives them (see
// wire.go for the encoding). A field added to a type must be added here,
// on both sides: the round-trip tests set every field and compare.

func (w *writer) spec(s *Spec) {
	w.int(int64(s.Version))
	w.str(s.Hostname)
	w.bool(s.Loopback)
	w.str(s.Root.Dir)
	w.bool(s.Root.Image)
	w.int(s.Root.Size)
	w.bool(s.Root.ReadOnly)
	w.bool(s.Root.Copy)
	w.str(s.Root.WorkDir)
	w.slice(s.Mounts == nil, len(s.Mounts))
	for i := range s.Mounts {
		m := &s.Mounts[i]
		w.str(m.Kind)
		w.str(m.Source)
		w.str(m.Target)
		w.bool(m.ReadOnly)
		w.bool(m.Optional)
		w.bool(m.NoFollow)
		w.int(m.Size)
		w.uint(uint64(m.Mode))
		w.str(m.Data)
	}
	w.bool(s.Reuse)
	w.bool(s.Live)
	w.slice(s.UserCounts == nil, len(s.UserCounts))
	for _, c := range s.UserCounts {
		w.str(c.Name)
		w.int(int64(c.Max))
	}
	w.slice(s.Rlimits == nil, len(s.Rlimits))
	for _, l := range s.Rlimits {
		w.int(int64(l.Resource))
		w.uint(l.Cur)
		w.uint(l.Max)
		w.bool(l.AfterStart)
	}
	w.bytes(s.Filter)
	w.ints(s.Capabilities)
	w.slice(s.Landlock == nil, len(s.Landlock))
	for _, l := range s.Landlock {
		w.str(l.Path)
		w.bool(l.Write)
		w.bool(l.Devices)
	}
	w.bool(s.RulesetElsewhere)
	w.uint(s.Scopes)
	w.bool(s.Link != nil)
	if l := s.Link; l != nil {
		w.str(l.Name)
		w.int(int64(l.MTU))
		w.str(l.MAC)
		w.str(l.Addr)
		w.str(l.Gateway)
	}
	w.bool(s.Notify)
}

func (r *reader) spec() *Spec {
	s := &Spec{
		Version:  r.int(),
		Hostname: r.str(),
		Loopback: r.bool(),
		Root:     Root{Dir: r.str(), Image: r.bool(), Size: r.int64(), ReadOnly: r.bool(), Copy: r.bool(), WorkDir: r.str()},
	}
	if n, ok := r.slice(9); ok { // a mount takes 9 bytes at least
		s.Mounts = make([]Mount, n)
		for i := range s.Mounts {
			s.Mounts[i] = Mount{
				Kind:     r.str(),
				Source:   r.str(),
				Target:   r.str(),
				ReadOnly: r.bool(),
				Optional: r.bool(),
				NoFollow: r.bool(),
				Size:     r.int64(),
				Mode:     uint32(r.uintUpTo(math.MaxUint32)),
				Data:     r.str(),
			}
		}
	}
	s.Reuse = r.bool()
	s.Live = r.bool()
	if n, ok := r.slice(2); ok {
		s.UserCounts = make([]UserCount, n)
		for i := range s.UserCounts {
			s.UserCounts[i] = UserCount{Name: r.str(), Max: r.int()}
		}
	}
	if n, ok := r.slice(4); ok {
		s.Rlimits = make([]Rlimit, n)
		for i := range s.Rlimits {
			s.Rlimits[i] = Rlimit{Resource: r.int(), Cur: r.uint(), Max: r.uint(), AfterStart: r.bool()}
		}
	}
	s.Filter = r.bytes()
	s.Capabilities = r.ints()
	if n, ok := r.slice(3); ok {
		s.Landlock = make([]LandlockRule, n)
		for i := range s.Landlock {
			s.Landlock[i] = LandlockRule{Path: r.str(), Write: r.bool(), Devices: r.bool()}
		}
	}
	s.RulesetElsewhere = r.bool()
	s.Scopes = r.uint()
	if r.bool() {
		s.Link = &Link{Name: r.str(), MTU: r.int(), MAC: r.str(), Addr: r.str(), Gateway: r.str()}
	}
	s.Notify = r.bool()
	return s
}

func (w *writer) failed(f *Failed) {
	w.int(int64(f.Run))
	w.str(f.Step)
	w.str(f.Path)
	w.int(int64(f.Errno))
	w.str(f.Message)
}

func (r *reader) failed() *Failed {
	return &Failed{Run: r.int(), Step: r.str(), Path: r.str(), Errno: r.int(), Message: r.str()}
}

func (w *writer) exited(e *Exited) {
	w.int(int64(e.Run))
	w.int(int64(e.ExitCode))
	w.int(int64(e.Signal))
	w.int(e.UserUsec)
	w.int(e.SystemUsec)
	w.int(e.MaxRSS)
	w.bool(e.CopyOut != nil)
	if e.CopyOut != nil {
		w.failed(e.CopyOut)
	}
}

func (r *reader) exited() *Exited {
	e := &Exited{
		Run:        r.int(),
		ExitCode:   r.int(),
		Signal:     r.int(),
		UserUsec:   r.int64(),
		SystemUsec: r.int64(),
		MaxRSS:     r.int64(),
	}
	if r.bool() {
		e.CopyOut = r.failed()
	}
	return e
}

func (w *writer) exec(e *Exec) {
	w.int(int64(e.Run))
	c := &e.Command
	w.str(c.Path)
	w.strs(c.Args)
	w.strs(c.Env)
	w.str(c.Dir)
	w.int(int64(c.ExtraFiles))
	w.int(int64(e.Cgroup.Dir))
	w.ints(e.Cgroup.Enter)
	w.ints(e.Cgroup.Leave)
	w.int(int64(e.Files.CopyIn))
	w.strs(e.Files.CopyOut)
	w.int(int64(e.Files.CopyOutFile))
	w.bool(e.Terminal != nil)
	if e.Terminal != nil {
		w.uint(uint64(e.Terminal.Rows))
		w.uint(uint64(e.Terminal.Cols))
	}
}

func (r *reader) exec() *Exec {
	e := &Exec{
		Run: r.int(),
		Command: Command{
			Path:       r.str(),
			Args:       r.strs(),
			Env:        r.strs(),
			Dir:        r.str(),
			ExtraFiles: r.int(),
		},
		Cgroup: CgroupFiles{Dir: r.int(), Enter: r.ints(), Leave: r.ints()},
		Files:  CopyFiles{CopyIn: r.int(), CopyOut: r.strs(), CopyOutFile: r.int()},
	}
	if r.bool() {
		e.Terminal = &Winsize{Rows: uint16(r.uintUpTo(math.MaxUint16)), Cols: uint16(r.uintUpTo(math.MaxUint16))}
	}
	return e
}
