//go:build unix

package nodeipc_test

import "net"

func dialLocalForTest(path string) (net.Conn, error) { return net.Dial("unix", path) }
