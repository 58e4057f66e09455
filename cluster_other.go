//go:build !unix && !windows

package nodeipc

import (
	"net"
	"os/exec"
	"syscall"
)

// ShareListener is not supported on this platform.
func ShareListener(*exec.Cmd, net.Listener) error { return ErrUnsupportedPlatform }

func inheritListener(string, string) (net.Listener, error) { return nil, ErrUnsupportedPlatform }

var reusePort func(network, address string, rc syscall.RawConn) error
