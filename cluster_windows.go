//go:build windows

package nodeipc

import (
	"errors"
	"net"
	"os/exec"
	"syscall"
)

// ShareListener is not available on Windows: a named pipe or socket
// listener cannot be handed to another process the way a descriptor is on
// Unix.
func ShareListener(*exec.Cmd, net.Listener) error {
	return errors.New("nodeipc: ShareListener is not supported on Windows")
}

func inheritListener(string, string) (net.Listener, error) {
	return nil, errors.New("nodeipc: inherited listeners are not supported on Windows")
}

// Windows has no SO_REUSEPORT (SO_REUSEADDR there lets any process take over
// a port), so ReusePort is refused.
var reusePort func(network, address string, rc syscall.RawConn) error
