//go:build !linux

package main

import "net"

// unsent is not known outside Linux.
func unsent(net.Conn) (int, bool) { return 0, false }
