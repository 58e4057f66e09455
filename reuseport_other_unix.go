//go:build solaris || illumos || aix

package nodeipc

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// reusePort is nil here: these systems have no SO_REUSEPORT that spreads
// connections, so Config.ReusePort is refused (errNoReusePort).
var reusePort func(network, address string, rc syscall.RawConn) error

// dupCloexec duplicates fd, close-on-exec; the fork lock keeps a process
// started meanwhile from inheriting it.
func dupCloexec(fd int) (int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	nfd, err := unix.Dup(fd)
	if err != nil {
		return -1, err
	}
	unix.CloseOnExec(nfd)
	return nfd, nil
}
