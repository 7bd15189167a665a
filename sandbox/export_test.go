package sandbox

// SetMainCalled lets tests see what Run does in a program that forgot Main.
func SetMainCalled(v bool) (old bool) {
	old, mainCalled = mainCalled, v
	return old
}

// SetSignalScope turns Landlock's signal scope on or off for the
// sandboxes made from now on, so that tests can see what happens without.
func SetSignalScope(on bool) (old bool) {
	old, noSignalScope = !noSignalScope, !on
	return old
}

// SetHostEtc makes the default root's /etc show dir instead of the host's
// /etc, for the sandboxes made from now on (tests build a fake /etc).
func SetHostEtc(dir string) (old string) {
	old, hostEtc = hostEtc, dir
	return old
}

// SetImageCopy makes the image roots of the sandboxes started from now on
// tmpfs copies, overlayfs not tried (tests of the fallback).
func SetImageCopy(on bool) (old bool) {
	old, forceImageCopy = forceImageCopy, on
	return old
}

// SetImageRootSize sets the size of the tmpfs of the image roots of the
// sandboxes started from now on (0: the default /tmp size).
func SetImageRootSize(n int64) (old int64) {
	old, imageRootSize = imageRootSize, n
	return old
}
