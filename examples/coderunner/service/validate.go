package service

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/corral-dev/corral/examples/coderunner/job"
	"github.com/corral-dev/corral/examples/coderunner/lang"
)

// Bounds on a request's file set, beyond its size.
const (
	maxFiles    = 64
	maxDepth    = 8
	maxNameLen  = 255 // bytes of one path element
	maxPathLen  = 1024
	jsonOverRaw = 6 // "\u0000" is 6 bytes of JSON for one byte of source
)

// decode reads and checks a POST /run body into a job.
func (s *Server) decode(w http.ResponseWriter, r *http.Request) (*job.Job, *badRequest) {
	// Content-Type was checked (application/json) by run.
	limit := s.cfg.MaxSource*jsonOverRaw + 64<<10
	body := http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	var req runRequest
	if err := dec.Decode(&req); err != nil {
		return nil, jsonError(err, limit)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &badRequest{"", "malformed JSON: data after the request object"}
	}
	return s.check(&req)
}

// jsonError describes a decoding error for a 400.
func jsonError(err error, limit int64) *badRequest {
	var (
		syn   *json.SyntaxError
		typ   *json.UnmarshalTypeError
		large *http.MaxBytesError
	)
	switch {
	case errors.As(err, &large):
		return &badRequest{"", fmt.Sprintf("the request body is over %d bytes", limit)}
	case errors.As(err, &syn):
		return &badRequest{"", fmt.Sprintf("malformed JSON at byte %d: %v", syn.Offset, err)}
	case errors.As(err, &typ) && typ.Field == "":
		return &badRequest{"", fmt.Sprintf("malformed request: send a JSON object, not JSON %s", typ.Value)}
	case errors.As(err, &typ):
		return &badRequest{typ.Field, fmt.Sprintf("%s: expected %s, got JSON %s", typ.Field, typ.Type, typ.Value)}
	case errors.Is(err, io.EOF):
		return &badRequest{"", "malformed JSON: empty body; send a JSON object"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &badRequest{"", "malformed JSON: the body ends early"}
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		f, _ = strconv.Unquote(f)
		return &badRequest{f, fmt.Sprintf("unknown field %q (known: language, source, files, stdin, limits)", f)}
	}
	return &badRequest{"", "malformed JSON: " + strings.TrimPrefix(msg, "json: ")}
}

// check validates a decoded request and builds its job.
func (s *Server) check(req *runRequest) (*job.Job, *badRequest) {
	l := lang.Find(s.cfg.Languages, req.Language)
	if l == nil {
		names := make([]string, len(s.cfg.Languages))
		for i, l := range s.cfg.Languages {
			names[i] = l.Name
		}
		if req.Language == "" {
			return nil, &badRequest{"language", "language is required; one of: " + strings.Join(names, ", ")}
		}
		return nil, &badRequest{"language", fmt.Sprintf("unknown language %q; this server offers: %s", req.Language, strings.Join(names, ", "))}
	}
	j := &job.Job{Language: l, Files: map[string][]byte{}}
	switch {
	case req.Source != nil && req.Files != nil:
		return nil, &badRequest{"files", "send either source or files, not both"}
	case req.Source == nil && req.Files == nil:
		return nil, &badRequest{"source", "source (one file) or files (a set) is required"}
	case req.Source != nil:
		if int64(len(*req.Source)) > s.cfg.MaxSource {
			return nil, &badRequest{"source", fmt.Sprintf("source is %d bytes, over the server's maximum of %d", len(*req.Source), s.cfg.MaxSource)}
		}
		j.Files[l.Source] = []byte(*req.Source)
	default:
		if err := s.checkFiles(req.Files, l); err != nil {
			return nil, err
		}
		for name, data := range req.Files {
			j.Files[name] = []byte(data)
		}
	}
	if int64(len(req.Stdin)) > s.cfg.MaxSource {
		return nil, &badRequest{"stdin", fmt.Sprintf("stdin is %d bytes, over the server's maximum of %d", len(req.Stdin), s.cfg.MaxSource)}
	}
	j.Stdin = []byte(req.Stdin)
	run, err := s.limits(req.Limits)
	if err != nil {
		return nil, err
	}
	j.Run = run
	if l.Compile != nil {
		j.Compile = s.cfg.Compile
		j.Compile.Output = run.Output
	}
	return j, nil
}

// checkFiles validates a request's file set: names that stay in the work
// dir, bounded in number, depth and size.
func (s *Server) checkFiles(files map[string]string, l *job.Language) *badRequest {
	if len(files) == 0 {
		return &badRequest{"files", "files is empty; send at least " + l.Source}
	}
	if len(files) > maxFiles {
		return &badRequest{"files", fmt.Sprintf("%d files, over the maximum of %d", len(files), maxFiles)}
	}
	names := make([]string, 0, len(files))
	var total int64
	for name, data := range files {
		names = append(names, name)
		total += int64(len(name) + len(data))
	}
	sort.Strings(names)
	for _, name := range names {
		if err := checkName(name); err != "" {
			return &badRequest{fileField(name), fmt.Sprintf("file name %q %s", name, err)}
		}
	}
	// A name that is also another's directory cannot be both.
	for _, name := range names {
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			if _, ok := files[d]; ok {
				return &badRequest{fileField(d), fmt.Sprintf("%q is a file and also the directory of %q", d, name)}
			}
		}
	}
	if total > s.cfg.MaxSource {
		return &badRequest{"files", fmt.Sprintf("the files are %d bytes, over the server's maximum of %d", total, s.cfg.MaxSource)}
	}
	if l.Compile == nil {
		if _, ok := files[l.Source]; !ok {
			return &badRequest{"files", fmt.Sprintf("files must hold %s, the file %s runs", l.Source, l.Name)}
		}
	}
	return nil
}

