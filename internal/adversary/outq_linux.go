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
