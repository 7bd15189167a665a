package backend

import (
	"syscall"

	"archive/tar"
	"bytes"
	"errors"
	"github.com/corral-dev/corral/examples/coderunner/job"
	"path"
	"sort"
	"strings"
	"sync"
)

// errOutput is the cause a step's context is cancelled with when its
// output went past its limit.
var errOutput = errors.New("output limit")

// floodedAtStart is the step of a program whose output went past its
// limit before the sandbox had told its start (a flood right after exec):
// the kill that ended it then ended the start too, so there is no Result,
// but the program ran and the output limit stopped it.
func floodedAtStart(stdout, stderr *capped) *job.Step {
	s := &job.Step{ExitCode: -1, Signal: syscall.SIGKILL.String(), Limit: job.LimitOutput}
	s.Stdout, s.StdoutTruncated = stdout.bytes()
	s.Stderr, s.StderrTruncated = stderr.bytes()
	return s
}

// capped keeps the first max bytes written to it and discards the rest;
// the first write past max calls over (which kills the step). It never
// fails a write, so that the command's other stream goes on being read.
type capped struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	max       int64
	truncated bool
	over      func()
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	room := c.max - int64(c.buf.Len())
	if int64(len(p)) <= room {
		c.buf.Write(p)
		return len(p), nil
	}
	if room > 0 {
		c.buf.Write(p[:room])
	}
	if !c.truncated {
		c.truncated = true
		if c.over != nil {
			go c.over()
		}
	}
	return len(p), nil
}

// bytes returns what was kept, and whether anything was discarded.
func (c *capped) bytes() ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.buf.Bytes()), c.truncated
}

// tarFiles makes a tar stream of files beneath the directory prefix ("" or
// "src/"), with an entry for every parent directory (before its files) and
// for each of extraDirs. Names are already validated: clean, relative,
// within the work dir.
func tarFiles(prefix string, files map[string][]byte, extraDirs ...string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	addDir := func(name string) error {
		if name == "" || name == "." || dirs[name] {
			return nil
		}
		dirs[name] = true
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755})
	}
	for _, d := range extraDirs {
		if err := addDir(d); err != nil {
			return nil, err
		}
	}
	if p := strings.TrimSuffix(prefix, "/"); p != "" {
		if err := addDir(p); err != nil {
			return nil, err
		}
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		full := prefix + name
		// Parents first, outermost first.
		var parents []string
		for d := path.Dir(full); d != "." && d != "/"; d = path.Dir(d) {
			parents = append(parents, d)
		}
		for i := len(parents) - 1; i >= 0; i-- {
			if err := addDir(parents[i]); err != nil {
				return nil, err
			}
		}
		data := files[name]
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: full, Mode: 0o644, Size: int64(len(data))}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