// fileField names a file in a 400's field: files["name"].
func fileField(name string) string { return "files[" + strconv.Quote(name) + "]" }

// checkName says what is wrong with a file name, or "".
func checkName(name string) string {
	switch {
	case name == "":
		return "is empty"
	case !utf8.ValidString(name):
		return "is not UTF-8"
	case strings.ContainsRune(name, 0):
		return "holds a NUL byte"
	case len(name) > maxPathLen:
		return fmt.Sprintf("is over %d bytes", maxPathLen)
	case strings.HasPrefix(name, "/"):
		return "is absolute; use a name relative to the work dir"
	case strings.ContainsRune(name, '\\'):
		return `holds a backslash; separate directories with "/"`
	}
	parts := strings.Split(name, "/")
	for _, p := range parts {
		switch {
		case p == "..":
			return `escapes the work dir ("..")`
		case p == "." || p == "":
			return "is not clean (\".\" or an empty element); write it as " + strconv.Quote(path.Clean(name))
		case len(p) > maxNameLen:
			return fmt.Sprintf("has an element over %d bytes", maxNameLen)
		case p[0] == '-':
			return fmt.Sprintf("has an element starting with \"-\" (%q), which a tool could read as an option; rename it", p)
		}
		for _, r := range p {
			if r < 0x20 || r == 0x7f {
				return "holds a control character"
			}
		}
		for _, r := range p {
			if !nameChar(r) {
				return fmt.Sprintf("holds %q; use only letters, digits, \".\", \"_\", \"-\" and \"/\"", r)
			}
		}
	}
	if len(parts) > maxDepth {
		return fmt.Sprintf("is %d directories deep, over the maximum of %d", len(parts), maxDepth)
	}
	return ""
}

// nameChar reports whether a file name may hold r: ASCII letters and
// digits, ".", "_", "-" (and "/" between elements). No space, quote, glob
// or other character a shell or a tool's command line treats specially.
func nameChar(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '.' || r == '_' || r == '-'
}

// limits resolves a request's limits against the server's defaults and
// maxima.
func (s *Server) limits(req *limitsRequest) (job.Limits, *badRequest) {
	d, m := s.cfg.Defaults, s.cfg.Max
	out := d
	if req == nil {
		return out, nil
	}
	type lim struct {
		field string
		v     *int64
		unit  string
		max   int64
		set   func(int64)
	}
	for _, x := range []lim{
		{"limits.wall_ms", req.WallMS, "ms", m.WallTime.Milliseconds(), func(v int64) { out.WallTime = time.Duration(v) * time.Millisecond }},
		{"limits.cpu_ms", req.CPUMS, "ms", m.CPUTime.Milliseconds(), func(v int64) { out.CPUTime = time.Duration(v) * time.Millisecond }},
		{"limits.memory_mb", req.MemoryMB, "MiB", m.Memory >> 20, func(v int64) { out.Memory = v << 20 }},
		{"limits.pids", req.Pids, "", int64(m.Pids), func(v int64) { out.Pids = int(v) }},
		{"limits.output_kb", req.OutputKB, "KiB", m.Output >> 10, func(v int64) { out.Output = v << 10 }},
	} {
		if x.v == nil {
			continue
		}
		switch v := *x.v; {
		case v <= 0:
			return out, &badRequest{x.field, fmt.Sprintf("%s: %d must be positive (leave it out for the server's default)", x.field, v)}
		case v > x.max:
			return out, &badRequest{x.field, fmt.Sprintf("%s: %d is over the server's maximum of %d", x.field, v, x.max)}
		default:
			x.set(v)
		}
	}
	return out, nil
}
