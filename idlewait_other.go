//go:build !unix

package nodeipc

import "net"

// readWaiter is not used where readers wait through a completion port
// (Windows): a read there holds its buffer while it waits.
type readWaiter struct{}

func newReadWaiter(net.Conn) *readWaiter { return nil }

func (*readWaiter) wait() {}

func (*readWaiter) read([]byte) int { return 0 }
