//go:build unix

package nodeipc

import (
	"net"
	"syscall"
)

// directWriter makes non-blocking write(2) calls on a plain Unix or TCP
// socket from the emitting goroutine. Its callback is bound once, so a write
// allocates nothing. Callers serialise it (conn.mu).
type directWriter struct {
	rc  syscall.RawConn
	buf []byte
	n   int
	fn  func(fd uintptr) bool
}

// newDirectWriter returns a writer for a plain Unix or TCP connection; nil
// for other connections (TLS, pipes), which use the writer goroutine only.
func newDirectWriter(nc net.Conn) *directWriter {
	rc := plainSocket(nc)
	if rc == nil {
		return nil
	}
	w := &directWriter{rc: rc}
	w.fn = w.write
	return w
}

// plainSocket returns the descriptor access of a plain Unix or TCP socket,
// which direct writes and read waits use; nil for other connections.
func plainSocket(nc net.Conn) syscall.RawConn {
	switch nc.(type) {
	case *net.TCPConn, *net.UnixConn:
	default:
		return nil
	}
	rc, err := nc.(syscall.Conn).SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

func (w *directWriter) write(fd uintptr) bool {
	// 0 bytes on an error, which the writer goroutine then reports; never
	// wait for the socket to become writable.
	w.n, _ = sysWrite(int(fd), w.buf)
	return true
}

// try makes one non-blocking write and reports how many bytes went out.
func (w *directWriter) try(b []byte) int {
	w.buf, w.n = b, 0
	err := w.rc.Write(w.fn)
	w.buf = nil
	if err != nil {
		return 0
	}
	return w.n
}
