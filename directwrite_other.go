//go:build !unix

package nodeipc

import "net"

// directWriter is not used here (Windows, and platforms without sockets):
// every write goes through the writer goroutine.
type directWriter struct{}

func newDirectWriter(net.Conn) *directWriter { return nil }

func (*directWriter) try([]byte) int { return 0 }
