//go:build unix

package nodeipc

import (
	"net"
	"os"
	"syscall"
	"time"
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
	s := &spinner{budget: budget, limit: maxSpinners(), try: p.try}
	if _, ok := nc.(*net.TCPConn); ok && s.pairs(nc.LocalAddr(), nc.RemoteAddr()) {
		return nil
	}
	return s
}

// socketPoller makes one read of the socket that does not wait: it returns
// bytes when there are some, and otherwise says whether a read would return
// at once anyway (the end of the connection, an error) or would wait. A poll
// that finds bytes has read them, so polling costs no system call beyond
// those a plain read makes. Its callback is bound once, so a poll allocates
// nothing.
type socketPoller struct {
	rc    syscall.RawConn
	buf   []byte
	n     int
	ready bool
	fn    func(fd uintptr) bool
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
	return pollerOf(rc)
}

// pollerOf returns a poller for the socket behind rc.
func pollerOf(rc syscall.RawConn) *socketPoller {
	p := &socketPoller{rc: rc}
	p.fn = p.readOnce
	return p
}

func (p *socketPoller) readOnce(fd uintptr) bool {
	for {
		n, err := sysRead(int(fd), p.buf)
		switch {
		case err == syscall.EINTR:
			continue
		case n > 0:
			p.n, p.ready = n, true
		case err == syscall.EAGAIN:
			p.n, p.ready = 0, false
		default: // the end (0 bytes) or an error: the blocking read says which
			p.n, p.ready = 0, true
		}
		return true // never wait for the socket
	}
}

// try reads into b what the socket holds, without waiting: n > 0 bytes, or
// none with ready saying whether a read would return at once (the end of
// the connection, an error, this side closed or its deadline passed).
func (p *socketPoller) try(b []byte) (n int, ready bool) {
	p.buf = b
	err := p.rc.Read(p.fn)
	p.buf = nil
	if err != nil {
		return 0, true
	}
	return p.n, p.ready
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
