package sandbox

import "context"

// ImageSource turns Options.Image into an unpacked root filesystem. Package
// sandbox/image's *Store is the implementation most programs want (it
// pulls from registries, OCI layouts and docker save archives into a
// content-addressed cache); the interface keeps that package, and its
// dependencies, out of programs that never use images.
type ImageSource interface {
	// OpenImage returns the unpacked image ref names, pulling it first
	// when it is not cached. The returned root stays in place, unchanged,
	// until its Close is called: the sandbox calls Close when the booted
	// sandbox that uses it is torn down. Errors should wrap the source's
	// own sentinel errors, so that callers can match them with errors.Is
	// through the *SetupError Run returns.
	OpenImage(ctx context.Context, ref string) (*ImageRoot, error)
}

// ImageRoot is an unpacked image, ready to be a sandbox's root.
type ImageRoot struct {
	// Dir is the unpacked root filesystem: a host directory that no one
	// changes while the root is open. The sandbox never writes to it: its
	// writes go to an overlay (or a tmpfs copy) discarded with it.
	Dir string
	// Digest identifies the image, e.g. "sha256:..." (the config's digest).
	Digest string
	// Config is the part of the image's configuration a run applies.
	Config ImageConfig
	// Close releases the root (the cache may then evict it). It may be nil.
	Close func() error
}

// ImageConfig is the part of an OCI image's configuration that applies to
// a run, unless the Cmd overrides it.
type ImageConfig struct {
	Entrypoint []string // the program and its first arguments
	Cmd        []string // default arguments (after Entrypoint)
	Env        []string // KEY=value, the base of the command's environment
	WorkingDir string   // where the command starts, when Cmd.Dir is empty
	User       string   // "name", "uid", "uid:gid" or "name:group"
}
