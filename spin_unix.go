//go:build unix

package nodeipc

import (
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// newSpinner returns a spinner for a plain Unix or TCP socket (under TLS,
// the TCP socket), or nil when budget is not positive, nc is another kind of
// connection, or the other end of nc is in this process.
func newSpinner(nc net.Conn, budget time.Duration) *spinner {
	if budget <= 0 {
		return nil
	}
	switch nc.(type) {
	case *net.TCPConn:
	case *net.UnixConn:
		if cred := peerCred(nc); cred != nil && cred.PID == os.Getpid() {
			return nil
		}
	default:
		return nil
	}
	p := newSocketPoller(nc)
	if p == nil {
		return nil
	}
	s := &spinner{budget: budget, limit: maxSpinners(), ready: p.ready}
	if _, ok := nc.(*net.TCPConn); ok && s.pairs(nc.LocalAddr(), nc.RemoteAddr()) {
		return nil
	}
	return s
}

// socketPoller asks poll(2), without waiting, whether a read of the socket
// would return at once. Its callback is bound once, so asking allocates
// nothing.
type socketPoller struct {
	rc  syscall.RawConn
	fds [1]unix.PollFd
	ok  bool
	fn  func(fd uintptr)
}

func newSocketPoller(nc net.Conn) *socketPoller {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	p := &socketPoller{rc: rc}
	p.fn = p.check
	return p
}

func (p *socketPoller) check(fd uintptr) {
	p.fds[0] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	n, err := unix.Poll(p.fds[:], 0)
	p.ok = err == nil && n > 0 && p.fds[0].Revents != 0
}

// ready reports whether a read would return at once; an error means the
// socket is closed, and the read will say so.
func (p *socketPoller) ready() (bool, error) {
	p.ok = false
	err := p.rc.Control(p.fn)
	return p.ok, err
}

// pairs records the TCP connection from local to remote and reports whether
// its other end is a connection of this process; then neither end polls.
func (s *spinner) pairs(local, remote net.Addr) bool {
	if local == nil || remote == nil {
		return false
	}
	l, r := local.String(), remote.String()
	s.end = l + ">" + r
	tcpEnds.Store(s.end, s)
	other, ok := tcpEnds.Load(r + ">" + l)
	if ok {
		other.(*spinner).stop()
		s.stop()
	}
	return ok
}
