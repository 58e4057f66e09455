//go:build !linux

package nodeipc

import (
	"net"
	"net/netip"
)

// udpBatch is Linux only (recvmmsg, sendmmsg); elsewhere a UDP endpoint
// reads and writes one datagram per system call.
type udpBatch struct{}

func newUDPBatch(*net.UDPConn, bool) *udpBatch { return nil }

func (*udpBatch) read() (int, error)                { return 0, nil }
func (*udpBatch) data(int) []byte                   { return nil }
func (*udpBatch) segment(int) int                   { return 0 }
func (*udpBatch) addr(int) netip.AddrPort           { return netip.AddrPort{} }
func (*udpBatch) queue(netip.AddrPort, []byte) bool { return false }
func (*udpBatch) queued() int                       { return 0 }
func (*udpBatch) full() bool                        { return false }
func (*udpBatch) flush() []error                    { return nil }
