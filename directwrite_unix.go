//go:build !windows

package nodeipc

import (
	"net"
	"syscall"
)

// rawConnOf returns the raw socket of a plain Unix or TCP connection, for
// direct writes; nil for other connections (TLS, pipes).
func rawConnOf(nc net.Conn) syscall.RawConn {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	switch nc.(type) {
	case *net.TCPConn, *net.UnixConn:
	default:
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// tryWrite makes one non-blocking write(2) and reports how many bytes went
// out; it never waits for the socket to become writable.
func tryWrite(rc syscall.RawConn, b []byte) int {
	var n int
	err := rc.Write(func(fd uintptr) bool {
		var werr error
		n, werr = syscall.Write(int(fd), b)
		if werr != nil || n < 0 {
			n = 0
		}
		return true
	})
	if err != nil {
		return 0
	}
	return n
}
