package adversarial

// The set-up races and hostile custom roots of the filesystem escape cases
// (escape_fs_test.go).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corral-dev/corral/sandbox"
	"golang.org/x/sys/unix"
)

// escRaceBindSource is the set-up race of race-bind-source-symlink.
func escRaceBindSource(t *testing.T, name string) {
	top := t.TempDir()
	src, swap := filepath.Join(top, "src"), filepath.Join(top, "swap")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, "marker"), []byte("intended"), 0o644)
	if err := os.Symlink("/etc", swap); err != nil {
		t.Fatal(err)
	}
	exchange := func() error {
		return unix.Renameat2(unix.AT_FDCWD, src, unix.AT_FDCWD, swap, unix.RENAME_EXCHANGE)
	}
	if err := exchange(); err != nil {
		t.Skipf("the host's temp dir cannot exchange names (renameat2 RENAME_EXCHANGE): %v", err)
	}
	exchange()
	exe, _ := os.Executable()
	opts := sandbox.Options{Mounts: []sandbox.Mount{sandbox.Bind(src, "/data"), sandbox.Bind(exe, "/probe")}}
	sb := sandbox.New(opts) // validated now, while src is the directory

	var stop atomic.Bool
	var flips atomic.Int64
	flipped := make(chan struct{})
	go func() {
		defer close(flipped)
		for !stop.Load() {
			if exchange() == nil {
				flips.Add(1)
			}
			// What a start binds depends on which name the path has at that
			// instant, about half the time the symlink, whatever the pace: a
			// slow one leaves the CPUs to the sandboxes.
			time.Sleep(time.Millisecond)
		}
	}()
	defer func() {
		stop.Store(true)
		<-flipped
		if st, err := os.Lstat(src); err == nil && st.Mode()&os.ModeSymlink != 0 {
			exchange()
		}
	}()

	var mu sync.Mutex
	counts := map[string]int{}
	var seen, broken []string // runs that saw something else; runs that went wrong otherwise
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for range jobs {
				c := sandbox.Command("/probe")
				c.Env = []string{"CORRAL_ATTACK=" + escAttackName(name)}
				var out strings.Builder
				c.Stdout = &out
				verdict, problem := "failed to start", ""
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				p, err := sb.RunContext(ctx, c)
				if err == nil {
					res, werr := p.Wait()
					verdict = strings.TrimSpace(strings.TrimPrefix(out.String(), "RESULT "))
					if werr != nil || !res.Success() {
						problem = fmt.Sprintf("victim: %v, %v, stdout %q", res, werr, out.String())
					}
				} else if se := (*sandbox.SetupError)(nil); !errors.As(err, &se) {
					problem = "not a clean failure: " + err.Error()
				}
				cancel()
				mu.Lock()
				counts[verdict]++
				if verdict != "intended" && verdict != "failed to start" {
					seen = append(seen, verdict)
				}
				if problem != "" {
					broken = append(broken, problem)
				}
				mu.Unlock()
			}
		})
	}
	starts := faultCount(50, 20)
	for i := range starts {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	t.Logf("%d exchanges during %d starts; outcomes %v", flips.Load(), starts, counts)
	if flips.Load() == 0 {
		t.Fatal("the path was never exchanged: the race was not run")
	}
	if len(seen) > 0 {
		t.Errorf("%d of %d sandboxes saw something else than the intended directory: %q", len(seen), starts, seen)
	}
	if len(broken) > 0 {
		t.Errorf("%d of %d runs went wrong: %q", len(broken), starts, broken)
	}
}

// escCustomRootSymlinks is custom-root-symlink-mountpoints. It tries three
// roots: /tmp a symlink to ../../etc (where the root has no etc, and where
// it has one), and /work an absolute symlink to a path on the host whose
// parent exists. Each run must start with its mounts inside the root, or
// fail cleanly; the host's /etc and the host path are untouched.
func escCustomRootSymlinks(t *testing.T, name string) {
	top := t.TempDir()
	outside := filepath.Join(top, "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	canary := filepath.Join(outside, "canary")
	etcBefore, etcStBefore := escDirNames(t, "/etc"), escStat(t, "/etc")
	var ms []sandbox.Mount
	for _, d := range []string{"/usr", "/lib", "/lib64", "/bin", "/sbin"} {
		if st, err := os.Lstat(d); err == nil && st.IsDir() {
			ms = append(ms, sandbox.Bind(d, d))
		} else if err == nil {
			ms = append(ms, sandbox.Bind("/usr"+d, d))
		}
	}
	for _, r := range []struct {
		name  string
		links map[string]string // name in the root -> symlink target
		dirs  []string          // directories the root has
	}{
		{"tmp-to-missing-etc", map[string]string{"tmp": "../../etc"}, nil},
		{"tmp-to-own-etc", map[string]string{"tmp": "../../etc"}, []string{"etc"}},
		{"work-to-host-path", map[string]string{"work": canary}, nil},
	} {
		root := filepath.Join(top, r.name)
		os.Mkdir(root, 0o755)
		for _, d := range r.dirs {
			os.Mkdir(filepath.Join(root, d), 0o755)
		}
		for l, target := range r.links {
			if err := os.Symlink(target, filepath.Join(root, l)); err != nil {
				t.Fatal(err)
			}
		}
		o, err := escTry(t, name, escRun{opts: sandbox.Options{Root: root, Mounts: ms}, dir: "/"})
		if err != nil {
			var se *sandbox.SetupError
			if !errors.As(err, &se) {
				t.Errorf("%s: Run failed, but not cleanly: %v", r.name, err)
			}
			t.Logf("%s: the sandbox refused to start: %v", r.name, err)
		} else if o.verdict != "/tmp=tmpfs,/work=tmpfs" || !o.res.Success() {
			t.Errorf("%s: verdict %q, want /tmp=tmpfs,/work=tmpfs; %v", r.name, o.verdict, o)
		} else {
			t.Logf("%s: started, its mounts inside the root", r.name)
		}
		if _, err := os.Lstat(canary); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: a mountpoint was created on the host at %s, through the root's symlink: %v", r.name, canary, err)
			os.RemoveAll(canary)
		}
	}
	if after := escDirNames(t, "/etc"); !slices.Equal(etcBefore, after) {
		t.Errorf("the host's /etc changed: %q before, %q after", etcBefore, after)
	}
	if st := escStat(t, "/etc"); st.Mtim != etcStBefore.Mtim || st.Ctim != etcStBefore.Ctim {
		t.Errorf("the host's /etc was modified (mtime %v -> %v)", etcStBefore.Mtim, st.Mtim)
	}
}
