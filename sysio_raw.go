//go:build linux && !race

package nodeipc

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The system calls that the busy poll, the quiet wait's readiness check,
// the read that follows it and direct writes make on a non-blocking socket.
// None of them waits, so they are made raw: without telling the scheduler
// that a system call began. A call that is announced wakes the runtime's
// monitor thread when it sleeps (it sleeps whenever every processor of the
// process is idle, so at every request of a server that is not busy), and
// the monitor then runs on a 20 µs tick for a while: two or three context
// switches and a few system calls per request. Under the race detector
// (race builds) the announced calls are used, since the detector learns
// from them that a write to a socket happens before the read of its bytes.

// sysRead is read(2).
func sysRead(fd int, p []byte) (int, error) { return rawIO(syscall.SYS_READ, fd, p) }

// sysWrite is write(2).
func sysWrite(fd int, p []byte) (int, error) { return rawIO(syscall.SYS_WRITE, fd, p) }

func rawIO(trap uintptr, fd int, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, e := syscall.RawSyscall(trap, uintptr(fd), uintptr(ptr), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// sysReadable reports whether a read of fd would return at once: bytes,
// the end, or an error (ppoll(2) that does not wait).
func sysReadable(fd int) (bool, error) {
	fds := unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	var ts unix.Timespec
	n, _, e := syscall.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&fds)), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
	if e != 0 {
		return false, e
	}
	return n > 0, nil
}
