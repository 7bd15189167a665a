package sandbox

// SetMainCalled lets tests see what Run does in a program that forgot Main.
func SetMainCalled(v bool) (old bool) {
	old, mainCalled = mainCalled, v
	return old
}
