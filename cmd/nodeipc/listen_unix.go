//go:build unix

package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// listenEndpoint listens on TCP or a Unix socket. A socket file left by a
// process that is gone is replaced; any other file, or a live server, is an
// error.
func listenEndpoint(network, address string) (net.Listener, error) {
	if network == "unix" {
		if fi, err := os.Lstat(address); err == nil {
			if fi.Mode()&os.ModeSocket == 0 {
				return nil, fmt.Errorf("%s exists and is not a socket", address)
			}
			if c, err := net.DialTimeout("unix", address, time.Second); err == nil {
				c.Close()
				return nil, fmt.Errorf("a server is listening on %s", address)
			}
			if err := os.Remove(address); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
		}
	}
	return net.Listen(network, address)
}

func dialEndpoint(network, address string) (net.Conn, error) {
	return net.DialTimeout(network, address, 5*time.Second)
}
