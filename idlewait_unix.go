//go:build unix

package nodeipc

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// readWaiter waits, without a buffer, until a plain Unix or TCP socket has
// something to read (bytes, its end or an error), so that a quiet
// connection holds no read buffer while it waits. It costs what a read
// that finds nothing costs: one system call (poll(2) instead of read(2))
// before the runtime's poller parks the reader.
type readWaiter struct {
	rc    syscall.RawConn
	fds   [1]unix.PollFd
	woken bool
	fn    func(fd uintptr) bool
}

// newReadWaiter returns a waiter for a plain Unix or TCP connection; nil
// for other connections.
func newReadWaiter(nc net.Conn) *readWaiter {
	rc := plainSocket(nc)
	if rc == nil {
		return nil
	}
	w := &readWaiter{rc: rc}
	w.fn = w.check
	return w
}

// check tells the runtime whether the socket is ready: asked first, it
// polls; asked again, the runtime's poller has found the socket readable.
func (w *readWaiter) check(fd uintptr) bool {
	if w.woken {
		return true
	}
	w.woken = true
	w.fds[0] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	n, err := unix.Poll(w.fds[:], 0)
	return err != nil || n > 0
}

// wait returns when a read would not wait, or when waiting failed (the
// socket closed, a deadline passed): the read that follows says which.
func (w *readWaiter) wait() {
	w.woken = false
	_ = w.rc.Read(w.fn)
}
