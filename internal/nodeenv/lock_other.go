//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd || windows)

package nodeenv

// lockDir takes no lock on systems without flock: only the callers of one
// process are serialized there, and a tree is still renamed into place only
// when complete.
func lockDir(dir string, waiting func()) (func(), error) {
	return func() {}, nil
}
