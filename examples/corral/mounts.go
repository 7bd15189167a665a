package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/corral-dev/corral/sandbox"
)

// mountFlags collects the mount flags in command-line order: a mount must
// follow any mount that contains it.
type mountFlags []struct{ kind, spec string }

func (m *mountFlags) add(kind string) func(string) error {
	return func(spec string) error {
		*m = append(*m, struct{ kind, spec string }{kind, spec})
		return nil
	}
}

// apply adds the mounts to opts in their order.
func (m mountFlags) apply(opts *sandbox.Options) error {
	for _, f := range m {
		switch f.kind {
		case "ro":
			src, dst := splitBind(f.spec)
			opts.Mounts = append(opts.Mounts, sandbox.Bind(src, dst))
		case "rw":
			src, dst := splitBind(f.spec)
			opts.Mounts = append(opts.Mounts, sandbox.BindWritable(src, dst))
		case "tmpfs":
			dst, size, _ := strings.Cut(f.spec, ":")
			n, err := parseSize(size)
			if err != nil {
				return fmt.Errorf("--tmpfs %q: %w", f.spec, err)
			}
			opts.Mounts = append(opts.Mounts, sandbox.Tmpfs(dst, n))
		}
	}
	return nil
}

// splitBind splits SRC[:DST]; DST defaults to SRC.
func splitBind(spec string) (src, dst string) {
	src, dst, ok := strings.Cut(spec, ":")
	if !ok {
		dst = src
	}
	return src, dst
}

// parseSize parses a size such as 4096, 64K, 16M or 1G ("" is 0, the default).
func parseSize(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	mult := int64(1)
	switch strings.ToUpper(s[len(s)-1:]) {
	case "K":
		mult = 1 << 10
	case "M":
		mult = 1 << 20
	case "G":
		mult = 1 << 30
	}
	if mult > 1 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q: want a number of bytes with an optional K, M or G suffix", s)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("bad size %q: too large", s)
	}
	return n * mult, nil
}
