package protocol

// Every conversion between the isolate values the two sides work with and
// their wire forms: Wire* on the host, as it builds a Spec or an Exec;
// Isolate* in the init, as it reads them. Each keeps a nil slice nil and
// an empty one empty: a nil Spec.Landlock means no rules at all.

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/corral-dev/corral/isolate"
)

// WireRoot is r on the wire.
func WireRoot(r isolate.Root) Root {
	return Root{Dir: r.Dir, Image: r.Image, Size: r.Size, ReadOnly: r.ReadOnly, Copy: r.Copy, WorkDir: r.WorkDir}
}

// IsolateRoot is the root r names.
func IsolateRoot(r Root) isolate.Root {
	return isolate.Root{Dir: r.Dir, Image: r.Image, Size: r.Size, ReadOnly: r.ReadOnly, Copy: r.Copy, WorkDir: r.WorkDir}
}

// WireMounts is ms on the wire.
func WireMounts(ms []isolate.Mount) []Mount {
	return convert(ms, func(m isolate.Mount) Mount {
		return Mount{Kind: string(m.Kind), Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly,
			Optional: m.Optional, NoFollow: m.NoFollow, Size: m.Size, Mode: m.Mode, Data: m.Data}
	})
}

// IsolateMounts are the mounts ms name.
func IsolateMounts(ms []Mount) []isolate.Mount {
	return convert(ms, func(m Mount) isolate.Mount {
		return isolate.Mount{Kind: isolate.Kind(m.Kind), Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly,
			Optional: m.Optional, NoFollow: m.NoFollow, Size: m.Size, Mode: m.Mode, Data: m.Data}
	})
}

// WireUserCounts is cs on the wire.
func WireUserCounts(cs []isolate.UserCount) []UserCount {
	return convert(cs, func(c isolate.UserCount) UserCount { return UserCount{Name: c.Name, Max: c.Max} })
}

// IsolateUserCounts are the counts cs name.
func IsolateUserCounts(cs []UserCount) []isolate.UserCount {
	return convert(cs, func(c UserCount) isolate.UserCount { return isolate.UserCount{Name: c.Name, Max: c.Max} })
}

// WireRlimits is rs on the wire.
func WireRlimits(rs []isolate.Rlimit) []Rlimit {
	return convert(rs, func(r isolate.Rlimit) Rlimit {
		return Rlimit{Resource: r.Resource, Cur: r.Cur, Max: r.Max, AfterStart: r.AfterStart}
	})
}

// IsolateRlimits are the limits rs name, in a slice of their own.
func IsolateRlimits(rs []Rlimit) []isolate.Rlimit {
	return convert(rs, func(r Rlimit) isolate.Rlimit {
		return isolate.Rlimit{Resource: r.Resource, Cur: r.Cur, Max: r.Max, AfterStart: r.AfterStart}
	})
}

// WireLandlock is rules on the wire.
func WireLandlock(rules []isolate.LandlockRule) []LandlockRule {
	return convert(rules, func(r isolate.LandlockRule) LandlockRule {
		return LandlockRule{Path: r.Path, Write: r.Write, Devices: r.Devices}
	})
}

// IsolateLandlock are the rules rules name.
func IsolateLandlock(rules []LandlockRule) []isolate.LandlockRule {
	return convert(rules, func(r LandlockRule) isolate.LandlockRule {
		return isolate.LandlockRule{Path: r.Path, Write: r.Write, Devices: r.Devices}
	})
}

// WireCgroup is p on the wire, where p names the files that come with the
// Exec by their indices, not by fds.
func WireCgroup(p isolate.Placement) CgroupFiles {
	return CgroupFiles{Dir: p.Dir, Enter: p.Enter, Leave: p.Leave}
}

// IsolateCgroup is the placement e.Cgroup names, with the fds files holds
// (the files that came with e) for its indices. An index of one of the
// command's own files, or past the end, is an error.
func IsolateCgroup(e *Exec, files []int) (isolate.Placement, error) {
	own := 3 + e.Command.ExtraFiles
	fd := func(i int) (int, error) {
		if i < own || i >= len(files) {
			return 0, fmt.Errorf("protocol: cgroup file index %d out of range", i)
		}
		return files[i], nil
	}
	var p isolate.Placement
	var err error
	if e.Cgroup.Dir > 0 {
		if p.Dir, err = fd(e.Cgroup.Dir); err != nil {
			return p, err
		}
	}
	for _, list := range []struct{ idx, fds *[]int }{{&e.Cgroup.Enter, &p.Enter}, {&e.Cgroup.Leave, &p.Leave}} {
		for _, i := range *list.idx {
			f, err := fd(i)
			if err != nil {
				return p, err
			}
			*list.fds = append(*list.fds, f)
		}
	}
	return p, nil
}

// convert applies f to each of in, keeping nil nil.
func convert[T, U any](in []T, f func(T) U) []U {
	if in == nil {
		return nil
	}
	out := make([]U, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

// WireLink is l on the wire.
func WireLink(l isolate.Link) *Link {
	return &Link{Name: l.Name, MTU: l.MTU, MAC: l.MAC.String(), Addr: l.Addr.String(), Gateway: l.Gateway.String()}
}

// IsolateLink is the link l names.
func IsolateLink(l *Link) (isolate.Link, error) {
	mac, err := net.ParseMAC(l.MAC)
	if err != nil {
		return isolate.Link{}, fmt.Errorf("protocol: Link.MAC: %w", err)
	}
	addr, err := netip.ParsePrefix(l.Addr)
	if err != nil {
		return isolate.Link{}, fmt.Errorf("protocol: Link.Addr: %w", err)
	}
	gw, err := netip.ParseAddr(l.Gateway)
	if err != nil {
		return isolate.Link{}, fmt.Errorf("protocol: Link.Gateway: %w", err)
	}
	return isolate.Link{Name: l.Name, MTU: l.MTU, MAC: mac, Addr: addr, Gateway: gw}, nil
}
