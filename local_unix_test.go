//go:build unix

package nodeipc

// SetModeBeforeBind turns on or off the setting of a socket's mode before
// it is bound (Linux), so that tests also reach the other way outside a
// private directory (bound aside and moved into place); it returns the
// previous setting.
func SetModeBeforeBind(on bool) bool { return modeBeforeBind.Swap(on) }
