package main

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// unsent reports the bytes written to c's socket that the peer's side has
// not yet taken (SIOCOUTQ), and whether the figure is known.
func unsent(c net.Conn) (int, bool) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	n, qerr := 0, error(nil)
	if err := rc.Control(func(fd uintptr) { n, qerr = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ) }); err != nil || qerr != nil {
		return 0, false
	}
	return n, true
}

// receiveBuffer returns a dialer's Control function that sets the socket's
// receive buffer to size before it connects. It must be set then: a TCP
// socket whose buffer shrinks after the handshake has already offered the
// peer a larger window, drops what arrives beyond its new buffer, and then
// discards the peer's acknowledgements as outside its closed window, so both
// directions can stall for seconds of retransmission back-off.
func receiveBuffer(size int) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, size) }); err != nil {
			return err
		}
		return serr
	}
}
