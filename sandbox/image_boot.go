package sandbox

// Options.Image for one booted sandbox: the image opened (ImageSource) when
// the sandbox boots, closed once when it is torn down, and its
// configuration applied to each command (Cmd).

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/corral-dev/corral/internal/paths"
	"github.com/corral-dev/corral/internal/protocol"
	"github.com/corral-dev/corral/isolate"
)

// forceImageCopy makes every image root a tmpfs copy, overlayfs not tried
// (tests of the fallback); imageRootSize, when not 0, is the size of its
// tmpfs (tests of an image too big for it).
var (
	forceImageCopy bool
	imageRootSize  int64
)

// bootImage is the image a booted sandbox runs on: open from boot until
// the booted sandbox is reaped.
type bootImage struct {
	root     *ImageRoot
	dir      string   // root.Dir, its symlinks resolved
	defaults []string // PATH, HOME, USER, LOGNAME (and LANG) for a command's Env
	once     sync.Once
	closeErr error
}

// openImage opens Options.Image for one booted sandbox, with ctx. Its
// error is a *SetupError with Step "image" whose Unwrap is the source's.
func (s *Sandbox) openImage(ctx context.Context) (*bootImage, error) {
	fail := func(cause error, msg string) error {
		return &SetupError{Step: "image", Path: s.opts.Image, Message: msg, cause: cause}
	}
	root, err := s.opts.Images.OpenImage(ctx, s.opts.Image)
	if err != nil {
		return nil, fail(err, err.Error())
	}
	if root == nil {
		return nil, fail(errImageSource, "Options.Images returned no root (nil *ImageRoot and nil error)")
	}
	im := &bootImage{root: root}
	if im.dir, err = filepath.EvalSymlinks(root.Dir); err == nil && !filepath.IsAbs(im.dir) {
		err = errors.New("not an absolute path")
	}
	if err == nil {
		var st os.FileInfo
		if st, err = os.Stat(im.dir); err == nil && !st.IsDir() {
			err = errors.New("not a directory")
		}
	}
	if err != nil {
		im.close()
		return nil, fail(fmt.Errorf("%w: ImageRoot.Dir %q: %w", errImageSource, root.Dir, err),
			fmt.Sprintf("Options.Images returned an unusable ImageRoot.Dir %q: %v", root.Dir, err))
	}
	im.defaults = append([]string{"PATH=" + isolate.DefaultPath}, imageDefaults(im.dir, root.Config.User, s.opts.Reuse)...)
	return im, nil
}

// imageCopyHint explains an image copy that ran out of room.
const imageCopyHint = "the image does not fit in the tmpfs its copy goes to (overlayfs is refused here: see Check's \"overlay\"), " +
	"whose size is the default /tmp size: raise Limits.Memory, or use a smaller image"

// errImageSource is the cause of an "image" SetupError for an
// ImageSource that broke its contract.
var errImageSource = errors.New("sandbox: bad ImageRoot from Options.Images")

// close closes the image's root, once; later calls return the first's error.
func (im *bootImage) close() error {
	if im == nil {
		return nil
	}
	im.once.Do(func() {
		if im.root.Close != nil {
			im.closeErr = im.root.Close()
		}
	})
	return im.closeErr
}

// rootSpec is the spec's Root for a sandbox on im.
func (s *Sandbox) rootSpec(im *bootImage) protocol.Root {
	size := s.opts.tmpSize()
	if imageRootSize != 0 {
		size = imageRootSize
	}
	return protocol.WireRoot(isolate.Root{Dir: im.dir, Image: true, Size: size,
		ReadOnly: s.opts.Reuse, Copy: forceImageCopy, WorkDir: im.root.Config.WorkingDir})
}

// imageDefaults returns the variables a command on the image dir gets when
// its Env and the image's lack them: HOME, USER and LOGNAME from the
// image's /etc/passwd entry for user (the image's Config.User) when it has
// one, else the defaults (HOME=/work, root); LANG=C.UTF-8 when the image
// has that locale. Under Options.Reuse the root is read-only, so HOME stays
// /work, the writable directory.
func imageDefaults(dir, user string, reuse bool) []string {
	home, name := WorkDir, commandUser
	r, err := os.OpenRoot(dir)
	if err != nil {
		return []string{"HOME=" + home, "USER=" + name, "LOGNAME=" + name}
	}
	defer r.Close()
	if u, _, _ := strings.Cut(user, ":"); u != "" {
		if n, h, ok := passwdEntry(r, u); ok {
			name = n
			if !reuse && h != "" {
				home = h
			}
		}
	}
	env := []string{"HOME=" + home, "USER=" + name, "LOGNAME=" + name}
	if hasUTF8Locale(r) {
		env = append(env, "LANG=C.UTF-8")
	}
	return env
}

// passwdEntry finds user (a name or a uid) in the root's /etc/passwd, read
// inside the root (a symlink there cannot reach the host's), and returns
// its name and home.
func passwdEntry(r *os.Root, user string) (name, home string, ok bool) {
	f, err := r.Open("etc/passwd")
	if err != nil {
		return "", "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) >= 7 && (fields[0] == user || fields[2] == user) {
			return fields[0], fields[5], true
		}
	}
	return "", "", false
}

// imageCommand is what the init needs to start cmd on im, the image's
// configuration applied (see Cmd): the program and arguments, the
// environment and the working directory.
func (s *Sandbox) imageCommand(cmd *Cmd, im *bootImage) (protocol.Command, error) {
	cfg := im.root.Config
	var argv []string
	switch {
	case cmd.Path != "":
		argv = cmd.Args
		if len(argv) == 0 {
			argv = []string{cmd.Path}
		}
	case len(cmd.Args) > 0:
		argv = append(append([]string(nil), cfg.Entrypoint...), cmd.Args...)
	default:
		argv = append(append([]string(nil), cfg.Entrypoint...), cfg.Cmd...)
	}
	path := cmd.Path
	if path == "" && len(argv) > 0 {
		path = argv[0]
	}
	if path == "" {
		return protocol.Command{}, &OptionError{"Cmd.Path", cmd.Path,
			"must name the program to run: the image " + s.opts.Image + " has no entrypoint and no cmd (and Cmd.Args is empty)"}
	}
	env := addMissing(mergeEnv(cfg.Env, cmd.Env), im.defaults)
	dir := cmd.Dir
	if dir == "" {
		dir = cfg.WorkingDir
	}
	if dir == "" {
		dir = WorkDir
	}
	return protocol.Command{Path: path, Args: argv, Env: env, Dir: dir, ExtraFiles: len(cmd.ExtraFiles)}, nil
}

// mergeEnv returns base with over's entries in place of base's of the same
// key, and over's other entries after them.
func mergeEnv(base, over []string) []string {
	env := make([]string, 0, len(base)+len(over))
	for _, kv := range base {
		key, _, _ := strings.Cut(kv, "=")
		if _, set := paths.Lookup(over, key); !set {
			env = append(env, kv)
		}
	}
	return append(env, over...)
}
