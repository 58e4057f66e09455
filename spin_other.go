//go:build !unix

package nodeipc

import (
	"net"
	"time"
)

// newSpinner returns nil: on Windows (named pipes, and sockets through the
// runtime's completion port) readers always sleep until their bytes come.
func newSpinner(net.Conn, time.Duration) *spinner { return nil }
