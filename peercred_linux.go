package nodeipc

import (
	"net"
	"syscall"
)

// peerCred reads SO_PEERCRED of a Unix socket connection.
func peerCred(nc net.Conn) *PeerCred {
	uc, ok := nc.(*net.UnixConn)
	if !ok {
		return nil
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return nil
	}
	return &PeerCred{UID: int(cred.Uid), GID: int(cred.Gid), PID: int(cred.Pid)}
}
