//go:build unix

package nodeipc

import "net"

// readWaiter waits, without a buffer, until a plain Unix or TCP socket has
// something to read (bytes, its end or an error), so that a quiet
// connection holds no read buffer while it waits. It costs what a read
// that finds nothing costs: one system call (poll(2) instead of read(2))
// before the runtime's poller parks the reader. Then read makes the read
// that follows, once, without waiting.
type readWaiter struct {
	poll  *socketPoller // its descriptor access, and the read that follows
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
	w := &readWaiter{poll: pollerOf(rc)}
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
	ready, err := sysReadable(int(fd))
	return err != nil || ready
}

// wait returns when a read would not wait, or when waiting failed (the
// socket closed, a deadline passed): the read that follows says which.
func (w *readWaiter) wait() {
	w.woken = false
	_ = w.poll.rc.Read(w.fn)
}

// read reads into p what the socket holds, without waiting, and returns
// how many bytes it read: none when there were none, at the end of the
// connection, or on an error, which the connection's own read then reports
// as it does.
func (w *readWaiter) read(p []byte) int {
	n, _ := w.poll.try(p)
	return n
}
