//go:build unix

package nodeipc

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

// ShareListener hands ln (a Unix socket or TCP listener) to the process cmd
// will start: the descriptor is added to cmd.ExtraFiles and named in
// cmd.Env, where InheritedListener finds it (with the socket path, which
// the inherited listener reports as its address). Call it before
// cmd.Start. The caller's ln stays open and usable.
func ShareListener(cmd *exec.Cmd, ln net.Listener) error {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return fmt.Errorf("nodeipc: ShareListener: a %T cannot be shared (want a Unix socket or TCP listener)", ln)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return fmt.Errorf("nodeipc: ShareListener: %w", err)
	}
	// The descriptor is duplicated here rather than with the listener's
	// File method: a File made by the net package is switched to blocking
	// mode when os/exec takes its descriptor, and that mode belongs to the
	// socket every process shares, so a worker already running would then
	// block in accept, where closing its listener cannot wake it. A File
	// made from a plain descriptor leaves the mode alone.
	dup := -1
	cerr := rc.Control(func(fd uintptr) { dup, err = dupCloexec(int(fd)) })
	if cerr != nil {
		return fmt.Errorf("nodeipc: ShareListener: %w", cerr)
	}
	if err != nil {
		return fmt.Errorf("nodeipc: ShareListener: %w", os.NewSyscallError("fcntl", err))
	}
	fd := 3 + len(cmd.ExtraFiles)
	cmd.ExtraFiles = append(cmd.ExtraFiles, os.NewFile(uintptr(dup), "nodeipc-listener"))
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	// The path is always set (empty when the kernel reports the right
	// name), so that one this process inherited does not reach the worker.
	path := ""
	if pl, ok := ln.(*placedListener); ok {
		path = pl.addr.Name
	}
	cmd.Env = append(cmd.Env, listenerEnv+"="+strconv.Itoa(fd), listenerPathEnv+"="+path)
	return nil
}

// inheritListener makes a listener of the inherited descriptor v; path,
// when not empty, is the socket path it serves (the address it reports).
// Closing it never removes the socket file: the primary does that.
func inheritListener(v, path string) (net.Listener, error) {
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("nodeipc: %s=%q is not an inherited descriptor", listenerEnv, v)
	}
	syscall.CloseOnExec(fd)
	f := os.NewFile(uintptr(fd), "nodeipc-listener")
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("nodeipc: inherited descriptor %d: %w", fd, err)
	}
	if ul, ok := ln.(*net.UnixListener); ok && path != "" {
		return &placedListener{UnixListener: ul, addr: &net.UnixAddr{Name: path, Net: "unix"}}, nil
	}
	return ln, nil
}
