//go:build windows

package main

import (
	"context"
	"net"
	"time"

	"github.com/Microsoft/go-winio"
	"github.com/effeeea0/nodeipc"
	"github.com/effeeea0/nodeipc/internal/winpipe"
	"golang.org/x/sys/windows"
)

// listenEndpoint listens on TCP or on the named pipe node-ipc uses for a
// local path, readable and writable by its owner only.
func listenEndpoint(network, address string) (net.Listener, error) {
	if network == "unix" {
		u, err := windows.GetCurrentProcessToken().GetTokenUser()
		if err != nil {
			return nil, err
		}
		return winpipe.Listen(nodeipc.PipeName(address), &winio.PipeConfig{
			SecurityDescriptor: "D:P(A;;GA;;;" + u.User.Sid.String() + ")(A;;GA;;;SY)",
		})
	}
	return net.Listen(network, address)
}

func dialEndpoint(network, address string) (net.Conn, error) {
	if network == "unix" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return winio.DialPipeContext(ctx, nodeipc.PipeName(address))
	}
	return net.DialTimeout(network, address, 5*time.Second)
}
