package nodeipc

import (
	"net"

	"golang.org/x/sys/unix"
)

// peerCred reads LOCAL_PEERCRED (uid and groups) and LOCAL_PEERPID of a
// Unix socket connection.
func peerCred(nc net.Conn) *PeerCred {
	uc, ok := nc.(*net.UnixConn)
	if !ok {
		return nil
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil
	}
	var cred *PeerCred
	if err := raw.Control(func(fd uintptr) {
		x, err := unix.GetsockoptXucred(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
		if err != nil {
			return
		}
		cred = &PeerCred{UID: int(x.Uid), GID: -1, PID: -1}
		if x.Ngroups > 0 {
			cred.GID = int(x.Groups[0])
		}
		if pid, err := unix.GetsockoptInt(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERPID); err == nil {
			cred.PID = pid
		}
	}); err != nil {
		return nil
	}
	return cred
}
