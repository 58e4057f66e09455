//go:build windows

package nodeipc_test

import (
	"net"
	"time"

	"github.com/Microsoft/go-winio"
	"github.com/effeeea0/nodeipc"
)

func dialLocalForTest(path string) (net.Conn, error) {
	timeout := 5 * time.Second
	return winio.DialPipe(nodeipc.PipeName(path), &timeout)
}
