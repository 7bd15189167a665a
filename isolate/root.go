package isolate

// Root is the sandbox's root filesystem.
type Root struct {
	// Dir is a host directory to use as the root, bound read-only.
	// Missing mountpoints are created in it first. Empty means a fresh tmpfs,
	// made read-only once it is populated.
	Dir string
	// Image says Dir is a container image's root, which is never written:
	// the root is an overlay with Dir as its lower layer and its upper layer
	// on a fresh tmpfs, or where the kernel refuses overlayfs in a user
	// namespace, a fresh tmpfs holding a copy of Dir (see buildImageRoot).
	// Mountpoints and Files go into the upper layer (or the copy). The root
	// stays writable (nosuid, nodev) unless ReadOnly. It is mounted at
	// Staged(staging), not at staging.
	Image bool
	// Size bounds the tmpfs of an Image's upper layer or copy, in bytes; 0
	// means the kernel's default.
	Size int64
	// ReadOnly makes an Image's root read-only once it is built.
	ReadOnly bool
	// Copy makes an Image's root a copy without trying overlayfs.
	Copy bool
	// WorkDir is an Image's working directory (its configuration's), made
	// in the root (mode 0755, with its missing parents) before anything is
	// mounted, if the image lacks it, as container runtimes do. It is
	// resolved beneath the root: a symlink on its way resolves inside it.
	// Beneath a mount (/work, /tmp) it is made under the mountpoint,
	// hidden. Made best effort: a command started there reports what
	// stands in its way.
	WorkDir string
}
