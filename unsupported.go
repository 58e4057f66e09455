//go:build !unix && !windows

package nodeipc

import (
	"context"
	"net"
	"os/exec"
	"syscall"
)

func listenLocal(string, *Config, *rules) (net.Listener, error) { return nil, ErrUnsupportedPlatform }

func dialLocal(context.Context, string) (net.Conn, error) { return nil, ErrUnsupportedPlatform }

// ShareListener is not supported on this platform.
func ShareListener(*exec.Cmd, net.Listener) error { return ErrUnsupportedPlatform }

func inheritListener(string, string) (net.Listener, error) { return nil, ErrUnsupportedPlatform }

var reusePort func(network, address string, rc syscall.RawConn) error

type directWriter struct{}

func newDirectWriter(net.Conn) *directWriter { return nil }

func (*directWriter) try([]byte) int { return 0 }
