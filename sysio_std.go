//go:build unix && (!linux || race)

package nodeipc

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// sysRead, sysWrite and sysReadable: see sysio_raw.go. Here they are the
// system calls as the standard library makes them.

func sysRead(fd int, p []byte) (int, error) {
	n, err := syscall.Read(fd, p)
	if err != nil {
		return 0, err
	}
	return n, nil
}

func sysWrite(fd int, p []byte) (int, error) {
	n, err := syscall.Write(fd, p)
	if err != nil {
		return 0, err
	}
	return n, nil
}

func sysReadable(fd int) (bool, error) {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	if err != nil {
		return false, err
	}
	return n > 0, nil
}
